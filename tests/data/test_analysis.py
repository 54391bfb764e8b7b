"""PCA and color statistics of a collection, and the palette / pca / stats commands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from polychrome.cli import app
from polychrome.data.analysis import (
    ab_histogram_picture,
    colorfulness_values,
    components_for,
    histogram_picture,
    pca_reconstruct,
    pca_spectrum,
)
from polychrome.data.cache import build_cache
from polychrome.data.prepare import PrepareOptions
from polychrome.data.sources import iter_records


def test_pca_of_images_varying_along_one_direction_needs_one_component() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(60, 190, (8, 8, 3))
    direction = rng.normal(0, 1, (8, 8, 3)).clip(-2, 2)  # base +- 15 * 2 stays inside 0..255, so no clipping
    images = np.stack([base + t * direction for t in np.linspace(-15, 15, 12)]).round().astype(np.uint8)
    retained, vh, mean = pca_spectrum(images, size=8)
    assert float(retained[0]) > 0.99 and components_for(retained, 0.98) == 1
    recon = pca_reconstruct(images, vh, mean, len(retained), size=8)
    assert np.abs(recon.astype(int) - images.astype(int)).max() <= 1


def test_components_for_counts_to_the_target() -> None:
    retained = torch.tensor([0.5, 0.8, 0.95, 0.99, 1.0], dtype=torch.float64)
    assert components_for(retained, 0.8) == 2 and components_for(retained, 0.98) == 4


def test_colorfulness_and_pictures() -> None:
    gray = np.full((3, 8, 8, 3), 128, np.uint8)
    assert np.allclose(colorfulness_values(gray), 0)
    red = np.zeros((1, 8, 8, 3), np.uint8)
    red[..., 0] = 255
    picture = ab_histogram_picture(red, size=21)
    bright = np.unravel_index(picture.sum(axis=2).argmax(), picture.shape[:2])
    assert bright[1] > 10 and bright[0] < 10  # red sits at a > 0, b > 0: right of centre, above it
    assert picture[10, 0].sum() == 0  # nothing at a = -110
    bars = histogram_picture(np.array([0.0, 1.0, 1.0]), bins=2, height=10, bar=3)
    assert bars.shape == (10, 6, 3) and bars[:, 3:5].min() == 255 and bars[0, 0].max() == 0


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(1)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    out = tmp_path_factory.mktemp("cache") / "c.h5"
    return build_cache(iter_records([str(folder)]), out, PrepareOptions(32, 16), sources=[str(folder)])[0]


def test_palette_pca_and_stats_commands(cache: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["palette", str(cache), "-o", str(tmp_path / "p.json"), "-k", "5", "--pixels", "500"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p.json").is_file() and Image.open(tmp_path / "p.png").size == (160, 32)
    again = runner.invoke(app, ["palette", str(cache), "-o", str(tmp_path / "p.json")])
    assert again.exit_code == 1 and "--overwrite" in again.stderr

    result = runner.invoke(app, ["pca", str(cache), "-o", str(tmp_path / "pca.png"), "--size", "8"])
    assert result.exit_code == 0, result.output
    assert "of the variance needs" in result.stdout and Image.open(tmp_path / "pca.png").size == (64, 16)
    wrong = runner.invoke(app, ["pca", str(cache), "-o", str(tmp_path / "pca.txt")])
    assert wrong.exit_code == 1 and "name it .png" in wrong.stderr and not (tmp_path / "pca.txt").exists()

    result = runner.invoke(app, ["stats", str(cache), "-o", str(tmp_path / "stats")])
    assert result.exit_code == 0, result.output
    assert "12 images of 32x32" in result.stdout and "colorfulness: mean" in result.stdout
    assert (tmp_path / "stats" / "ab_histogram.png").is_file()

    missing = runner.invoke(app, ["stats", str(tmp_path / "none.h5")])
    assert missing.exit_code == 1 and "polychrome prepare" in missing.stderr
