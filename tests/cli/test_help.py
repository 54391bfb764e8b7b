"""Every command's --help reads well at 80 columns: no line too long, no word cut, real names for values."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from polychrome.cli import app

PLACEHOLDER = re.compile(r"<(str|int|float|bool|path|list|tuple|int range|float range)[^>]*>")


def _commands(group: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*prefix, name))
        if hasattr(command, "commands"):  # a group of commands, e.g. `turing`
            found.extend(_commands(command, (*prefix, name)))
    return found


COMMANDS = _commands(typer.main.get_command(app))


def test_every_summary_fits_the_list_of_commands() -> None:
    # click cuts a command's first help line to what is left of 80 columns beside its group's longest name:
    # 80 - 2 (margin) - 6 - the longest name.
    groups = [typer.main.get_command(app)]
    while groups:
        group = groups.pop()
        limit = 72 - max(len(name) for name in group.commands)
        for name, command in group.commands.items():
            summary = (command.help or "").split("\n")[0]
            assert len(summary) <= limit, f"{name}: {summary!r} is over {limit} characters"
            if hasattr(command, "commands"):
                groups.append(command)


def test_every_command_is_listed() -> None:
    assert {("colorize",), ("train",), ("evaluate",), ("calibrate",), ("turing", "serve")} <= set(COMMANDS)


@pytest.mark.parametrize("command", [(), *COMMANDS], ids=lambda c: " ".join(c) or "polychrome")
def test_help_fits_80_columns_with_named_values(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=80, env={"COLUMNS": "80"})

    assert result.exit_code == 0, result.output
    text = result.output
    assert all(len(line) <= 80 for line in text.splitlines()), max(text.splitlines(), key=len)
    assert "…" not in text  # a cut word
    assert not PLACEHOLDER.search(text), PLACEHOLDER.search(text)
    lines = text.splitlines()
    assert not [line for line in lines if line.endswith("...") and "Usage" not in line]  # a cut summary
    assert not [line for line in lines if line.rstrip().endswith("-")], text  # a word broken at a hyphen


def test_precision_help_offers_int8_for_its_size_not_its_speed() -> None:
    # docs/backends.md: the fp32 ONNX file is as fast as the int8 one (14 ms); int8 is a 4 MB file.
    result = CliRunner().invoke(app, ["colorize", "--help"], terminal_width=200, env={"COLUMNS": "200"})
    text = " ".join(result.output.split())
    assert "faster on a CPU" not in text
    assert "a 4 MB file" in text and "no faster" in text
