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
