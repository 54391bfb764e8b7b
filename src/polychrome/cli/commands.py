"""Imports every command module so that each registers itself on `app`, in the order `--help` lists them."""

from importlib import import_module

COMMAND_MODULES = (
    "colorize",
    "example",
    "export",
    "prepare",
    "stats_commands",
    "train",
    "recalibrate",
    "calibrate",
    "evaluate",
    "grid",
    "turing",
    "serve",
)

for _name in COMMAND_MODULES:
    import_module(f"polychrome.cli.{_name}")
