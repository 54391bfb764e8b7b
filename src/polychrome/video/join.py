"""Joining a film's encoded parts into the output without re-encoding them, with the source's audio and
subtitle streams and its tags.

Audio and subtitles are copied packet for packet where the output container holds their codec; audio is
re-encoded where it does not (Opus for webm, AAC for mp4 / mov), and what cannot be kept is named in a
one-line note. Every stream is interleaved by time as it is written, so nothing is held in memory.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from polychrome._atomic import atomic_path
from polychrome.video.io import VideoInfo

logger = logging.getLogger(__name__)

# The codec re-encoded audio gets in a container that cannot hold the source's.
_AUDIO_FALLBACK = {".webm": "libopus", ".mp4": "aac", ".m4v": "aac", ".mov": "aac"}


def _packet_time(packet: av.Packet) -> float:
    stamp = packet.dts if packet.dts is not None else packet.pts
    return float(stamp * packet.time_base) if stamp is not None else 0.0


def _part_packets(parts: Sequence[Path]) -> Iterator[av.Packet]:
    for part in parts:
        with av.open(str(part)) as container:
            for packet in container.demux(container.streams.video[0]):
                if packet.size:
                    yield packet


def _copied_packets(source: Path, indices: Sequence[int], until: float | None) -> Iterator[av.Packet]:
    if not indices:
        return
    with av.open(str(source), metadata_errors="replace") as container:
        streams = [container.streams[i] for i in indices]
        try:
            for packet in container.demux(streams):
                if not packet.size:
                    continue
                if until is not None and _packet_time(packet) >= until:
                    continue
                yield packet
        except av.error.FFmpegError as err:  # a damaged source: its audio up to the damage is kept
            logger.info("audio of %s ends early: %s", source, err)


class _AudioReencoder:
    """Audio whose codec the output container cannot hold, decoded and encoded again."""

    def __init__(self, output: Any, template: Any, codec: str) -> None:
        rate = 48000 if codec == "libopus" else template.codec_context.sample_rate or 48000
        layout = template.codec_context.layout.name if template.codec_context.layout else "stereo"
        self.stream = output.add_stream(codec, rate=rate, layout=layout)
        self._resampler = av.AudioResampler(format=self.stream.format, layout=layout, rate=rate)

    def packets(self, packet: av.Packet | None) -> list[av.Packet]:
        frames = [] if packet is None else packet.decode()
        out: list[av.Packet] = []
        for frame in frames if packet is not None else [None]:
            for resampled in self._resampler.resample(frame):
                resampled.pts = None
                out.extend(self.stream.encode(resampled))
        if packet is None:
            out.extend(self.stream.encode(None))
        return out


def join_video(
    parts: Sequence[Path],
    source: Path | None,
    output: Path,
    info: VideoInfo,
    *,
    until: float | None = None,
    sample_aspect_ratio: Fraction | None = None,
) -> list[str]:
    """Join encoded parts into ``output`` (written to a temporary name, then renamed) with the source's
    audio and subtitle streams copied packet for packet, or re-encoded where the container cannot hold their
    codec; ``until`` (seconds) cuts them for a preview. Returns notes on what could not be kept."""
    notes: list[str] = []
    with atomic_path(output) as tmp:
        suffix = output.suffix.lower()
        container_format = {".m4v": "mp4", ".mkv": "matroska"}.get(suffix, suffix.lstrip("."))
        with av.open(str(tmp), "w", format=container_format) as out:
            with av.open(str(parts[0])) as first:
                video = out.add_stream_from_template(first.streams.video[0])
            video.time_base = info.time_base
            if info.rotation:
                video.set_display_rotation(info.rotation)
            if sample_aspect_ratio:
                video.sample_aspect_ratio = sample_aspect_ratio
            for key, value in info.metadata.items():
                out.metadata[key] = value
            copied: dict[int, Any] = {}
            reencoded: dict[int, _AudioReencoder] = {}
            if source is not None:
                with av.open(str(source), metadata_errors="replace") as probe:
                    for stream in probe.streams:
                        if stream.type not in ("audio", "subtitle"):
                            continue
                        name = stream.codec_context.name
                        if name in out.supported_codecs:
                            try:
                                copied[stream.index] = out.add_stream_from_template(stream)
                                continue
                            except (av.error.FFmpegError, ValueError) as err:
                                logger.debug("cannot copy stream %d: %s", stream.index, err)
                        fallback = _AUDIO_FALLBACK.get(suffix)
                        if stream.type == "audio" and fallback:
                            reencoded[stream.index] = _AudioReencoder(out, stream, fallback)
                            notes.append(f"{name} audio re-encoded as {fallback} for {suffix}")
                        else:
                            notes.append(
                                f"{stream.type} stream {stream.index} ({name}) left out: "
                                f"{suffix} cannot hold it"
                            )
            videos = ((True, packet) for packet in _part_packets(parts))
            others = (
                ((False, packet) for packet in _copied_packets(source, [*copied, *reencoded], until))
                if (source is not None)
                else iter(())
            )
            # Interleaved by time, so the muxer never has to buffer one stream while waiting for another.
            for from_part, packet in heapq.merge(videos, others, key=lambda item: _packet_time(item[1])):
                index = packet.stream.index
                if from_part:
                    packet.stream = video
                    out.mux(packet)
                elif index in copied:
                    packet.stream = copied[index]
                    out.mux(packet)
                else:
                    out.mux(reencoded[index].packets(packet))
            for encoder in reencoded.values():
                out.mux(encoder.packets(None))
    return notes
