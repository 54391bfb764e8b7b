"""K-means palettes in the ab plane."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from polychrome.color.lab import rgb_to_lab
from polychrome.color.palette import fit_palette, kmeans, palette_swatches, sample_ab


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
