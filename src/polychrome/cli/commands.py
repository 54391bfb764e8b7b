"""Imports every command module so that each registers itself on `app`."""

from polychrome.cli import analyze, colorize, example, prepare, recalibrate, train  # noqa: F401
