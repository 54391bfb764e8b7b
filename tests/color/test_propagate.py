"""Spreading hints along lightness: exact at the hint, stopped by a strong edge, far-reaching in a flat
region, and nothing changed without hints."""

from __future__ import annotations

import numpy as np
import pytest

from polychrome.color.propagate import GridHint, propagate_hints


def _two_halves(height: int = 48, width: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """Lightness 30 on the left half and 80 on the right (a strong edge), with a little noise; the model's
    ab a flat (5, -3) everywhere."""
    lightness = np.full((height, width), 30.0)
    lightness[:, width // 2 :] = 80.0
    lightness += np.random.default_rng(0).normal(0, 0.5, lightness.shape)
    ab = np.empty((2, height, width), np.float32)
    ab[0], ab[1] = 5.0, -3.0
    return lightness, ab


def test_without_hints_the_models_colors_stay() -> None:
    lightness, ab = _two_halves()
    out = propagate_hints(lightness, ab, [])
    assert np.array_equal(out, ab) and out is not ab


def test_a_hint_holds_its_color_fills_its_region_and_stops_at_a_strong_edge() -> None:
    lightness, ab = _two_halves()
    out = propagate_hints(lightness, ab, [GridHint(row=10, col=8, radius=1, a=60, b=40)])
    assert np.allclose(out[:, 10, 8], [60, 40], atol=0.5)
    # Across its half (30 cells away) the hint still dominates the model's color...
    far = out[:, 40, 36]
    assert far[0] > 5 + 0.6 * (60 - 5) and far[1] > -3 + 0.6 * (40 + 3)
    # ...and across the edge the model's colors are left as they were.
    assert np.allclose(out[:, :, 44:], ab[:, :, 44:], atol=0.05)


def test_two_hints_on_either_side_of_an_edge_each_color_their_own_side() -> None:
    lightness, ab = _two_halves()
    hints = [GridHint(20, 10, 0, a=50, b=0), GridHint(20, 70, 0, a=-40, b=30)]
    out = propagate_hints(lightness, ab, hints)
    # Each side's cells move at least 80% of the way from the model's color to their own side's hint.
    for (row, col), hint in (((30, 20), hints[0]), ((30, 60), hints[1])):
        start, target = np.array([5.0, -3.0]), np.array([hint.a, hint.b])
        assert np.linalg.norm(out[:, row, col] - target) < 0.2 * np.linalg.norm(start - target)


def test_mismatched_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="must agree"):
        propagate_hints(np.zeros((4, 5)), np.zeros((2, 5, 4)), [GridHint(0, 0, 0, 1, 1)])
