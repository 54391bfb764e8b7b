"""`polychrome colorize` end to end on tiny files, with a fake colorizer in place of a model."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner, Result

import polychrome.cli.colorize as colorize_cli
from polychrome.cli import app

TINT = np.array([1.0, 0.5, 0.25], dtype=np.float32)


class FakeColorizer:
    """Tints instead of predicting, and remembers what it was asked."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, rgb: np.ndarray, **options: Any) -> SimpleNamespace:
        self.calls.append(options)
        floats = rgb / 255 if rgb.dtype == np.uint8 else rgb  # the command hands over 8-bit photos as bytes
        return SimpleNamespace(images=[(floats * TINT).astype(np.float32)])


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeColorizer:
    colorizer = FakeColorizer()
    loads: list[tuple[str | None, str, str]] = []

    def load(model: str | None, device: str, precision: str, backend: str) -> FakeColorizer:
        loads.append((model, device, precision))
        return colorizer

    monkeypatch.setattr(colorize_cli, "load_colorizer", load)
    colorizer.loads = loads  # type: ignore[attr-defined]
    return colorizer


def _image(path: Path, value: int = 200) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (6, 4), value).save(path)
    return path


def _invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(app, ["colorize", *map(str, args)])


def _is_tinted(path: Path) -> bool:
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
    return bool(rgb[..., 0].mean() > rgb[..., 1].mean() > rgb[..., 2].mean())


def test_folder_is_colorized_into_a_mirrored_tree(tmp_path: Path, fake: FakeColorizer) -> None:
    for name in ["a.jpg", "sub/b.png", "sub/deeper/c.tif"]:
        _image(tmp_path / "photos" / name)

    result = _invoke(
        tmp_path / "photos", "-o", tmp_path / "out", "--render-size", "128", "--saturation", "0.5"
    )

    assert result.exit_code == 0, result.output
    for name in ["a.jpg", "sub/b.png", "sub/deeper/c.tif"]:
        assert _is_tinted(tmp_path / "out" / name)
    assert "colorized 3, skipped 0, failed 0" in result.stdout
    expected = {"output_type": "pil", "render_size": 128, "saturation": 0.5, "temperature": 0.0}
    assert fake.calls == [expected] * 3


def test_a_render_size_beyond_the_limit_is_a_usage_error(tmp_path: Path, fake: FakeColorizer) -> None:
    _image(tmp_path / "a.jpg")
    result = _invoke(tmp_path / "a.jpg", "-o", tmp_path / "out", "--render-size", "100000")
    assert result.exit_code == 2 and "2048" in result.output
    assert fake.calls == [] and not (tmp_path / "out").exists()


def test_glob_input(tmp_path: Path, fake: FakeColorizer) -> None:
    _image(tmp_path / "scans" / "1.jpg")
    _image(tmp_path / "scans" / "deep" / "2.jpg")
    _image(tmp_path / "scans" / "deep" / "3.png")

    result = _invoke(str(tmp_path / "scans" / "**" / "*.jpg"), "-o", tmp_path / "out")

    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["1.jpg", "2.jpg"]


def test_single_file_to_output_file(tmp_path: Path, fake: FakeColorizer) -> None:
    source = _image(tmp_path / "old.jpg")

    result = _invoke(
        source,
        "-o",
        tmp_path / "color.png",
        "--temperature",
        "-0.5",
        "--model",
        "m",
        "--device",
        "cuda:1",
        "--precision",
        "bf16-mixed",
    )

    assert result.exit_code == 0, result.output
    assert _is_tinted(tmp_path / "color.png")
    assert fake.calls[0]["temperature"] == -0.5
    assert fake.loads == [("m", "cuda:1", "bf16-mixed")]  # type: ignore[attr-defined]


def test_format_changes_the_output_suffix(tmp_path: Path, fake: FakeColorizer) -> None:
    _image(tmp_path / "photos" / "a.jpg")

    result = _invoke(tmp_path / "photos", "-o", tmp_path / "out", "--format", "png")

    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.png"]
    assert Image.open(tmp_path / "out" / "a.png").format == "PNG"


def test_existing_outputs_are_skipped_untouched_unless_overwrite(tmp_path: Path, fake: FakeColorizer) -> None:
    _image(tmp_path / "photos" / "a.jpg")
    _image(tmp_path / "photos" / "b.jpg")
    existing = _image(tmp_path / "out" / "a.jpg", value=10)
    before, old_time = existing.read_bytes(), 1_000_000_000
    os.utime(existing, (old_time, old_time))

    result = _invoke(tmp_path / "photos", "-o", tmp_path / "out")

    assert result.exit_code == 0, result.output
    assert "colorized 1, skipped 1 (already exist; use --overwrite), failed 0" in result.stdout
    assert existing.read_bytes() == before and existing.stat().st_mtime == old_time
    assert _is_tinted(tmp_path / "out" / "b.jpg")

    result = _invoke(tmp_path / "photos", "-o", tmp_path / "out", "--overwrite")

    assert result.exit_code == 0, result.output
    assert "colorized 2, skipped 0, failed 0" in result.stdout
    assert existing.read_bytes() != before


def test_the_model_is_not_loaded_when_everything_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(model: str | None, device: str, precision: str, backend: str) -> None:
        raise AssertionError("the model should not be loaded")

    monkeypatch.setattr(colorize_cli, "load_colorizer", refuse)
    _image(tmp_path / "photos" / "a.jpg")
    _image(tmp_path / "out" / "a.jpg")

    result = _invoke(tmp_path / "photos", "-o", tmp_path / "out")

    assert result.exit_code == 0, result.output
    assert "colorized 0, skipped 1" in result.stdout


def test_corrupt_file_fails_alone(tmp_path: Path, fake: FakeColorizer) -> None:
    _image(tmp_path / "photos" / "a.jpg")
    (tmp_path / "photos" / "broken.jpg").write_text("this is not a jpeg")
    _image(tmp_path / "photos" / "c.jpg")

    result = _invoke(tmp_path / "photos", "-o", tmp_path / "out")

    assert result.exit_code == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.jpg", "c.jpg"]
    assert "colorized 2, skipped 0, failed 1" in result.stdout
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1
    assert errors[0].startswith("error: ") and "broken.jpg" in errors[0]
    assert errors[0].count("broken.jpg") == 1


@pytest.mark.parametrize("trouble", ["symlink loop", "permission denied"])
def test_an_entry_that_cannot_be_read_is_one_line_and_the_batch_goes_on(
    tmp_path: Path, fake: FakeColorizer, unreadable: Callable[[Path], Path], trouble: str
) -> None:
    _image(tmp_path / "photos" / "a.jpg")
    if trouble == "symlink loop":
        bad = tmp_path / "photos" / "loop.jpg"
        bad.symlink_to("loop.jpg")
    else:
        _image(tmp_path / "photos" / "locked" / "b.jpg")
        bad = unreadable(tmp_path / "photos" / "locked")

    result = _invoke(tmp_path / "photos", "-o", tmp_path / "out")

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"error: {bad}: {trouble}"]
    assert _is_tinted(tmp_path / "out" / "a.jpg")
    assert "colorized 1, skipped 0, failed 1" in result.stdout


def test_a_full_disk_names_the_output_and_the_batch_goes_on(
    tmp_path: Path, fake: FakeColorizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _image(tmp_path / "photos" / "a.png")
    _image(tmp_path / "photos" / "b.png")
    real_save = Image.Image.save

    def save(image: Image.Image, fp: Any, *args: Any, **kwargs: Any) -> None:
        if getattr(fp, "name", "").startswith(str(tmp_path / "out" / ".a.png.")):
            fp.write(b"half a png")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_save(image, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save)
    result = _invoke(tmp_path / "photos", "-o", tmp_path / "out")

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {tmp_path / 'photos' / 'a.png'}: cannot write {tmp_path / 'out' / 'a.png'} "
        "(no space left on device)"
    ]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["b.png"]  # nothing half-written


def test_missing_input_is_a_one_line_error(tmp_path: Path, fake: FakeColorizer) -> None:
    missing = tmp_path / "nope.jpg"

    result = _invoke(missing, "-o", tmp_path / "out")

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"error: {missing}: no such file or directory"]
    assert "Traceback" not in result.output
    assert fake.loads == []  # type: ignore[attr-defined]


def test_missing_input_beside_good_ones_still_fails_the_run(tmp_path: Path, fake: FakeColorizer) -> None:
    good = _image(tmp_path / "a.jpg")

    result = _invoke(tmp_path / "nope.jpg", good, "-o", tmp_path / "out")

    assert result.exit_code == 1
    assert (tmp_path / "out" / "a.jpg").exists()
    assert "colorized 1, skipped 0, failed 1" in result.stdout


def test_output_equal_to_input_never_overwrites_the_original(tmp_path: Path, fake: FakeColorizer) -> None:
    original = _image(tmp_path / "photos" / "a.jpg")
    before = original.read_bytes()

    for args in (["-o", tmp_path / "photos"], ["-o", tmp_path / "photos", "--overwrite"]):
        result = _invoke(tmp_path / "photos", *args)
        assert result.exit_code == 1
        assert "would replace this original" in result.stderr
        assert original.read_bytes() == before
        assert result.stdout.strip() == "colorized 0, skipped 0, failed 1"  # the summary, as for any batch


def test_two_inputs_colliding_on_one_output_are_reported(tmp_path: Path, fake: FakeColorizer) -> None:
    first = _image(tmp_path / "x" / "photo.jpg", value=50)
    second = _image(tmp_path / "y" / "photo.jpg", value=250)

    result = _invoke(first, second, "-o", tmp_path / "out")

    assert result.exit_code == 1
    assert f"error: {second}: would overwrite the output of {first}" in result.stderr
    assert "colorized 1, skipped 0, failed 1" in result.stdout
    assert np.asarray(Image.open(tmp_path / "out" / "photo.jpg").convert("L")).mean() < 100  # the first one


def test_model_that_cannot_load_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(model: str | None, device: str, precision: str, backend: str) -> None:
        raise FileNotFoundError(f"no model named {model!r}")

    monkeypatch.setattr(colorize_cli, "load_colorizer", broken)
    _image(tmp_path / "a.jpg")

    result = _invoke(tmp_path / "a.jpg", "-o", tmp_path / "out", "--model", "nosuch")

    assert result.exit_code == 1
    assert result.stderr.strip() == "error: could not load the model: no model named 'nosuch'"


@pytest.mark.parametrize(
    "args",
    [
        ["--format", "psd"],
        ["--temperature", "2"],
        ["--saturation", "-1"],
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, fake: FakeColorizer, args: list[str]) -> None:
    _image(tmp_path / "a.jpg")
    result = _invoke(tmp_path / "a.jpg", "-o", tmp_path / "out", *args)
    assert result.exit_code == 2
    assert not (tmp_path / "out").exists()


def test_an_unknown_format_names_the_option(tmp_path: Path, fake: FakeColorizer) -> None:
    result = _invoke(_image(tmp_path / "a.jpg"), "-o", tmp_path / "out", "--format", "xyz")

    assert result.exit_code == 2 and "'--format' / '--output'" in result.output
    assert "unsupported output format 'xyz'" in result.output


def test_output_is_required(tmp_path: Path) -> None:
    assert _invoke(tmp_path).exit_code == 2


def test_make_processor_keeps_alpha(tmp_path: Path) -> None:
    source = tmp_path / "logo.png"
    Image.new("LA", (5, 3), (100, 40)).save(source)
    job = colorize_cli.Job(source, tmp_path / "out" / "logo.png")
    job.output.parent.mkdir()

    colorize_cli.make_processor(FakeColorizer(), 64, 1.0, 0.0)(job)

    written = Image.open(job.output)
    assert written.mode == "RGBA"
    assert np.asarray(written)[..., 3].max() == 40


def test_an_empty_folder_is_one_line_naming_it(tmp_path: Path, fake: FakeColorizer) -> None:
    (tmp_path / "empty").mkdir()

    result = _invoke(tmp_path / "empty", "-o", tmp_path / "out")

    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"error: {tmp_path / 'empty'}: folder contains no images")


def test_several_workers_give_the_same_outputs_and_report(tmp_path: Path, fake: FakeColorizer) -> None:
    for i in range(6):
        _image(tmp_path / "photos" / f"{i}.png", value=40 * i)
    (tmp_path / "photos" / "3.png").write_text("this is not a png")

    result = _invoke(tmp_path / "photos", "-o", tmp_path / "out", "--workers", "3")

    assert result.exit_code == 1
    assert "colorized 5, skipped 0, failed 1" in result.stdout
    assert [line.count("3.png") for line in result.stderr.strip().splitlines()] == [1]
    for i in (0, 1, 2, 4, 5):
        expected = np.asarray(Image.new("L", (6, 4), 40 * i).convert("RGB"), np.float32) / 255 * TINT
        got = np.asarray(Image.open(tmp_path / "out" / f"{i}.png"), np.float32) / 255
        assert np.abs(got - expected).max() <= 1 / 255 + 1e-6


def test_threads_share_the_real_model_safely(tmp_path: Path) -> None:
    # The built-in model from several threads at once gives each photo its one-thread colors. PyTorch's CPU
    # kernels may split a sum differently when threads call them at once (seen on a loaded 2-core machine),
    # which moves a few pixels by one level; another photo's colors, or a half-written buffer, move far more.
    from skimage import data

    (tmp_path / "photos").mkdir()
    for name in ("chelsea", "coffee", "astronaut", "rocket"):
        photo = Image.fromarray(getattr(data, name)()).convert("L").resize((72, 48))
        photo.save(tmp_path / "photos" / f"{name}.png")
    common = ("--render-size", "64", "--format", "png")
    one = _invoke(tmp_path / "photos", "-o", tmp_path / "one", "--workers", "1", *common)
    four = _invoke(tmp_path / "photos", "-o", tmp_path / "four", "--workers", "4", *common)

    assert one.exit_code == 0 and four.exit_code == 0, one.output + four.output
    for name in ("chelsea", "coffee", "astronaut", "rocket"):
        a = np.asarray(Image.open(tmp_path / "one" / f"{name}.png"))
        b = np.asarray(Image.open(tmp_path / "four" / f"{name}.png"))
        difference = np.abs(a.astype(int) - b)
        assert a.shape == b.shape == (48, 72, 3)
        assert difference.max() <= 1 and (difference == 0).mean() >= 0.99, (name, difference.max())
        assert np.ptp(a.astype(int), axis=2).max() > 10  # really colorized, not gray


def test_ctrl_c_says_how_far_it_got_and_how_to_continue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class InterruptedColorizer(FakeColorizer):
        def __call__(self, rgb: np.ndarray, **options: Any) -> SimpleNamespace:
            if len(self.calls) == 2:
                raise KeyboardInterrupt
            return super().__call__(rgb, **options)

    monkeypatch.setattr(
        colorize_cli, "load_colorizer", lambda model, device, precision, backend: InterruptedColorizer()
    )
    for i in range(4):
        _image(tmp_path / "photos" / f"{i}.png")

    result = _invoke(tmp_path / "photos", "-o", tmp_path / "out", "--workers", "1")

    assert result.exit_code == 130
    assert "interrupted: colorized 2 of 4" in result.stderr and "run the same command again" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0.png", "1.png"]


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif"])
def test_exif_date_caption_and_dpi_are_kept_and_orientation_is_reset(
    tmp_path: Path, fake: FakeColorizer, suffix: str
) -> None:
    source = tmp_path / "scan.jpg"
    exif = Image.Exif()
    exif[0x0132] = "1952:07:04 10:00:00"  # DateTime
    exif[0x010E] = "Grandmother at the lake"  # ImageDescription
    exif[0x0112] = 6  # stored sideways: a viewer turns it 90 degrees clockwise
    Image.new("L", (8, 4), 120).save(source, exif=exif.tobytes(), dpi=(600, 600))

    result = _invoke(source, "-o", tmp_path / f"color{suffix}")

    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / f"color{suffix}") as out:
        kept = out.getexif()
        assert out.size == (4, 8)  # turned upright once, when read
        assert kept.get(0x0132) == "1952:07:04 10:00:00"
        assert kept.get(0x010E) == "Grandmother at the lake"
        assert kept.get(0x0112, 1) == 1  # so no viewer turns it again
        assert tuple(round(float(v)) for v in out.info["dpi"]) == (600, 600)


def test_a_photo_without_metadata_gets_none(tmp_path: Path, fake: FakeColorizer) -> None:
    _image(tmp_path / "plain.png")

    assert _invoke(tmp_path / "plain.png", "-o", tmp_path / "out.png").exit_code == 0

    with Image.open(tmp_path / "out.png") as out:
        assert len(out.getexif()) == 0 and "dpi" not in out.info


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--precision", "int4", "'int4' is not a precision; choose fp32, bf16-mixed, fp16-mixed or int8"),
        (
            "--device",
            "banana",
            "'banana' is not a device; choose auto, cpu, cuda, cuda:N (N a GPU's number) or mps",
        ),
    ],
)
def test_a_precision_or_device_no_backend_takes_is_a_usage_error_listing_the_valid_ones(
    tmp_path: Path, fake: FakeColorizer, option: str, value: str, expected: str
) -> None:
    result = _invoke(_image(tmp_path / "coffee.png"), "-o", tmp_path / "p.png", option, value)
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == f"Error: Invalid value for '{option}': {expected}"
    assert fake.loads == []  # type: ignore[attr-defined]


def test_a_model_refused_by_its_backend_names_the_command_line_options(tmp_path: Path) -> None:
    # The built-in model, for real: the library says backend='torch', the command says --backend torch.
    result = _invoke(
        _image(tmp_path / "a.png"), "-o", tmp_path / "out", "--backend", "onnx", "--device", "cuda"
    )
    assert result.exit_code == 1
    assert "could not load the model: the ONNX backend runs on the CPU, not 'cuda'; use --backend torch" in (
        result.output
    )
    assert "backend=" not in result.output


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_film_progress_comes_at_the_rarer_of_a_tenth_and_30_seconds() -> None:
    lines: list[str] = []
    clock = _Clock()
    progress = colorize_cli.PlainFilmProgress(lines.append, clock=clock)
    progress.update("long.mp4", 0, 10_000)
    for seconds, done in [(20, 2000), (31, 2001), (40, 2500), (70, 2600), (100, 3600)]:
        clock.now = seconds
        progress.update("long.mp4", done, 10_000)
    # 20 s: a fifth done, but under 30 s; 31 s: both; 40 s: 9 s on; 70 s: 30 s on, 6% more; 100 s: both.
    assert lines == [
        "long.mp4: 2001 of 10000 frames (20%), 64.5 frames/s, about 2:04 left",
        "long.mp4: 3600 of 10000 frames (36%), 36.0 frames/s, about 2:58 left",
    ]


def test_plain_film_progress_is_quiet_for_a_short_film_and_counts_frames_of_an_unknown_total() -> None:
    lines: list[str] = []
    clock = _Clock()
    progress = colorize_cli.PlainFilmProgress(lines.append, clock=clock)
    for done in range(0, 300, 30):  # 10 s for the whole film
        clock.now = done / 30
        progress.update("short.mp4", done, 300)
    progress.forget("short.mp4")
    progress.update("stream.mkv", 0, None)
    clock.now += 45
    progress.update("stream.mkv", 900, None)
    assert lines == ["stream.mkv: 900 frames, 20.0 frames/s"]
