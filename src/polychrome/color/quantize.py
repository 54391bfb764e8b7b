"""Quantized ab space: the bins a classification colorizer predicts over, and its class statistics.

Zhang et al. (2016) quantize the ab plane on a grid of 10 and keep the cells that sRGB colors reach.
We derive those cells ourselves (:func:`in_gamut_ab_bins`) instead of shipping their table: every 8-bit sRGB
color is converted to Lab and the grid cell its ab falls in is kept. With a grid of 10 this gives 261 bins.
Zhang's ``pts_in_hull.npy`` has 313: all 261 of ours, plus 52 cells that lie inside the *convex hull* of the
gamut's ab footprint but that no sRGB color reaches (e.g. a = -70, b = 0). A network never sees a target
in those 52, so they only dilute the softmax; we leave them out.

Encoding is vectorised over a look-up table of the grid, so a soft encoding costs O(pixels x 25), not
O(pixels x bins). Bins need not lie on a grid: :class:`AbBins` searches any centres exactly (the colors of a
K-means palette, :class:`AbPalette`), and :func:`ab_bins` picks the fast grid search whenever it applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from polychrome.color.lab import rgb_to_lab
from polychrome.color.palette import load_palette

AB_LIMIT = 110.0  # |a|, |b| of every sRGB color is below this


@lru_cache(maxsize=8)
def _in_gamut_bins_numpy(grid: int) -> np.ndarray:
    levels = torch.arange(256, dtype=torch.float32) / 255.0
    offset = int(np.ceil(AB_LIMIT / grid))
    size = 2 * offset + 1
    reached = torch.zeros(size * size, dtype=torch.bool)
    g, b = torch.meshgrid(levels, levels, indexing="ij")
    for red in levels:  # one red level at a time keeps memory small (65,536 colors a step)
        rgb = torch.stack((torch.full_like(g, float(red)), g, b)).unsqueeze(0)
        cell = torch.round(rgb_to_lab(rgb)[0, 1:] / grid).to(torch.int64) + offset
        reached |= torch.bincount((cell[0] * size + cell[1]).reshape(-1), minlength=size * size) > 0
    index = torch.nonzero(reached).squeeze(1)
    cells = torch.stack((index // size, index % size), dim=1) - offset  # sorted by a, then b
    return cells.numpy() * grid


def in_gamut_ab_bins(grid: int = 10) -> torch.Tensor:
    """Centres of the ab grid cells reached by 8-bit sRGB colors, ``(Q, 2)`` float32 in Lab units.

    Sorted by a then b, so bin indices are stable. ``grid=10`` gives Q = 261.
    """
    if grid <= 0:
        raise ValueError(f"grid must be positive, got {grid}")
    return torch.from_numpy(_in_gamut_bins_numpy(int(grid)).astype(np.float32))


EXACT_CHUNK = 1 << 22  # distances computed at once by the exact search: (pixels x bins) <= 4 M floats


@dataclass(frozen=True)
class AbBins:
    """Any set of ab bin centres, as the classes of a classification colorizer: nearest-bin search by brute
    force, so the centres may lie anywhere (a K-means palette's do). :class:`AbGrid` is the fast special case.

    Args:
        centers: ``(Q, 2)`` bin centres in Lab units.
    """

    centers: torch.Tensor

    def __post_init__(self) -> None:
        if self.centers.dim() != 2 or self.centers.shape[1] != 2 or self.centers.shape[0] < 1:
            raise ValueError(f"centers must have shape (Q, 2) with Q >= 1, got {tuple(self.centers.shape)}")
        if not bool(torch.isfinite(self.centers).all()):
            raise ValueError("centers must be finite")

    @property
    def num_bins(self) -> int:
        return int(self.centers.shape[0])

    def _check(self, ab: torch.Tensor, k: int, most: int) -> None:
        if ab.dim() != 4 or ab.shape[1] != 2:
            raise ValueError(f"ab must have shape (B, 2, H, W), got {tuple(ab.shape)}")
        if not 1 <= k <= most:
            raise ValueError(f"k must be in 1..{most}, got {k}")

    def nearest_bins(self, ab: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The k nearest bins of each pixel.

        Args:
            ab: ``(B, 2, H, W)`` in Lab units.
            k: how many neighbours, at most the number of bins.

        Returns:
            ``(indices, sq_distances)``, each ``(B, k, H, W)``, nearest first; squared distances in Lab units.
        """
        self._check(ab, k, self.num_bins)
        return self.nearest_bins_exact(ab, k)

    def nearest_bins_exact(self, ab: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Brute force over every centre, in chunks of pixels so memory stays bounded whatever Q is.

        Squared distances are summed from coordinate differences rather than taken from ``torch.cdist``, whose
        matrix-product shortcut loses digits to cancellation (|ab|^2 ~ 1e4 in float32).
        """
        self._check(ab, k, self.num_bins)
        b, _, h, w = ab.shape
        idx, sq_dist = self._nearest_points(ab.float().permute(0, 2, 3, 1).reshape(-1, 2), k)
        reshape = lambda t: t.reshape(b, h, w, k).permute(0, 3, 1, 2)  # noqa: E731
        return reshape(idx), reshape(sq_dist)

    def _nearest_points(self, points: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices and squared distances ``(N, k)`` of the k nearest centres of float32 points ``(N, 2)``."""
        centers = self.centers.to(points.device, torch.float32)
        chunk = max(1, EXACT_CHUNK // self.num_bins)
        found = [
            torch.topk(((part[:, None, :] - centers[None]) ** 2).sum(-1), k, dim=1, largest=False)
            for part in points.split(chunk)
        ]
        if not found:  # no points
            empty = points.new_zeros(0, k)
            return empty.long(), empty
        return torch.cat([f.indices for f in found]), torch.cat([f.values for f in found])

    def encode_hard(self, ab: torch.Tensor) -> torch.Tensor:
        """Index of the nearest bin, ``(B, 2, H, W)`` -> ``(B, H, W)`` int64."""
        return self.nearest_bins(ab, 1)[0][:, 0]

    def encode_soft(self, ab: torch.Tensor, k: int = 5, sigma: float = 5.0) -> torch.Tensor:
        """Zhang et al.'s soft encoding: Gaussian weights (``sigma`` in Lab units) on the k nearest bins.

        Returns a ``(B, Q, H, W)`` distribution summing to 1 over bins.
        """
        indices, sq_dist = self.nearest_bins(ab, k)
        weights = torch.softmax(-sq_dist / (2 * sigma**2), dim=1)
        target = torch.zeros(ab.shape[0], self.num_bins, *ab.shape[2:], device=ab.device)
        return target.scatter_(1, indices, weights)


@dataclass(frozen=True)
class AbGrid(AbBins):
    """Bin centres on a regular grid of the ab plane, with look-up tables that find a color's nearest bins
    among a few candidates per pixel instead of all Q.

    Args:
        centers: ``(Q, 2)`` bin centres in Lab units, on multiples of ``grid`` (any subset of the grid works).
        grid: spacing of the regular grid the centres lie on.
    """

    grid: int = 10
    # The look-up tables per device (and k), built on first use: the loss asks for them at every step.
    _tables: dict[tuple[torch.device, int], tuple[torch.Tensor, int, int]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def default(cls, grid: int = 10) -> AbGrid:
        return cls(in_gamut_ab_bins(grid), grid)

    def _cells(self) -> torch.Tensor:
        cells = torch.round(self.centers / self.grid).to(torch.int64)
        if not torch.allclose(cells.to(self.centers.dtype) * self.grid, self.centers):
            raise ValueError("centers do not lie on the grid; use AbBins (or ab_bins) for arbitrary centres")
        return cells

    def _lookup(self, device: torch.device) -> tuple[torch.Tensor, int, int]:
        """Table mapping grid cell (ia, ib) -> bin index or -1, padded by 2 cells on every side."""
        if (device, 0) not in self._tables:
            cells = self._cells()
            offset = int(round(AB_LIMIT / self.grid)) + 2
            size = 2 * offset + 1
            table = torch.full((size, size), -1, dtype=torch.int64)
            table[cells[:, 0] + offset, cells[:, 1] + offset] = torch.arange(self.num_bins)
            self._tables[device, 0] = table.to(device), offset, size
        return self._tables[device, 0]

    def _candidates(self, device: torch.device, k: int) -> tuple[torch.Tensor, int, int]:
        """Table mapping grid cell (ia, ib) -> the bins that can be among the k nearest of a color in that
        cell (padded with -1 to the longest list): every bin whose nearest point of the cell is no further
        than the k-th smallest of the bins' furthest points. A few dozen at most, so the search is exact,
        has the same shapes for every batch and never branches on the data (``torch.compile`` keeps the
        loss in one graph)."""
        if (device, k) not in self._tables:
            self._cells()
            centers, step = self.centers.double(), float(self.grid)
            offset = int(round(AB_LIMIT / self.grid))
            size = 2 * offset + 1
            # Each cell is the square of colors that round to it, clamped to the range colors are clamped to.
            middle = (torch.arange(size, dtype=torch.float64) - offset) * step
            low, high = (middle - step / 2).clamp(min=-AB_LIMIT), (middle + step / 2).clamp(max=AB_LIMIT)

            def nearest_and_furthest(axis: int) -> tuple[torch.Tensor, torch.Tensor]:  # (size, Q) each
                c = centers[:, axis][None]
                near = torch.maximum(low[:, None] - c, c - high[:, None]).clamp(min=0)
                far = torch.maximum((c - low[:, None]).abs(), (c - high[:, None]).abs())
                return near**2, far**2

            near_a, far_a = nearest_and_furthest(0)
            near_b, far_b = nearest_and_furthest(1)
            nearest = near_a[:, None] + near_b[None]  # (size, size, Q)
            furthest = far_a[:, None] + far_b[None]
            bound = furthest.kthvalue(k, dim=-1, keepdim=True).values
            possible = nearest <= bound * (1 + 1e-9)
            width = int(possible.sum(-1).max())
            order = torch.argsort((~possible).to(torch.int8), dim=-1, stable=True)[..., :width]
            table = torch.where(possible.gather(-1, order), order, -1)
            self._tables[device, k] = table.to(device), offset, size
        return self._tables[device, k]

    def nearest_bins(self, ab: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The k nearest bins of each pixel, as :meth:`AbBins.nearest_bins` (colors beyond ``AB_LIMIT``
        are clamped to it first)."""
        self._check(ab, k, self.num_bins)
        table, offset, size = self._candidates(ab.device, k)
        ab = ab.float().clamp(-AB_LIMIT, AB_LIMIT)
        cell = (torch.round(ab / self.grid).to(torch.int64) + offset).clamp(0, size - 1)
        candidates = table[cell[:, 0], cell[:, 1]].permute(0, 3, 1, 2)  # (B, M, H, W)
        centers = self.centers.to(ab.device, torch.float32)
        safe = candidates.clamp(min=0)
        dist = (centers[safe, 0] - ab[:, 0:1]) ** 2 + (centers[safe, 1] - ab[:, 1:2]) ** 2
        dist = torch.where(candidates >= 0, dist, torch.full_like(dist, float("inf")))
        sq_dist, order = torch.topk(dist, k, dim=1, largest=False)
        return torch.gather(safe, 1, order), sq_dist

    def encode_hard(self, ab: torch.Tensor) -> torch.Tensor:
        """Index of the nearest bin, ``(B, 2, H, W)`` -> ``(B, H, W)`` int64.

        The grid point ab rounds to is the nearest of all grid points, so when it is a bin it is the nearest
        bin: one table look-up per pixel. Only pixels whose grid point is no bin (ab outside the gamut) take
        the search of :meth:`nearest_bins` (which clamps ab to ``AB_LIMIT`` first), so the answer is the same
        as that search's, some 40 times faster on photos.
        """
        self._check(ab, 1, self.num_bins)
        table, offset, size = self._lookup(ab.device)
        cell = torch.round(ab.float() / self.grid).to(torch.int64) + offset
        inside = ((cell >= 0) & (cell < size)).all(dim=1)
        cell = cell.clamp(0, size - 1)
        index = table[cell[:, 0], cell[:, 1]]
        search = ~inside | (index < 0)
        if search.any():
            points = ab.permute(0, 2, 3, 1)[search]  # (N, 2)
            index[search] = self.nearest_bins(points.T.reshape(1, 2, 1, -1), 1)[0].reshape(-1)
        return index


@dataclass(frozen=True)
class AbPalette(AbBins):
    """The colors of a K-means palette (``polychrome palette``) as classes: any centres, exact search."""

    @classmethod
    def from_file(cls, path: str | Path) -> AbPalette:
        return cls(load_palette(path))


def ab_bins(centers: torch.Tensor, grid: int | None = None) -> AbBins:
    """The fastest exact nearest-bin search for ``centers`` ``(Q, 2)``: an :class:`AbGrid` when they lie on
    multiples of ``grid``, otherwise brute force (a palette). This is how a model's ``ab_centers`` become the
    classes of its loss."""
    if grid is not None and grid > 0:
        cells = torch.round(centers / grid)
        if torch.allclose(cells * grid, centers):
            return AbGrid(centers, int(grid))
    return AbPalette(centers)


def bin_histogram(bins: torch.Tensor, num_bins: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Counts of each bin index in ``bins`` (any shape), optionally only where ``mask`` is true."""
    flat = bins.reshape(-1) if mask is None else bins[mask]
    return torch.bincount(flat.to(torch.int64), minlength=num_bins).to(torch.float64)


def smooth_priors(counts: torch.Tensor, centers: torch.Tensor, sigma: float = 5.0) -> torch.Tensor:
    """Empirical bin distribution smoothed with a Gaussian of ``sigma`` Lab units over the ab plane.

    Each bin spreads its mass to its neighbours with weights normalised per source bin, so no mass is lost
    at the gamut rim. Returns probabilities summing to 1.
    """
    if not bool((counts >= 0).all()) or float(counts.sum()) <= 0:
        raise ValueError("bin counts must be non-negative with a positive total (no pixels were counted)")
    p = counts.double() / counts.sum()
    c = centers.double()
    kernel = torch.exp(-(torch.cdist(c, c) ** 2) / (2 * sigma**2))
    kernel = kernel / kernel.sum(dim=0, keepdim=True)
    smoothed = kernel @ p
    return smoothed / smoothed.sum()


def rebalance_weights(priors: torch.Tensor, lam: float = 0.5) -> torch.Tensor:
    """Class weights w = ((1 - lam) p + lam / Q)^-1, scaled so that the expected weight E_p[w] is 1.

    ``lam = 1`` gives uniform weights (plain cross-entropy); ``lam = 0`` fully inverts the prior,
    w = 1 / (Q' p) over the Q' bins the data shows. No pixel the priors were measured on falls in a bin of
    prior 0 (which matters only at ``lam = 0``); it gets the largest weight of the others, so all stay finite.
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    if not bool((priors >= 0).all()) or float(priors.sum()) <= 0:
        raise ValueError("priors must be non-negative with a positive total")
    p = priors.double() / priors.sum()
    mix = (1.0 - lam) * p + lam / p.numel()
    seen = mix > 0
    w = torch.zeros_like(p)
    w[seen] = 1.0 / mix[seen]
    w = w / (p * w).sum()
    w[~seen] = w[seen].max()
    return w.float()
