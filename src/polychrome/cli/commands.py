"""Imports every command module so that each registers itself on `app`."""

from polychrome.cli import colorize, example, recalibrate, train  # noqa: F401
