"""Reading films: frames as RGB arrays with their timestamps, from any container FFmpeg (through PyAV)
reads, or from an animated GIF / WebP (through Pillow, which reads animated WebP where FFmpeg does not).

A damaged packet in the middle of a film does not end it: the frames that decode are given, and each defect
is kept in :attr:`VideoReader.defects` for the caller to report.

Example:
    >>> with open_video("film.mp4") as film:  # doctest: +SKIP
    ...     for frame in film.frames():
    ...         frame.rgb.shape, frame.time
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
import numpy as np
from av.video.reformatter import VideoReformatter
from PIL import Image, ImageSequence

from polychrome._messages import printable_name
from polychrome.video.formats import ANIMATION_EXTENSIONS

logger = logging.getLogger(__name__)

# Container tags kept on the colorized film (FFmpeg's names; the muxer writes each where it can).
KEPT_METADATA = ("title", "date", "creation_time", "comment", "description", "artist", "copyright")


class VideoReadError(Exception):
    """A film cannot be read; the message is one line that names the file."""


@dataclass(frozen=True)
class VideoInfo:
    """What a film is, as stored.

    Attributes:
        width, height: frame size in stored pixels (before rotation).
        time_base: the unit of the frames' ``pts``.
        frame_rate: the average frame rate, or None where the file does not say.
        frames: the number of frames the file announces, or None.
        duration: seconds, or None.
        rotation: degrees counter-clockwise that a player turns the frames by (display matrix).
        sample_aspect_ratio: the shape of a pixel (width / height), or None for square pixels.
        bit_depth: bits per component of the stored frames (8, 10, 12).
        metadata: the container's title, date and the like.
    """

    width: int
    height: int
    time_base: Fraction
    frame_rate: Fraction | None
    frames: int | None
    duration: float | None
    rotation: int = 0
    sample_aspect_ratio: Fraction | None = None
    bit_depth: int = 8
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class Frame:
    """One decoded frame: its position, its timestamp in the film's ``time_base`` and its pixels, an
    ``(H, W, 3)`` array, uint8 for 8-bit films and uint16 (0..65535) for deeper ones."""

    index: int
    pts: int
    time: float
    rgb: np.ndarray


class VideoReader:
    """Frames of one film; use :func:`open_video`.

    Attributes:
        decoded: frames decoded so far, those skipped on the way to a resumed film's ``start`` included.
    """

    info: VideoInfo
    source: Path
    defects: list[str]
    decoded: int = 0

    @property
    def decoder_threads(self) -> int:
        """Threads the decoder works with once it has decoded a frame (1 for an animation)."""
        return 1

    def frames(self, start: int = 0, after: int | None = None) -> Iterator[Frame]:
        """Every frame in order from index ``start`` on.

        A resumed film gives ``after``, the timestamp of frame ``start - 1`` as an earlier run read it: the
        reader then seeks to the key frame before it and decodes from there to that exact frame, so a film
        stopped near its end is not decoded again from its start. Where seeking is not possible, or the
        file's timestamps do not lead back to that frame, the frames before ``start`` are decoded from the
        beginning (not converted to RGB) and skipped.
        """
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _bit_depth(stream: Any) -> int:
    video_format = stream.codec_context.format
    if video_format is None:
        return 8
    return max((component.bits for component in video_format.components), default=8)


class _FFmpegReader(VideoReader):
    def __init__(self, path: Path) -> None:
        self.source = path
        self.defects = []
        self._open()
        stream = self._stream
        metadata = {k: v for k, v in self._container.metadata.items() if k.lower() in KEPT_METADATA}
        duration = None
        if stream.duration is not None:
            duration = float(stream.duration * stream.time_base)
        elif self._container.duration is not None:
            duration = self._container.duration / av.time_base
        self.info = VideoInfo(
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            time_base=stream.time_base or Fraction(1, 1000),
            frame_rate=stream.average_rate or stream.guessed_rate,
            frames=stream.frames or None,
            duration=duration,
            sample_aspect_ratio=stream.sample_aspect_ratio or None,
            bit_depth=_bit_depth(stream),
            metadata=metadata,
        )
        if self.info.width <= 0 or self.info.height <= 0:
            self.close()
            raise VideoReadError(f"{printable_name(path)}: the video stream has no frame size")

    def _open(self) -> None:
        """Open the container and its first video stream."""
        path = self.source
        try:
            self._container = av.open(str(path), metadata_errors="replace")
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as err:
            raise VideoReadError(f"{printable_name(path)}: not a readable video ({_reason(err)})") from None
        if not self._container.streams.video:
            kinds = sorted({s.type for s in self._container.streams})
            what = f"only {', '.join(kinds)}" if kinds else "no streams"
            self._container.close()
            raise VideoReadError(f"{printable_name(path)}: no video stream ({what})")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"  # frame and slice threads, as many as FFmpeg picks for the cores
        # One converter to RGB for the film: a fresh one per frame set swscale and its threads up every frame.
        self._to_rgb = VideoReformatter()

    @property
    def decoder_threads(self) -> int:
        return self._stream.codec_context.thread_count

    def frames(self, start: int = 0, after: int | None = None) -> Iterator[Frame]:
        self._index = 0  # the index of the next frame, for the defects' messages
        decoded = None
        if start and after is not None:
            decoded = self._seek_past(after, start)
        if decoded is None:
            decoded, after = self._decode(), None
        yield from self._numbered(decoded, start, after)

    def _seek_past(self, after: int, start: int) -> Iterator[Any] | None:
        """Decoded frames from the one after timestamp ``after`` (frame ``start - 1``) on, reached by a key
        frame seek; None, with the film opened afresh, where that frame is not found exactly."""
        defects = list(self.defects)
        self._index = start  # near enough for a defect found on the way
        try:
            self._container.seek(after, stream=self._stream, backward=True)
        except av.error.FFmpegError as err:
            logger.info("%s: cannot seek (%s); decoding from the start", self.source, _reason(err))
            return None
        decoded = self._decode()
        for frame in decoded:
            if frame.pts is not None and frame.pts < after:
                continue  # between the key frame and the last frame already colored
            if frame.pts == after:
                return decoded
            break
        logger.info("%s: frame %d not found by seeking; decoding from the start", self.source, start - 1)
        decoded.close()
        self._container.close()
        self._open()
        self.defects = defects
        return None

    def _decode(self) -> Iterator[Any]:
        """The stream's decoded frames; a damaged packet is skipped and a damaged container ends it, each
        kept in :attr:`defects`."""
        packets = self._container.demux(self._stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.error.FFmpegError as err:  # the container itself is damaged from here on
                self.defects.append(f"unreadable after frame {self._index} ({_reason(err)})")
                return
            try:
                decoded = packet.decode()
            except av.error.FFmpegError as err:
                self.defects.append(f"a damaged packet near frame {self._index} was skipped ({_reason(err)})")
                continue
            for frame in decoded:
                self.decoded += 1
                yield frame

    def _numbered(self, decoded: Iterator[Any], start: int, after: int | None) -> Iterator[Frame]:
        """Frames from index ``start`` on; ``after`` is the timestamp of the frame before the first of
        ``decoded`` where a seek found it (then the first decoded frame is frame ``start``)."""
        pixel_format = "rgb48le" if self.info.bit_depth > 8 else "rgb24"
        index = 0 if after is None else start
        last_pts = after
        step = _frame_step(self.info)
        for position, frame in enumerate(decoded):
            self._index = index
            if frame.is_corrupt:
                self.defects.append(f"frame {index} is damaged; kept as decoded")
            pts = frame.pts
            if pts is None or (last_pts is not None and pts <= last_pts):
                pts = 0 if last_pts is None else last_pts + step
            last_pts = pts
            if position == 0 and frame.rotation:  # FFmpeg puts the display matrix on each decoded frame
                self.info = replace(self.info, rotation=int(frame.rotation) % 360)
            # Converting a frame to RGB costs more than decoding it: frames already colored skip it.
            if index >= start:
                rgb = self._to_rgb.reformat(frame, format=pixel_format).to_ndarray()
                yield Frame(index, pts, float(pts * self.info.time_base), rgb)
            index += 1
        if index == 0:
            detail = f"; {self.defects[0]}" if self.defects else ""
            raise VideoReadError(f"{printable_name(self.source)}: the video holds no frames{detail}")
        # A damaged container can end the demuxer without an error: what the film announced and did not
        # deliver is a defect, never a silently shorter film.
        reached = float((last_pts + step) * self.info.time_base) if last_pts is not None else 0.0
        if (
            self.info.duration is not None
            and reached + 2 * float(step * self.info.time_base) < self.info.duration
        ):
            self.defects.append(
                f"unreadable after frame {index - 1} ({reached:.2f} s of {self.info.duration:.2f} s): "
                "the rest is lost"
            )

    def close(self) -> None:
        self._container.close()


def _frame_step(info: VideoInfo) -> int:
    """Ticks of ``time_base`` between frames, for frames that come without a timestamp."""
    rate = info.frame_rate or Fraction(25)
    return max(1, round(1 / (rate * info.time_base)))


class _AnimationReader(VideoReader):
    """An animated GIF or WebP: each frame's duration (milliseconds) gives the timestamps."""

    def __init__(self, path: Path) -> None:
        self.source = path
        self.defects = []
        try:
            self._image = Image.open(path)
            self._image.load()
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            raise VideoReadError(f"{printable_name(path)}: not a readable animation ({err})") from None
        count = getattr(self._image, "n_frames", 1)
        durations = self._image.info.get("duration") or 100
        self.info = VideoInfo(
            width=self._image.width,
            height=self._image.height,
            time_base=Fraction(1, 1000),
            frame_rate=Fraction(1000, int(durations)) if durations else None,
            frames=count,
            duration=None,
            metadata={k: str(v) for k, v in self._image.info.items() if k == "comment"},
        )

    def frames(self, start: int = 0, after: int | None = None) -> Iterator[Frame]:
        pts = 0  # an animation is short: a resumed one is read from its start
        try:
            for index, image in enumerate(ImageSequence.Iterator(self._image)):
                self.decoded += 1
                if index >= start:
                    yield Frame(index, pts, pts / 1000, np.asarray(image.convert("RGB")))
                pts += int(image.info.get("duration") or 100)
        except (OSError, ValueError) as err:
            self.defects.append(f"unreadable after {pts} ms ({err})")

    def close(self) -> None:
        self._image.close()


def open_video(path: str | Path) -> VideoReader:
    """Open a film for reading.

    Raises:
        VideoReadError: missing, unreadable, without a video stream (an audio-only file).
    """
    path = Path(path)
    if not path.is_file():
        raise VideoReadError(f"{printable_name(path)}: no such file")
    if path.suffix.lower() in ANIMATION_EXTENSIONS:
        return _AnimationReader(path)
    return _FFmpegReader(path)


def _reason(err: BaseException) -> str:
    text = getattr(err, "strerror", None) or str(err)
    return " ".join(str(text).split()) or type(err).__name__
