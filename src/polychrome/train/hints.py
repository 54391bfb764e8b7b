"""Color hints drawn from the truth, as a training step shows them to a hint-conditioned model (Zhang et al.
2017): a random number of squares of random size at random places, each holding the mean ab of the true
colors under it (:class:`~polychrome.train.config.HintSampling` says how many and how large).

The draws are made on the host from a generator of the step (:func:`~polychrome.train.data.step_generator`,
a stream of its own), so a run's hints, like its batches, depend only on ``(seed, step, rank)`` and a
resumed run sees the same ones.

Example:
    >>> gen = torch.Generator().manual_seed(0)
    >>> squares = draw_hint_squares(4, 32, 32, gen, HintSampling())
    >>> bool((squares.top + squares.size <= 32).all())
    True
"""

from __future__ import annotations

import math

import torch

from polychrome.color.hint_map import HintSquares, paint_hints, patch_means
from polychrome.color.lab import rgb_to_lab
from polychrome.train.config import HintSampling
from polychrome.train.data import step_generator

HINT_STREAM = 1  # the step generator's stream for hints (the batch's crops are stream 0)


def hint_counts(batch: int, gen: torch.Generator, sampling: HintSampling) -> torch.Tensor:
    """How many hints each of ``batch`` photos gets, int64 ``(batch,)``: geometric on 0, 1, 2...
    (``P(n) = p (1 - p)^n``) by inversion, cut at ``max_points``, and 0 for a ``none_share`` of photos."""
    uniform = torch.rand(batch, generator=gen, dtype=torch.float64)
    none = torch.rand(batch, generator=gen) < sampling.none_share
    if sampling.points_p >= 1:
        counts = torch.zeros(batch, dtype=torch.long)
    else:
        # P(n >= k) = (1 - p)^k: n is the number of times 1 - p fits into a uniform draw in (0, 1].
        counts = torch.floor(torch.log1p(-uniform) / math.log1p(-sampling.points_p)).long()
    return torch.where(none, 0, counts.clamp(max=sampling.max_points))


def draw_hint_squares(
    batch: int, height: int, width: int, gen: torch.Generator, sampling: HintSampling
) -> HintSquares:
    """The hint squares of a batch of ``batch`` photos of ``height`` x ``width`` pixels, on the CPU: per
    photo :func:`hint_counts` of them, each of side uniform in 1..``max_patch`` (at most the photo's
    shorter side) and placed uniformly where it fits; photo by photo, in order."""
    counts = hint_counts(batch, gen, sampling)
    total = int(counts.sum())
    photo = torch.repeat_interleave(torch.arange(batch), counts)
    largest = min(sampling.max_patch, height, width)
    size = torch.randint(1, largest + 1, (total,), generator=gen)
    top = (torch.rand(total, generator=gen, dtype=torch.float64) * (height - size + 1)).long()
    left = (torch.rand(total, generator=gen, dtype=torch.float64) * (width - size + 1)).long()
    return HintSquares(photo, top, left, size)


def hints_from_truth(rgb: torch.Tensor, squares: HintSquares) -> torch.Tensor:
    """The hint map ``(B, 3, H, W)`` of ``squares`` colored by the true ab of RGB photos ``(B, 3, H, W)``
    in 0..1 (each square its mean ab), on their device."""
    batch, _, height, width = rgb.shape
    with torch.no_grad():
        ab = rgb_to_lab(rgb.float())[:, 1:]
        squares = squares.to(rgb.device)
        return paint_hints((batch, height, width), squares, patch_means(ab, squares))


class HintSampler:
    """The hints of each training step: ``sampler(rgb, step)`` is the hint map of the batch ``rgb``."""

    def __init__(self, sampling: HintSampling, seed: int, rank: int = 0) -> None:
        self.sampling, self.seed, self.rank = sampling, seed, rank

    def __call__(self, rgb: torch.Tensor, step: int) -> torch.Tensor:
        gen = step_generator(self.seed, step, self.rank, stream=HINT_STREAM)
        batch, _, height, width = rgb.shape
        return hints_from_truth(rgb, draw_hint_squares(batch, height, width, gen, self.sampling))
