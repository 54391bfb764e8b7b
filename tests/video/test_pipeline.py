"""Films through the pipeline with a tiny seeded model, on each backend (PyTorch, and ONNX Runtime with the
same model exported): what is kept, outputs by extension, interruption and resume, side by side and
preview."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from polychrome.export import export_onnx
from polychrome.models import create_model
from polychrome.pipelines.image import Colorizer
from polychrome.video import output as video_output
from polychrome.video import pipeline as video_pipeline
from polychrome.video.io import VideoReader, VideoReadError, open_video
from polychrome.video.pipeline import VideoColorizer, VideoOptions
from tests.video.clips import audio_payloads, make_clip, read_frames


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return export_onnx(create_model("effunet_tiny_cls"), tmp_path_factory.mktemp("onnx") / "tiny.onnx", {})


@pytest.fixture(scope="module", params=["torch", "onnx"])
def colorizer(request: pytest.FixtureRequest, tiny_onnx: Path) -> Colorizer:
    if request.param == "onnx":
        return Colorizer.from_pretrained(tiny_onnx, backend="onnx")
    torch.manual_seed(0)
    return Colorizer(create_model("effunet_tiny_cls"))


def _films(colorizer: Colorizer, **options: object) -> VideoColorizer:
    return VideoColorizer(colorizer, VideoOptions(batch_size=2, part_frames=2, **options))  # type: ignore[arg-type]


def test_timestamps_size_rotation_pixel_shape_audio_and_title_are_kept(
    tmp_path: Path, colorizer: Colorizer
) -> None:
    source = tmp_path / "film.mp4"
    times = make_clip(
        source,
        times_ms=[0, 40, 80, 200, 240, 400, 440],  # variable frame rate
        size=(50, 34),
        audio=True,
        rotation=90,
        sample_aspect_ratio=Fraction(4, 3),
        title="A film",
    )

    result = _films(colorizer).colorize_file(source, tmp_path / "color.mp4")

    frames = read_frames(tmp_path / "color.mp4")
    assert result.frames == len(frames) == len(times)
    assert [round(t * 1000) for t, _, _ in frames] == times
    assert {rgb.shape for _, rgb, _ in frames} == {(34, 50, 3)}
    assert {rotation for _, _, rotation in frames} == {90}
    with open_video(tmp_path / "color.mp4") as film:
        assert film.info.sample_aspect_ratio == Fraction(4, 3)
        assert film.info.metadata.get("title") == "A film"
    assert audio_payloads(tmp_path / "color.mp4") == audio_payloads(source)
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no work folder left


@pytest.mark.parametrize("name", ["color.mkv", "color.webm", "color.gif", "frames"])
def test_every_output_kind_holds_every_frame(tmp_path: Path, colorizer: Colorizer, name: str) -> None:
    source = tmp_path / "film.mp4"
    times = make_clip(source, frames=5, audio=True)

    _films(colorizer).colorize_file(source, tmp_path / name)

    if name == "frames":
        assert len(list((tmp_path / name).glob("frame-*.png"))) == len(times)
        return
    with open_video(tmp_path / name) as film:
        assert sum(1 for _ in film.frames()) == len(times)


def _pixel_format(path: Path) -> tuple[str, str | None]:
    with av.open(str(path)) as container:
        context = container.streams.video[0].codec_context
        return context.format.name, context.profile


def test_ten_bit_film_is_read_deep_and_written_at_ten_bits(tmp_path: Path, colorizer: Colorizer) -> None:
    source = tmp_path / "deep.mkv"
    times = make_clip(source, frames=4, pixel_format="yuv420p10le")
    with open_video(source) as film:
        assert film.info.bit_depth == 10
        assert next(iter(film.frames())).rgb.dtype == np.uint16

    result = _films(colorizer).colorize_file(source, tmp_path / "out.mkv")
    playable = _films(colorizer).colorize_file(source, tmp_path / "out.mp4")

    assert result.frames == len(times) and result.notes == []
    assert _pixel_format(tmp_path / "out.mkv") == ("yuv420p10le", "High 10")
    colored = read_frames(tmp_path / "out.mkv")[0][1].astype(int)
    assert np.abs(colored[..., 0] - colored[..., 2]).mean() > 1.0
    # mp4 is for browsers and phones, which do not play High 10: 8 bits unless asked, and it says so.
    assert _pixel_format(tmp_path / "out.mp4")[0] == "yuv420p" and playable.frames == len(times)
    assert playable.notes == [
        "10-bit source written at 8 bits so .mp4 plays everywhere; --bit-depth 10 (or .mkv) keeps 10"
    ]


def test_ten_bits_where_asked_or_held_and_a_note_where_not(tmp_path: Path, colorizer: Colorizer) -> None:
    deep, plain = tmp_path / "deep.mkv", tmp_path / "plain.mp4"
    make_clip(deep, frames=2, pixel_format="yuv420p10le")
    make_clip(plain, frames=2)

    eight = _films(colorizer, bit_depth=8).colorize_file(deep, tmp_path / "eight.mkv")
    webm = _films(colorizer).colorize_file(deep, tmp_path / "deep.webm")
    ten = _films(colorizer, bit_depth=10).colorize_file(plain, tmp_path / "ten.mov")
    with pytest.raises(ValueError, match="cannot be written at 10 bits"):
        _films(colorizer, bit_depth=10).colorize_file(plain, tmp_path / "ten.webm")

    assert _pixel_format(tmp_path / "eight.mkv")[0] == "yuv420p" and eight.notes == []
    assert _pixel_format(tmp_path / "deep.webm")[0] == "yuv420p"
    assert webm.notes == ["10-bit source written at 8 bits, as .webm (libvpx-vp9) is; .mkv or .mov keep 10"]
    assert _pixel_format(tmp_path / "ten.mov")[0] == "yuv420p10le" and ten.notes == []
    assert not (tmp_path / "ten.webm").exists()
    assert not _films(colorizer).work_folder(tmp_path / "ten.webm").exists()


def test_side_by_side_doubles_the_width_and_preview_cuts(tmp_path: Path, colorizer: Colorizer) -> None:
    source = tmp_path / "film.mp4"
    times = make_clip(source, frames=8, audio=True)
    seconds = times[3] / 1000

    _films(colorizer, side_by_side=True, preview=seconds).colorize_file(source, tmp_path / "out.mp4")

    frames = read_frames(tmp_path / "out.mp4")
    assert len(frames) == sum(1 for t in times if t / 1000 < seconds)
    assert frames[0][1].shape[1] == 2 * 48
    # The left half is gray, but for a few columns at the seam where 4:2:0 chroma spans both halves.
    gray = frames[0][1][:, : 48 - 4].astype(int)
    assert np.abs(gray[..., 0] - gray[..., 2]).max() <= 2


def test_a_killed_run_leaves_no_output_and_resumes_to_the_same_film(
    tmp_path: Path, colorizer: Colorizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "film.mp4"
    make_clip(source, frames=9, audio=True, cut_at=5)
    whole = tmp_path / "whole.mp4"
    _films(colorizer).colorize_file(source, whole)

    written = []
    real_write = video_output.PartEncoder.write

    def dies_on_the_fifth_frame(self: video_output.PartEncoder, rgb: np.ndarray, pts: int) -> None:
        written.append(pts)
        if len(written) == 5:
            raise KeyboardInterrupt
        real_write(self, rgb, pts)

    monkeypatch.setattr(video_output.PartEncoder, "write", dies_on_the_fifth_frame)
    output = tmp_path / "resumed.mp4"
    with pytest.raises(KeyboardInterrupt):
        _films(colorizer).colorize_file(source, output)
    assert not output.exists()
    # Every stage and the motion threads have ended: a thread left inside FFmpeg, OpenCV or the network
    # while Python exits aborts it.
    assert [t.name for t in threading.enumerate() if t.name.startswith("polychrome-")] == []
    monkeypatch.setattr(video_output.PartEncoder, "write", real_write)

    result = _films(colorizer).colorize_file(source, output)

    assert result.resumed_from == 4  # two finished parts of two frames
    assert result.cuts == [5]  # found from the saved lightness of frame 3 onwards
    resumed, uninterrupted = read_frames(output), read_frames(whole)
    assert len(resumed) == len(uninterrupted)
    for (t1, a, _), (t2, b, _) in zip(resumed, uninterrupted, strict=True):
        assert t1 == t2 and np.array_equal(a, b)


def test_motion_found_ahead_in_threads_makes_the_film_the_stabiliser_makes_in_order(
    tmp_path: Path, colorizer: Colorizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "film.mp4"
    make_clip(source, frames=11, cut_at=6)
    in_order = tmp_path / "in-order.mp4"
    with monkeypatch.context() as patch:  # no motion stage: the stabiliser finds each motion itself
        patch.setattr(video_pipeline, "MOTION_THREADS", 0)
        expected = _films(colorizer).colorize_file(source, in_order)
    monkeypatch.setattr(video_pipeline, "MOTION_THREADS", 3)
    ahead = tmp_path / "ahead.mp4"

    result = _films(colorizer).colorize_file(source, ahead)

    assert result.cuts == expected.cuts == [6]
    assert result.timings["motion"] > 0 and expected.timings["motion"] == 0
    found, wanted = read_frames(ahead), read_frames(in_order)
    assert len(found) == len(wanted) == 11
    assert all(np.array_equal(a, b) for (_, a, _), (_, b, _) in zip(found, wanted, strict=True))
    frame_by_frame = read_frames(
        _films(colorizer, strength=0.0).colorize_file(source, tmp_path / "0.mp4").output
    )
    assert not np.array_equal(found[3][1], frame_by_frame[3][1])  # the stabiliser did blend


def test_a_film_stopped_near_its_end_is_not_decoded_again_from_its_start(
    tmp_path: Path, colorizer: Colorizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "film.mkv"
    make_clip(source, frames=24, keyframe_every=4, b_frames=2, audio=True)
    films = VideoColorizer(colorizer, VideoOptions(batch_size=2, part_frames=4))
    whole = tmp_path / "whole.mkv"
    films.colorize_file(source, whole)
    real_write = video_output.PartEncoder.write
    written = []

    def dies_on_the_nineteenth_frame(self: video_output.PartEncoder, rgb: np.ndarray, pts: int) -> None:
        written.append(pts)
        if len(written) == 19:  # four parts of four frames done, the fifth begun
            raise KeyboardInterrupt
        real_write(self, rgb, pts)

    monkeypatch.setattr(video_output.PartEncoder, "write", dies_on_the_nineteenth_frame)
    output = tmp_path / "resumed.mkv"
    with pytest.raises(KeyboardInterrupt):
        films.colorize_file(source, output)
    monkeypatch.setattr(video_output.PartEncoder, "write", real_write)
    readers = []

    def open_and_keep(path: Path) -> VideoReader:
        readers.append(open_video(path))
        return readers[-1]

    monkeypatch.setattr(video_pipeline, "open_video", open_and_keep)

    result = films.colorize_file(source, output)

    assert result.resumed_from == 16 and result.frames == 24
    assert readers[0].decoded <= 8 + 4  # the last 8 frames, from the key frame before them
    resumed, uninterrupted = read_frames(output), read_frames(whole)
    assert [t for t, _, _ in resumed] == [t for t, _, _ in uninterrupted]
    assert all(np.array_equal(a, b) for (_, a, _), (_, b, _) in zip(resumed, uninterrupted, strict=True))
    assert audio_payloads(output) == audio_payloads(source)


def test_changed_settings_start_afresh(tmp_path: Path, colorizer: Colorizer) -> None:
    source = tmp_path / "film.mp4"
    make_clip(source, frames=4)
    films = _films(colorizer)
    work = films.work_folder(tmp_path / "out.mp4")
    work.mkdir()
    (work / "settings.json").write_text('{"key": "other"}')
    (work / "00000.npz").write_bytes(b"stale")

    assert films.colorize_file(source, tmp_path / "out.mp4").resumed_from == 0


@pytest.mark.parametrize("content", [b"", b"not a film at all", "audio"])
def test_unreadable_films_raise_one_line_naming_the_file(
    tmp_path: Path, colorizer: Colorizer, content: bytes | str
) -> None:
    source = tmp_path / "bad.mp4"
    if content == "audio":
        make_clip(tmp_path / "tone.mp4", frames=3, audio=True)
        with av.open(str(tmp_path / "tone.mp4")) as inp, av.open(str(source), "w") as out:
            stream = out.add_stream_from_template(inp.streams.audio[0])
            for packet in inp.demux(inp.streams.audio[0]):
                if packet.size:
                    packet.stream = stream
                    out.mux(packet)
    else:
        source.write_bytes(content)

    with pytest.raises(VideoReadError, match="bad.mp4") as raised:
        _films(colorizer).colorize_file(source, tmp_path / "out.mp4")
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "out.mp4").exists()
    assert not _films(colorizer).work_folder(tmp_path / "out.mp4").exists()


def test_a_truncated_film_keeps_what_decodes(tmp_path: Path, colorizer: Colorizer) -> None:
    whole = tmp_path / "whole.mkv"  # Matroska keeps its frames readable when its end is cut off
    times = make_clip(whole, frames=12)
    data = whole.read_bytes()
    source = tmp_path / "cut.mkv"
    source.write_bytes(data[: len(data) * 2 // 3])

    result = _films(colorizer).colorize_file(source, tmp_path / "out.mp4")

    assert 0 < result.frames < len(times)


def test_frame_iterator_colors_frames_from_any_decoder(colorizer: Colorizer) -> None:
    frames = [np.full((20, 30, 3), value, np.uint8) for value in (40, 90, 140)]

    colored = list(_films(colorizer).colorize_frames(iter(frames)))

    assert [c.shape for c in colored] == [(20, 30, 3)] * 3
    assert all(c.dtype == np.uint8 for c in colored)


def test_a_film_damaged_mid_way_reports_what_it_lost(tmp_path: Path, colorizer: Colorizer) -> None:
    whole = tmp_path / "whole.mkv"
    times = make_clip(whole, frames=24, size=(64, 48))
    data = bytearray(whole.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 200] = np.random.default_rng(0).integers(0, 256, 200, dtype=np.uint8).tobytes()
    source = tmp_path / "damaged.mkv"
    source.write_bytes(bytes(data))

    result = _films(colorizer).colorize_file(source, tmp_path / "out.mp4")

    assert 0 < result.frames < len(times)
    assert any("the rest is lost" in line for line in result.defects), result.defects
    assert len(read_frames(tmp_path / "out.mp4")) == result.frames


def test_both_backends_color_a_film_alike(tmp_path: Path, tiny_onnx: Path) -> None:
    source = tmp_path / "film.mp4"
    make_clip(source, frames=6, size=(64, 48), cut_at=4)
    torch.manual_seed(0)
    backends = [
        Colorizer(create_model("effunet_tiny_cls")),
        Colorizer.from_pretrained(tiny_onnx, backend="onnx"),
    ]

    films = []
    for colorizer in backends:
        with open_video(source) as film:
            frames = [frame.rgb for frame in film.frames()]
        films.append(np.stack(list(_films(colorizer).colorize_frames(frames))))

    difference = np.abs(films[0].astype(int) - films[1].astype(int))
    assert films[0].shape == (6, 48, 64, 3)
    assert difference.max() <= 3 and (difference <= 1).mean() > 0.99


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("bit_depth", [8, 10])
def test_a_gpu_colors_a_film_as_the_cpu_does(tmp_path: Path, bit_depth: int) -> None:
    source = tmp_path / "film.mkv"
    make_clip(
        source,
        frames=6,
        size=(64, 48),
        cut_at=4,
        pixel_format="yuv420p10le" if bit_depth == 10 else "yuv420p",
    )
    with open_video(source) as film:
        frames = [frame.rgb for frame in film.frames()]

    films = []
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        colorizer = Colorizer(create_model("effunet_tiny_cls"), device=device)
        options = {"side_by_side": True, "bit_depth": bit_depth}
        films.append(np.stack(list(_films(colorizer, **options).colorize_frames(frames))).astype(int))

    level = 1 if bit_depth == 8 else 257  # one 8-bit level, in 16-bit units
    difference = np.abs(films[0] - films[1])
    assert films[1].shape == (6, 48, 2 * 64, 3)
    assert difference.max() <= 3 * level and (difference <= level).mean() > 0.99


def test_a_gif_too_large_to_write_in_memory_is_refused_before_any_work(
    tmp_path: Path, colorizer: Colorizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "film.mp4"
    make_clip(source, frames=6, size=(48, 32))
    monkeypatch.setattr(video_output, "GIF_MEMORY_BYTES", 4 * 6 * 48 * 32 - 1)  # one byte short

    with pytest.raises(ValueError, match=r"color\.gif: a GIF of 6 frames .* --preview SECONDS"):
        _films(colorizer).colorize_file(source, tmp_path / "color.gif")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4"]  # no output, no work folder

    # Three frames fit; so does the whole film as mp4.
    assert _films(colorizer, preview=0.1).colorize_file(source, tmp_path / "color.gif").frames == 3
    assert _films(colorizer).colorize_file(source, tmp_path / "color.mp4").frames == 6
