"""Losses for the two ways of predicting ab."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from polychrome.color.decode import decode_annealed_mean
from polychrome.color.quantize import AbGrid


class RebalancedCrossEntropy(nn.Module):
    """Cross-entropy against soft-encoded targets, each pixel weighted by the rebalancing weight of its
    nearest bin (Zhang et al. 2016, eq. 2-4). With uniform weights it is plain soft cross-entropy.

    Args:
        grid: the ab bins.
        weights: ``(Q,)`` class weights (see :func:`polychrome.color.quantize.rebalance_weights`) or None.
        decoded_l1: weight of an L1 term on the annealed-mean decoding (at ``decode_temperature``); 0 is
            the plain classification loss.
    """

    def __init__(
        self,
        grid: AbGrid,
        weights: torch.Tensor | None = None,
        k: int = 5,
        sigma: float = 5.0,
        decoded_l1: float = 0.0,
        decode_temperature: float = 0.38,
    ):
        super().__init__()
        self.grid = grid
        self.k, self.sigma = k, sigma
        self.decoded_l1, self.decode_temperature = decoded_l1, decode_temperature
        self.register_buffer("weights", weights if weights is not None else torch.ones(grid.num_bins))
        self.register_buffer("centers", grid.centers.clone())

    def forward(self, logits: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            indices, sq_dist = self.grid.nearest_bins(ab, self.k)
            soft = torch.softmax(-sq_dist / (2 * self.sigma**2), dim=1)  # (B, k, H, W)
            pixel_weight = self.weights[indices[:, 0]]  # (B, H, W)
        log_p = torch.log_softmax(logits.float(), dim=1)
        # Only the k target bins carry mass, so gather them instead of building a dense (B, Q, H, W) target.
        ce = -(soft * torch.gather(log_p, 1, indices)).sum(dim=1)
        loss = (ce * pixel_weight).mean()
        if self.decoded_l1 > 0:
            # Also hold the color that will be shown (the annealed mean) close to the truth, in ~-1..1 units.
            decoded = decode_annealed_mean(logits, self.centers, self.decode_temperature)
            loss = loss + self.decoded_l1 * F.l1_loss(decoded / 110.0, ab / 110.0)
        return loss


class AbRegressionLoss(nn.Module):
    """L1, L2 or smooth-L1 between predicted and true ab, both scaled to about -1..1."""

    def __init__(self, kind: str = "l1", scale: float = 110.0):
        super().__init__()
        if kind not in ("l1", "l2", "smooth_l1"):
            raise ValueError(f"regression loss must be l1, l2 or smooth_l1, got {kind!r}")
        self.kind, self.scale = kind, scale

    def forward(self, pred: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        target = ab / self.scale
        pred = pred.float()
        if self.kind == "l1":
            return F.l1_loss(pred, target)
        if self.kind == "l2":
            return F.mse_loss(pred, target)
        return F.smooth_l1_loss(pred, target, beta=0.05)
