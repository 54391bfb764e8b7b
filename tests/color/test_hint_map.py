"""The hint map: squares' mean colors read from the truth, and squares painted into a map, by training's
PyTorch painter and by the colorizer's numpy one alike."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from polychrome.color import hint_map_np
from polychrome.color.hint_map import HintSquares, paint_hints, patch_means


def _squares(*rows: tuple[int, int, int, int]) -> HintSquares:
    return HintSquares(*(torch.tensor(column, dtype=torch.long) for column in zip(*rows, strict=True)))


def test_patch_means_are_the_squares_means() -> None:
    ab = torch.randn(2, 2, 12, 10, generator=torch.Generator().manual_seed(0)) * 40
    squares = _squares((0, 0, 0, 1), (1, 3, 4, 5), (0, 11, 9, 1), (1, 2, 1, 9))

    means = patch_means(ab, squares)

    for i, (photo, top, left, size) in enumerate(zip(*squares, strict=True)):
        expected = ab[photo, :, top : top + size, left : left + size].double().mean(dim=(1, 2))
        torch.testing.assert_close(means[i].double(), expected, atol=1e-4, rtol=0)
    assert torch.equal(means[0], ab[0, :, 0, 0])  # a 1-pixel square is its pixel, exactly


def test_a_square_outside_the_map_is_refused_for_patch_means() -> None:
    with pytest.raises(ValueError, match="inside"):
        patch_means(torch.zeros(1, 2, 8, 8), _squares((0, 5, 5, 4)))
    with pytest.raises(ValueError, match="inside"):
        patch_means(torch.zeros(1, 2, 8, 8), _squares((1, 0, 0, 1)))


def test_painted_squares_hold_their_colors_the_later_over_the_earlier_and_are_cut_at_the_edge() -> None:
    squares = _squares((0, 1, 1, 3), (0, 2, 2, 3), (1, -2, 6, 4))
    colors = torch.tensor([[10.0, -20.0], [30.0, 5.0], [-7.0, 8.0]])

    hint_map = paint_hints((2, 8, 8), squares, colors)

    assert hint_map.shape == (2, 3, 8, 8)
    assert hint_map[0, :, 1, 1].tolist() == [10.0, -20.0, 1.0]
    assert hint_map[0, :, 2, 2].tolist() == [30.0, 5.0, 1.0]  # in both squares: the later one
    assert hint_map[0, 2].sum() == 9 + 9 - 4
    assert hint_map[1, 2].sum() == 2 * 2  # rows -2..1 and columns 6..9, cut to rows 0..1 and columns 6..7
    assert hint_map[1, :, 1, 7].tolist() == [-7.0, 8.0, 1.0]
    assert not hint_map[:, :2][hint_map[:, 2:].expand(-1, 2, -1, -1) == 0].any()  # nothing outside


def test_no_squares_is_the_all_zero_map() -> None:
    none = HintSquares(*(torch.zeros(0, dtype=torch.long),) * 4)
    assert not paint_hints((1, 4, 4), none, torch.zeros(0, 2)).any()
    assert patch_means(torch.ones(1, 2, 4, 4), none).shape == (0, 2)


def test_the_numpy_painter_paints_as_the_training_painter() -> None:
    rng = np.random.default_rng(0)
    count, height, width = 40, 13, 17
    # Overlapping squares, some cut at every edge, a few wholly outside.
    top, left = rng.integers(-6, height + 2, count), rng.integers(-6, width + 2, count)
    size = rng.integers(1, 8, count)
    colors = rng.normal(0, 40, (count, 2))

    painted = hint_map_np.paint_hints(height, width, top, left, size, colors)
    squares = HintSquares(torch.zeros(count, dtype=torch.long), *map(torch.from_numpy, (top, left, size)))
    expected = paint_hints((1, height, width), squares, torch.from_numpy(colors).float())[0]

    assert painted.dtype == np.float32 and 0 < painted[2].sum() < height * width
    np.testing.assert_array_equal(painted, expected.numpy())


def test_the_numpy_painter_refuses_colors_that_do_not_match_the_squares() -> None:
    one = np.array([0])
    with pytest.raises(ValueError, match=r"colors must be \(N, 2\) for 1 squares"):
        hint_map_np.paint_hints(4, 4, one, one, one + 1, np.zeros((2, 2)))
    assert not hint_map_np.paint_hints(4, 4, one[:0], one[:0], one[:0], np.zeros((0, 2))).any()
