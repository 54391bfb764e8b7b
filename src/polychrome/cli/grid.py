"""`polychrome grid`: a contact sheet of photos as gray input, as each model colors them, and as they were."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from polychrome.cli import app
from polychrome.cli.options import BatchSize, DecodingWorkers, ScoringDevice


@app.command()
def grid(
    model: Annotated[
        list[str],
        typer.Option(
            "--model",
            "-m",
            metavar="MODEL",
            help="A built-in model, a saved model folder, or a folder of another colorizer's outputs. Repeat "
            "to put several side by side.",
        ),
    ],
    data: Annotated[
        list[str], typer.Option("--data", "-d", metavar="PHOTOS", help="Folders, globs, tar shards, zips.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", metavar="FILE", help="The sheet (.jpg or .png).")],
    count: Annotated[int, typer.Option(min=1, metavar="N", help="The first N usable photos.")] = 48,
    size: Annotated[int, typer.Option(min=16, metavar="PIXELS", help="Each picture's side.")] = 128,
    columns: Annotated[
        int | None, typer.Option(min=1, metavar="N", help="Photos side by side (default: a square sheet).")
    ] = None,
    protocol: Annotated[
        str, typer.Option(metavar="NAME", help="val5k (shorter side 256, centre crop 256), or a size.")
    ] = "val5k",
    render_size: Annotated[
        int, typer.Option(min=16, metavar="PIXELS", help="Shorter side at which networks see the photos.")
    ] = 256,
    device: ScoringDevice = "auto",
    batch_size: BatchSize = None,
    workers: DecodingWorkers = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing sheet.")] = False,
) -> None:
    """A sheet of photos: gray, each model's, the truth.

    One strip a photo (gray | each model | truth), strips side by side, the models numbered in the header
    in the order given. The photos are the first --count usable ones of --data under --protocol (photos
    already gray are left out), colored as `polychrome colorize` colors them: look at them before choosing a
    model (brown foliage, color blotches, halos).
    """
    import numpy as np

    from polychrome.devices import resolve_device
    from polychrome.evaluate.candidates import resolve_candidate
    from polychrome.evaluate.grid import contact_sheet
    from polychrome.evaluate.protocol import PhotoStream, get_protocol
    from polychrome.evaluate.scoring import ScoringOptions, score_colorizers
    from polychrome.images import save_image

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if output.exists() and not overwrite:
        err.print(f"[red]error:[/red] {escape(str(output))} exists; pass --overwrite to replace it")
        raise typer.Exit(1)
    try:
        chosen = get_protocol(protocol)
        if chosen.size is None:
            raise ValueError("a contact sheet needs photos of one size: give val5k or a size, not native")
        target = resolve_device(device)
        candidates = [resolve_candidate(spec, chosen, target, render_size, workers) for spec in model]
        photos = PhotoStream(data, chosen, limit=count, batch_size=batch_size, workers=workers, device=target)
        with err.status("coloring photos"):
            evaluation = score_colorizers(
                candidates, photos, chosen, options=ScoringOptions(grid_images=count, extremes=0)
            )
        sheet = np.asarray(contact_sheet(evaluation, size, columns))
        save_image(output, sheet)
    except (FileNotFoundError, ValueError, OSError) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    for label, name, reason in evaluation.problems:
        err.print(f"[red]left out:[/red] {escape(name)} ({escape(label)}): {escape(reason)}")
    height, width = sheet.shape[:2]
    typer.echo(f"{len(evaluation.names)} photos, {width}x{height}: {output}")
