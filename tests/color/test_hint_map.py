"""The hint map: squares' mean colors read from the truth, and squares painted into a map."""

from __future__ import annotations

import pytest
import torch

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
