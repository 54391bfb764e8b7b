"""Short films colorized on the server as jobs: uploaded, checked, colored one at a time in a worker thread
while the page polls their progress, downloaded once, then removed.

Every job has a folder of its own inside one private temporary folder (made by :func:`tempfile.mkdtemp`, so
this user's alone), holding the upload under a fixed name and the colored film; a job is named by a random
token and looked up in a dict, so no part of a URL becomes a path. The folder is removed when its film has
been downloaded, when it has waited ``video_keep_s`` without being downloaded, when the job is cancelled,
and (the whole private folder) when the server stops, which also stops a film being colored.

Films need PyAV and OpenCV (:func:`films_unavailable` says which is missing) and color on either backend;
the pipeline is :class:`polychrome.video.VideoColorizer`, as for ``polychrome colorize film.mp4``.

Example:
    >>> films = FilmJobs(Colorizer.from_pretrained(), WebSettings())  # doctest: +SKIP
    >>> films.reserve(); folder = films.new_folder()  # doctest: +SKIP
    >>> source, frames = probe_film(folder / "upload", films.settings)  # doctest: +SKIP
    >>> job = films.submit(folder, source, "old.mp4", FilmOptions(), frames)  # doctest: +SKIP
    >>> films.get(job.id).progress()["state"]  # doctest: +SKIP
    'running'
"""

from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal

from PIL import Image, UnidentifiedImageError

from polychrome._messages import printable_name
from polychrome.video.formats import require_film_packages
from polychrome.web.queue import Busy
from polychrome.web.settings import WebSettings

__all__ = ["FilmError", "FilmJob", "FilmJobs", "FilmOptions", "films_unavailable", "probe_film"]

logger = logging.getLogger(__name__)

State = Literal["queued", "running", "done", "failed"]
# What the page offers and the message names; FFmpeg reads more (MPEG-TS, FLV, Ogg...), which are taken too.
READABLE_NAMES = "MP4, MOV, MKV, WebM, AVI, animated GIF or WebP"
RESULT_NAME = "colorized.mp4"
RESULT_MEDIA_TYPE = "video/mp4"


class FilmError(Exception):
    """A film the server will not color; ``status`` says why (400 damaged, 413 too large, 415 not a film)."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Cancelled(Exception):
    """Raised from the progress callback to stop the film being colored (cancelled, or the server stops)."""


def films_unavailable() -> str | None:
    """Why this server cannot color films, in one line, or None when it can: films need PyAV and OpenCV
    installed (the ``video`` extra); the colorizer may run on either backend."""
    try:
        require_film_packages()
    except ValueError as err:
        return str(err)
    return None


@dataclass(frozen=True)
class FilmOptions:
    """The controls of a film, in the units of :class:`polychrome.video.VideoOptions`."""

    saturation: float = 1.0
    temperature: float = 0.0
    render_size: int = 256


@dataclass
class FilmJob:
    """One film: where its files are, how far it is, and how it ended."""

    id: str
    name: str  # the upload's file name as the client gave it, for the download's name
    folder: Path
    source: Path
    options: FilmOptions
    state: State = "queued"
    frames_done: int = 0
    frames_total: int | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    finished_at: float | None = None  # time.monotonic() when it ended, done or failed
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def result(self) -> Path:
        return self.folder / RESULT_NAME

    def progress(self) -> dict[str, Any]:
        """What ``GET /api/videos/{id}`` answers."""
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "frames_done": self.frames_done,
            "frames_total": self.frames_total,
            "error": self.error,
            "warnings": list(self.warnings),
            "result": f"/api/videos/{self.id}/result" if self.state == "done" else None,
        }


class FilmJobs:
    """The films of one server: at most ``settings.video_jobs`` accepted and not finished at once (queued or
    being colored, one at a time in one worker thread), each finished one kept until downloaded or for
    ``settings.video_keep_s`` seconds.

    Args:
        colorizer: a :class:`~polychrome.Colorizer` (either backend).
        settings: the limits; ``video_jobs``, ``video_keep_s`` and ``max_video_seconds`` are used here.
    """

    def __init__(self, colorizer: Any, settings: WebSettings) -> None:
        self.colorizer = colorizer
        self.settings = settings
        self.reason = films_unavailable()
        self.capacity = settings.video_jobs
        self.active = 0  # accepted (or being uploaded) and not finished
        self._jobs: dict[str, FilmJob] = {}
        self._lock = threading.Lock()
        self._root: Path | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="polychrome-films")

    @property
    def running(self) -> int:
        with self._lock:
            return sum(job.state == "running" for job in self._jobs.values())

    def reserve(self) -> None:
        """Take a place for a film about to be uploaded; raises :class:`Busy` when every place is taken. The
        place is given back by :meth:`release` if the upload is refused, else when its job ends."""
        with self._lock:
            if self.active >= self.capacity:
                raise Busy("busy")
            self.active += 1

    def release(self) -> None:
        with self._lock:
            self.active -= 1

    def new_folder(self) -> Path:
        """A new private folder for one upload, inside this server's own."""
        with self._lock:
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="polychrome-films-"))  # mode 0700
            root = self._root
        return Path(tempfile.mkdtemp(prefix="job-", dir=root))

    def submit(
        self, folder: Path, source: Path, name: str, options: FilmOptions, frames: int | None = None
    ) -> FilmJob:
        """Queue the film ``source`` (checked by :func:`probe_film`, which tells its ``frames``) for coloring;
        its place (taken with :meth:`reserve`) now belongs to the job."""
        job = FilmJob(secrets.token_urlsafe(16), name, folder, source, options, frames_total=frames)
        with self._lock:
            self._jobs[job.id] = job
        self._executor.submit(self._run, job)
        return job

    def get(self, job_id: str) -> FilmJob | None:
        self.sweep()
        with self._lock:
            return self._jobs.get(job_id)

    def discard(self, job_id: str) -> bool:
        """Forget a job and remove its files (a film being colored stops at its next batch and is removed
        then); False if there is no such job."""
        with self._lock:
            job = self._jobs.pop(job_id, None)
            if job is None:
                return False
            job.cancelled.set()
            finished = job.state in ("done", "failed")
        if finished:
            shutil.rmtree(job.folder, ignore_errors=True)
        return True

    def sweep(self) -> None:
        """Remove the jobs that ended more than ``video_keep_s`` seconds ago."""
        oldest = time.monotonic() - self.settings.video_keep_s
        with self._lock:
            ended = [(job.id, job.finished_at) for job in self._jobs.values()]
        expired = [job_id for job_id, at in ended if at is not None and at < oldest]
        for job_id in expired:
            self.discard(job_id)

    def close(self) -> None:
        """Stop the film being colored (at its next batch), drop the queued ones and remove every file."""
        with self._lock:
            for job in self._jobs.values():
                job.cancelled.set()
            self._jobs.clear()
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            root, self._root = self._root, None
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)

    def _run(self, job: FilmJob) -> None:
        result: Any = None
        error: str | None = None
        try:
            if job.cancelled.is_set():
                return
            with self._lock:
                job.state = "running"
            result = self._colorize(job)
        except _Cancelled:
            pass
        except Exception as err:  # whatever stopped the film is reported on the job, in one line
            if not isinstance(err, ValueError | OSError):  # not the film's nor the disk's fault: a bug
                logger.exception("coloring %s failed", printable_name(job.name))
            error = _one_line(err, job)
        finally:
            job.source.unlink(missing_ok=True)  # only the colored film is kept, for its download
            # Seen ended only with its place free and its upload gone.
            with self._lock:
                self.active -= 1
                if result is not None:
                    job.state = "done"
                    job.frames_done = job.frames_total = result.frames
                    job.warnings = [_one_line(line, job) for line in [*result.defects, *result.notes]]
                elif error is not None:
                    job.state, job.error = "failed", error
                job.finished_at = time.monotonic()
                gone = job.cancelled.is_set()
            if gone:
                shutil.rmtree(job.folder, ignore_errors=True)

    def _colorize(self, job: FilmJob) -> Any:
        """Color the film of ``job`` into its result file; returns the :class:`~polychrome.video.VideoResult`.

        Raises:
            _Cancelled: the job was cancelled (or the server stops).
            ValueError: the film cannot be read after all (damaged past its first frame, no frames).
        """
        from polychrome.video.io import VideoReadError
        from polychrome.video.pipeline import VideoColorizer, VideoOptions

        options = VideoOptions(
            render_size=job.options.render_size,
            saturation=job.options.saturation,
            temperature=job.options.temperature,
            # A backstop for films whose length the header does not tell (probe_film refuses the rest).
            preview=self.settings.max_video_seconds,
            # The download is played in browsers and phones, which take 8-bit H.264 only (not High 10).
            bit_depth=8,
        )

        def progress(done: int, total: int | None) -> None:
            if job.cancelled.is_set():
                raise _Cancelled
            job.frames_done, job.frames_total = done, total or job.frames_total

        try:
            return VideoColorizer(self.colorizer, options).colorize_file(
                job.source, job.result, on_progress=progress
            )
        except VideoReadError as err:
            raise ValueError(str(err)) from None


def _one_line(error: BaseException | str, job: FilmJob) -> str:
    """A message of the film pipeline without the server's paths: they name the upload by its path."""
    text = str(error) or type(error).__name__
    for name in (printable_name(job.source), job.source.name):
        text = text.removeprefix(f"{name}: ")
    return " ".join(text.replace(str(job.folder), "the video").split())


def probe_film(path: Path, settings: WebSettings) -> tuple[Path, int | None]:
    """Check an uploaded film before it is queued: a film at all (not a photo, not only sound), readable to
    its first frame, within the frame size and length limits. Returns the path to color (an animated GIF or
    WebP is renamed with its suffix, which tells the film reader to use Pillow) and the number of frames the
    film announces (None where it does not).

    Raises:
        FilmError: 415 not a film polychrome reads, 400 damaged or empty, 413 over a limit.
    """
    from polychrome.video.io import VideoReadError, open_video

    if path.stat().st_size == 0:
        raise FilmError(HTTPStatus.BAD_REQUEST, "the video is empty (0 bytes)")
    with path.open("rb") as handle:
        head = handle.read(512)
    kind = _image_kind(path)
    if kind is not None:
        if not kind[1]:
            raise FilmError(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"a still {kind[0]} image, not a video: photos go to POST /api/colorize",
            )
        if kind[0] in ("GIF", "WEBP"):
            path = path.rename(path.with_suffix(f".{kind[0].lower()}"))
    try:
        with open_video(path) as film:
            next(iter(film.frames()))  # the first frame decodes
            info = film.info
    except VideoReadError as err:
        detail = str(err).removeprefix(f"{printable_name(path)}: ").replace(str(path), "the video")
        if detail.startswith("no video stream"):
            raise FilmError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"the file has {detail}") from None
        if kind is None and not _looks_like_a_film(head):
            raise FilmError(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"not a video polychrome reads ({READABLE_NAMES})"
            ) from None
        raise FilmError(HTTPStatus.BAD_REQUEST, f"the video is damaged or cut off: {detail}") from None
    if info.width * info.height > settings.max_video_pixels:
        raise FilmError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"the video is {info.width}x{info.height}, over the limit of "
            f"{settings.max_video_pixels / 1e6:g} megapixels a frame",
        )
    seconds = info.duration
    if seconds is None and info.frames and info.frame_rate:
        seconds = info.frames / float(info.frame_rate)
    if seconds is not None and seconds > settings.max_video_seconds + 0.05:  # a frame's rounding is not over
        raise FilmError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"the video is {seconds:.1f} s long, over the limit of {settings.max_video_seconds:g} s",
        )
    return path, info.frames


def _image_kind(path: Path) -> tuple[str, bool] | None:
    """Pillow's name of the image format and whether it is animated, or None for what Pillow cannot open."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return str(image.format), bool(getattr(image, "is_animated", False))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        return None


def _looks_like_a_film(head: bytes) -> bool:
    """Whether the first bytes are those of a film container, so that a file FFmpeg cannot open is called
    damaged (400) rather than not a film (415)."""
    return (
        head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")  # MP4, MOV, M4V, 3GP
        or head.startswith(b"\x1a\x45\xdf\xa3")  # Matroska, WebM
        or (head.startswith(b"RIFF") and head[8:12] in (b"AVI ", b"WEBP"))
        or head.startswith((b"GIF87a", b"GIF89a", b"FLV\x01", b"OggS"))
        or head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"))  # MPEG program stream, MPEG video
        or (len(head) > 188 and head[0] == 0x47 and head[188] == 0x47)  # MPEG-TS: a sync byte every 188
    )
