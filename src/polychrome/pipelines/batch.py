"""Plan and run a batch over the user's files: which output each photo goes to, and what happened to it.

Planning and running are separate so that problems (a missing path, two photos that would write the same
output, an output that would replace its own source) are all found before any work starts, and so that the
loop works with any "process one file" callable: the CLI passes one that colorizes, tests pass fakes.

>>> jobs, problems = plan_jobs(["photos"], "out", suffix=".png")  # doctest: +SKIP
>>> report = run_jobs(jobs, process)  # doctest: +SKIP
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from polychrome._atomic import remove_stale_temporaries
from polychrome._messages import os_error_reason, printable_name
from polychrome.images import SUPPORTED_EXTENSIONS
from polychrome.video.formats import FILM_OUTPUT_EXTENSIONS, VIDEO_EXTENSIONS, film_output, is_video

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS: frozenset[str] = SUPPORTED_EXTENSIONS  # what a batch picks up from folders and globs

# GIF is read (its first frame) but never written: a 256-color palette would throw the new colors away,
# so a GIF becomes a PNG unless another format is asked for.
WRITABLE_EXTENSIONS: frozenset[str] = IMAGE_EXTENSIONS - {".gif"}
# What `polychrome colorize` picks up: photos and films (animated GIF and WebP are told apart by content).
MEDIA_EXTENSIONS: frozenset[str] = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
_FALLBACK_SUFFIX = ".png"

_GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class Job:
    """One photo to process: read `source`, write `output`."""

    source: Path
    output: Path


@dataclass
class BatchReport:
    """What `run_jobs` did; `failed` holds (path, one-line reason) pairs ready to show the user."""

    done: list[Job] = field(default_factory=list)
    skipped: list[Job] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def normalize_suffix(suffix: str, extensions: Collection[str] = WRITABLE_EXTENSIONS) -> str:
    """Turn 'png', '.PNG' or 'Png' into '.png'; raise ValueError for a format that cannot be written."""
    normalized = "." + suffix.strip().lstrip(".").lower()
    if normalized not in extensions:
        raise ValueError(f"unsupported output format {suffix!r}; choose one of {_listing(extensions)}")
    return normalized


def plan_jobs(
    inputs: Sequence[str | Path],
    output: str | Path,
    *,
    suffix: str | None = None,
    extensions: Collection[str] = IMAGE_EXTENSIONS,
) -> tuple[list[Job], list[tuple[str, str]]]:
    """Map input files, folders and glob patterns to output paths.

    A folder is walked recursively (hidden files and folders skipped) and its structure is mirrored under
    `output`; a file or a glob match goes straight into `output` by name. With exactly one input file and an
    `output` that has an image extension, `output` is the output file; otherwise it is a folder. `suffix`
    ('.png') sets the output format; by default each output keeps its source's extension (a GIF becomes a
    PNG, since GIF is not written).

    Problems with the inputs are returned as (input, reason) pairs rather than raised, so one bad path does
    not stop the rest; an output that would replace its own source, or the output of another input, is such
    a problem too. Only contradictory arguments raise ValueError (the caller's usage error), and an empty
    path, which `Path` would read as the current folder (an unset shell variable gives one).

    >>> plan_jobs(["photos"], "out")  # photos/a/b.jpg -> out/a/b.jpg  # doctest: +SKIP
    """
    if str(output) == "" or "" in map(str, inputs):
        raise ValueError("empty " + ("output path" if str(output) == "" else "input path"))
    extensions = frozenset(extension.lower() for extension in extensions)
    films = bool(extensions & VIDEO_EXTENSIONS)
    if suffix is not None:
        suffix = normalize_suffix(suffix, WRITABLE_EXTENSIONS | (FILM_OUTPUT_EXTENSIONS if films else set()))
    output = Path(output)
    problems: list[tuple[str, str]] = []
    candidates: list[Job] = []  # in the order the user gave the inputs

    first = str(inputs[0]) if len(inputs) == 1 else ""
    single = (
        len(inputs) == 1
        and output.suffix.lower() in extensions
        and not output.is_dir()
        and not Path(first).is_dir()
        and not (is_glob(first) and not Path(first).exists())
    )
    if single:
        if suffix is not None and suffix != output.suffix.lower():
            raise ValueError(f"output file {str(output)!r} does not end in {suffix}, the requested format")
        source = Path(first)
        film = films and source.is_file() and is_video(source)
        # A photo named .gif is refused before any work; a film may be written as one.
        normalize_suffix(output.suffix, FILM_OUTPUT_EXTENSIONS if film else WRITABLE_EXTENSIONS)
        if not source.exists():
            problems.append((first, _missing(source)))
        elif source.suffix.lower() not in extensions:
            problems.append((first, _unsupported(source, extensions)))
        else:
            candidates.append(Job(source, output))
    else:
        if output.exists() and not output.is_dir():
            raise ValueError(
                f"output {str(output)!r} is an existing file; with these inputs it must be a folder"
            )
        if not output.exists() and output.suffix:
            # A name like 'one.jpg' or 'out.heic' is meant as a file: never turn it into a folder silently.
            if output.suffix.lower() in extensions:
                raise ValueError(
                    f"output {str(output)!r} names one image file, but these inputs can give several "
                    "photos; name a folder"
                )
            if len(inputs) == 1 and Path(first).is_file():
                raise ValueError(
                    f"cannot write {output.suffix!r} files ({str(output)!r}); name the output with one of "
                    f"{_listing(WRITABLE_EXTENSIONS)}, or name a folder"
                )
        for item in inputs:
            found, item_problems = _expand(str(item), output, suffix, extensions)
            candidates.extend(found)
            problems.extend(item_problems)

    # Every source is an original to protect, not only the one that a given output comes from.
    originals = {_real(job.source): job.source for job in candidates}
    jobs: list[Job] = []
    claimed: dict[Path, Job] = {}
    for job in candidates:
        key = _real(job.output)
        earlier = claimed.get(key)
        if earlier is not None:
            if _real(earlier.source) != _real(job.source):
                problems.append(
                    (
                        str(job.source),
                        f"would overwrite the output of {printable_name(earlier.source)} "
                        f"({printable_name(job.output)})",
                    )
                )
            continue  # the same photo named twice (say, by a folder and a glob) is colorized once
        if _same_file(job.source, job.output):
            problems.append(
                (str(job.source), "the output would replace this original; choose another output")
            )
            continue
        if key in originals:
            problems.append(
                (
                    str(job.source),
                    f"would overwrite the original {printable_name(originals[key])}; choose another output",
                )
            )
            continue
        claimed[key] = job
        jobs.append(job)
    return jobs, problems


def run_jobs(
    jobs: Iterable[Job],
    process: Callable[[Job], None],
    *,
    overwrite: bool = False,
    on_progress: Callable[[Job, str], None] | None = None,
    workers: int = 1,
) -> BatchReport:
    """Call `process(job)` for each job whose output does not exist yet (or for all with `overwrite`).

    An exception from `process` fails that job only; the batch goes on and the reason is recorded as one
    line that names the source file. A failed job leaves no new output behind, so that a later run does not
    skip a half-written file as done. The output's parent folders are created before `process` is called.
    Temporary files that killed runs left in the output folders are removed first (each folder is listed
    once). `on_progress(job, status)` is called (always from the calling thread) after each job with 'done',
    'skipped' or 'failed'. KeyboardInterrupt is not caught: Ctrl-C stops the batch.

    With `workers` > 1, that many jobs run at once in threads: decoding, PyTorch and encoding release the
    GIL, so one photo's network overlaps another's decode and encode. At most `workers` jobs are in flight,
    so memory grows with `workers`, not with the batch. The report lists jobs in the order given, whatever
    order they finish in.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    jobs = list(jobs)
    for folder in sorted({job.output.parent for job in jobs}):
        remove_stale_temporaries(folder)
    outcomes: list[tuple[int, Job, str, str | None]] = []

    def record(index: int, job: Job, outcome: tuple[str, str | None]) -> None:
        outcomes.append((index, job, *outcome))
        if on_progress is not None:
            on_progress(job, outcome[0])

    numbered = enumerate(jobs)
    if workers == 1:
        for index, job in numbered:
            record(index, job, _run_one(job, process, overwrite))
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="polychrome-job") as pool:
            in_flight: dict[Future[tuple[str, str | None]], tuple[int, Job]] = {}

            def finish(futures: Iterable[Future[tuple[str, str | None]]]) -> None:
                for future in futures:
                    record(*in_flight.pop(future), future.result())

            try:
                for index, job in numbered:
                    if len(in_flight) >= workers:
                        finish(wait(in_flight, return_when=FIRST_COMPLETED).done)
                    in_flight[pool.submit(_run_one, job, process, overwrite)] = (index, job)
                finish(wait(in_flight).done)
            except BaseException:
                for future in in_flight:
                    future.cancel()
                raise
    report = BatchReport()
    for _, job, status, reason in sorted(outcomes, key=lambda outcome: outcome[0]):
        if status == "done":
            report.done.append(job)
        elif status == "skipped":
            report.skipped.append(job)
        else:
            report.failed.append((str(job.source), reason or ""))
    return report


def _run_one(job: Job, process: Callable[[Job], None], overwrite: bool) -> tuple[str, str | None]:
    """Process one job: its status, and for a failure the one-line reason."""
    if job.output.exists() and not overwrite:
        logger.debug("skipping %s: %s already exists", job.source, job.output)
        return "skipped", None
    existed = job.output.exists()
    try:  # a folder that cannot be written is found before the photo is colorized, not after
        job.output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return "failed", _cannot_write(job, os_error_reason(exc))
    if not os.access(job.output.parent, os.W_OK):
        return "failed", _cannot_write(job, "its folder is not writable")
    try:
        process(job)
    except Exception as exc:
        logger.debug("failed on %s", job.source, exc_info=True)
        if not existed:
            _remove_partial(job.output)
        if isinstance(exc, OSError) and exc.filename and Path(exc.filename).parent == job.output.parent:
            return "failed", _cannot_write(job, os_error_reason(exc))  # not the temporary file's name
        return "failed", _reason(job, exc)
    return "done", None


def _cannot_write(job: Job, why: str) -> str:
    return f"{printable_name(job.source)}: cannot write {printable_name(job.output)} ({why})"


def _expand(
    text: str, output: Path, suffix: str | None, extensions: frozenset[str]
) -> tuple[list[Job], list[tuple[str, str]]]:
    """The jobs for one input into the output folder, and (path, reason) for what cannot be read."""
    path = Path(text)
    films = bool(extensions & VIDEO_EXTENSIONS)  # only then may a GIF or WebP be planned as a film

    def renamed(target: Path, source: Path) -> Path:
        return _renamed(target, suffix, source if films else None)

    if path.is_dir():
        sources, problems = _walk_images(path, extensions, skip=output)
        found = [Job(source, renamed(output / source.relative_to(path), source)) for source in sources]
        if not found and not problems:
            problems.append((text, f"folder contains no images ({_listing(extensions)})"))
        return found, problems
    if path.is_file():
        if path.suffix.lower() not in extensions:
            return [], [(text, _unsupported(path, extensions))]
        return [Job(path, renamed(output / path.name, path))], []
    if is_glob(text):
        matches = sorted(glob.glob(text, recursive=True))
        images = [match for match in matches if Path(match).suffix.lower() in extensions]
        found = [
            Job(Path(m), _renamed(output / Path(m).name, suffix, Path(m)))
            for m in images
            if os.path.isfile(m)
        ]
        problems = [(m, reason) for m in images if (reason := _unreadable(m)) is not None]
        if not found and not problems:
            problems.append((text, "matched no image files" if matches else "matched nothing"))
        return found, problems
    return [], [(text, _missing(path))]


def _walk_images(
    root: Path, extensions: frozenset[str], skip: Path
) -> tuple[list[Path], list[tuple[str, str]]]:
    """Image files under `root` in a stable order, leaving out hidden entries and the output folder, and
    (path, reason) for each folder that cannot be listed and each image name that cannot be opened."""
    skip = _real(skip)
    found: list[Path] = []
    problems: list[tuple[str, str]] = []

    def unlisted(err: OSError) -> None:
        problems.append((str(err.filename), os_error_reason(err)))

    for directory, folders, files in os.walk(root, onerror=unlisted):
        # Without this, colorizing `photos` into `photos/colorized` would pick up last run's outputs.
        folders[:] = sorted(
            name for name in folders if not name.startswith(".") and _real(Path(directory, name)) != skip
        )
        for name in sorted(files):
            if name.startswith(".") or Path(name).suffix.lower() not in extensions:
                continue
            path = Path(directory, name)
            reason = _unreadable(path)
            if reason is None:
                found.append(path)
            else:
                problems.append((str(path), reason))
    return found, problems


def _unreadable(path: str | Path) -> str | None:
    """Why the file `path` names cannot be reached (a symlink loop, a dangling link), or None."""
    try:
        os.stat(path)
    except OSError as err:
        return os_error_reason(err)
    return None


def _missing(path: Path) -> str:
    """Why a path that is neither a file nor a folder is not there."""
    return _unreadable(path) or "not a file or folder"


def _real(path: Path) -> Path:
    """`path` with symlinks resolved; unlike Path.resolve() in Python 3.11, a symlink loop does not raise."""
    return Path(os.path.realpath(path))


def is_glob(text: str) -> bool:
    """Whether an input names files by a pattern (``*``, ``?``, ``[``) rather than one path."""
    return bool(_GLOB_CHARACTERS & set(text))


def _renamed(path: Path, suffix: str | None, source: Path | None = None) -> Path:
    if (
        source is not None
        and source.suffix.lower() in VIDEO_EXTENSIONS | {".gif", ".webp"}
        and is_video(source)
    ):
        return film_output(path, suffix)
    if suffix is not None and suffix in FILM_OUTPUT_EXTENSIONS - WRITABLE_EXTENSIONS:
        suffix = None  # a film format asked for: photos keep their own
    if suffix is None and path.suffix.lower() not in WRITABLE_EXTENSIONS:
        suffix = _FALLBACK_SUFFIX
    return path if suffix is None else path.with_suffix(suffix)


def _same_file(source: Path, output: Path) -> bool:
    # samefile also catches hard links and case-insensitive file systems, where resolve() alone does not.
    if _real(source) == _real(output):
        return True
    try:
        return output.exists() and os.path.samefile(source, output)
    except OSError:
        return False


def _unsupported(path: Path, extensions: Collection[str]) -> str:
    kind = f"'{path.suffix}'" if path.suffix else "a file without an extension"
    return f"not a supported image type ({kind}); supported: {_listing(extensions)}"


def _listing(extensions: Collection[str]) -> str:
    return ", ".join(sorted(extensions))


def _reason(job: Job, exc: Exception) -> str:
    """One line for the user; errors from the image loader already name the file, so don't repeat it."""
    message = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
    if printable_name(job.source.name) in message:
        return message
    return f"{printable_name(job.source)}: {message}"


def _remove_partial(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        logger.debug("could not remove partial output %s", path, exc_info=True)
