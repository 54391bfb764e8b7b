"""K-means palettes in the ab plane."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from polychrome.color.lab import rgb_to_lab
from polychrome.color.palette import (
    as_palette,
    fit_palette,
    kmeans,
    load_palette,
    palette_swatches,
    sample_ab,
    save_palette,
)
from polychrome.color.quantize import AbPalette


def _blobs() -> tuple[torch.Tensor, torch.Tensor]:
    truth = torch.tensor([[-40.0, 30.0], [20.0, -50.0], [50.0, 50.0]])
    gen = torch.Generator().manual_seed(0)
    points = torch.cat([c + torch.randn(200, 2, generator=gen) for c in truth])
    return points, truth


def test_kmeans_finds_separated_clusters_deterministically() -> None:
    points, truth = _blobs()
    centers, inertia = kmeans(points, 3, seed=1)
    found = centers[torch.cdist(truth, centers).argmin(dim=1)]
    torch.testing.assert_close(found, truth, atol=0.3, rtol=0)
    assert 1.0 < inertia < 3.0  # two unit-variance dimensions
    again, _ = kmeans(points, 3, seed=1)
    assert torch.equal(centers, again)
    assert kmeans(points, 1)[1] > inertia


def test_kmeans_rejects_impossible_k() -> None:
    with pytest.raises(ValueError, match="k must be"):
        kmeans(torch.zeros(3, 2), 4)


def test_sample_ab_reads_the_images_colors() -> None:
    images = np.zeros((2, 4, 4, 3), np.uint8)
    images[:] = (200, 40, 90)
    expected = rgb_to_lab(torch.tensor([200, 40, 90]).float().div(255).reshape(1, 3, 1, 1))[0, 1:, 0, 0]
    ab = sample_ab(images, 50)
    assert ab.shape == (50, 2)
    torch.testing.assert_close(ab, expected.expand(50, 2), atol=1e-4, rtol=0)


def test_fit_palette_is_sorted_by_hue_and_swatches_show_its_colors() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    centers, _ = fit_palette(images, k=6, pixels=2000)
    hue = torch.atan2(centers[:, 1], centers[:, 0])
    assert centers.shape == (6, 2) and bool((hue[1:] >= hue[:-1]).all())
    picture = palette_swatches(centers, swatch=4)
    assert picture.shape == (4, 24, 3) and picture.dtype == np.uint8
    ab = rgb_to_lab(torch.from_numpy(picture[2, 2::4].astype(np.float32) / 255).T.reshape(1, 3, 1, 6))[
        0, 1:, 0
    ].T
    torch.testing.assert_close(ab, centers, atol=2.5, rtol=0)  # 8-bit rounding; these centres are in gamut


def test_palette_file_round_trip(tmp_path) -> None:
    centers = torch.tensor([[-40.25, 30.5], [20.0, -50.125], [1e-3, 7.0]])
    path = save_palette(tmp_path / "p.json", centers, seed=3, inertia=1.5)
    record = json.loads(path.read_text())
    assert record["k"] == 3 and record["seed"] == 3 and record["inertia"] == 1.5
    assert torch.equal(load_palette(path), centers)
    assert torch.equal(AbPalette.from_file(path).centers, centers)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"k": 2}', "ab_centers"),
        ('{"ab_centers": [[1, 2]]}', "at least two"),
        ('{"ab_centers": "red"}', "pairs"),
        ("[[1, 2], [3, 4]]", "ab_centers"),
        ('{"ab_centers": [[1, 2, 3], [4, 5, 6]]}', "pairs"),
        ('{"ab_centers": [[1, 2], [3]]}', "pairs"),
        ('{"ab_centers": [[1, 2], [3, NaN]]}', "finite"),
    ],
)
def test_bad_palette_files_raise(tmp_path, text: str, message: str) -> None:
    (tmp_path / "p.json").write_text(text)
    with pytest.raises(ValueError, match=message):
        load_palette(tmp_path / "p.json")
    with pytest.raises(FileNotFoundError, match="polychrome palette"):
        load_palette(tmp_path / "missing.json")


def test_as_palette_takes_a_file_pairs_or_a_tensor(tmp_path) -> None:
    centers = torch.tensor([[-40.25, 30.5], [20.0, -50.125]])
    save_palette(tmp_path / "p.json", centers)
    for given in (tmp_path / "p.json", str(tmp_path / "p.json"), centers.tolist(), centers):
        assert torch.equal(as_palette(given), centers)
    with pytest.raises(ValueError, match="at least two"):
        as_palette([[1.0, 2.0]])
