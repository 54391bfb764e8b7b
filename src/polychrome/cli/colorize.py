"""`polychrome colorize`: colorize photos, folders and glob patterns into an output folder (or one file)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from polychrome._messages import printable_name
from polychrome.cli import app
from polychrome.cli.options import ModelDevice, ModelName, in_option_words, precision_name
from polychrome.pipelines.batch import (
    MEDIA_EXTENSIONS,
    WRITABLE_EXTENSIONS,
    BatchReport,
    Job,
    normalize_suffix,
    plan_jobs,
    run_jobs,
)
from polychrome.pipelines.render_size import MAX_RENDER_SIZE
from polychrome.video.formats import DEFAULT_STRENGTH, FILM_OUTPUT_EXTENSIONS

DAMAGED = "damaged; the rest of the film was colorized"  # a film's last warning line, and exit status 1
FilmProgress = Callable[[Job, int, "int | None"], None]
# Without a terminal (a log, a pipe) a film's progress is a plain line each time both this share of its frames
# and this many seconds have passed since the last: rare enough for a log, none for a short film.
PLAIN_PROGRESS_SHARE = 0.1
PLAIN_PROGRESS_SECONDS = 30.0

if TYPE_CHECKING:
    import numpy as np

    from polychrome.pipelines.hints import Hint


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


@dataclass(frozen=True)
class FilmSettings:
    """The options that only films use (see :class:`polychrome.video.VideoOptions`)."""

    strength: float = DEFAULT_STRENGTH
    crf: int | None = None
    preset: str = "medium"
    side_by_side: bool = False
    preview: float | None = None
    bit_depth: int | None = None


def make_processor(
    colorizer: PhotoColorizer,
    render_size: int,
    saturation: float,
    temperature: float,
    film: FilmSettings | None = None,
    on_frames: FilmProgress | None = None,
    warnings: list[str] | None = None,
    hints: Sequence[Hint] = (),
    hint_method: str = "auto",
) -> Callable[[Job], None]:
    """The per-file step for `run_jobs`: a photo is loaded, colorized and saved (keeping any alpha
    channel, EXIF and dpi); a film goes through :class:`~polychrome.video.VideoColorizer`, and what it
    found damaged or could not keep is added to ``warnings`` (one line each, naming the film)."""
    from polychrome.images import load_image, save_image
    from polychrome.video.formats import is_video

    film = film or FilmSettings()

    def process(job: Job) -> None:
        if is_video(job.source):
            process_film(job)
            return
        # 8-bit photos stay bytes and the output comes as an 8-bit image: a large photo costs a few bytes a
        # pixel instead of the 24 of float input and output.
        image = load_image(job.source, keep_8bit=True)
        output = colorizer(
            image.rgb,
            output_type="pil",
            render_size=render_size,
            saturation=saturation,
            temperature=temperature,
            **({"hints": hints, "hint_method": hint_method} if hints else {}),
        )
        save_image(job.output, output.images[0], image.alpha, metadata=image.metadata)

    def process_film(job: Job) -> None:
        from polychrome.video.formats import require_film_packages

        require_film_packages()
        from polychrome.video.pipeline import VideoColorizer, VideoOptions

        options = VideoOptions(
            render_size=render_size,
            saturation=saturation,
            temperature=temperature,
            strength=film.strength,
            crf=film.crf,
            preset=film.preset,
            side_by_side=film.side_by_side,
            preview=film.preview,
            bit_depth=film.bit_depth,
        )
        progress = None if on_frames is None else lambda done, total: on_frames(job, done, total)
        result = VideoColorizer(colorizer, options).colorize_file(  # type: ignore[arg-type]
            job.source, job.output, on_progress=progress
        )
        if warnings is not None:
            name = printable_name(job.source)
            warnings.extend(f"{name}: {line}" for line in [*result.defects, *result.notes])
            if result.defects:
                warnings.append(f"{name}: {DAMAGED}")

    return process


def _eight_or_ten(bits: int | None) -> int | None:
    if bits not in (None, 8, 10):
        raise typer.BadParameter(f"8 or 10, not {bits}")
    return bits


@app.command()
def colorize(
    inputs: Annotated[
        list[str],
        typer.Argument(
            metavar="PHOTOS",
            help="Photos, films, folders (walked recursively) or glob patterns such as 'scans/**/*.tif'.",
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help="Output folder; with one input file, an output file name such as 'color.png' or "
            "'film-color.mp4' also works (films: mp4, mov, mkv, webm, gif).",
        ),
    ],
    model: ModelName = None,
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
            help="Output format such as png or jpg, or mp4 / mkv / webm / gif for films; by default each "
            "file keeps its own, but a still GIF becomes a PNG (256 colors would throw the new ones away). A "
            "film with a photo format becomes a folder of frames.",
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace outputs that already exist.")
    ] = False,
    device: ModelDevice = "cpu",
    precision: Annotated[
        str,
        typer.Option(
            metavar="PRECISION",
            callback=precision_name,
            help="fp32, or bf16-mixed / fp16-mixed for the network on a GPU, or int8 (the model's "
            "model-int8.onnx on ONNX Runtime: a 4 MB file against 15, colors close to fp32's; no faster).",
        ),
    ] = "fp32",
    backend: Annotated[
        str,
        typer.Option(
            metavar="BACKEND",
            help="auto (ONNX Runtime where it can: faster on CPUs; PyTorch for a GPU, bf16-mixed / "
            "fp16-mixed or a model without model.onnx), torch, or onnx (the model.onnx).",
        ),
    ] = "auto",
    strength: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=0.99,
            metavar="WEIGHT",
            help="Films: how much each frame's colors follow the frames before it (along motion); "
            "0 colors frame by frame.",
        ),
    ] = DEFAULT_STRENGTH,
    crf: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=63,
            metavar="QUALITY",
            help="Films: constant quality, lower is better (default 18 for H.264, 20 for VP9: "
            "visually near-lossless).",
        ),
    ] = None,
    preset: Annotated[
        str, typer.Option(metavar="PRESET", help="Films: encoder speed, ultrafast .. veryslow.")
    ] = "medium",
    side_by_side: Annotated[
        bool, typer.Option("--side-by-side", help="Films: write gray | color side by side.")
    ] = False,
    preview: Annotated[
        float | None,
        typer.Option(min=0.001, metavar="SECONDS", help="Films: colorize only the first SECONDS."),
    ] = None,
    bit_depth: Annotated[
        int | None,
        typer.Option(
            callback=_eight_or_ten,
            metavar="8|10",
            help="Films: 8 or 10 bits per color. Default: a 10-bit film stays 10-bit in mkv / mov (H.264 "
            "High 10, which many browsers and phones do not play) and is written 8-bit in mp4.",
        ),
    ] = None,
    hint: Annotated[
        list[str] | None,
        typer.Option(
            metavar="X,Y=COLOR",
            help="A color the photo had at a point, e.g. 120,80=#b22222 (pixels) or 0.5,0.9=#3a5f0b "
            "(fractions of width and height); X,Y,RADIUS=COLOR holds it over a disc. Repeatable; one photo.",
        ),
    ] = None,
    hints_file: Annotated[
        Path | None,
        typer.Option(
            "--hints",
            metavar="FILE",
            help='Hints from a JSON list of {"x": ..., "y": ..., "color": "#rrggbb", "radius": ...}.',
        ),
    ] = None,
    hint_method: Annotated[
        str,
        typer.Option(
            metavar="METHOD",
            callback=_hint_method_name,
            help="spread: each hint spreads over the region of like lightness around it, up to strong edges, "
            "and the model's colors stay elsewhere. network: the built-in hint network colors the whole "
            "photo from the hints (closer to the truth on average; a hint may tint the rest of the photo). "
            "auto (default): network for a model trained to take hints, else spread.",
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
    """Colorize black-and-white photos and films.

    A folder's structure is mirrored under the output folder; photos named directly or by a glob go into it.
    Outputs that already exist are skipped unless --overwrite is given; an original is never overwritten.
    A photo that cannot be read is reported, the others are still colorized, and the exit code is 1.
    """
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        film = FilmSettings(strength, crf, preset, side_by_side, preview, bit_depth)
        suffix = (
            None
            if output_format is None
            else normalize_suffix(output_format, WRITABLE_EXTENSIONS | FILM_OUTPUT_EXTENSIONS)
        )
        jobs, problems = plan_jobs(inputs, output, suffix=suffix, extensions=MEDIA_EXTENSIONS)
        _check_film_settings(film, jobs)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--format' / '--output'") from None
    hints = _hints(hint or [], hints_file, jobs, inputs)

    for item, reason in problems:
        err.print(f"[red]error:[/red] {escape(printable_name(item))}: {escape(reason)}")
    if not jobs:
        if not problems:  # each problem has had its own line already
            err.print("nothing to colorize")
        else:
            Console(highlight=False, soft_wrap=True).print(_summary(BatchReport(), len(problems), overwrite))
        raise typer.Exit(1 if problems else 0)

    colorizer: Any = None
    if overwrite or not all(job.output.exists() for job in jobs):
        try:
            colorizer = load_colorizer(model, device, precision, backend)
        except Exception as exc:
            reason = in_option_words(str(exc) or type(exc).__name__)
            err.print(f"[red]error:[/red] could not load the model: {escape(reason)}")
            raise typer.Exit(1) from None
    if hints and colorizer is not None:
        try:
            colorizer.check_hint_method(hint_method)
        except ValueError as exc:
            raise typer.BadParameter(in_option_words(str(exc)), param_hint="'--hint-method'") from None
    warnings: list[str] = []

    def make(frames: FilmProgress) -> Callable[[Job], None]:
        if colorizer is None:
            return _never_called
        return make_processor(
            colorizer, render_size, saturation, temperature, film, frames, warnings, hints, hint_method
        )

    report = _run_with_progress(jobs, make, overwrite, workers or default_workers(), err)

    for reason in (reason for _, reason in report.failed):
        err.print(f"[red]error:[/red] {escape(reason)}")
    for line in warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(line)}")
    Console(highlight=False, soft_wrap=True).print(_summary(report, len(problems), overwrite), markup=False)
    if problems or not report.ok or any(line.endswith(DAMAGED) for line in warnings):
        raise typer.Exit(1)


def _hint_method_name(value: str) -> str:
    from polychrome.pipelines.image import HINT_METHODS

    if value not in HINT_METHODS:
        raise typer.BadParameter(f"{value!r}: choose {', '.join(HINT_METHODS)}")
    return value


def _hints(texts: list[str], path: Path | None, jobs: list[Job], inputs: list[Path]) -> list[Hint]:
    """The hints of --hint and --hints, refused (usage error) when malformed or given for anything but one
    photo named as such (a folder or glob that holds one photo today may hold more tomorrow)."""
    from polychrome.pipelines.batch import is_glob
    from polychrome.pipelines.hints import HintError, load_hints, parse_hint
    from polychrome.video.formats import is_video

    if not texts and path is None:
        return []
    try:
        hints = [parse_hint(text) for text in texts] + (load_hints(path) if path is not None else [])
    except HintError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--hint' / '--hints'") from None
    first = str(inputs[0])
    many = len(inputs) > 1 or Path(first).is_dir() or (is_glob(first) and not Path(first).exists())
    if many or len(jobs) > 1 or any(is_video(job.source) for job in jobs):
        raise typer.BadParameter(
            "hints name points of one photo: give one photo (not a folder, several photos or a film)",
            param_hint="'--hint' / '--hints'",
        )
    return hints


def _check_film_settings(film: FilmSettings, jobs: list[Job]) -> None:
    """Film options that typer's ranges do not cover, refused before any work when there are films to
    colorize and the film packages to do it (without them, each film says what to install)."""
    from importlib.util import find_spec

    from polychrome.video.formats import is_video

    films = [job for job in jobs if is_video(job.source)]
    if find_spec("av") is None or not films:
        return
    from polychrome.video.output import EncodeSettings, output_bit_depth

    EncodeSettings(film.crf, film.preset)
    for job in films:
        output_bit_depth(job.output, 8, film.bit_depth)


def default_workers() -> int:
    """2 with 4 or more CPU cores, else 1. Measured (BENCHMARKS section 8): on 16 cores 2 workers colorize
    28% more photos per second than 1, and 4 or 8 no more than 2 (PyTorch already spreads each photo over
    the cores); on 2 cores a second worker is 8% slower. Each worker also holds a photo in memory."""
    return 2 if (os.cpu_count() or 1) >= 4 else 1


class PlainFilmProgress:
    """Progress lines for a film colored where no bar can be drawn: ``print_line`` is called with
    "NAME: DONE of TOTAL frames (P%), R frames/s, about M:SS left" once both ``every_share`` of its frames
    and ``every_seconds`` have passed since the film began or its last line (only the seconds, where the
    film does not say how many frames it has). Thread-safe: films colored at once each get their own lines.

    >>> lines = []
    >>> clock = iter([0.0, 40.0, 50.0]).__next__
    >>> progress = PlainFilmProgress(lines.append, clock=clock)
    >>> for done in (0, 100, 110):
    ...     progress.update("film.mp4", done, 1000)
    >>> lines
    ['film.mp4: 100 of 1000 frames (10%), 2.5 frames/s, about 6:00 left']
    """

    def __init__(
        self,
        print_line: Callable[[str], None],
        every_share: float = PLAIN_PROGRESS_SHARE,
        every_seconds: float = PLAIN_PROGRESS_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.print_line = print_line
        self.every_share = every_share
        self.every_seconds = every_seconds
        self.clock = clock
        self._lock = threading.Lock()
        # name -> (when it began, frames done then, when the last line was, frames done at the last line)
        self._films: dict[str, tuple[float, int, float, int]] = {}

    def update(self, name: str, done: int, total: int | None) -> None:
        now = self.clock()
        with self._lock:
            if name not in self._films:
                self._films[name] = (now, done, now, done)
                return
            began, first, last_time, last_done = self._films[name]
            if now - last_time < self.every_seconds:
                return
            if total is not None and done - last_done < self.every_share * total:
                return
            self._films[name] = (began, first, now, done)
        self.print_line(_progress_line(name, done, total, (done - first) / max(now - began, 1e-9)))

    def forget(self, name: str) -> None:
        with self._lock:
            self._films.pop(name, None)


def _progress_line(name: str, done: int, total: int | None, rate: float) -> str:
    if total is None:
        return f"{name}: {done} frames, {rate:.1f} frames/s"
    line = f"{name}: {done} of {total} frames ({100 * done // max(total, 1)}%), {rate:.1f} frames/s"
    if rate > 0 and done < total:
        minutes, seconds = divmod(round((total - done) / rate), 60)
        line += f", about {minutes}:{seconds:02d} left"
    return line


def _run_with_progress(
    jobs: list[Job],
    make: Callable[[FilmProgress], Callable[[Job], None]],
    overwrite: bool,
    workers: int,
    console: Console,
) -> BatchReport:
    """Run the jobs under a bar of files done and, while a film is colored, a bar of its frames done with
    frames per second and the time left; without a terminal, a film's progress is a line now and then
    (:class:`PlainFilmProgress`)."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    plain = None
    if not console.is_terminal:
        plain = PlainFilmProgress(
            lambda line: console.print(line, markup=False),
            every_share=PLAIN_PROGRESS_SHARE,
            every_seconds=PLAIN_PROGRESS_SECONDS,
        )
    with progress:
        task = progress.add_task("colorizing", total=len(jobs), rate="")
        film_tasks: dict[Path, tuple[Any, float, int]] = {}

        def frames(job: Job, done: int, total: int | None) -> None:
            if plain is not None:
                plain.update(printable_name(job.source), done, total)
            if job.source not in film_tasks:
                name = escape(job.source.name)
                film_tasks[job.source] = (
                    progress.add_task(name, total=total, rate=""),
                    time.perf_counter(),
                    done,
                )
            film_task, started, first = film_tasks[job.source]
            elapsed = time.perf_counter() - started
            rate = f"{(done - first) / elapsed:.1f} fps" if elapsed > 0 and done > first else ""
            progress.update(film_task, completed=done, total=total, rate=rate)

        process = make(frames)

        counts = {"done": 0, "skipped": 0, "failed": 0}

        def advance(job: Job, status: str) -> None:
            counts[status] += 1
            if plain is not None:
                plain.forget(printable_name(job.source))
            if job.source in film_tasks:
                progress.remove_task(film_tasks.pop(job.source)[0])
            progress.update(task, advance=1, description=escape(job.source.name))

        try:
            return run_jobs(jobs, process, overwrite=overwrite, on_progress=advance, workers=workers)
        except KeyboardInterrupt:
            progress.stop()
            console.print(
                f"interrupted: colorized {counts['done']} of {len(jobs)} (every output written is complete); "
                "run the same command again to continue: finished files are skipped, films resume from "
                "their last finished part",
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
