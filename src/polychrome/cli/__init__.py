"""The `polychrome` command line: one typer app; each command is a thin wrapper over library code."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    name="polychrome",
    help="Colorize black-and-white photos; prepare data, train and evaluate colorization models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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


def main() -> None:
    app()


# Commands register themselves on `app` when imported; their heavy imports live inside the commands.
from polychrome.cli import commands  # noqa: E402, F401
