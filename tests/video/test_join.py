"""The colorized film joined with the source's other streams: subtitles copied where the container holds
them, text subtitles re-encoded (mov_text, WebVTT) where it does not, a one-line note for what is left out,
and audio in webm (Opus copied, other codecs re-encoded)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch

from polychrome.models import create_model
from polychrome.pipelines.image import Colorizer
from polychrome.video import join
from polychrome.video.pipeline import VideoColorizer, VideoOptions
from tests.video.clips import SUBTITLES, add_subtitles, audio_payloads, make_clip, subtitle_packets


@pytest.fixture(scope="module")
def films() -> VideoColorizer:
    torch.manual_seed(0)
    colorizer = Colorizer(create_model("effunet_tiny_cls"))
    return VideoColorizer(colorizer, VideoOptions(batch_size=4, part_frames=4, preset="ultrafast"))


@pytest.fixture
def subtitled(tmp_path: Path) -> Path:
    make_clip(tmp_path / "plain.mp4", frames=10, audio=True)
    add_subtitles(tmp_path / "plain.mp4", tmp_path / "film.mkv")
    return tmp_path / "film.mkv"


def _texts(path: Path) -> list[tuple[str, list[str]]]:
    """Each subtitle stream's codec and its cues' text, decoded."""
    with av.open(str(path)) as container:
        tracks = {stream.index: (stream.codec_context.name, []) for stream in container.streams.subtitles}
        for packet in container.demux():
            if packet.size and packet.stream.index in tracks:
                for subtitle in packet.stream.codec_context.decode2(packet) or []:
                    tracks[packet.stream.index][1].append(subtitle.ass.decode().rsplit(",", 1)[-1].strip())
    return list(tracks.values())


def test_subtitles_are_copied_where_the_container_holds_them(films: VideoColorizer, subtitled: Path) -> None:
    result = films.colorize_file(subtitled, subtitled.with_name("color.mkv"))

    assert result.notes == []
    assert subtitle_packets(subtitled.with_name("color.mkv")) == subtitle_packets(subtitled)
    assert audio_payloads(subtitled.with_name("color.mkv")) == audio_payloads(subtitled)


@pytest.mark.parametrize(
    ("suffix", "codec"),
    [(".mp4", "mov_text"), (".mov", "mov_text"), (".webm", "webvtt")],
)
def test_text_subtitles_are_re_encoded_where_the_container_cannot_hold_them(
    films: VideoColorizer, subtitled: Path, suffix: str, codec: str
) -> None:
    output = subtitled.with_name(f"color{suffix}")

    result = films.colorize_file(subtitled, output)

    texts = [text for _, _, text in SUBTITLES]
    assert _texts(output) == [(codec, texts), (codec, texts)]  # the SubRip track and the ASS track
    source_times = sorted((start, duration) for _, start, duration, _ in subtitle_packets(subtitled))
    kept = subtitle_packets(output)
    # mp4 fills the time between cues with empty samples (two zero bytes); the cues keep their times.
    kept_times = sorted((start, duration) for _, start, duration, payload in kept if payload.strip(b"\0"))
    assert np.allclose(kept_times, source_times, atol=0.002)
    assert f"srt subtitle re-encoded as {codec} for {suffix}" in result.notes
    assert f"ssa subtitle re-encoded as {codec} for {suffix}" in result.notes


def test_subtitles_that_cannot_be_kept_are_one_line_each(
    films: VideoColorizer, subtitled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(join, "_TEXT_SUBTITLE_FALLBACK", {})  # as picture subtitles (DVD, Blu-ray) in mp4

    result = films.colorize_file(subtitled, subtitled.with_name("color.mp4"))

    assert result.notes == [
        "subtitle stream 2 (srt) left out: .mp4 cannot hold it (.mkv keeps it)",
        "subtitle stream 3 (ssa) left out: .mp4 cannot hold it (.mkv keeps it)",
    ]
    assert subtitle_packets(subtitled.with_name("color.mp4")) == []
    assert audio_payloads(subtitled.with_name("color.mp4")) == audio_payloads(subtitled)


def _tone(path: Path) -> tuple[str, float, float]:
    """The audio's codec and the seconds where its tone starts and ends."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        frames = list(container.decode(stream))
        step = 1 if frames[0].format.is_planar else len(frames[0].layout.channels)  # packed: interleaved
        samples = np.concatenate([f.to_ndarray()[0, ::step] for f in frames])
        loud = np.flatnonzero(np.abs(samples) > 0.05) / stream.rate + frames[0].time
        return stream.codec_context.name, float(loud[0]), float(loud[-1])


@pytest.mark.parametrize("codec", ["aac", "libopus"])
def test_webm_keeps_the_audio_re_encoded_as_opus_where_needed(
    films: VideoColorizer, tmp_path: Path, codec: str
) -> None:
    source = tmp_path / "film.mkv"
    make_clip(source, frames=10, audio=True, audio_codec=codec)

    result = films.colorize_file(source, tmp_path / "color.webm")

    name, start, end = _tone(tmp_path / "color.webm")
    _, source_start, source_end = _tone(source)
    assert name == "opus"
    assert start == pytest.approx(source_start, abs=0.03) and end == pytest.approx(source_end, abs=0.03)
    if codec == "libopus":
        assert result.notes == [] and audio_payloads(tmp_path / "color.webm") == audio_payloads(source)
    else:
        assert result.notes == ["aac audio re-encoded as libopus for .webm"]


def test_re_encoded_audio_that_starts_after_the_picture_keeps_its_delay(
    films: VideoColorizer, tmp_path: Path
) -> None:
    source = tmp_path / "film.mkv"
    make_clip(source, frames=20, audio=True, audio_start_ms=400)

    films.colorize_file(source, tmp_path / "color.webm")

    _, source_start, source_end = _tone(source)
    _, start, end = _tone(tmp_path / "color.webm")
    assert source_start == pytest.approx(0.4, abs=0.03)
    assert start == pytest.approx(source_start, abs=0.03) and end == pytest.approx(source_end, abs=0.03)
