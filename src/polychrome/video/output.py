"""Writing films: colorized frames encoded in parts (joined into the output by
:mod:`polychrome.video.join`), GIFs and folders of PNG frames.

A long film is encoded as a series of parts in a hidden work folder beside the output (each part a fresh
encoder, so it starts on a key frame and stands alone). A killed run loses at most the part in progress;
the next run with the same settings continues after the last finished part. The output appears under its
own name only when the join is complete (written to a temporary name, then renamed).

Outputs by extension: ``.mp4`` / ``.m4v`` / ``.mov`` / ``.mkv`` (H.264), ``.webm`` (VP9), ``.gif``, and a
name without an extension (or an existing folder): a folder of PNG frames.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import av.codec
import numpy as np
from av.video.reformatter import VideoReformatter
from PIL import Image

from polychrome._atomic import atomic_path
from polychrome.video.formats import GIF_EXTENSION, VIDEO_OUTPUT_EXTENSIONS
from polychrome.video.io import VideoInfo

OutputKind = Literal["video", "gif", "frames"]

# x264 presets; VP9's speed ("cpu-used") is chosen to match them roughly.
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
_VP9_SPEED = dict(zip(PRESETS, (8, 8, 7, 6, 5, 4, 2, 1, 0), strict=True))
# Visually near-lossless defaults of each encoder's quality scale (lower is better: x264 0..51, VP9 0..63).
DEFAULT_CRF = {"libx264": 18, "libvpx-vp9": 20}
MAX_CRF = {"libx264": 51, "libvpx-vp9": 63}
BIT_DEPTHS = (8, 10)  # what films are written with (H.264 High 10 for 10)
_PART_CONTAINER = "nut"  # holds any codec at any time base, so parts keep the film's exact timestamps
BT709 = 1  # ITU-R BT.709 matrix, primaries and transfer: how the frames are converted and tagged
MPEG_RANGE = 1


def output_kind(path: Path) -> OutputKind:
    """What ``path`` asks for, by its extension."""
    suffix = path.suffix.lower()
    if suffix in VIDEO_OUTPUT_EXTENSIONS:
        return "video"
    if suffix == GIF_EXTENSION:
        return "gif"
    if suffix and not path.is_dir():
        raise ValueError(
            f"cannot write a film as {suffix!r} ({path.name}); use one of "
            f"{', '.join(sorted(VIDEO_OUTPUT_EXTENSIONS | {GIF_EXTENSION}))} or a folder for PNG frames"
        )
    return "frames"


def video_codec(path: Path) -> str:
    return "libvpx-vp9" if path.suffix.lower() == ".webm" else "libx264"


@dataclass(frozen=True)
class EncodeSettings:
    """How frames are compressed.

    Attributes:
        crf: constant quality, lower is better (None: the codec's visually near-lossless default,
            ``DEFAULT_CRF``).
        preset: speed against file size, x264's names (``ultrafast`` .. ``veryslow``).
    """

    crf: int | None = None
    preset: str = "medium"

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        if self.crf is not None and not 0 <= self.crf <= max(MAX_CRF.values()):
            raise ValueError(f"crf must be 0 to {max(MAX_CRF.values())}, got {self.crf}")

    def options(self, codec: str) -> dict[str, str]:
        crf = DEFAULT_CRF[codec] if self.crf is None else min(self.crf, MAX_CRF[codec])
        if codec == "libx264":
            return {"crf": str(crf), "preset": self.preset}
        speed = _VP9_SPEED[self.preset]
        deadline = "realtime" if speed > 5 else "good"  # libvpx accepts speeds above 5 only in realtime mode
        return {"crf": str(crf), "b": "0", "cpu-used": str(speed), "deadline": deadline, "row-mt": "1"}


def writes_deep(codec: str) -> bool:
    """Whether ``codec`` writes 10 bits per component in PyAV's FFmpeg (libx264 does, as H.264 High 10; the
    wheel's libvpx is built for 8 bits only)."""
    return "yuv420p10le" in {f.name for f in av.codec.Codec(codec, "w").video_formats or ()}


DEEP_BY_DEFAULT = {".mkv", ".mov"}  # where a 10-bit source stays 10-bit unless asked otherwise


def output_bit_depth(path: Path, source_bits: int, asked: int | None) -> tuple[int, str | None]:
    """Bits per component a film from a ``source_bits`` source is written with at ``path`` (8 or 10), and a
    note where the source's deeper levels are lost. ``asked``: 8, 10, or None for the source's own where
    the format holds it.

    Raises:
        ValueError: another depth asked, or 10 bits for a format that cannot hold them (before any work).
    """
    if asked not in (None, *BIT_DEPTHS):
        raise ValueError(f"bit depth must be 8 or 10, got {asked}")
    deep_ok = output_kind(path) == "video" and writes_deep(video_codec(path))
    if asked == 10 and not deep_ok:
        raise ValueError(
            f"{path.name}: cannot be written at 10 bits; H.264 outputs can "
            f"({', '.join(sorted(VIDEO_OUTPUT_EXTENSIONS - {'.webm'}))})"
        )
    if asked is not None:
        return asked, None
    if source_bits <= 8:
        return 8, None
    # mp4 is what people pick to play a film in a browser or on a phone, which do not play H.264 High 10;
    # mkv and mov are the containers of editing and archiving, where the deeper levels are worth keeping.
    if deep_ok and path.suffix.lower() in DEEP_BY_DEFAULT:
        return 10, (f"{source_bits}-bit source written at 10 bits" if source_bits > 10 else None)
    if deep_ok:
        return 8, (
            f"{source_bits}-bit source written at 8 bits so {path.suffix} plays everywhere; "
            "--bit-depth 10 (or .mkv) keeps 10"
        )
    kind = output_kind(path)
    what = {"frames": "PNG frames", "gif": "GIF"}.get(kind, f"{path.suffix} ({video_codec(path)})")
    return 8, f"{source_bits}-bit source written at 8 bits, as {what} is; .mkv or .mov keep 10"


def pixel_format(codec: str, width: int, height: int, bits: int = 8) -> str:
    # H.264 in 4:2:0 needs even sides; an odd-sized film keeps its size in 4:4:4 rather than lose a pixel.
    sampling = "yuv444p" if codec == "libx264" and (width % 2 or height % 2) else "yuv420p"
    return f"{sampling}10le" if bits == 10 else sampling


class FrameConverter:
    """Colored frames into what the encoder takes: ``(H, W, 3)`` uint8 RGB (uint16, 0..65535, for 10 bits)
    to the codec's YUV (:func:`pixel_format`), BT.709 in MPEG range. Converting is a few milliseconds of a
    core per 1080p frame, so a film pipeline does it in a stage of its own, ahead of the encoder.

    >>> FrameConverter("libx264")(np.zeros((4, 6, 3), np.uint8)).format.name
    'yuv420p'
    """

    def __init__(self, codec: str, bits: int = 8) -> None:
        self.codec, self.bits = codec, bits
        # One converter for many frames: a fresh one per frame set swscale and its threads up every frame.
        self._to_yuv = VideoReformatter()

    def __call__(self, rgb: np.ndarray) -> av.VideoFrame:
        height, width = rgb.shape[:2]
        # Wrapped, not copied: the frame only lives until it is converted below.
        layout = "rgb48le" if rgb.dtype == np.uint16 else "rgb24"
        frame = av.VideoFrame.from_numpy_buffer(np.ascontiguousarray(rgb), format=layout)
        return self._to_yuv.reformat(
            frame,
            format=pixel_format(self.codec, width, height, self.bits),
            dst_colorspace=BT709,
            dst_color_range=MPEG_RANGE,
        )


class PartEncoder:
    """Encode frames into one part file (a fresh encoder per part, B-frames off so that decoding order is
    presentation order and the parts join without re-timing)."""

    def __init__(
        self,
        path: Path,
        codec: str,
        info: VideoInfo,
        size: tuple[int, int],
        settings: EncodeSettings,
        bits: int = 8,
    ):
        self._container = av.open(str(path), "w", format=_PART_CONTAINER)
        width, height = size
        stream = self._container.add_stream(
            codec, rate=info.frame_rate or Fraction(25), options=settings.options(codec)
        )
        stream.width, stream.height = width, height
        stream.pix_fmt = pixel_format(codec, width, height, bits)
        stream.time_base = info.time_base
        stream.codec_context.time_base = info.time_base
        stream.codec_context.max_b_frames = 0
        stream.codec_context.colorspace = BT709
        stream.codec_context.color_primaries = BT709
        stream.codec_context.color_trc = BT709
        stream.codec_context.color_range = MPEG_RANGE
        # PyAV's default thread type makes x264 cut each frame into slices, one a thread; frame threads
        # (x264's own default, as many as it picks for the cores) keep more cores busy on one stream.
        stream.codec_context.thread_type = "FRAME"
        self._stream = stream
        self._convert = FrameConverter(codec, bits)

    def write(self, rgb: np.ndarray | av.VideoFrame, pts: int) -> None:
        """Encode one ``(H, W, 3)`` frame: uint8, or uint16 (0..65535) for a 10-bit part; or a frame that
        :class:`FrameConverter` made for this codec and depth."""
        frame = rgb if isinstance(rgb, av.VideoFrame) else self._convert(rgb)
        size = (frame.format.name, frame.width, frame.height)
        wanted = (self._stream.pix_fmt, self._stream.width, self._stream.height)
        if size != wanted:
            raise ValueError(f"frame of {size} for a part encoded as {wanted}")
        frame.pts = pts
        frame.time_base = self._stream.codec_context.time_base
        self._container.mux(self._stream.encode(frame))

    def close(self) -> None:
        self._container.mux(self._stream.encode())
        self._container.close()

    def abort(self) -> None:
        self._container.close()


class FramesPart:
    """A part of a film written as PNG frames named by their index (``frame-000000.png``)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder

    def write(self, rgb: np.ndarray, index: int) -> None:
        path = self.folder / frame_name(index)
        tmp = path.with_name(f".{path.name}.tmp")
        Image.fromarray(rgb).save(tmp, format="PNG", compress_level=1)  # speed over size, as for a work file
        os.replace(tmp, path)


def frame_name(index: int) -> str:
    return f"frame-{index:06d}.png"


GIF_MEMORY_BYTES = 2 << 30  # the most that writing one GIF may hold in memory


def check_gif_fits(path: Path, frames: int | None, pixels_per_frame: int) -> None:
    """Refuse, before any work, a GIF that :func:`write_gif` could not write within
    :data:`GIF_MEMORY_BYTES`: Pillow holds every frame while it writes, in RGB and as palette indices."""
    if output_kind(path) != "gif" or frames is None:
        return
    need = 4 * frames * pixels_per_frame
    if need > GIF_MEMORY_BYTES:
        raise ValueError(
            f"{path.name}: a GIF of {frames} frames this size would need about {need / 2**30:.1f} GB of "
            "memory to write (GIFs are written whole); colorize a part with --preview SECONDS, or write .mp4 "
            "or .webm"
        )


def write_gif(frames: Path, times: Sequence[float], output: Path) -> None:
    """A GIF of the PNG frames in ``frames`` (each shown until the next one's time, in seconds). Every frame
    gets its own 256-color palette; Pillow holds the frames in memory while it writes, so keep GIFs short."""
    names = sorted(frames.glob("frame-*.png"))
    if not names:
        raise ValueError("no frames to write")
    ends = [*times[1:], times[-1] + (times[-1] - times[-2] if len(times) > 1 else 0.1)]
    durations = [max(10, round(1000 * (end - start))) for start, end in zip(times, ends, strict=True)]
    images = [Image.open(name).convert("RGB") for name in names]
    with atomic_path(output) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)


def publish_frames(frames: Path, output: Path) -> None:
    """Move a finished folder of PNG frames to ``output`` (replacing a folder there only as a whole)."""
    if output.exists():
        shutil.rmtree(output)
    os.replace(frames, output)
