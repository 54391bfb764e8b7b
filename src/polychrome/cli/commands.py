"""Imports every command module so that each registers itself on `app`."""

from polychrome.cli import colorize, train  # noqa: F401
