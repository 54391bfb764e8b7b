"""The adversarial recipe: a PatchGAN critic trained by WGAN-GP beside the generator, after pre-training.

The generator is any regression model. For its first ``pretrain_steps`` it trains alone on the recipe's
pixel loss (the regression recipe's step). Then, for each batch, the critic takes ``critic_steps`` updates
(Wasserstein loss + gradient penalty) on real ab against the generator's current ab, and the generator takes
``generator_steps`` updates on ``l1_weight * pixel loss + adversarial loss`` (the seed trains it twice per
batch). The critic sees L and ab at the generator's output resolution. The gradient penalty is computed in
fp32: its second-order gradients are what underflow first in low precision.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from polychrome.models import ColorizationModel
from polychrome.models._registry import create_critic
from polychrome.models.base import AB_RANGE
from polychrome.models.patchgan import critic_input
from polychrome.train.config import TrainConfig
from polychrome.train.inputs import lightness_and_target
from polychrome.train.losses import gradient_penalty, wgan_critic_loss, wgan_generator_loss
from polychrome.train.recipes import Update, compiled
from polychrome.train.recipes.regression import RegressionRecipe


class AdversarialRecipe:
    """The critic, its optimizer, and the two kinds of update of one adversarial step."""

    def __init__(
        self,
        model: ColorizationModel,
        forward: Callable[[torch.Tensor], torch.Tensor],
        config: TrainConfig,
        device: torch.device,
        autocast: torch.dtype | None,
    ) -> None:
        self.config = c = config.adversarial
        assert c is not None
        self.pretraining = RegressionRecipe(model, forward, config, autocast)
        self.model, self.autocast = model, autocast
        self.forward = compiled(forward, config)
        self.channels_last = config.channels_last
        self.pixel_loss = self.pretraining.criterion  # the generator keeps the recipe's pixel loss
        self.critic = create_critic(c.critic, **c.critic_args).to(device).train()
        o = c.critic_optim
        self.optimizer = torch.optim.Adam(
            self.critic.parameters(), lr=o.lr, betas=o.betas, weight_decay=o.weight_decay
        )

    def state_dict(self) -> dict[str, Any]:
        return {"critic": self.critic.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.critic.load_state_dict(state["critic"])
        self.optimizer.load_state_dict(state["optimizer"])

    def exports(self) -> dict[str, Any]:
        return {}

    def step(
        self, rgb: torch.Tensor, step: int, update: Update, check_finite: Callable[[torch.Tensor], None]
    ) -> dict[str, torch.Tensor]:
        """Pre-training's step, or critic updates then generator updates; returns the last losses."""
        if step < self.config.pretrain_steps:
            return self.pretraining.step(rgb, step, update, check_finite)
        c, autocast = self.config, self.autocast
        lightness, target_ab, seen_lightness = lightness_and_target(
            rgb, self.model.output_stride, self.channels_last
        )
        real = critic_input(seen_lightness, target_ab)
        device_type = rgb.device.type

        def generate() -> torch.Tensor:
            with torch.autocast(device_type, dtype=autocast, enabled=autocast is not None):
                return self.forward(lightness)

        self.critic.requires_grad_(True)
        for _ in range(c.critic_steps):
            with torch.no_grad():
                fake = critic_input(seen_lightness, generate().float() * AB_RANGE)
            with torch.autocast(device_type, dtype=autocast, enabled=autocast is not None):
                wasserstein = wgan_critic_loss(self.critic(real), self.critic(fake))
            penalty = gradient_penalty(self.critic, real, fake, c.gp_lambda)
            critic_loss = wasserstein + penalty
            check_finite(critic_loss)
            self.optimizer.zero_grad(set_to_none=True)
            critic_loss.backward()
            self.optimizer.step()

        self.critic.requires_grad_(False)  # the generator's loss needs the critic's input gradients only
        for _ in range(c.generator_steps):
            raw = generate()
            l1 = self.pixel_loss(raw, target_ab, seen_lightness)
            with torch.autocast(device_type, dtype=autocast, enabled=autocast is not None):
                adversarial = wgan_generator_loss(
                    self.critic(critic_input(seen_lightness, raw.float() * AB_RANGE))
                )
            loss = c.l1_weight * l1 + adversarial
            update(loss)
        self.critic.requires_grad_(True)
        return {
            "loss": loss.detach(),
            "loss_l1": l1.detach(),
            "loss_adversarial": adversarial.detach(),
            "loss_critic": wasserstein.detach(),
            "gradient_penalty": penalty.detach(),
        }
