"""`polychrome colorize` on folders mixing photos and films, with the tiny model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import polychrome.cli.colorize as colorize_cli
from polychrome.cli import app
from polychrome.models import create_model
from polychrome.pipelines.image import Colorizer
from tests.video.clips import make_clip, read_frames


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    colorizer = Colorizer(create_model("effunet_tiny_cls"))
    monkeypatch.setattr(colorize_cli, "load_colorizer", lambda *args: colorizer)


def test_a_folder_of_photos_and_films_with_a_bad_film(tmp_path: Path, tiny: None) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.new("L", (20, 16), 120).save(inputs / "photo.png")
    times = make_clip(inputs / "film.mp4", frames=4, audio=True)
    (inputs / "broken.mkv").write_bytes(b"\x1a\x45\xdf\xa3 not really matroska")

    result = CliRunner().invoke(app, ["colorize", str(inputs), "-o", str(tmp_path / "out")])

    assert result.exit_code == 1
    assert (tmp_path / "out" / "photo.png").is_file()
    assert len(read_frames(tmp_path / "out" / "film.mp4")) == len(times)
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken.mkv" in errors[0]
    assert "colorized 2, skipped 0, failed 1" in result.output

    again = CliRunner().invoke(app, ["colorize", str(inputs / "film.mp4"), "-o", str(tmp_path / "out")])
    assert "skipped 1" in again.output  # never overwritten without --overwrite


def test_one_film_to_a_named_gif(tmp_path: Path, tiny: None) -> None:
    make_clip(tmp_path / "film.mp4", frames=3)

    result = CliRunner().invoke(
        app, ["colorize", str(tmp_path / "film.mp4"), "-o", str(tmp_path / "color.gif"), "--strength", "0"]
    )

    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "color.gif") as gif:
        assert gif.n_frames == 3


@pytest.mark.parametrize(
    ("output", "bits", "message"),
    [
        ("color.webm", "10", "cannot be written at 10 bits"),
        ("color.mp4", "9", "Invalid value for '--bit-depth': 8 or 10, not 9"),
    ],
)
def test_a_bit_depth_the_output_cannot_take_is_refused_before_any_work(
    tmp_path: Path, tiny: None, output: str, bits: str, message: str
) -> None:
    make_clip(tmp_path / "film.mp4", frames=2)

    result = CliRunner().invoke(
        app, ["colorize", str(tmp_path / "film.mp4"), "-o", str(tmp_path / output), "--bit-depth", bits]
    )

    assert result.exit_code == 2
    assert message in result.output
    assert list(tmp_path.iterdir()) == [tmp_path / "film.mp4"]


def test_without_a_terminal_a_film_reports_its_progress_in_plain_lines(
    tmp_path: Path, tiny: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # CliRunner is no terminal, as a log or a pipe is not: no bar is drawn, so lines tell the progress. Set
    # to report at every step, so the test does not depend on how long the film takes.
    monkeypatch.setattr(colorize_cli, "PLAIN_PROGRESS_SHARE", 0.0)
    monkeypatch.setattr(colorize_cli, "PLAIN_PROGRESS_SECONDS", 0.0)
    film = tmp_path / "film.mp4"
    make_clip(film, frames=24)

    result = CliRunner().invoke(app, ["colorize", str(film), "-o", str(tmp_path / "color.mp4")])

    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith(f"{film}: ")]
    assert lines, result.output
    assert all(
        re.fullmatch(rf"{re.escape(str(film))}: \d+ of 24 frames \(\d+%\), [\d.]+ frames/s.*", x)
        for x in lines
    )
    assert result.output.splitlines()[-1] == "colorized 1, skipped 0, failed 0"
