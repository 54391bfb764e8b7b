"""Color hints as a network input (Zhang et al. 2017's "local hints"): a map ``(B, 3, H, W)`` at the
network's input resolution holding the hinted a and b in Lab units (0 where nothing is hinted) and a 0/1
mask of the hinted pixels.

A hint is a square of the map: its photo, top row, left column and side in pixels. :func:`patch_means` reads
the squares' mean colors from a photo's true ab (how training and the hints benchmark draw hints);
:func:`paint_hints` writes squares of given colors into a map (both, and the pipeline's user hints).

Example:
    >>> ab = torch.zeros(1, 2, 8, 8); ab[:, 0] = 40.0
    >>> squares = HintSquares(*(torch.tensor([v]) for v in (0, 2, 3, 3)))
    >>> hint_map = paint_hints((1, 8, 8), squares, patch_means(ab, squares))
    >>> hint_map[0, :, 3, 4].tolist()
    [40.0, 0.0, 1.0]
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from polychrome.color.constants import HINT_CHANNELS


class HintSquares(NamedTuple):
    """``N`` squares, each field an int64 tensor ``(N,)``: the photo of the batch, the top row and left column
    of the square (may lie outside the map: the square is cut to it), and its side in pixels (>= 1)."""

    photo: torch.Tensor
    top: torch.Tensor
    left: torch.Tensor
    size: torch.Tensor

    def to(self, device: torch.device | str) -> HintSquares:
        return HintSquares(*(field.to(device) for field in self))


def patch_means(ab: torch.Tensor, squares: HintSquares) -> torch.Tensor:
    """Mean ab ``(N, 2)`` in Lab units of each square of ``ab`` ``(B, 2, H, W)``; the squares must lie inside
    it. Summed in float64 (an integral image), so a 1-pixel square gives its pixel's ab exactly."""
    if ab.dim() != 4 or ab.shape[1] != 2:
        raise ValueError(f"ab must be (B, 2, H, W), got {tuple(ab.shape)}")
    batch, _, height, width = ab.shape
    photo, top, left, size = (field.to(ab.device) for field in squares)
    if len(photo) and (
        bool((size < 1).any())
        or bool((top < 0).any() | (left < 0).any())
        or bool((top + size > height).any() | (left + size > width).any())
        or bool((photo < 0).any() | (photo >= batch).any())
    ):
        raise ValueError(f"hint squares must lie inside the {batch} x {height} x {width} ab map")
    integral = F.pad(ab.double().cumsum(-1).cumsum(-2), (1, 0, 1, 0))  # (B, 2, H + 1, W + 1)
    bottom, right = top + size, left + size

    def corner(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        return integral[photo, :, rows, cols]  # (N, 2)

    total = corner(bottom, right) - corner(top, right) - corner(bottom, left) + corner(top, left)
    return (total / (size * size)[:, None].double()).to(ab.dtype)


def paint_hints(shape: tuple[int, int, int], squares: HintSquares, colors: torch.Tensor) -> torch.Tensor:
    """The hint map ``(B, 3, H, W)`` for ``shape`` ``(B, H, W)`` with each square filled with its color
    (``colors`` ``(N, 2)``, Lab units) and marked in the mask; where squares overlap, the later one holds
    (as a user's later click does). On the colors' device and dtype."""
    batch, height, width = shape
    device, dtype = colors.device, colors.dtype
    hint_map = torch.zeros(batch, HINT_CHANNELS, height, width, device=device, dtype=dtype)
    count = len(squares.photo)
    if count == 0:
        return hint_map
    if colors.shape != (count, 2):
        raise ValueError(f"colors must be (N, 2) for {count} squares, got {tuple(colors.shape)}")
    photo, top, left, size = (field.to(device) for field in squares)
    side = int(size.max())
    span = torch.arange(side, device=device)
    rows = top[:, None, None] + span[None, :, None]  # (N, side, 1)
    cols = left[:, None, None] + span[None, None, :]  # (N, 1, side)
    inside = (
        (span[None, :, None] < size[:, None, None])
        & (span[None, None, :] < size[:, None, None])
        & (rows >= 0)
        & (rows < height)
        & (cols >= 0)
        & (cols < width)
    )
    cells = (photo[:, None, None] * height + rows) * width + cols  # (N, side, side)
    order = torch.arange(count, device=device)[:, None, None].expand_as(cells)
    # The last square covering a cell wins: a max over square numbers, which scatter takes deterministically.
    winner = torch.full((batch * height * width,), -1, device=device, dtype=torch.long)
    winner.scatter_reduce_(0, cells[inside], order[inside], reduce="amax")
    hinted = winner >= 0
    ab = colors[winner.clamp(min=0)] * hinted[:, None].to(dtype)  # (B * H * W, 2)
    hint_map[:, :2] = ab.reshape(batch, height, width, 2).permute(0, 3, 1, 2)
    hint_map[:, 2] = hinted.reshape(batch, height, width).to(dtype)
    return hint_map
