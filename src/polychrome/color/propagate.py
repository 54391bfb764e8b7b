"""Spreading a few known colors through a photo along its lightness, edge-aware (Levin, Lischinski and Weiss
2004, "Colorization using Optimization", in the form of a graph Laplacian with a prior).

Given the lightness ``L`` on a grid, the colors ``ab0`` a model predicted there, and a few cells whose ab is
known (the user's hints), :func:`propagate_hints` finds how far each hint reaches and what it says there by
minimising, for ``alpha`` (a hint's reach, 1 at the hint) and ``beta`` (its color, weighted by that reach)::

    sum over neighbours r~s of w_rs (x_r - x_s)^2  +  prior * sum_r x_r^2  +  weight * sum_hints (x_h - t_h)^2

with ``w_rs = exp(-(L_r - L_s)^2 / (2 sigma^2))``: colors flow freely between cells of similar lightness and
hardly across a strong edge; ``prior`` lets a hint fade with distance (over about ``1 / sqrt(prior)``
cells inside a flat region). The result is ``(1 - alpha) * ab0 + beta``: the model's colors where no hint
reaches, the hints' colors where they do. The same sparse system serves the three right-hand sides (1, a,
b), solved matrix-free by conjugate gradients in numpy, so hints need neither torch nor scipy.

The lightness comes area-averaged onto the grid, so a sharp slanted or curved edge leaves a seam of cells of
in-between lightness that changes only gradually along the edge: neighbouring seam cells are alike, and a
hint's color would walk along the seam to the other side (the prior is far too weak to stop any path of
real conductance). The weights are therefore taken from the lightness with its seams resolved
(:func:`resolve_seams`): a cell whose neighbourhood is two flat sides a strong step apart takes the
lightness of the side it is nearer to, as the photo at full resolution has it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# How strongly a hint holds its cells (against neighbour weights of at most 1 each): the hinted color is
# reproduced there to within a fraction of a Lab unit.
HINT_WEIGHT = 1000.0

# How a seam is told from texture and shading (resolve_seams), fixed on synthetic shapes, textures and
# ramps alone (tests/color/test_propagate.py). A 7x7 window, so that a soft edge's seam, two or three cells
# wide at larger render sizes, still has flat sides in view; about a fifth of its cells on each side (8 to
# 11 stopped every synthetic shape: fewer takes texture's extremes for two sides, more misses the seams at
# a shape's corners and tips); a step of over 6 sigma, because a ramp with that many cells within sigma of
# its lowest climbs at most sigma a cell, 6 sigma across the window (4 sigma made steep shading into
# stairs that stopped the color); several passes, as a wide seam resolves from its sides inward.
SEAM_RADIUS = 3
SEAM_SIDE = 10
SEAM_STEP = 6.0
SEAM_PASSES = 4

# The cells around a hint's point that hold its color where they share its lightness: all that bilinear
# upsampling reads for a point in the hint's cell (the four nearest cell centres, within sqrt(2)).
POINT_CELLS = 1.5

# How far a hint carries in a flat region (a multiple of the grid's longer side), and where the solve stops;
# the stop sets how far a hint reaches in practice (propagate_hints), and a converged solve with a prior
# strong enough to keep hints local failed to fill their regions (BENCHMARKS section 14).
REACH = 3.0
TOLERANCE = 1e-5


@dataclass(frozen=True)
class GridHint:
    """A hint placed on the grid: the cells within ``radius`` (in cells) of ``(row, col)`` should have ab
    ``(a, b)``."""

    row: float
    col: float
    radius: float
    a: float
    b: float


def propagate_hints(
    lightness: np.ndarray,
    ab: np.ndarray,
    hints: list[GridHint],
    sigma: float = 3.0,
    reach: float | None = None,
    tolerance: float | None = None,
    max_iterations: int = 2000,
) -> np.ndarray:
    """``ab`` ``(2, H, W)`` with the hints spread over ``lightness`` ``(H, W)`` (L in 0..100); a copy.

    Args:
        sigma: the lightness difference (L units) at which neighbours' colors start to part.
        reach: how far a hint's color carries inside a flat region in the system, as a multiple of the
            grid's longer side (the prior weight is ``1 / (reach * side)^2``; :data:`REACH` if left out).
        tolerance: the relative residual at which the solve stops (:data:`TOLERANCE` if left out). With
            the default reach the stop, more than the prior, is what keeps a hint local: solved to its end
            the system carries a few hints over nearly all of a photo (BENCHMARKS section 14).
    """
    if lightness.ndim != 2 or ab.shape != (2, *lightness.shape):
        raise ValueError(f"lightness (H, W) and ab (2, H, W) must agree, got {lightness.shape}, {ab.shape}")
    if not hints:
        return ab.copy()
    reach = REACH if reach is None else reach
    tolerance = TOLERANCE if tolerance is None else tolerance
    lightness = resolve_seams(lightness.astype(np.float64), sigma)
    prior = 1.0 / (reach * max(lightness.shape)) ** 2
    # Edge weights to the right and downward neighbours; the Laplacian is built from them.
    right = np.exp(-np.square(np.diff(lightness, axis=1)) / (2 * sigma**2))
    down = np.exp(-np.square(np.diff(lightness, axis=0)) / (2 * sigma**2))
    held, targets = _hint_cells(lightness, hints, sigma)
    diagonal = prior + HINT_WEIGHT * held
    diagonal[:, :-1] += right
    diagonal[:, 1:] += right
    diagonal[:-1, :] += down
    diagonal[1:, :] += down

    def apply(x: np.ndarray) -> np.ndarray:  # x (k, H, W) -> A x
        out = diagonal * x
        out[:, :, :-1] -= right * x[:, :, 1:]
        out[:, :, 1:] -= right * x[:, :, :-1]
        out[:, :-1, :] -= down * x[:, 1:, :]
        out[:, 1:, :] -= down * x[:, :-1, :]
        return out

    rhs = HINT_WEIGHT * held * np.stack([np.ones_like(lightness), targets[0], targets[1]])
    alpha, beta_a, beta_b = _conjugate_gradients(apply, rhs, diagonal, tolerance, max_iterations)
    base = ab.astype(np.float64)
    return ((1.0 - alpha) * base + np.stack([beta_a, beta_b])).astype(ab.dtype)


def resolve_seams(lightness: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    """``lightness`` ``(H, W)`` (L in 0..100) with each seam cell set to the lightness of the side it is
    nearer to; a copy, float64.

    A seam cell's 7x7 neighbourhood holds two flat sides, at least ``SEAM_SIDE`` cells within ``sigma`` of
    its darkest value and as many within ``sigma`` of its lightest, more than ``SEAM_STEP * sigma`` apart:
    area averaging's mix of the two along a sharp edge. Texture rarely has so many cells at both extremes,
    and a ramp that has them climbs too little across the window, so both stay as they are.

    >>> edge = np.repeat([[30.0, 30.0, 30.0, 45.0, 80.0, 80.0, 80.0]], 7, axis=0)
    >>> resolve_seams(edge)[0].tolist()
    [30.0, 30.0, 30.0, 30.0, 80.0, 80.0, 80.0]
    """
    out = np.array(lightness, dtype=np.float64)
    r = SEAM_RADIUS
    size = 2 * r + 1
    # Edge padding leaves a window's extremes as they are; the mask keeps padded cells out of the counts.
    real = np.lib.stride_tricks.sliding_window_view(np.pad(np.ones(out.shape, bool), r), (size, size))
    for _ in range(SEAM_PASSES):
        padded = np.pad(out, r, mode="edge")
        # The extremes row-wise then column-wise (a window's min is separable); the side counts only where
        # the step is strong enough to matter, a small share of the cells.
        darkest = _sliding(_sliding(padded, size, 0, np.minimum), size, 1, np.minimum)
        lightest = _sliding(_sliding(padded, size, 0, np.maximum), size, 1, np.maximum)
        rows, cols = np.nonzero(lightest - darkest > SEAM_STEP * sigma)
        if rows.size == 0:
            break
        window = np.lib.stride_tricks.sliding_window_view(padded, (size, size))[rows, cols]
        inside = real[rows, cols]
        low, high = darkest[rows, cols, None, None], lightest[rows, cols, None, None]
        dark_side = (inside & (window <= low + sigma)).sum(axis=(1, 2))
        light_side = (inside & (window >= high - sigma)).sum(axis=(1, 2))
        seam = (dark_side >= SEAM_SIDE) & (light_side >= SEAM_SIDE)
        rows, cols, low, high = rows[seam], cols[seam], low[seam, 0, 0], high[seam, 0, 0]
        value = out[rows, cols]
        out[rows, cols] = np.where(value - low < high - value, low, high)
    return out


def _sliding(padded: np.ndarray, size: int, axis: int, reduce) -> np.ndarray:
    """``reduce`` (``np.minimum`` or ``np.maximum``) over windows of ``size`` along ``axis`` of an array
    padded by ``size // 2`` at both ends of that axis."""
    lines = np.moveaxis(padded, axis, 0)
    length = lines.shape[0] - size + 1
    out = lines[:length].copy()
    for start in range(1, size):
        reduce(out, lines[start : start + length], out=out)
    return np.moveaxis(out, 0, axis)


def _hint_cells(lightness: np.ndarray, hints: list[GridHint], sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Which cells the hints hold (0..1, the share of hints covering them) and the mean target ab there."""
    height, width = lightness.shape
    rows, cols = np.mgrid[0:height, 0:width]
    count = np.zeros(lightness.shape)
    total = np.zeros((2, *lightness.shape))
    for hint in hints:
        row, col = min(max(round(hint.row), 0), height - 1), min(max(round(hint.col), 0), width - 1)
        distance = np.sqrt((rows - hint.row) ** 2 + (cols - hint.col) ** 2)
        inside = distance <= max(hint.radius, 0.5)
        # The full-resolution merge takes a point's color from the cells around it (bilinearly), so those
        # of the point's own lightness hold too: else another hint's color, spread into them, pulls the
        # point off its own. Cells across an edge are not held, so the color does not cross it.
        inside |= (distance <= POINT_CELLS) & (np.abs(lightness - lightness[row, col]) <= sigma)
        inside[row, col] = True  # at least the cell the point falls in, however small the radius
        count += inside
        total[0] += inside * hint.a
        total[1] += inside * hint.b
    held = np.minimum(count, 1.0)
    targets = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    return held, targets


def _conjugate_gradients(
    apply, rhs: np.ndarray, diagonal: np.ndarray, tolerance: float, max_iterations: int
) -> np.ndarray:
    """Solve ``A x = rhs`` for each of the right-hand sides ``rhs[k]`` at once (A symmetric positive
    definite), with the diagonal as preconditioner."""
    x = np.zeros_like(rhs)
    residual = rhs.copy()
    z = residual / diagonal
    direction = z.copy()
    rz = np.einsum("khw,khw->k", residual, z)
    scale = np.maximum(np.sqrt(np.einsum("khw,khw->k", rhs, rhs)), 1e-30)
    for _ in range(max_iterations):
        if np.all(np.sqrt(np.einsum("khw,khw->k", residual, residual)) <= tolerance * scale):
            break
        ad = apply(direction)
        step = rz / np.maximum(np.einsum("khw,khw->k", direction, ad), 1e-300)
        x += step[:, None, None] * direction
        residual -= step[:, None, None] * ad
        z = residual / diagonal
        rz_next = np.einsum("khw,khw->k", residual, z)
        direction = z + (rz_next / np.maximum(rz, 1e-300))[:, None, None] * direction
        rz = rz_next
    return x
