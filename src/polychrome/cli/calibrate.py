"""`polychrome calibrate`: choose a model's chroma gain (and enlargement filter) on validation photos."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from polychrome.cli import app
from polychrome.cli.options import BatchSize, DecodingWorkers, ScoringDevice

if TYPE_CHECKING:
    from polychrome.evaluate.protocol import PhotoStream, Protocol


def _fail(message: str) -> typer.Exit:
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(1)


def _gains(text: str) -> list[float]:
    try:
        gains = sorted({float(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: give gains as numbers separated by commas, e.g. 1,1.1,1.2"
        ) from None
    if not gains or gains[0] < 0:
        raise typer.BadParameter(f"{text!r}: give one or more gains >= 0")
    return gains


def photo_sets(specs: list[str], protocol: Protocol, **stream: object) -> list[tuple[str, PhotoStream]]:
    """Each ``--data`` value as named sets of photos: a training run's folder gives one set per collection
    (its validation split, cut as training cut it), anything else is photos (folders, globs, shards)."""
    from polychrome.data.sources import expand_source
    from polychrome.evaluate.protocol import PhotoStream
    from polychrome.train.config import load_config
    from polychrome.train.data import validation_records

    sets = []
    for spec in specs:
        run_config = Path(spec) / "config.yaml"
        if run_config.is_file():
            config = load_config(run_config)
            for i, collection in enumerate(config.data):
                records = validation_records(collection, config)
                if not records:
                    raise ValueError(f"{spec}: collection {i} has no validation photos")
                sets.append((f"{spec} collection {i}", PhotoStream(lambda r=records: r, protocol, **stream)))
        else:
            expand_source(spec)  # a missing path fails here, before any work
            sets.append((spec, PhotoStream([spec], protocol, **stream)))
    return sets


def _too_colorful(selection) -> bool:
    """Whether even the smallest gain tried left a set more colorful than its truth."""
    smallest = [min(setting.scores.items())[1] for setting in selection.settings]
    return any(score.colorfulness_gap > 0 for scores in smallest for score in scores)


@app.command()
def calibrate(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="A saved model folder or a built-in name.")],
    data: Annotated[
        list[str],
        typer.Option(
            "--data",
            "-d",
            metavar="PHOTOS",
            help="Validation photos (folder, glob, tar shard) or a training run's folder, whose collections' "
            "validation photos are used. Repeat for several sets; each is scored apart.",
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", metavar="FOLDER", help="The calibrated copy (a new folder).")
    ],
    gains: Annotated[
        str, typer.Option(metavar="LIST", help="Effective chroma gains to try, separated by commas.")
    ] = "1,1.05,1.1,1.15,1.2,1.25,1.3,1.4,1.5",
    max_gap: Annotated[
        float,
        typer.Option(
            metavar="CF", help="How far colorfulness may fall from the truth's (Hasler and Süsstrunk's)."
        ),
    ] = 6.0,
    per_set_gain: Annotated[
        bool,
        typer.Option(
            "--per-set-gain",
            help="Choose each set's gain alone, as a factor by how much its photos are enlarged.",
        ),
    ] = False,
    enlarge: Annotated[
        list[str] | None,
        typer.Option(
            "--enlarge", metavar="FILTER", help="Enlargement filter to try: bilinear, bicubic (repeatable)."
        ),
    ] = None,
    rank: Annotated[
        str, typer.Option(metavar="HOW", help="Rank settings by the worst or mean set.")
    ] = "worst",
    protocol: Annotated[
        str, typer.Option(metavar="NAME", help="native (each photo at its own size), val5k, or a size.")
    ] = "native",
    render_size: Annotated[int, typer.Option(min=16, metavar="PIXELS", help="As `colorize` uses it.")] = 256,
    limit: Annotated[
        int | None, typer.Option(min=1, metavar="N", help="Score only the first N photos of each set.")
    ] = None,
    device: ScoringDevice = "auto",
    batch_size: BatchSize = None,
    workers: DecodingWorkers = None,
) -> None:
    """Choose a model's chroma gain on validation photos.

    Writes a copy of MODEL with the chosen rendering settings.

    Every enlargement filter is scored on every set at every gain. A set's gain is the smallest that brings
    its colorfulness within --max-gap of the truth's; the filter whose worst set gains most PSNR over a
    gray output wins, and its settings go into OUTPUT's config.json with how they were chosen. Choose on
    photos you will not report: a training run's own validation split is made for it.
    """
    from polychrome.devices import resolve_device
    from polychrome.evaluate.protocol import get_protocol
    from polychrome.evaluate.selection import RANKINGS, select_render_settings
    from polychrome.pipelines.calibration import save_calibrated
    from polychrome.pipelines.image import Colorizer, resolve_model_path

    grid = _gains(gains)
    if output.exists():
        raise _fail(f"{output} exists; choose a new folder")
    if rank not in RANKINGS:
        raise _fail(f"--rank must be one of {', '.join(RANKINGS)}, got {rank!r}")
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        chosen = get_protocol(protocol)
        source = resolve_model_path(model)
        colorizer = Colorizer.from_pretrained(source, device=resolve_device(device))
        sets = photo_sets(
            data, chosen, limit=limit, batch_size=batch_size, workers=workers, device=colorizer.device
        )
        with console.status("scoring") as status:
            selection = select_render_settings(
                colorizer,
                sets,
                chosen,
                grid,
                max_gap=max_gap,
                per_set_gain=per_set_gain,
                filters=enlarge or ["bilinear"],
                render_size=render_size,
                rank=rank,
                progress=lambda text: status.update(escape(text)),
            )
    except (FileNotFoundError, ValueError) as err:
        raise _fail(str(err)) from None
    out = Console(highlight=False, soft_wrap=True)
    table = Table(title="PSNR gain over gray (dB) / colorfulness minus the truth's, per set", show_edge=False)
    table.add_column("filter")
    table.add_column("gain", justify="right")
    for name in selection.set_names:
        table.add_column(escape(name), justify="right")
    for setting in selection.settings:
        for gain, scores in sorted(setting.scores.items()):
            chosen_here = setting.gains is not None and gain in setting.gains
            cells = [f"{s.psnr_gain:+.3f} / {s.colorfulness_gap:+.1f}" for s in scores]
            table.add_row(setting.enlarge, f"{gain:g}", *cells, style="bold" if chosen_here else None)
    out.print(table)
    best = selection.best
    if best is None:
        raise _fail(
            f"no gain of {gains} brings colorfulness within {max_gap} of the truth's; try "
            + ("smaller" if _too_colorful(selection) else "larger")
            + " gains"
        )
    calibration = selection.calibration(float(getattr(colorizer.model, "chroma_gain", 1.0)))
    save_calibrated(source, output, calibration, selection.record())
    out.print(f"chosen: {best.enlarge}, gains {best.gains}; written to {escape(str(output))}", markup=False)
