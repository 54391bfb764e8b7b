"""Tiny films made in the tests themselves with PyAV: a moving color pattern, an optional audio tone,
rotation flag, pixel shape, variable frame rate, a scene cut, 10-bit frames, key frames every few frames
with B-frames between them, SubRip and ASS subtitle tracks."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

TIME_BASE = Fraction(1, 1000)
SUBTITLES = [(0, 200, "Hello"), (200, 380, "World")]  # start and end in milliseconds, text
_ASS_HEADER = (
    "[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\n"
    "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, "
    "Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, "
    "MarginL, MarginR, MarginV, Encoding\n"
    "Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0\n\n"
    "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
)


def pattern(index: int, height: int, width: int, scene: int = 0) -> np.ndarray:
    """A colored pattern that moves right by two pixels a frame; another scene has other colors and shapes,
    and is darker, so that a film cut from one to the other is a cut by lightness too."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    shift = 2 * index
    phase = 0.0 if scene == 0 else 2.0
    red = 0.5 + 0.4 * np.sin((x - shift) / 5 + phase)
    green = 0.5 + 0.4 * np.cos(y / 4 + phase)
    blue = 0.5 + 0.4 * np.sin((x - shift + y) / 7 + 2 * phase) if scene == 0 else 0.2 + 0 * x
    dim = 1.0 if scene == 0 else 0.4
    return (np.stack([red, green, blue], axis=-1) * dim * 255).round().astype(np.uint8)


def make_clip(
    path: Path,
    frames: int = 6,
    size: tuple[int, int] = (48, 32),
    times_ms: Sequence[int] | None = None,
    audio: bool = False,
    rotation: int = 0,
    sample_aspect_ratio: Fraction | None = None,
    audio_codec: str = "aac",
    cut_at: int | None = None,
    pixel_format: str = "yuv420p",
    title: str | None = None,
    keyframe_every: int | None = None,
    b_frames: int = 0,
    audio_start_ms: int = 0,
) -> list[int]:
    """Write a clip (its sound starting ``audio_start_ms`` after the first frame); returns its frames' times
    in milliseconds."""
    width, height = size
    times = list(times_ms) if times_ms is not None else [40 * i for i in range(frames)]
    options = {"crf": "10", "preset": "ultrafast", "bf": str(b_frames)}
    if keyframe_every:
        options["g"] = str(keyframe_every)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, pixel_format
        stream.time_base = TIME_BASE
        stream.codec_context.time_base = TIME_BASE
        if rotation:
            stream.set_display_rotation(rotation)
        if sample_aspect_ratio:
            stream.sample_aspect_ratio = sample_aspect_ratio
        if title:
            container.metadata["title"] = title
        sound = container.add_stream(audio_codec, rate=8000) if audio else None
        for index, ms in enumerate(times):
            scene = 1 if cut_at is not None and index >= cut_at else 0
            frame = av.VideoFrame.from_ndarray(pattern(index, height, width, scene), format="rgb24")
            frame.pts, frame.time_base = ms, TIME_BASE
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
        if sound is not None:
            samples = int(8000 * (times[-1] + 40) / 1000)
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / 8000)).astype(np.float32)[None]
            for start in range(0, samples, 1024):
                chunk = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(tone[:, start : start + 1024]), "flt", "mono"
                )
                chunk.sample_rate, chunk.pts = 8000, start + 8 * audio_start_ms
                container.mux(sound.encode(chunk))
            container.mux(sound.encode())
    return times


def read_frames(path: Path) -> list[tuple[float, np.ndarray, int]]:
    """(seconds, rgb, rotation) of every frame of a film."""
    with av.open(str(path)) as container:
        return [(f.time, f.to_ndarray(format="rgb24"), f.rotation) for f in container.decode(video=0)]


def audio_payloads(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return []
        return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]


def _clock(ms: int, separator: str, digits: int) -> str:
    seconds, ms = divmod(ms, 1000)
    fraction = f"{ms:03d}"[:digits]
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}{separator}{fraction}"


def add_subtitles(film: Path, output: Path) -> None:
    """``film`` remuxed into the Matroska file ``output`` with a SubRip and an ASS track of
    :data:`SUBTITLES` (written as text files beside it and read by FFmpeg's own demuxers)."""
    srt, ass = output.with_suffix(".srt"), output.with_suffix(".ass")
    srt.write_text(
        "".join(
            f"{i}\n{_clock(start, ',', 3)} --> {_clock(end, ',', 3)}\n{text}\n\n"
            for i, (start, end, text) in enumerate(SUBTITLES, 1)
        )
    )
    ass.write_text(
        _ASS_HEADER
        + "".join(
            f"Dialogue: 0,{_clock(start, '.', 2)[1:]},{_clock(end, '.', 2)[1:]},Default,,0,0,0,,{text}\n"
            for start, end, text in SUBTITLES
        )
    )
    sources = [av.open(str(path)) for path in (film, srt, ass)]
    with av.open(str(output), "w") as out:
        # Every stream is added before the first packet is written (the header is written then).
        streams = [{s.index: out.add_stream_from_template(s) for s in source.streams} for source in sources]
        for source, added in zip(sources, streams, strict=True):
            for packet in source.demux():
                if packet.size:
                    packet.stream = added[packet.stream.index]
                    out.mux(packet)
            source.close()


def subtitle_packets(path: Path) -> list[tuple[str, float, float, bytes]]:
    """(codec, seconds, duration in seconds, payload) of every subtitle packet of a film."""
    with av.open(str(path)) as container:
        found = []
        for p in container.demux():
            if p.size and p.stream.type == "subtitle":
                seconds, duration = float(p.pts * p.time_base), float(p.duration * p.time_base)
                found.append((p.stream.codec_context.name, seconds, duration, bytes(p)))
        return found
