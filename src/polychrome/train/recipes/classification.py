"""The classification recipe: a distribution over ab bins, trained with rebalanced cross-entropy
(:class:`~polychrome.train.losses.RebalancedCrossEntropy`) whose class weights come from the training data's
own smoothed ab distribution (its class priors), measured once and kept in checkpoints and the exported
model."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from polychrome.color.lab import rgb_to_lab
from polychrome.color.quantize import AbBins, ab_bins, bin_histogram, rebalance_weights, smooth_priors
from polychrome.models import ColorizationModel
from polychrome.train.config import TrainConfig
from polychrome.train.data import Collection
from polychrome.train.losses import RebalancedCrossEntropy
from polychrome.train.recipes import SupervisedRecipe

logger = logging.getLogger(__name__)


def measure_priors(collections: list[Collection], grid: AbBins, stride: int, sigma: float) -> torch.Tensor:
    """Smoothed ab-bin distribution of the training images, at the model's output resolution.

    When every collection comes from a cache prepared on the same bins, the counts it stored are used
    instead of measuring again (they are counted at full resolution rather than after the model's
    ``stride`` pooling, which makes a negligible difference to smoothed priors).
    """

    def same_bins(c: Collection) -> bool:
        return c.ab_centers is not None and torch.equal(c.ab_centers.float(), grid.centers.float().cpu())

    if all(c.ab_counts is not None and same_bins(c) for c in collections):
        logger.info("class priors from the prepared caches' color statistics")
        return smooth_priors(sum(c.ab_counts.double() for c in collections), grid.centers, sigma)
    counts = torch.zeros(grid.num_bins, dtype=torch.float64)
    for coll in collections:
        for start in range(0, len(coll.train), 256):
            rgb = coll.train[start : start + 256].permute(0, 3, 1, 2).float() / 255.0
            ab = F.avg_pool2d(rgb_to_lab(rgb)[:, 1:], stride)
            counts += bin_histogram(grid.encode_hard(ab), grid.num_bins).cpu()
    return smooth_priors(counts, grid.centers, sigma)


class ClassificationRecipe(SupervisedRecipe):
    def __init__(
        self,
        model: ColorizationModel,
        forward: Callable[[torch.Tensor], torch.Tensor],
        config: TrainConfig,
        device: torch.device,
        autocast: torch.dtype | None,
        collections: list[Collection],
        priors: torch.Tensor | None = None,
    ) -> None:
        loss = config.loss
        grid = ab_bins(model.ab_centers.cpu(), model.init_args.get("ab_grid"))
        if priors is None:
            priors = measure_priors(collections, grid, model.output_stride, loss.prior_sigma)
        self.priors = priors
        criterion = RebalancedCrossEntropy(
            grid,
            rebalance_weights(priors, loss.rebalance_lambda),
            k=loss.soft_k,
            sigma=loss.soft_sigma,
            decoded_l1=loss.decoded_l1,
            decode_temperature=float(model.init_args.get("decode_temperature", 0.38)),
        ).to(device)
        # Build the nearest-bin look-up tables now, so that a compiled loss is traced once, in one graph.
        grid.nearest_bins(torch.zeros(1, 2, 1, 1, device=device), loss.soft_k)
        super().__init__(model, forward, config, autocast, criterion)

    def state_dict(self) -> dict[str, Any]:
        return {"priors": self.priors}

    def exports(self) -> dict[str, Any]:
        return {"class_priors": self.priors.tolist()}
