"""`polychrome grid`: gray | each model | truth for the first photos, laid out to look at."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from polychrome.cli import app
from polychrome.evaluate.grid import HEADER
from tests.evaluate.photos import PHOTOS, SIZE, gray_copy, small_photo


def test_a_sheet_holds_each_photo_as_gray_each_model_and_truth(
    photos_dir: Path, model_dir: Path, gray_outputs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "sheet.png"
    args = ["grid", "-m", str(model_dir), "-m", str(gray_outputs), "-d", str(photos_dir), "-o", str(out)]
    fast = ["--protocol", str(SIZE), "--size", str(SIZE), "--render-size", str(SIZE), "--columns", "2"]

    result = CliRunner().invoke(app, [*args, *fast, "--count", "3", "--workers", "1", "--device", "cpu"])

    assert result.exit_code == 0, result.output
    sheet = np.asarray(Image.open(out)).astype(int)
    strip, gap = 4 * SIZE, SIZE // 8  # gray, two models, truth
    assert sheet.shape == (HEADER + 2 * SIZE, 2 * strip + gap, 3)  # 3 photos in 2 columns: 2 rows
    names = sorted(PHOTOS)[:3]
    for i, name in enumerate(names):
        row, column = divmod(i, 2)
        top, left = HEADER + row * SIZE, column * (strip + gap)
        cell = [sheet[top : top + SIZE, left + j * SIZE : left + (j + 1) * SIZE] for j in range(4)]
        np.testing.assert_array_equal(cell[3], small_photo(name))  # the truth, as it was
        assert np.abs(cell[0] - gray_copy(small_photo(name))).max() <= 1  # the gray input
        assert np.abs(cell[2] - cell[0]).max() <= 1  # the outputs that add no color
        assert np.abs(cell[1] - cell[0]).max() > 2  # the model's colors
    assert result.stdout.strip() == f"3 photos, {2 * strip + gap}x{HEADER + 2 * SIZE}: {out}"
    again = CliRunner().invoke(app, [*args, *fast])
    assert again.exit_code == 1 and "exists; pass --overwrite" in again.stderr


def test_a_sheet_needs_photos_of_one_size(photos_dir: Path, model_dir: Path, tmp_path: Path) -> None:
    args = ["grid", "-m", str(model_dir), "-d", str(photos_dir), "-o", str(tmp_path / "s.png")]
    result = CliRunner().invoke(app, [*args, "--protocol", "native", "--device", "cpu"])
    assert result.exit_code == 1 and "needs photos of one size" in result.stderr
