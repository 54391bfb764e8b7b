"""An empty path is refused by every command, naming the parameter: Python reads `Path("")` as the current
folder, and an unset shell variable (`polychrome colorize "$DIR" -o out`) gives one."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

import polychrome.cli.colorize as colorize_cli
from polychrome.cli import app
from polychrome.cli._paths import PATH_METAVARS
from polychrome.cli.turing import turing_app


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current folder, holding a photo that an empty path must not reach, and no model to load."""
    Image.new("L", (6, 4), 200).save(tmp_path / "cat.jpg")
    monkeypatch.chdir(tmp_path)

    def no_model(*args: object) -> None:
        raise AssertionError("no model here")

    monkeypatch.setattr(colorize_cli, "load_colorizer", no_model)
    return tmp_path


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["colorize", "", "-o", "x/"], "'PHOTOS'"),
        (["colorize", "cat.jpg", "", "-o", "x/"], "'PHOTOS'"),
        (["colorize", "cat.jpg", "-o", ""], "'--output' / '-o'"),
        (["colorize", "cat.jpg", "-o", "x/", "--model", ""], "'--model'"),
        (["colorize", "cat.jpg", "-o", "x/", "--hints", ""], "'--hints'"),
        (["export", "", "-o", "m.onnx"], "'MODEL'"),
        (["export", "builtin", "-o", ""], "'--output' / '-o'"),
        (["evaluate", "-m", "builtin", "-d", "", "-o", "report"], "'--data' / '-d'"),
        (["evaluate", "-m", "builtin", "-d", "cat.jpg", "-o", ""], "'--output' / '-o'"),
        (["grid", "-m", "builtin", "-d", "cat.jpg", "-o", ""], "'--output' / '-o'"),
        (["prepare", "", "-o", "cache.h5"], "'PHOTOS'"),
        (["prepare", "cat.jpg", "-o", ""], "'--output' / '-o'"),
        (["train", "--run-dir", ""], "'--run-dir' / '-r'"),
        (["train", "--config", ""], "'--config' / '-c'"),
        (["serve", "--model", ""], "'--model'"),
        (["example", "-o", ""], "'--output' / '-o'"),
        (["stats", ""], "'CACHE'"),
        (["turing", "report", "--db", ""], "'--db'"),
        (["turing", "serve", "--real", "", "--model", "a=b", "--db", "t.db"], "'--real'"),
    ],
)
def test_an_empty_path_is_a_usage_error_naming_the_parameter(here: Path, args: list[str], named: str) -> None:
    before = sorted(here.rglob("*"))

    result = CliRunner().invoke(app, args)

    assert result.exit_code == 2, result.output
    error = result.output.strip().splitlines()[-1]
    assert error.startswith(f"Error: Invalid value for {named}: empty "), error
    assert sorted(here.rglob("*")) == before  # nothing written, nothing read into an output


def test_the_current_folder_is_still_named_with_a_dot(here: Path) -> None:
    result = CliRunner().invoke(app, ["colorize", ".", "-o", "x/"])
    assert "could not load the model: no model here" in result.output  # past the check, to the work


def _commands() -> list[tuple[str, typing.Callable[..., object]]]:
    infos = [*app.registered_commands, *turing_app.registered_commands]
    return [(info.callback.__name__, info.callback) for info in infos if info.callback is not None]


@pytest.mark.parametrize(("name", "command"), _commands(), ids=[name for name, _ in _commands()])
def test_every_path_parameter_has_a_metavar_the_check_knows(name: str, command: typing.Callable) -> None:
    # The check finds path parameters by their metavar; a new `Path` parameter without one would slip by.
    for parameter, hint in typing.get_type_hints(command, include_extras=True).items():
        if typing.get_origin(hint) is not typing.Annotated or Path not in _types_in(hint.__origin__):
            continue
        metavars = [getattr(extra, "metavar", None) for extra in hint.__metadata__]
        assert set(metavars) & PATH_METAVARS, f"{name} {parameter}: metavar {metavars}"


def _types_in(hint: object) -> set[object]:
    return {hint} | {inner for arg in typing.get_args(hint) for inner in _types_in(arg)}
