"""The regression recipe: the network's ab compared with the truth's (:class:`AbRegressionLoss`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from polychrome.models import ColorizationModel
from polychrome.train.config import LossConfig, TrainConfig
from polychrome.train.inputs import supervised_loss
from polychrome.train.losses import AbRegressionLoss
from polychrome.train.recipes import Update


def pixel_loss(loss: LossConfig) -> AbRegressionLoss:
    """The recipe's regression loss (``loss.regression``, ``loss.colorfulness``, ``loss.space``)."""
    return AbRegressionLoss(
        loss.regression,
        colorfulness=loss.colorfulness,
        colorfulness_per=loss.colorfulness_per,
        space=loss.space,
    )


class RegressionRecipe:
    def __init__(
        self,
        model: ColorizationModel,
        forward: Callable[[torch.Tensor], torch.Tensor],
        config: TrainConfig,
        autocast: torch.dtype | None,
    ) -> None:
        self.model, self.forward, self.autocast = model, forward, autocast
        self.channels_last = config.channels_last
        self.criterion = pixel_loss(config.loss)

    def step(
        self, rgb: torch.Tensor, step: int, update: Update, check_finite: Callable[[torch.Tensor], None]
    ) -> dict[str, torch.Tensor]:
        loss = supervised_loss(
            self.model, self.criterion, rgb, self.channels_last, self.autocast, self.forward
        )
        update(loss)
        return {"loss": loss.detach()}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def exports(self) -> dict[str, Any]:
        return {}
