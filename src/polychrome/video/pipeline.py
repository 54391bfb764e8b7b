"""Colorize films: decode, the network (batched), the stabiliser, the merge and the encoder as overlapping
stages, in parts that a later run resumes from.

:class:`VideoColorizer` wraps a :class:`~polychrome.pipelines.image.Colorizer` of either backend (what differs
between PyTorch and ONNX Runtime is in :mod:`polychrome.video.steps`). ``colorize_file`` turns a
film file into a colorized one (the command ``polychrome colorize film.mp4 -o color.mp4``);
``colorize_frames`` colors frames from any decoder, in order, with the same stabiliser.

The work of an unfinished run stays in a hidden folder beside the output (``.NAME.parts``), keyed by the
input file and every setting: the same command continues after the last finished part, another command
starts afresh. Batches never cross a part, and the stabiliser's state is saved with each part, so a resumed
film is the film an uninterrupted run makes.

Example:
    >>> from polychrome import Colorizer
    >>> from polychrome.video import VideoColorizer, VideoOptions
    >>> films = VideoColorizer(Colorizer.from_pretrained(), VideoOptions(strength=0.8))  # doctest: +SKIP
    >>> films.colorize_file("film.mp4", "film-color.mp4").frames  # doctest: +SKIP
    1440
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from polychrome._atomic import atomic_path, atomic_write
from polychrome.video.io import Frame, VideoInfo, VideoReader, open_video
from polychrome.video.join import join_video
from polychrome.video.output import (
    BIT_DEPTHS,
    EncodeSettings,
    FrameConverter,
    FramesPart,
    PartEncoder,
    check_gif_fits,
    output_bit_depth,
    output_kind,
    publish_frames,
    video_codec,
    write_gif,
)
from polychrome.video.stabilize import DEFAULT_STRENGTH, FrameChange, TemporalStabilizer
from polychrome.video.stages import Stage, Stages
from polychrome.video.steps import FramePrediction, frame_steps

if TYPE_CHECKING:
    from polychrome.pipelines.image import Colorizer

logger = logging.getLogger(__name__)

DEFAULT_PART_FRAMES = 240
_WORK_VERSION = 1  # bump when the layout of the work folder changes, so old work is not resumed
# Threads that find the stabiliser's motion ahead of it (each frame's motion takes a few milliseconds of one
# core). 0: the stabiliser finds each motion itself, in order; the film is the same either way. At 1080p on
# an H100 with 16 cores, 2 threads and 0 ran alike (about 210 frames/s) and 4 slower (about 185), taking
# cores from x264 and the decoder (BENCHMARKS section 11); with few cores the network sets the pace.
MOTION_THREADS = min(2, len(os.sched_getaffinity(0)) // 8)


@dataclass(frozen=True)
class VideoOptions:
    """How a film is colorized.

    Attributes:
        render_size, saturation, temperature: as for photos (:meth:`Colorizer.__call__`).
        strength: the stabiliser's weight of the past, 0 (frame by frame) to below 1.
        batch_size: frames through the network at once.
        crf, preset: the encoder's quality and speed (:class:`~polychrome.video.output.EncodeSettings`).
        side_by_side: write gray | color side by side (twice the width).
        preview: colorize only the first this many seconds.
        part_frames: frames per part of the work a later run resumes from (a multiple of ``batch_size``).
        bit_depth: bits per component of the film written, 8 or 10; None: a 10-bit film stays 10-bit where
            the output holds it (H.264 High 10 in mp4 / mkv / mov), everything else is 8-bit.
    """

    render_size: int = 256
    saturation: float = 1.0
    temperature: float = 0.0
    strength: float = DEFAULT_STRENGTH
    batch_size: int = 8
    crf: int | None = None
    preset: str = "medium"
    side_by_side: bool = False
    preview: float | None = None
    part_frames: int = DEFAULT_PART_FRAMES
    bit_depth: int | None = None

    def __post_init__(self) -> None:
        if self.bit_depth not in (None, *BIT_DEPTHS):
            raise ValueError(f"bit_depth must be 8 or 10, got {self.bit_depth}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.preview is not None and not self.preview > 0:
            raise ValueError(f"preview must be a positive number of seconds, got {self.preview}")
        if self.part_frames < 1:
            raise ValueError(f"part_frames must be at least 1, got {self.part_frames}")
        TemporalStabilizer(self.strength)  # a bad strength fails before any work
        self.encoding  # noqa: B018 - a bad crf or preset too

    @property
    def encoding(self) -> EncodeSettings:
        return EncodeSettings(self.crf, self.preset)

    @property
    def frames_per_part(self) -> int:
        return math.ceil(self.part_frames / self.batch_size) * self.batch_size


@dataclass
class VideoResult:
    """What :meth:`VideoColorizer.colorize_file` did.

    Attributes:
        output: the file (or folder of frames) written.
        frames: frames in the output.
        resumed_from: frames taken from an earlier, interrupted run (0 for a fresh one).
        cuts: indices of the frames found to start a new scene.
        defects: damage found in the source (the rest was colorized), one line each.
        notes: what could not be kept as it was (audio re-encoded, a subtitle stream left out).
        timings: seconds each stage was busy: decode, network, motion (summed over its
            ``MOTION_THREADS`` threads), stabilize, merge, convert (to the encoder's YUV), encode, flush
            (closing each part, in a thread of its own), join.
    """

    output: Path
    frames: int
    resumed_from: int = 0
    cuts: list[int] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class _Batch:
    frames: list[Frame]
    pixels: Any  # the frames in the backend's units (polychrome.video.steps)
    prediction: FramePrediction | None = None
    changes: list[Future[tuple[FrameChange, float]] | None] | None = None  # each frame's, being found
    colored: np.ndarray | None = None  # (B, H, W', 3) uint8, or uint16 for a 10-bit film
    converted: list[Any] | None = None  # the colored frames as the encoder takes them (av.VideoFrame)
    state: dict[str, np.ndarray] | None = None  # the stabiliser after this batch, where a part ends here


class VideoColorizer:
    """Colorize films with a :class:`~polychrome.pipelines.image.Colorizer`."""

    def __init__(self, colorizer: Colorizer, options: VideoOptions | None = None) -> None:
        self.colorizer = colorizer
        self.options = options or VideoOptions()
        o = self.options
        self._steps = frame_steps(colorizer, o.render_size, o.saturation, o.temperature)
        self._fingerprint: str | None = None

    def colorize_frames(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Colorize frames given in order, ``(H, W, 3)`` arrays (uint8, uint16 or float in 0..1) of one
        size, with the stabiliser; yields ``(H, W, 3)`` uint8 frames (uint16 with ``bit_depth=10``; twice as
        wide with ``side_by_side``).

        >>> for colored in films.colorize_frames(my_decoder()):  # doctest: +SKIP
        ...     my_encoder.write(colored)
        """
        timed = (Frame(i, i, float(i), np.asarray(rgb)) for i, rgb in enumerate(frames))
        timings: dict[str, float] = {}
        deep = self.options.bit_depth == 10
        stages = self._stages(timed, TemporalStabilizer(self.options.strength), timings, deep)
        try:
            for batch in stages:
                assert batch.colored is not None
                yield from batch.colored
        finally:
            stages.close()

    def _stages(
        self,
        frames: Iterable[Frame],
        stabilizer: TemporalStabilizer,
        timings: dict[str, float],
        deep: bool,
        part_ends: Callable[[int], bool] = lambda index: False,
        convert: FrameConverter | None = None,
    ) -> Stages:
        """Frames through decode (already a stage of the caller's), the network, the stabiliser and the merge
        into uint8 frames (uint16 where ``deep``), and through ``convert`` where given, each a stage of its
        own; the caller closes them."""
        for key in ("decode", "network", "motion", "stabilize", "merge"):
            timings.setdefault(key, 0.0)
        stages = Stages()
        batches = stages.add(self._batches(frames, timings, part_ends), depth=2, name="polychrome-decode")
        predicted = stages.add(self._predict(batches, timings), depth=2, name="polychrome-network")
        if stabilizer.strength > 0 and MOTION_THREADS > 0:
            predicted = stages.add(self._motion(predicted, stabilizer), depth=2, name="polychrome-motion")
        # A stage of its own: on a GPU the network takes a few milliseconds a frame, as does the stabiliser's
        # optical flow on the CPU, and one thread doing both would set the film's pace at their sum.
        steady = self._steady(predicted, stabilizer, timings, part_ends)
        steadied = stages.add(steady, depth=2, name="polychrome-stabilize")
        merged = stages.add(self._merge(steadied, timings, deep), depth=2, name="polychrome-merge")
        if convert is not None:
            # Off the encoder's thread, which set a 1080p film's pace on a GPU (BENCHMARKS section 11).
            stages.add(self._convert(merged, convert, timings), depth=2, name="polychrome-convert")
        return stages

    def _batches(
        self, frames: Iterable[Frame], timings: dict[str, float], part_ends: Callable[[int], bool]
    ) -> Iterator[_Batch]:
        group: list[Frame] = []
        started = time.perf_counter()
        for frame in frames:
            group.append(frame)
            if len(group) == self.options.batch_size or part_ends(frame.index):
                yield self._batch(group, timings, started)
                group = []
                started = time.perf_counter()
        if group:
            yield self._batch(group, timings, started)

    def _batch(self, group: list[Frame], timings: dict[str, float], started: float) -> _Batch:
        shape = group[0].rgb.shape
        for frame in group:
            if frame.rgb.ndim != 3 or frame.rgb.shape[-1] != 3 or frame.rgb.shape != shape:
                raise ValueError(f"frames must be (H, W, 3) of one size, got {shape} and {frame.rgb.shape}")
        pixels = self._steps.prepare([frame.rgb for frame in group])
        timings["decode"] += time.perf_counter() - started
        return _Batch(group, pixels)

    def _predict(self, batches: Iterable[_Batch], timings: dict[str, float]) -> Iterator[_Batch]:
        for batch in batches:
            started = time.perf_counter()
            batch.prediction = self._steps.predict(batch.pixels)
            timings["network"] += time.perf_counter() - started
            yield batch

    def _motion(self, batches: Iterable[_Batch], stabilizer: TemporalStabilizer) -> Iterator[_Batch]:
        """Each frame's change from the frame before, handed to ``MOTION_THREADS`` threads as soon as the
        network has the frames' lightness: the stabiliser then only blends, in order. The batches go on at
        once, with the changes still being found (the queues after this stage bound how many)."""
        previous = stabilizer.last_lightness  # a resumed film's last frame before this run
        pool = ThreadPoolExecutor(MOTION_THREADS, thread_name_prefix="polychrome-motion")
        try:
            for batch in batches:
                assert batch.prediction is not None
                batch.changes = []
                for lightness in batch.prediction.lightness:
                    follows = previous is not None and previous.shape == lightness.shape
                    job = pool.submit(_timed_change, stabilizer, previous, lightness) if follows else None
                    batch.changes.append(job)
                    previous = lightness
                yield batch
        except BaseException:  # stopped or failed: what is not begun is not needed
            pool.shutdown(wait=True, cancel_futures=True)  # and no thread is left inside OpenCV
            raise
        pool.shutdown(wait=True)  # the last batches' changes are still being found

    def _steady(
        self,
        batches: Iterable[_Batch],
        stabilizer: TemporalStabilizer,
        timings: dict[str, float],
        part_ends: Callable[[int], bool],
    ) -> Iterator[_Batch]:
        for batch in batches:
            prediction = batch.prediction
            assert prediction is not None
            changes = batch.changes or [None] * len(prediction.ab)
            steady = []
            for lightness, ab, job in zip(prediction.lightness, prediction.ab, changes, strict=True):
                change = None
                if job is not None:
                    change, seconds = job.result()  # waiting for it is idle time, not counted
                    timings["motion"] += seconds
                started = time.perf_counter()
                steady.append(stabilizer(lightness, ab, change))
                timings["stabilize"] += time.perf_counter() - started
            started = time.perf_counter()
            prediction.ab = np.stack(steady)
            if part_ends(batch.frames[-1].index):
                batch.state = stabilizer.state()
            timings["stabilize"] += time.perf_counter() - started
            yield batch

    def _merge(self, batches: Iterable[_Batch], timings: dict[str, float], deep: bool) -> Iterator[_Batch]:
        for batch in batches:
            started = time.perf_counter()
            assert batch.prediction is not None
            colored = self._steps.merge(batch.pixels, batch.prediction, deep)
            if self.options.side_by_side:
                colored = np.concatenate((self._steps.gray(batch.pixels, deep), colored), axis=2)
            batch.colored = colored
            timings["merge"] += time.perf_counter() - started
            yield batch

    def _convert(
        self, batches: Iterable[_Batch], convert: FrameConverter, timings: dict[str, float]
    ) -> Iterator[_Batch]:
        timings.setdefault("convert", 0.0)
        for batch in batches:
            started = time.perf_counter()
            assert batch.colored is not None
            batch.converted = [convert(pixels) for pixels in batch.colored]
            batch.colored = None  # the converted frames are what is kept until encoded
            timings["convert"] += time.perf_counter() - started
            yield batch

    def work_folder(self, output: Path) -> Path:
        """Where an unfinished run of ``output`` keeps its parts."""
        return output.parent / f".{output.name}.parts"

    def settings_key(self, source: Path, output: Path) -> str:
        """Everything that decides the output's content; a resumed run must agree on all of it."""
        stat = source.stat()
        described = {
            "version": _WORK_VERSION,
            "source": os.path.realpath(source),
            "size": stat.st_size,
            "modified": stat.st_mtime_ns,
            "output": output.suffix.lower(),
            "options": asdict(self.options),
            "backend": self.colorizer.backend,
            "model": self._model_fingerprint(),
            "precision": self.colorizer.precision,
            "device": str(self.colorizer.device).split(":")[0],  # another GPU of the same kind may resume
        }
        return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()

    def _model_fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = self._steps.fingerprint()
        return self._fingerprint

    def colorize_file(
        self,
        source: str | Path,
        output: str | Path,
        on_progress: Callable[[int, int | None], None] | None = None,
    ) -> VideoResult:
        """Colorize the film ``source`` into ``output``; see the module's description.

        ``on_progress(frames_done, frames_expected)`` is called from this thread after each batch
        (``frames_expected`` None where the film does not say). An existing ``output`` is replaced: the
        caller decides whether it may be (the command refuses without ``--overwrite``).

        Raises:
            polychrome.video.io.VideoReadError: the film cannot be read, or holds no frames.
            ValueError: an output name that is no film format, or 10 bits asked for one that holds 8.
        """
        source, output = Path(source), Path(output)
        kind = output_kind(output)
        work = self.work_folder(output)
        key = self.settings_key(source, output)
        done_parts = _resume(work, key)
        per_part = self.options.frames_per_part
        start = len(done_parts) * per_part
        timings: dict[str, float] = {"encode": 0.0, "flush": 0.0, "join": 0.0}
        stabilizer = TemporalStabilizer(self.options.strength)
        resume: tuple[int, int] | None = None  # timestamps of the film's first frame and the last one done
        if done_parts:
            with np.load(work / f"{done_parts[-1]}.npz") as saved:
                stabilizer.load_state(dict(saved))
                last_done = int(saved["pts"][-1])
            with np.load(work / f"{done_parts[0]}.npz") as saved:
                resume = (int(saved["pts"][0]), last_done)
            logger.info("resuming %s after %d frames", source, start)

        try:
            film = open_video(source)
            try:
                bits, depth_note = output_bit_depth(output, film.info.bit_depth, self.options.bit_depth)
                width = film.info.width * (2 if self.options.side_by_side else 1)
                pixels = width * film.info.height
                check_gif_fits(output, _expected_frames(film.info, self.options.preview), pixels)
            except ValueError:
                film.close()
                raise
        except Exception:
            if not done_parts:
                shutil.rmtree(work, ignore_errors=True)
            raise
        with film:
            expected = _expected_frames(film.info, self.options.preview)
            frames = Stage(self._decoded(film, start, resume, timings), depth=2 * self.options.batch_size)
            written = start
            encoder: PartEncoder | FramesPart | None = None
            part_pts: list[int] = []
            part = len(done_parts)
            batches: Stages | None = None
            codec = video_codec(output)
            # Closing a part drains x264's frame threads, a few frames' time; in a thread of its own the next
            # part is encoded meanwhile. One thread, so that parts are finished in order.
            finishing = ThreadPoolExecutor(1, thread_name_prefix="polychrome-finish")
            closing: list[Future[float]] = []
            try:
                batches = self._stages(
                    frames,
                    stabilizer,
                    timings,
                    deep=bits > 8,
                    part_ends=lambda index: (index + 1) % per_part == 0,
                    convert=FrameConverter(codec, bits) if kind == "video" else None,
                )
                for batch in batches:
                    colored = batch.converted if batch.converted is not None else batch.colored
                    assert colored is not None
                    # GIF and PNG have no rotation flag: their pixels are turned as a player would turn them
                    # (the rotation is known once the first frame is decoded).
                    turns = film.info.rotation // 90 if kind != "video" else 0
                    started = time.perf_counter()
                    for frame, pixels in zip(batch.frames, colored, strict=True):
                        if turns:
                            pixels = np.ascontiguousarray(np.rot90(pixels, k=turns))
                        if encoder is None:
                            size = _frame_size(pixels)
                            encoder = self._open_part(kind, work, part, film.info, size, codec, bits)
                        if isinstance(encoder, PartEncoder):
                            encoder.write(pixels, frame.pts)
                        else:
                            encoder.write(pixels, frame.index)
                        part_pts.append(frame.pts)
                        written += 1
                    if batch.state is not None:
                        closing.append(
                            finishing.submit(_finish_part, encoder, work, part, batch.state, part_pts)
                        )
                        encoder, part_pts, part = None, [], part + 1
                    timings["encode"] += time.perf_counter() - started
                    if on_progress is not None:
                        on_progress(written, expected)
                if encoder is not None:
                    state = stabilizer.state()
                    closing.append(finishing.submit(_finish_part, encoder, work, part, state, part_pts))
                    encoder = None
                    part += 1
                timings["flush"] += sum(job.result() for job in closing)
            except BaseException as err:
                if batches is not None:
                    batches.close()
                frames.close()  # the decoder thread lets go of the film before it is closed
                if isinstance(encoder, PartEncoder):
                    encoder.abort()
                wait(closing)  # parts already handed over are finished and kept, to resume from
                finished = sum(1 for job in closing if job.exception() is None)
                if isinstance(err, Exception) and not done_parts and not finished:  # leave no trace
                    shutil.rmtree(work, ignore_errors=True)
                raise
            finally:
                finishing.shutdown(wait=True)
            info = film.info
            defects = list(film.defects)
        if written == 0:
            raise ValueError(f"{source.name}: no frames to colorize")
        started = time.perf_counter()
        notes = [*([depth_note] if depth_note else []), *self._join(kind, work, part, source, output, info)]
        timings["join"] = time.perf_counter() - started
        shutil.rmtree(work, ignore_errors=True)
        return VideoResult(output, written, start, stabilizer.cut_frames, defects, notes, timings)

    def _decoded(
        self, film: VideoReader, start: int, resume: tuple[int, int] | None, timings: dict[str, float]
    ) -> Iterator[Frame]:
        """The film's frames from index ``start`` on, up to the preview's end; a resumed film (``resume``:
        the timestamps of its first frame and of frame ``start - 1``) is read from a seek near there."""
        limit = self.options.preview
        first_time = None if resume is None else float(resume[0] * film.info.time_base)
        clock = time.perf_counter()
        for frame in film.frames(start, after=None if resume is None else resume[1]):
            if first_time is None:
                first_time = frame.time
            if limit is not None and frame.time - first_time >= limit:
                break
            timings["decode"] = timings.get("decode", 0.0) + time.perf_counter() - clock
            yield frame
            clock = time.perf_counter()

    def _open_part(
        self,
        kind: str,
        work: Path,
        part: int,
        info: VideoInfo,
        size: tuple[int, int],
        codec: str,
        bits: int,
    ) -> PartEncoder | FramesPart:
        if kind != "video":
            return FramesPart(work / "frames")
        path = work / f"{part:05d}.nut"
        sample = path.with_name(f".{path.name}.writing")  # renamed when the part is finished
        height, width = size
        encoder = PartEncoder(sample, codec, info, (width, height), self.options.encoding, bits)
        encoder.final_path = path  # type: ignore[attr-defined]
        encoder.writing_path = sample  # type: ignore[attr-defined]
        return encoder

    def _join(
        self, kind: str, work: Path, parts: int, source: Path, output: Path, info: VideoInfo
    ) -> list[str]:
        if kind == "frames":
            publish_frames(work / "frames", output)
            return []
        if kind == "gif":
            times: list[float] = []
            for part in range(parts):
                with np.load(work / f"{part:05d}.npz") as saved:
                    times.extend(float(p * info.time_base) for p in saved["pts"])
            write_gif(work / "frames", times, output)
            return ["GIF holds 256 colors a frame; audio left out"] if _has_audio(source) else []
        preview = self.options.preview
        until = None if preview is None else preview
        sar = info.sample_aspect_ratio
        return join_video(
            [work / f"{part:05d}.nut" for part in range(parts)],
            source,
            output,
            info,
            until=until,
            sample_aspect_ratio=sar,
        )


def _timed_change(
    stabilizer: TemporalStabilizer, previous: np.ndarray, current: np.ndarray
) -> tuple[FrameChange, float]:
    started = time.perf_counter()
    change = stabilizer.change(previous, current)
    return change, time.perf_counter() - started


def _has_audio(source: Path) -> bool:
    import av

    try:
        with av.open(str(source)) as container:
            return bool(container.streams.audio)
    except Exception:  # an animation Pillow reads but FFmpeg does not: no audio either way
        return False


def _expected_frames(info: VideoInfo, preview: float | None) -> int | None:
    frames = info.frames
    if frames is None and info.duration and info.frame_rate:
        frames = round(info.duration * info.frame_rate)
    if preview is not None and info.frame_rate:
        limit = math.ceil(preview * info.frame_rate)
        frames = limit if frames is None else min(frames, limit)
    return frames


def _resume(work: Path, key: str) -> list[str]:
    """Names of the finished parts in ``work`` that a run with settings ``key`` may keep (the folder is
    emptied when it belongs to other settings)."""
    settings = work / "settings.json"
    try:
        same = json.loads(settings.read_text())["key"] == key
    except (OSError, ValueError, KeyError):
        same = False
    if not same:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True, exist_ok=True)
        atomic_write(settings, lambda handle: handle.write(json.dumps({"key": key}).encode()))
        return []
    done: list[str] = []
    while (work / f"{len(done):05d}.npz").is_file():
        done.append(f"{len(done):05d}")
    return done


def _frame_size(frame: Any) -> tuple[int, int]:
    """Height and width of a colored frame, an array or an ``av.VideoFrame``."""
    if isinstance(frame, np.ndarray):
        return frame.shape[0], frame.shape[1]
    return frame.height, frame.width


def _finish_part(
    encoder: PartEncoder | FramesPart | None,
    work: Path,
    part: int,
    state: dict[str, np.ndarray],
    pts: list[int],
) -> float:
    """Close a part and record it as finished: its state file is written last, so a part without one is
    redone. Returns the seconds it took."""
    started = time.perf_counter()
    if isinstance(encoder, PartEncoder):
        encoder.close()
        os.replace(encoder.writing_path, encoder.final_path)  # type: ignore[attr-defined]
    with atomic_path(work / f"{part:05d}.npz") as tmp, open(tmp, "wb") as handle:
        np.savez(handle, pts=np.asarray(pts, dtype=np.int64), **state)
    return time.perf_counter() - started
