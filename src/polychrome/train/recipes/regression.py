"""The regression recipe: the network's ab compared with the truth's (:class:`AbRegressionLoss`)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from polychrome.models import ColorizationModel
from polychrome.train.config import LossConfig, TrainConfig
from polychrome.train.losses import AbRegressionLoss
from polychrome.train.recipes import SupervisedRecipe


def pixel_loss(loss: LossConfig) -> AbRegressionLoss:
    """The recipe's regression loss (``loss.regression``, ``loss.colorfulness``, ``loss.space``)."""
    return AbRegressionLoss(
        loss.regression,
        colorfulness=loss.colorfulness,
        colorfulness_per=loss.colorfulness_per,
        space=loss.space,
    )


class RegressionRecipe(SupervisedRecipe):
    def __init__(
        self,
        model: ColorizationModel,
        forward: Callable[[torch.Tensor], torch.Tensor],
        config: TrainConfig,
        autocast: torch.dtype | None,
    ) -> None:
        super().__init__(model, forward, config, autocast, pixel_loss(config.loss))
