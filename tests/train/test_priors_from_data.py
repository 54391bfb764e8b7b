"""Class priors are measured on the training photos themselves: solid-colored photos in known shares."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from polychrome.color.lab import rgb_to_lab
from polychrome.color.quantize import AbGrid
from polychrome.data.cache import color_statistics
from polychrome.train.config import DataConfig
from polychrome.train.data import Collection
from polychrome.train.recipes.classification import measure_priors

RED, BLUE = (200, 40, 30), (30, 60, 200)


def _photos(colors: list[tuple[int, int, int]], size: int = 16) -> np.ndarray:
    return np.stack([np.full((size, size, 3), c, np.uint8) for c in colors])


def _bin_of(color: tuple[int, int, int], grid: AbGrid) -> int:
    rgb = torch.tensor(color, dtype=torch.float32).view(1, 3, 1, 1) / 255
    return int(grid.encode_hard(rgb_to_lab(rgb)[:, 1:]).flatten()[0])


def _mass_near(priors: torch.Tensor, grid: AbGrid, center: int, radius: float = 20.0) -> float:
    near = (grid.centers - grid.centers[center]).norm(dim=1) <= radius
    return float(priors[near].sum())


@pytest.fixture(scope="module")
def grid() -> AbGrid:
    return AbGrid.default()


def test_measure_priors_follows_the_training_photos_colors(grid: AbGrid) -> None:
    photos = torch.from_numpy(_photos([RED, RED, RED, BLUE]))
    collection = Collection(DataConfig(sources=("c",), crop_size=8), photos, photos[:1], "")

    priors = measure_priors([collection], grid, stride=4, sigma=5.0)

    red, blue = _bin_of(RED, grid), _bin_of(BLUE, grid)
    assert priors.sum() == pytest.approx(1.0)
    assert int(priors.argmax()) == red
    assert _mass_near(priors, grid, red) == pytest.approx(0.75, abs=0.02)
    assert _mass_near(priors, grid, blue) == pytest.approx(0.25, abs=0.02)


def test_color_statistics_counts_every_pixel_in_its_bin(grid: AbGrid) -> None:
    stats = color_statistics(_photos([BLUE, BLUE, RED]), grid)

    red, blue = _bin_of(RED, grid), _bin_of(BLUE, grid)
    counts = stats["ab_counts"]
    assert counts[blue] == 2 * 16 * 16 and counts[red] == 16 * 16 and counts.sum() == 3 * 16 * 16
    priors = torch.from_numpy(stats["priors"])
    assert int(priors.argmax()) == blue
    assert _mass_near(priors, grid, blue) == pytest.approx(2 / 3, abs=0.02)
    # The rarer color weighs more: rebalancing favours what the data has less of.
    assert stats["rebalance_weights"][red] > stats["rebalance_weights"][blue]
