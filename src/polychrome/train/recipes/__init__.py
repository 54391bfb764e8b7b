"""The training recipes: what one training step computes, for each way of predicting ab.

A recipe differs from another only in its step (Lightning Fabric's way): the loop draws a batch of RGB crops
and calls ``recipe.step(rgb, step, update, check_finite)``; the recipe computes its losses and calls
``update(loss)``, which the loop provides (the agreement between processes on whether to stop, backward,
clipping and the optimizer step of the model), and ``check_finite(loss)`` on any other loss it steps on.

- :mod:`.regression`: ab regressed directly (L1, L2 or smooth L1, optionally held to the truth's
  colorfulness); a model that takes color hints is shown hints drawn from the truth
  (:mod:`polychrome.train.hints`);
- :mod:`.classification`: a distribution over ab bins, rebalanced cross-entropy against soft-encoded targets,
  with class priors measured on the training data;
- :mod:`.adversarial`: either of them as the generator, pre-trained alone (or loaded trained), then beside a
  PatchGAN critic (WGAN-GP).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch

from polychrome.models import ColorizationModel
from polychrome.train.config import TrainConfig
from polychrome.train.inputs import supervised_loss

Update = Callable[[torch.Tensor], None]


class NonFiniteLoss(RuntimeError):
    """A loss became NaN or infinite; the run stops before anything the bad step touched is saved."""


class Recipe(Protocol):
    def step(
        self, rgb: torch.Tensor, step: int, update: Update, check_finite: Callable[[torch.Tensor], None]
    ) -> dict[str, torch.Tensor]:
        """Train on one batch of RGB crops ``(B, 3, H, W)``; returns its losses (``loss`` first)."""

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint must keep besides the model and its optimizer."""

    def exports(self) -> dict[str, Any]:
        """What the exported model's config.json keeps of the recipe (class priors)."""


def compiled(function: Callable, config: TrainConfig) -> Callable:
    """``function`` compiled as ``compile``, ``compile_backend`` and ``compile_mode`` ask (or as it is):
    compiling the whole loss (Lab conversion, network, criterion) fuses many small kernels into few."""
    if not config.compile:
        return function
    mode = None if config.compile_mode == "default" else config.compile_mode
    return torch.compile(function, backend=config.compile_backend, mode=mode)


class SupervisedRecipe:
    """A network trained on one loss of its output against the truth's ab: regression and classification
    differ only in the criterion (and what it keeps). The loss of a batch is one function of the RGB crops
    (Lab conversion, network, criterion), compiled as a whole when the config asks."""

    def __init__(
        self,
        model: ColorizationModel,
        forward: Callable[[torch.Tensor], torch.Tensor],
        config: TrainConfig,
        autocast: torch.dtype | None,
        criterion: torch.nn.Module,
    ) -> None:
        self.model, self.forward, self.autocast = model, forward, autocast
        self.criterion = criterion
        channels_last = config.channels_last

        def loss_of(rgb: torch.Tensor, hints: torch.Tensor | None = None) -> torch.Tensor:
            return supervised_loss(model, criterion, rgb, channels_last, autocast, forward, hints)

        self.loss_of = compiled(loss_of, config)

    def step(
        self, rgb: torch.Tensor, step: int, update: Update, check_finite: Callable[[torch.Tensor], None]
    ) -> dict[str, torch.Tensor]:
        loss = self.loss_of(rgb)
        update(loss)
        return {"loss": loss.detach()}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore after construction (a recipe that keeps state takes it when it is built)."""

    def exports(self) -> dict[str, Any]:
        return {}


def build_recipe(
    model: ColorizationModel,
    forward: Callable[[torch.Tensor], torch.Tensor],
    config: TrainConfig,
    device: torch.device,
    autocast: torch.dtype | None,
    collections: list,
    state: dict[str, Any] | None = None,
) -> Recipe:
    """The recipe of ``config`` for ``model`` (``forward`` runs it, wrapped by DDP or compile); ``state`` is
    a checkpoint's :meth:`Recipe.state_dict` when the run resumes."""
    from polychrome.train.recipes.adversarial import AdversarialRecipe
    from polychrome.train.recipes.classification import ClassificationRecipe
    from polychrome.train.recipes.regression import RegressionRecipe

    recipe: Any
    if model.head_type == "classification":
        priors = None if state is None else state.get("priors")
        recipe = ClassificationRecipe(model, forward, config, device, autocast, collections, priors)
    else:
        recipe = RegressionRecipe(model, forward, config, autocast)
    if config.adversarial is not None:
        recipe = AdversarialRecipe(recipe, config, device)
    if state is not None:
        recipe.load_state_dict(state)
    return recipe
