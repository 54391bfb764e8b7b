"""Imports every command module so that each registers itself on `app`."""

from polychrome.cli import colorize, example, prepare, recalibrate, train  # noqa: F401
