"""The regression recipe: the network's ab compared with the truth's (:class:`AbRegressionLoss`).

A model that takes color hints (``takes_hints``) is given, at each step, hints drawn from the very truth it is
compared with (:class:`~polychrome.train.hints.HintSampler`, as ``hints`` in the config says): it learns to
use a hint where there is one and to color as the plain model where there is none."""

from __future__ import annotations

from collections.abc import Callable

import torch

from polychrome.models import ColorizationModel
from polychrome.train.config import LossConfig, TrainConfig
from polychrome.train.hints import HintSampler
from polychrome.train.losses import AbRegressionLoss
from polychrome.train.recipes import SupervisedRecipe, Update


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
        self.hints = HintSampler(config.hints, config.seed, _rank()) if model.takes_hints else None

    def step(
        self, rgb: torch.Tensor, step: int, update: Update, check_finite: Callable[[torch.Tensor], None]
    ) -> dict[str, torch.Tensor]:
        if self.hints is None:
            return super().step(rgb, step, update, check_finite)
        hints = self.hints(rgb, step)
        loss = self.loss_of(rgb, hints)
        update(loss)
        return {"loss": loss.detach(), "hinted_share": hints[:, 2].mean()}


def _rank() -> int:
    """This process's rank under torchrun (0 alone): each process draws its own hints, as its own crops."""
    distributed = torch.distributed
    return distributed.get_rank() if distributed.is_available() and distributed.is_initialized() else 0
