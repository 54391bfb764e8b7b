"""Every command refuses an empty path, in one place: the command class that both typer apps build with.

An empty string is what an unset shell variable gives (`polychrome colorize "$DIR" -o out`), and Python reads
`Path("")` as the current folder, so without this check a command would colorize (or write into) whatever
folder it happened to run in.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand

# The metavars of parameters that name files or folders. Every polychrome parameter that takes a path has
# one of these (tests/cli/test_empty_paths.py holds every `Path` parameter to it); some are kept as text
# where a trailing '/' or a glob pattern matters, or where a built-in model's name also fits.
PATH_METAVARS = frozenset({"PATH", "FILE", "FOLDER", "PHOTOS", "CACHE", "MODEL"})


class PathCheckingCommand(TyperCommand):
    """A typer command that refuses an empty value for any of its path parameters, as a usage error naming
    the parameter, before the command runs."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # The values as typed are looked at first: once converted, Path("") reads the same as Path(".").
        try:
            typed, _, _ = self.make_parser(ctx).parse_args(args=list(args))
        except Exception:  # a malformed command line: the parse below reports it as usual
            typed = {}
        for param in self.get_params(ctx):
            if param.name not in typed or getattr(param, "metavar", None) not in PATH_METAVARS:
                continue
            value = typed[param.name]
            if "" in (value if isinstance(value, list | tuple) else [value]):
                what = "model name or folder" if param.metavar == "MODEL" else "path"
                here = "" if param.metavar in ("FILE", "CACHE") else "; for the current folder, give '.'"
                message = f"empty {what} (an unset shell variable?){here}"
                raise typer.BadParameter(message, ctx=ctx, param=param)
        return super().parse_args(ctx, args)


class PolychromeTyper(typer.Typer):
    """typer.Typer whose commands are :class:`PathCheckingCommand` unless a command names its own class."""

    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", PathCheckingCommand)
        return super().command(*args, **kwargs)
