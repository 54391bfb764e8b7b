"""`polychrome evaluate`: judge several colorizers on the same photos, next to a gray output and the truth."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from polychrome.cli import app
from polychrome.cli.options import BatchSize, DecodingWorkers, ScoringDevice

if TYPE_CHECKING:
    import torch

    from polychrome.evaluate.frechet import FeatureExtractor


FEW_FOR_FRECHET = 100


def _fail(message: str) -> typer.Exit:
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(1)


def _extractors(
    fd: bool, files: list[Path], input_range: float, device: torch.device
) -> list[FeatureExtractor]:
    from polychrome.evaluate.frechet import EfficientNetLite0Features, SavedNetworkFeatures

    extractors: list[FeatureExtractor] = []
    if fd:
        try:
            extractors.append(EfficientNetLite0Features(device))
        except ImportError as err:
            raise _fail(f"{err}; or pass --no-fd to skip the Fréchet distance") from None
    for path in files:
        try:
            extractors.append(SavedNetworkFeatures(path, input_range, device))
        except (FileNotFoundError, ValueError) as err:
            raise _fail(str(err)) from None
    names = [e.name for e in extractors]
    if len(set(names)) != len(names):
        raise _fail(f"two feature extractors would report under one name: {', '.join(names)}")
    return extractors


def _cell(key: str, value: float | None) -> str:
    precise = key in ("ssim", "auc", "auc_rebalanced", "bin_accuracy")
    return "–" if value is None else f"{value:.4f}" if precise else f"{value:.2f}"


def _table(summary: dict[str, dict[str, Any]], extractors: list[str], width: int) -> Table:
    """One row per model, or, where that would not fit ``width`` columns, one row per measure."""
    from polychrome.evaluate.report import COLUMNS

    columns = [*COLUMNS, *((name, name, "↓") for name in extractors)]
    wide = Table(show_edge=False, pad_edge=False)
    wide.add_column("model", overflow="fold")
    for _, title, arrow in columns:
        wide.add_column(f"{title} {arrow}".strip(), justify="right")
    for label, row in summary.items():
        cells = [_cell(key, row.get(key)) for key, _, _ in columns]
        wide.add_row(escape(label), *cells, style="dim" if row["kind"] == "reference" else None)
    if Console(width=10_000).measure(wide).maximum <= width:
        return wide
    tall = Table(show_edge=False, pad_edge=False)
    tall.add_column("measure", no_wrap=True)
    for label in summary:
        tall.add_column(escape(label), justify="right", overflow="fold")
    for key, title, arrow in columns:
        tall.add_row(f"{title} {arrow}".strip(), *(_cell(key, row.get(key)) for row in summary.values()))
    return tall


@app.command()
def evaluate(
    model: Annotated[
        list[str],
        typer.Option(
            "--model",
            "-m",
            metavar="MODEL",
            help="A built-in model, a saved model folder, an exported .onnx file (run by ONNX Runtime on "
            "the CPU), or a folder of another colorizer's outputs (matched to the photos by file name). "
            "Repeat to compare several.",
        ),
    ],
    data: Annotated[
        list[str],
        typer.Option(
            "--data", "-d", metavar="PHOTOS", help="Photos: folders, globs, tar shards or zip archives."
        ),
    ],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", metavar="FOLDER", help="Folder for metrics.json and report.html."),
    ],
    protocol: Annotated[
        str,
        typer.Option(
            metavar="NAME",
            help="Which pixels are judged: val5k (shorter side 256, centre crop 256), native (each photo at "
            "its own size) or a size N (shorter side N, centre crop N).",
        ),
    ] = "val5k",
    render_size: Annotated[
        int, typer.Option(min=16, metavar="PIXELS", help="Shorter side at which networks see the photos.")
    ] = 256,
    limit: Annotated[
        int | None, typer.Option(min=1, metavar="N", help="Judge only the first N usable photos.")
    ] = None,
    device: ScoringDevice = "auto",
    batch_size: BatchSize = None,
    workers: DecodingWorkers = None,
    keep_gray: Annotated[
        bool, typer.Option("--keep-gray", help="Also judge photos that are already gray.")
    ] = False,
    fd: Annotated[
        bool, typer.Option(help="Fréchet distance on EfficientNet-Lite0 ImageNet features (fd_effnet_lite0).")
    ] = True,
    fd_features: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="FILE",
            help="Another feature network for a Fréchet distance: a TorchScript file or a .pt2 program, e.g. "
            "the Inception file of StyleGAN2-ADA/clean-fid for standard FID. Repeatable.",
        ),
    ] = None,
    fd_input_range: Annotated[
        float,
        typer.Option(
            metavar="MAX", help="Images are scaled to 0..this for --fd-features networks (255 for Inception)."
        ),
    ] = 255.0,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the report in an existing output folder.")
    ] = False,
    strength: Annotated[
        list[float] | None,
        typer.Option(
            min=0.0,
            max=0.99,
            metavar="WEIGHT",
            help="Films: the stabiliser strengths to judge each model at (repeatable); default 0 (frame by "
            "frame) and the default strength.",
        ),
    ] = None,
) -> None:
    """Judge colorizers beside a gray output and the truth.

    Every photo is brought to the --protocol's pixels; each model colorizes its gray version as `polychrome
    colorize` would, and PSNR, SSIM, colorfulness (and its gap to the truth's), the AuC of the per-pixel ab
    error (plain and rebalanced), bin accuracy and a Fréchet distance are measured. Writes
    OUTPUT/metrics.json and a self-contained OUTPUT/report.html. A photo that cannot be read, or that a
    model's output folder lacks, is left out for every model and reported; the exit code is then 1.

    When --data names films (true-color videos), each model colorizes them at every --strength, and PSNR,
    colorfulness, CDC and motion-compensated flicker go into OUTPUT/metrics.json (averaged over films).
    """
    from polychrome._atomic import WriteError
    from polychrome._messages import printable_name
    from polychrome.data.sources import expand_source
    from polychrome.devices import resolve_device
    from polychrome.evaluate.candidates import resolve_candidate
    from polychrome.evaluate.protocol import PhotoStream, get_protocol
    from polychrome.evaluate.report import write_report
    from polychrome.evaluate.scoring import score_colorizers

    if output.exists() and not output.is_dir():
        raise _fail(f"{output} is a file; the output is a folder")
    if output.exists() and any(output.iterdir()) and not overwrite:
        raise _fail(f"{output} exists; pass --overwrite to replace its report")
    if len(set(model)) != len(model):
        raise _fail(f"a model is given twice: {', '.join(model)}")
    from polychrome.video.formats import is_video

    if all(Path(item).is_file() and is_video(Path(item)) for item in data):
        _evaluate_films(model, [Path(item) for item in data], output, strength, render_size, limit, device)
        return
    try:
        for source in data:
            expand_source(source)
        chosen = get_protocol(protocol)
        target = resolve_device(device)
        candidates = [resolve_candidate(spec, chosen, target, render_size, workers) for spec in model]
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        raise _fail(str(err)) from None
    extractors = _extractors(fd, fd_features or [], fd_input_range, target)
    photos = PhotoStream(
        data,
        chosen,
        keep_gray=keep_gray,
        limit=limit,
        batch_size=batch_size,
        workers=workers,
        device=target,
    )
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    with console.status("judging photos") as status:
        try:
            evaluation = score_colorizers(
                candidates,
                photos,
                chosen,
                extractors,
                progress=lambda n: status.update(f"judged {n} photo{'s' if n != 1 else ''}"),
            )
        except (FileNotFoundError, ValueError) as err:
            raise _fail(str(err)) from None
    summary = evaluation.summary()
    try:
        metrics_path, report_path = write_report(evaluation, output)
    except WriteError as err:
        raise _fail(str(err)) from None

    unreadable = [(c.label, *entry) for c in candidates for entry in getattr(c, "unreadable", [])]
    for label, where, reason in unreadable:
        console.print(f"[red]error:[/red] {escape(where)} ({escape(label)}): {escape(reason)}")
    for label, name, reason in evaluation.problems:
        shown = escape(printable_name(name))
        console.print(f"[red]left out:[/red] {shown} ({escape(label)}): {escape(reason)}")
    # Unreadable photos were already logged by the decoder, one line each; the summary counts them.
    out = Console(highlight=False, soft_wrap=True)
    out.print(_table(summary, evaluation.extractors, out.width))
    reasons = sorted(evaluation.dropped.items())
    if evaluation.problems:  # photos some model's outputs lacked, left out for every model
        reasons.append(("without every model's output", len({name for _, name, _ in evaluation.problems})))
    dropped = ", ".join(f"{n} {r}" for r, n in reasons)
    count = len(evaluation.names)
    out.print(
        f"{count} photo{'s' if count != 1 else ''}"
        + (f" ({escape(dropped)} left out)" if dropped else "")
        + f": {escape(str(metrics_path))}, {escape(str(report_path))}"
    )
    if evaluation.extractors and count < FEW_FOR_FRECHET:
        out.print(
            f"(a Fréchet distance on {count} photos says little: it compares feature statistics, which take "
            f"hundreds of photos to settle)",
            markup=False,
        )
    if evaluation.problems or evaluation.failures or unreadable:
        raise typer.Exit(1)


def _evaluate_films(
    models: list[str],
    films: list[Path],
    output: Path,
    strengths: list[float] | None,
    render_size: int,
    limit: int | None,
    device: str,
) -> None:
    """Judge models on true-color films at each stabiliser strength (:mod:`polychrome.evaluate.video`)."""
    import json

    from polychrome._atomic import WriteError, atomic_write
    from polychrome.devices import resolve_device
    from polychrome.evaluate.video import FILM_METRICS, mean_rows, score_film
    from polychrome.pipelines.image import Colorizer
    from polychrome.video.formats import DEFAULT_STRENGTH
    from polychrome.video.io import VideoReadError
    from polychrome.video.pipeline import VideoColorizer, VideoOptions

    target = resolve_device("cpu" if device == "auto" else device)
    chosen = strengths or [0.0, DEFAULT_STRENGTH]
    candidates = {}
    try:
        for spec in models:
            colorizer = Colorizer.from_pretrained(spec, device=target)
            for weight in chosen:
                films_colorizer = VideoColorizer(
                    colorizer, VideoOptions(render_size=render_size, strength=weight)
                )
                candidates[f"{spec} strength {weight:g}"] = films_colorizer.colorize_frames
    except (FileNotFoundError, ValueError) as err:
        raise _fail(str(err)) from None
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    scored, failed = [], []
    for film in films:
        with console.status(f"judging {film.name}"):
            try:
                scored.append(score_film(film, candidates, limit))
            except (VideoReadError, ValueError) as err:
                failed.append(str(err))
                console.print(f"[red]error:[/red] {escape(str(err))}")
    if not scored:
        raise _fail("no film could be judged")
    table = mean_rows(scored)
    metrics = {"films": [str(f) for f in films], "rows": table}
    try:
        path = atomic_write(
            output / "metrics.json", lambda h: h.write(json.dumps(metrics, indent=2).encode())
        )
    except WriteError as err:
        raise _fail(str(err)) from None
    rows = Table(show_edge=False, pad_edge=False)
    rows.add_column("model")
    arrows = {"psnr": "↑", "colorfulness": "", "cdc": "↓", "flicker": "↓"}
    for key in FILM_METRICS:
        rows.add_column(f"{key} {arrows[key]}".strip(), justify="right")
    for label, row in table.items():
        rows.add_row(
            escape(label), *(f"{row[key]:.4f}" if key == "cdc" else f"{row[key]:.2f}" for key in FILM_METRICS)
        )
    out = Console(highlight=False, soft_wrap=True)
    out.print(rows)
    out.print(f"{len(scored)} film{'s' if len(scored) != 1 else ''}: {escape(str(path))}")
    if failed:
        raise typer.Exit(1)
