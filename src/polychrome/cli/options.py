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
