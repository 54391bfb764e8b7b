"""The hint map in numpy: the twin of :func:`polychrome.color.hint_map.paint_hints` for the install without
PyTorch, where a model exported with a hint input colors on ONNX Runtime.

It paints one photo's map ``(3, H, W)`` (the colorizer gives every photo of a batch the same hints) with the
same rule as training's painter: each square filled with its a and b and marked in the mask, cut to the map,
a later square over an earlier one (tests/color/test_hint_map.py holds the two equal).

Example:
    >>> hint_map = paint_hints(8, 8, np.array([2]), np.array([3]), np.array([3]), np.array([[40.0, 0.0]]))
    >>> hint_map[:, 3, 4].tolist()
    [40.0, 0.0, 1.0]
"""

from __future__ import annotations

import numpy as np

from polychrome.color.constants import HINT_CHANNELS


def paint_hints(
    height: int, width: int, top: np.ndarray, left: np.ndarray, size: np.ndarray, colors: np.ndarray
) -> np.ndarray:
    """The hint map ``(3, height, width)`` float32 with ``N`` squares painted: ``top``, ``left`` (may lie
    outside the map: the square is cut to it) and ``size`` (>= 1) integer ``(N,)`` in pixels, ``colors``
    ``(N, 2)`` in Lab units. Where squares overlap, the later one holds (as a user's later click does)."""
    count = len(size)
    if len(top) != count or len(left) != count:
        raise ValueError(f"top, left and size must be of one length, got {len(top)}, {len(left)}, {count}")
    if np.shape(colors) != (count, 2):
        raise ValueError(f"colors must be (N, 2) for {count} squares, got {np.shape(colors)}")
    hint_map = np.zeros((HINT_CHANNELS, height, width), np.float32)
    # In order, each over the last: the later square wins wherever two overlap.
    for row, col, side, (a, b) in zip(top.tolist(), left.tolist(), size.tolist(), colors, strict=True):
        rows = slice(min(max(row, 0), height), min(max(row + side, 0), height))
        cols = slice(min(max(col, 0), width), min(max(col + side, 0), width))
        hint_map[:, rows, cols] = np.array([a, b, 1.0], np.float32)[:, None, None]
    return hint_map
