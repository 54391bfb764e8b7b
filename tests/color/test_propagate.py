"""Spreading hints along lightness: exact at the hint, stopped by a strong edge, far-reaching in a flat
region, and nothing changed without hints."""

from __future__ import annotations

import numpy as np
import pytest

from polychrome.color import propagate
from polychrome.color.propagate import GridHint, propagate_hints, resolve_seams


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


def _area_averaged(dark, height: int = 64, width: int = 96, fine: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Lightness 38 where ``dark(rows, cols)`` (cell units, 0..1) holds and 69 elsewhere, area-averaged from
    ``fine`` x finer as the pipeline brings the photo's lightness to the grid (so a slanted or curved edge
    leaves a seam of in-between cells), with a little noise; and the share of each cell that is dark."""
    rows, cols = np.mgrid[0 : height * fine, 0 : width * fine] / fine
    share = dark(rows, cols).astype(np.float64).reshape(height, fine, width, fine).mean(axis=(1, 3))
    lightness = 69.0 - 31.0 * share + np.random.default_rng(0).normal(0, 0.3, share.shape)
    return lightness, share


def _reach(lightness: np.ndarray, row: float, col: float) -> np.ndarray:
    """How far a hint at ``(row, col)`` moves each cell from the model's ab toward the hint's (0..1)."""
    ab = np.zeros((2, *lightness.shape), np.float32)
    return propagate_hints(lightness, ab, [GridHint(row, col, 0.5, a=1.0, b=0.0)])[0]


@pytest.mark.parametrize(
    "name, dark",
    [
        ("slanted edge", lambda r, c: r > 20 + 0.3 * c),
        (
            "trapezoid",
            lambda r, c: (r > 12 + 0.15 * c) & (r < 56 - 0.1 * c) & (c > 14 + 0.2 * r) & (c < 86 - 0.3 * r),
        ),
        ("disc", lambda r, c: np.hypot(r - 32, c - 48) < 22),
        # A soft edge, as a larger render size sees a slightly blurred photo: some 4 cells of in-between.
        ("soft disc", lambda r, c: np.clip((22 - np.hypot(r - 32, c - 48)) / 3.5 + 0.5, 0, 1)),
        ("triangle", lambda r, c: (r < 58) & (c > 48 - 0.55 * (r - 6)) & (c < 48 + 0.55 * (r - 6))),
    ],
)
def test_a_hint_fills_its_shape_and_does_not_walk_along_a_slanted_or_curved_edge(name, dark) -> None:
    lightness, share = _area_averaged(dark)
    rows, cols = np.nonzero(share == 1)
    row, col = rows[len(rows) // 2], cols[len(cols) // 2]
    assert share[row, col] == 1
    reach = _reach(lightness, row, col)
    # The whole shape takes the hint (the mixed cells of its outline excepted)...
    assert reach[share == 1].min() > 0.9, name
    # ...and the ground keeps the model's colors: area averaging's seam along the outline is no path.
    assert reach[share == 0].max() < 0.02, name


def test_a_hint_in_blotchy_texture_spreads_as_far_as_its_lightness_allows(monkeypatch) -> None:
    """Texture is not mistaken for seams: through blotches of +-6 L (about two cells across) a hint goes
    as far as with the grid's lightness taken as it is."""
    rng = np.random.default_rng(1)
    kernel = np.exp(-0.5 * (np.arange(-6, 7) / 2.0) ** 2)
    noise = rng.normal(0, 1, (64, 96))
    for axis in (0, 1):
        noise = np.apply_along_axis(lambda line: np.convolve(line, kernel, mode="same"), axis, noise)
    lightness = 50 + 6 * noise / noise.std()
    reach = _reach(lightness, 32, 48)
    monkeypatch.setattr(propagate, "resolve_seams", lambda lightness, sigma: lightness)
    as_it_is = _reach(lightness, 32, 48)
    assert as_it_is.mean() > 0.85 and abs(reach.mean() - as_it_is.mean()) < 0.02


def test_resolving_seams_leaves_an_upright_step_and_steep_shading_alone() -> None:
    step = np.repeat(np.where(np.arange(20) < 10, 30.0, 70.0)[None], 12, axis=0)
    assert np.array_equal(resolve_seams(step), step)
    rows, cols = np.mgrid[0:12, 0:30]
    for slope in (1.5, 2.1, 2.5, 3.0, 3.5):
        for ramp in (20 + slope * cols, 20 + slope * 0.7 * (rows + cols)):
            assert np.array_equal(resolve_seams(ramp), ramp), slope
