"""`polychrome example` with a tiny saved model (the built-in one is covered by test_builtin_model)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from polychrome.cli import app
from polychrome.cli.example import SAMPLE_PHOTOS
from polychrome.models import create_model, save_pretrained


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return save_pretrained(create_model("effunet_tiny_reg").eval(), tmp_path_factory.mktemp("model"))


def test_example_writes_gray_and_colorized_and_a_second_run_changes_nothing(
    model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "example-colorized.png"
    args = ["example", "--photo", "coffee", "-o", str(out), "--model", str(model_dir)]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    gray = Image.open(tmp_path / "example-gray.png")
    colorized = Image.open(out)
    assert gray.size == colorized.size == (600, 400)
    assert len(set(gray.getpixel((300, 200)))) == 1  # R = G = B
    stamp = out.stat().st_mtime_ns

    second = CliRunner().invoke(app, args)
    assert second.exit_code == 0 and "already exists" in second.output
    assert out.stat().st_mtime_ns == stamp


def test_unknown_sample_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["example", "--photo", "nope", "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 2 and "unknown sample" in result.output


@pytest.mark.parametrize("name", SAMPLE_PHOTOS)
def test_every_offered_sample_is_a_color_photo_the_installed_scikit_image_has(name: str) -> None:
    from skimage import data

    photo = getattr(data, name)()
    assert photo.ndim == 3 and photo.shape[2] == 3 and min(photo.shape[:2]) >= 256


def test_version_flag() -> None:
    from polychrome import __version__

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"polychrome {__version__}"
