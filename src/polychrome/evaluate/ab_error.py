"""Zhang et al. (2016)'s per-pixel color error: the AuC of its CDF, class-rebalanced, and bin accuracy.

For every pixel the error is the Euclidean distance between predicted and true ab, in Lab units. Its CDF is
the fraction of pixels whose error is at most t, for thresholds t = 0, 1, ..., 150; the AuC is the area
under that curve (trapezoid rule) divided by 150, so 1 means every pixel is exact and a gray output scores
high (most pixels of most photos are not very colorful). The *rebalanced* CDF weights each pixel by the
inverse frequency of its true color's ab bin (grid 10, :func:`polychrome.color.quantize.in_gamut_ab_bins`)
over the evaluated photos, so every color that occurs counts equally: the CDF is the mean over occurring
bins of each bin's own CDF. *Bin accuracy* is the fraction of pixels whose predicted ab falls in the same
bin as the truth's.

The statistics accumulate batch by batch (:class:`AbErrorStats`), so a data set never has to be in memory.

Example:
    >>> truth = torch.zeros(1, 2, 1, 2)
    >>> pred = torch.tensor([[[[3.0, 0.0]], [[4.0, 0.0]]]])  # errors 5 and 0
    >>> stats = AbErrorStats()
    >>> stats.update(pred, truth).auc.tolist()  # (1/2 at t < 5, 1 from t = 5 on) -> 1 - 4.5/150/2
    [0.985]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from polychrome.color.quantize import AbGrid

MAX_THRESHOLD = 150  # Lab units, Zhang et al. 2016
BIN_GRID = 10


def error_buckets(error: torch.Tensor, max_threshold: int = MAX_THRESHOLD) -> torch.Tensor:
    """The smallest integer threshold t with ``error <= t``, or ``max_threshold + 1`` beyond the last."""
    return torch.ceil(error).clamp(max=max_threshold + 1).to(torch.int64)


def cdf_from_histogram(counts: torch.Tensor) -> torch.Tensor:
    """``(..., T + 2)`` counts of :func:`error_buckets` -> ``(..., T + 1)`` fraction with error <= t.

    Rows without any pixel give NaN.
    """
    total = counts.sum(dim=-1, keepdim=True)
    return counts[..., :-1].cumsum(dim=-1) / total


def auc(cdf: torch.Tensor) -> torch.Tensor:
    """Area under a CDF sampled at thresholds 0..T (trapezoid rule) over T: ``(..., T + 1)`` -> ``(...)``."""
    t = cdf.shape[-1] - 1
    return torch.trapezoid(cdf, dim=-1) / t


@dataclass(frozen=True)
class BatchAbError:
    """Per-image numbers of one batch, ``(B,)`` each: AuC of the plain CDF and bin accuracy."""

    auc: torch.Tensor
    bin_accuracy: torch.Tensor


class AbErrorStats:
    """Accumulates per-pixel ab errors over batches, per true ab bin, for the (rebalanced) CDF and AuC.

    Args:
        grid: the ab bins colors are classed by; by default the in-gamut bins at grid 10.
        max_threshold: the last threshold of the CDF, in Lab units.
    """

    def __init__(self, grid: AbGrid | None = None, max_threshold: int = MAX_THRESHOLD) -> None:
        self.grid = grid or AbGrid.default(BIN_GRID)
        self.max_threshold = max_threshold
        # counts[q, k]: pixels whose true bin is q and whose error bucket is k.
        self.counts = torch.zeros(self.grid.num_bins, max_threshold + 2, dtype=torch.float64)
        self.correct = 0.0
        self.pixels = 0.0

    @torch.no_grad()
    def update(
        self, pred_ab: torch.Tensor, true_ab: torch.Tensor, true_bins: torch.Tensor | None = None
    ) -> BatchAbError:
        """Add a batch of ``(B, 2, H, W)`` ab (Lab units) and return its per-image numbers.

        ``true_bins`` (``self.grid.encode_hard(true_ab)``) may be passed when several predictions are
        judged against the same truth, to find the truth's bins once.
        """
        if pred_ab.shape != true_ab.shape or pred_ab.dim() != 4 or pred_ab.shape[1] != 2:
            raise ValueError(
                f"ab must be two (B, 2, H, W) tensors of one shape, got {tuple(pred_ab.shape)} "
                f"and {tuple(true_ab.shape)}"
            )
        batch = pred_ab.shape[0]
        width = self.max_threshold + 2
        error = torch.linalg.vector_norm(pred_ab.float() - true_ab.float(), dim=1)  # (B, H, W)
        buckets = error_buckets(error, self.max_threshold)
        if true_bins is None:
            true_bins = self.grid.encode_hard(true_ab)
        same_bin = (self.grid.encode_hard(pred_ab) == true_bins).flatten(1).double().mean(dim=1)
        per_class = torch.bincount((true_bins * width + buckets).flatten(), minlength=self.counts.numel())
        self.counts += per_class.reshape(self.counts.shape).double().cpu()
        image_index = torch.arange(batch, device=error.device).view(batch, 1, 1)
        per_image = torch.bincount((image_index * width + buckets).flatten(), minlength=batch * width)
        image_auc = auc(cdf_from_histogram(per_image.reshape(batch, width).double()))
        pixels = error[0].numel()
        self.correct += float(same_bin.sum()) * pixels
        self.pixels += batch * pixels
        return BatchAbError(image_auc.cpu(), same_bin.cpu())

    def cdf(self, rebalanced: bool = False) -> torch.Tensor:
        """``(T + 1,)`` fraction of pixels with error <= t, or its mean over occurring true bins."""
        if self.pixels == 0:
            raise ValueError("no pixels were accumulated")
        if not rebalanced:
            return cdf_from_histogram(self.counts.sum(dim=0))
        occurring = self.counts.sum(dim=1) > 0
        return cdf_from_histogram(self.counts[occurring]).mean(dim=0)

    def auc(self, rebalanced: bool = False) -> float:
        return float(auc(self.cdf(rebalanced)))

    @property
    def bin_accuracy(self) -> float:
        if self.pixels == 0:
            raise ValueError("no pixels were accumulated")
        return self.correct / self.pixels
