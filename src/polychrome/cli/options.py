"""Options several commands take, defined once so they read and behave alike everywhere."""

from __future__ import annotations

from typing import Annotated

import typer

ScoringDevice = Annotated[
    str, typer.Option(metavar="DEVICE", help="auto (a GPU when there is one), cpu, cuda, cuda:1.")
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
    str, typer.Option(metavar="DEVICE", help="Where the model runs: cpu, cuda, cuda:1, mps.")
]
# Where a web page listens (`serve`, `turing serve`); each command keeps its own default port.
Host = Annotated[
    str, typer.Option(metavar="HOST", help="Address to listen on; this computer only by default.")
]
Port = Annotated[
    int, typer.Option(min=0, max=65535, metavar="PORT", help="Port to listen on; 0 picks a free one.")
]
