"""Imports every command module so that each registers itself on `app`."""

from polychrome.cli import colorize, example, train  # noqa: F401
