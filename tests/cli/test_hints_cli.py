"""`polychrome colorize --hint / --hints`: a hinted color lands on the photo; bad hints are one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner, Result

import polychrome.cli.colorize as colorize_cli
from polychrome.cli import app
from polychrome.models import create_model
from polychrome.pipelines.image import Colorizer


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    colorizer = Colorizer(create_model("effunet_tiny_reg"))
    monkeypatch.setattr(
        colorize_cli, "load_colorizer", lambda model, device, precision, backend="auto": colorizer
    )


def _photo(path: Path) -> Path:
    pixels = np.full((48, 64), 90, np.uint8)
    pixels[:, 32:] = 200
    Image.fromarray(pixels).save(path)
    return path


def _invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(app, ["colorize", *map(str, args)])


def _redness(path: Path, x: int, y: int) -> float:
    r, g, b = np.asarray(Image.open(path).convert("RGB"), dtype=float)[y, x]
    return r - (g + b) / 2


@pytest.mark.usefixtures("tiny")
def test_a_hint_and_a_hints_file_redden_their_point(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "photo.png")
    plain = _invoke(photo, "-o", tmp_path / "plain.png")
    assert plain.exit_code == 0, plain.output
    hinted = _invoke(photo, "-o", tmp_path / "hinted.png", "--hint", "10,20,2=#c01010")
    assert hinted.exit_code == 0, hinted.output
    assert _redness(tmp_path / "hinted.png", 10, 20) > _redness(tmp_path / "plain.png", 10, 20) + 40

    hints = tmp_path / "hints.json"
    hints.write_text(json.dumps([{"x": 0.15, "y": 0.4, "color": "#c01010", "radius": 2}]))
    from_file = _invoke(photo, "-o", tmp_path / "from-file.png", "--hints", hints)
    assert from_file.exit_code == 0, from_file.output
    assert _redness(tmp_path / "from-file.png", 10, 20) > _redness(tmp_path / "plain.png", 10, 20) + 40


@pytest.mark.usefixtures("tiny")
@pytest.mark.parametrize(
    ("hint", "code", "message"),
    [
        ("10,20=#nothex", 2, "is not a color"),
        ("10,20", 2, "write it as X,Y=#rrggbb"),
        ("500,20=red", 1, "photo.png: hint 500,20=red: outside the 64x48 photo"),
        ("500,20,3=red", 1, "photo.png: hint 500,20,3=red: outside the 64x48 photo"),
        ("120,80,-3=red", 2, "hint 120,80,-3=red: the radius must be 0 to 65536 pixels, got -3"),
    ],
)
def test_bad_hints_are_one_line(tmp_path: Path, hint: str, code: int, message: str) -> None:
    photo = _photo(tmp_path / "photo.png")
    result = _invoke(photo, "-o", tmp_path / "out.png", "--hint", hint)
    assert result.exit_code == code
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "out.png").exists()


@pytest.mark.usefixtures("tiny")
def test_hints_for_a_folder_are_refused(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    _photo(tmp_path / "in" / "a.png")
    _photo(tmp_path / "in" / "b.png")
    result = _invoke(tmp_path / "in", "-o", tmp_path / "out", "--hint", "1,1=red")
    assert result.exit_code == 2 and "give one photo" in " ".join(result.output.split())
    (tmp_path / "in" / "b.png").unlink()  # a folder of one photo is still a folder
    result = _invoke(tmp_path / "in", "-o", tmp_path / "out", "--hint", "1,1=red")
    assert result.exit_code == 2 and "give one photo" in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()
