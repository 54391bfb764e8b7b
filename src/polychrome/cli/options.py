"""Options several commands take, defined once so they read and behave alike everywhere."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from polychrome._runtime_names import DEVICE_CHOICES, PRECISION_CHOICES, PRECISION_NAMES, is_device_name


def device_name(value: str) -> str:
    """A --device callback: a name that no command takes is a usage error listing those there are."""
    if not is_device_name(value):
        raise typer.BadParameter(f"{value!r} is not a device; choose {DEVICE_CHOICES}")
    return value


def precision_name(value: str) -> str:
    """A --precision callback, as :func:`device_name`."""
    if value not in PRECISION_NAMES:
        raise typer.BadParameter(f"{value!r} is not a precision; choose {PRECISION_CHOICES}")
    return value


# The library names its options as Python does (backend='torch', or backend 'torch'); a command's messages
# name them as the command line does.
_PYTHON_OPTION = re.compile(r"\b(backend|precision|device|hint_method)(?:=| )'([^'\s]*)'((?: or '[^'\s]*')*)")


def in_option_words(message: str) -> str:
    """A library message with its options named as on the command line.

    >>> in_option_words("the ONNX backend runs on the CPU, not 'cuda'; use backend='torch'")
    "the ONNX backend runs on the CPU, not 'cuda'; use --backend torch"
    >>> in_option_words("int8 runs on ONNX Runtime: use backend 'onnx' or 'auto'")
    'int8 runs on ONNX Runtime: use --backend onnx or auto'
    """

    def option(match: re.Match[str]) -> str:
        alternatives = match[3].replace("'", "")
        return f"--{match[1].replace('_', '-')} {match[2]}{alternatives}"

    return _PYTHON_OPTION.sub(option, message)


ScoringDevice = Annotated[
    str,
    typer.Option(
        metavar="DEVICE", callback=device_name, help="auto (a GPU when there is one), cpu, cuda, cuda:1."
    ),
]
BatchSize = Annotated[
    int | None,
    typer.Option(min=1, metavar="N", help="Photos per network call (default: 32 on a GPU, 8 on the CPU)."),
]
DecodingWorkers = Annotated[
    int | None, typer.Option(min=1, metavar="N", help="Decoding processes (default: all cores).")
]

# The model a command colors with, and where it runs (`colorize`, `serve`).
ModelName = Annotated[
    str | None,
    typer.Option(metavar="MODEL", help="Name or path of the model; the built-in model by default."),
]
ModelDevice = Annotated[
    str,
    typer.Option(
        metavar="DEVICE",
        callback=device_name,
        help="Where the model runs: cpu, cuda, cuda:1, mps, or auto (a GPU when there is one).",
    ),
]
# Where a web page listens (`serve`, `turing serve`); each command keeps its own default port.
Host = Annotated[
    str, typer.Option(metavar="HOST", help="Address to listen on; this computer only by default.")
]
Port = Annotated[
    int, typer.Option(min=0, max=65535, metavar="PORT", help="Port to listen on; 0 picks a free one.")
]
