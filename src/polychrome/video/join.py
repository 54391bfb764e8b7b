"""Joining a film's encoded parts into the output without re-encoding them, with the source's audio and
subtitle streams and its tags.

Audio and subtitles are copied packet for packet where the output container holds their codec. Where it
does not, audio is re-encoded (Opus for webm, AAC for mp4 / mov) and text subtitles too (SubRip or ASS
become mov_text in mp4 / mov and WebVTT in webm, with their timing); what cannot be kept (picture subtitles
in mp4, say) is named in a one-line note. Every stream is interleaved by time as it is written, so nothing
is held in memory.
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

# The codec re-encoded audio, and text subtitles, get in a container that cannot hold the source's.
_AUDIO_FALLBACK = {".webm": "libopus", ".mp4": "aac", ".m4v": "aac", ".mov": "aac"}
_TEXT_SUBTITLE_FALLBACK = {".webm": "webvtt", ".mp4": "mov_text", ".m4v": "mov_text", ".mov": "mov_text"}


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
        self._rate = rate
        self._next: int | None = None  # the time of the next sample out, in samples

    def packets(self, packet: av.Packet | None) -> list[av.Packet]:
        frames = [] if packet is None else packet.decode()
        out: list[av.Packet] = []
        for frame in frames if packet is not None else [None]:
            if self._next is None and frame is not None and frame.time is not None:
                # Sound that starts after the picture keeps its delay; samples run on from there (a
                # negative start, an encoder's priming, starts at 0).
                self._next = max(0, round(frame.time * self._rate))
            for resampled in self._resampler.resample(frame):
                pts = self._next or 0
                resampled.pts, resampled.time_base = pts, Fraction(1, self._rate)
                self._next = pts + resampled.samples
                out.extend(self.stream.encode(resampled))
        if packet is None:
            out.extend(self.stream.encode(None))
        return out


class _SubtitleReencoder:
    """Text subtitles whose codec the output container cannot hold, decoded and encoded again in the
    container's own text format, each packet keeping its time and duration."""

    def __init__(self, output: Any, template: Any, codec: str) -> None:
        decoder = template.codec_context
        decoder.open(strict=False)  # an opened decoder has the styles header that the encoder starts from
        self.stream = output.add_stream(codec)
        self.stream.codec_context.subtitle_header = decoder.subtitle_header

    def packets(self, packet: av.Packet | None) -> list[av.Packet]:
        subtitles = None if packet is None else packet.stream.codec_context.decode2(packet)
        if packet is None or not subtitles:
            return []
        encoded = self.stream.codec_context.encode_subtitle(subtitles)
        encoded.pts = encoded.dts = packet.pts
        encoded.duration, encoded.time_base = packet.duration, packet.time_base
        encoded.stream = self.stream
        return [encoded]


def _reencoder(output: Any, stream: Any, suffix: str) -> _AudioReencoder | _SubtitleReencoder | None:
    """What re-encodes ``stream`` for a container of ``suffix`` that cannot hold its codec, if anything."""
    if stream.type == "audio" and suffix in _AUDIO_FALLBACK:
        return _AudioReencoder(output, stream, _AUDIO_FALLBACK[suffix])
    text = stream.type == "subtitle" and stream.codec_context.codec.text_sub
    if text and suffix in _TEXT_SUBTITLE_FALLBACK:
        return _SubtitleReencoder(output, stream, _TEXT_SUBTITLE_FALLBACK[suffix])
    return None


def _add_streams(
    out: Any, source: Path, suffix: str, notes: list[str]
) -> tuple[dict[int, Any], dict[int, _AudioReencoder | _SubtitleReencoder]]:
    """Output streams for the source's audio and subtitles, by source stream index: those copied, and those
    re-encoded; what is re-encoded or left out gets a line in ``notes``."""
    copied: dict[int, Any] = {}
    reencoded: dict[int, _AudioReencoder | _SubtitleReencoder] = {}
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
            encoder = _reencoder(out, stream, suffix)
            if encoder is not None:
                reencoded[stream.index] = encoder
                written = encoder.stream.codec_context.name
                notes.append(f"{name} {stream.type} re-encoded as {written} for {suffix}")
            else:
                keeps = "" if suffix == ".mkv" else " (.mkv keeps it)"
                notes.append(
                    f"{stream.type} stream {stream.index} ({name}) left out: {suffix} cannot hold it{keeps}"
                )
    return copied, reencoded


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
            copied, reencoded = _add_streams(out, source, suffix, notes) if source is not None else ({}, {})
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
