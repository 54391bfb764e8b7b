"""`polychrome colorize`: colorize photos, folders and glob patterns into an output folder (or one file)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from polychrome._messages import printable_name
from polychrome.cli import app
from polychrome.pipelines.batch import BatchReport, Job, normalize_suffix, plan_jobs, run_jobs
from polychrome.pipelines.render_size import MAX_RENDER_SIZE

if TYPE_CHECKING:
    import numpy as np


class PhotoColorizer(Protocol):
    """What the command needs from a colorizer (:class:`~polychrome.pipelines.image.Colorizer`'s call): an
    HxWx3 RGB photo in (uint8, or float32 in 0..1), an output whose ``images`` hold the colorized photo (a PIL
    image, or an array in the same units)."""

    def __call__(self, images: np.ndarray, **options: Any) -> Any: ...


def load_colorizer(
    model: str | None, device: str, precision: str = "fp32", backend: str = "auto"
) -> PhotoColorizer:
    """Build the colorizer; a module-level function so tests can swap in a fake without any weights."""
    from polychrome.pipelines.image import Colorizer

    return Colorizer.from_pretrained(model, device=device, precision=precision, backend=backend)


def make_processor(
    colorizer: PhotoColorizer, render_size: int, saturation: float, temperature: float
) -> Callable[[Job], None]:
    """The per-photo step for `run_jobs`: load, colorize, save (keeping any alpha channel, EXIF and dpi)."""
    from polychrome.images import load_image, save_image

    def process(job: Job) -> None:
        # 8-bit photos stay bytes and the output comes as an 8-bit image: a large photo costs a few bytes a
        # pixel instead of the 24 of float input and output.
        image = load_image(job.source, keep_8bit=True)
        output = colorizer(
            image.rgb,
            output_type="pil",
            render_size=render_size,
            saturation=saturation,
            temperature=temperature,
        )
        save_image(job.output, output.images[0], image.alpha, metadata=image.metadata)

    return process


@app.command()
def colorize(
    inputs: Annotated[
        list[str],
        typer.Argument(
            metavar="PHOTOS",
            help="Photos, folders (walked recursively) or glob patterns such as 'scans/**/*.tif'.",
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help="Output folder; with one input file, an output file name such as 'color.png' also works.",
        ),
    ],
    model: Annotated[
        str | None,
        typer.Option(metavar="MODEL", help="Name or path of the model; the built-in model by default."),
    ] = None,
    render_size: Annotated[
        int,
        typer.Option(
            min=16,
            max=MAX_RENDER_SIZE,
            metavar="PIXELS",
            help="Shorter side, in pixels, at which color is predicted; detail stays at full size.",
        ),
    ] = 256,
    saturation: Annotated[
        float, typer.Option(min=0.0, metavar="FACTOR", help="Color strength; 1 as predicted, 0 gray.")
    ] = 1.0,
    temperature: Annotated[
        float,
        typer.Option(
            min=-1.0, max=1.0, metavar="SHIFT", help="White balance shift: negative cooler, positive warmer."
        ),
    ] = 0.0,
    output_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help="Output format such as png or jpg; by default each photo keeps its own.",
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace outputs that already exist.")
    ] = False,
    device: Annotated[
        str, typer.Option(metavar="DEVICE", help="Where the model runs: cpu, cuda, cuda:1, mps.")
    ] = "cpu",
    precision: Annotated[
        str,
        typer.Option(metavar="PRECISION", help="fp32, or bf16-mixed / fp16-mixed for the network on a GPU."),
    ] = "fp32",
    backend: Annotated[
        str,
        typer.Option(
            metavar="BACKEND",
            help="auto (PyTorch where installed, else ONNX Runtime), torch, or onnx (the model.onnx).",
        ),
    ] = "auto",
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="N",
            help="Photos worked on at once (threads), so one photo's decoding and saving overlap another's "
            "coloring; each holds one photo in memory (about 1.5 GB for 24 megapixels). "
            "Default: 2 with 4 or more CPU cores, else 1.",
        ),
    ] = None,
) -> None:
    """Colorize black-and-white photos.

    A folder's structure is mirrored under the output folder; photos named directly or by a glob go into it.
    Outputs that already exist are skipped unless --overwrite is given; an original is never overwritten.
    A photo that cannot be read is reported, the others are still colorized, and the exit code is 1.
    """
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        suffix = None if output_format is None else normalize_suffix(output_format)
        jobs, problems = plan_jobs(inputs, output, suffix=suffix)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--format' / '--output'") from None

    for item, reason in problems:
        err.print(f"[red]error:[/red] {escape(printable_name(item))}: {escape(reason)}")
    if not jobs:
        if not problems:  # each problem has had its own line already
            err.print("nothing to colorize")
        else:
            Console(highlight=False, soft_wrap=True).print(_summary(BatchReport(), len(problems), overwrite))
        raise typer.Exit(1 if problems else 0)

    process: Callable[[Job], None] = _never_called
    if overwrite or not all(job.output.exists() for job in jobs):
        try:
            colorizer = load_colorizer(model, device, precision, backend)
        except Exception as exc:
            err.print(f"[red]error:[/red] could not load the model: {escape(str(exc) or type(exc).__name__)}")
            raise typer.Exit(1) from None
        process = make_processor(colorizer, render_size, saturation, temperature)

    report = _run_with_progress(jobs, process, overwrite, workers or default_workers(), err)

    for reason in (reason for _, reason in report.failed):
        err.print(f"[red]error:[/red] {escape(reason)}")
    Console(highlight=False, soft_wrap=True).print(_summary(report, len(problems), overwrite), markup=False)
    if problems or not report.ok:
        raise typer.Exit(1)


def default_workers() -> int:
    """2 with 4 or more CPU cores, else 1. Measured (BENCHMARKS section 8): on 16 cores 2 workers colorize
    28% more photos per second than 1, and 4 or 8 no more than 2 (PyTorch already spreads each photo over
    the cores); on 2 cores a second worker is 8% slower. Each worker also holds a photo in memory."""
    return 2 if (os.cpu_count() or 1) >= 4 else 1


def _run_with_progress(
    jobs: list[Job], process: Callable[[Job], None], overwrite: bool, workers: int, console: Console
) -> BatchReport:
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with progress:
        task = progress.add_task("colorizing", total=len(jobs))

        counts = {"done": 0, "skipped": 0, "failed": 0}

        def advance(job: Job, status: str) -> None:
            counts[status] += 1
            progress.update(task, advance=1, description=escape(job.source.name))

        try:
            return run_jobs(jobs, process, overwrite=overwrite, on_progress=advance, workers=workers)
        except KeyboardInterrupt:
            progress.stop()
            console.print(
                f"interrupted: colorized {counts['done']} of {len(jobs)} (every output written is complete); "
                "run the same command again to continue, finished photos are skipped",
                markup=False,
            )
            raise typer.Exit(130) from None


def _summary(report: BatchReport, planning_problems: int, overwrite: bool) -> str:
    skipped = f"skipped {len(report.skipped)}"
    if report.skipped and not overwrite:
        skipped += " (already exist; use --overwrite)"
    return f"colorized {len(report.done)}, {skipped}, failed {len(report.failed) + planning_problems}"


def _never_called(job: Job) -> None:
    # Every output already exists and is skipped, so the model is not even loaded.
    raise AssertionError(f"unexpected work for {job.source}")
