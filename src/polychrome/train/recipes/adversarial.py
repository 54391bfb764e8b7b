"""The adversarial recipe: a PatchGAN critic trained by WGAN-GP beside the generator, after pre-training.

The generator is any model with its supervised recipe (regression: the pixel loss; classification: rebalanced
cross-entropy). For its first ``pretrain_steps`` it trains alone on that recipe's step (zero when it starts
from a trained model). Then, for each batch, the critic takes ``critic_steps`` updates (Wasserstein loss +
gradient penalty) on real ab against the generator's current ab, and the generator takes ``generator_steps``
updates on ``supervised_weight * supervised loss + adversarial loss`` (the seed trains it twice per batch).

The critic sees what a user would see: L with the generator's ab at its output resolution, decoded from a
classification model's logits by the model's own decoding (annealed mean by default; differentiable, so the
critic's gradient reaches the logits). The gradient penalty is computed in fp32: its second-order gradients
are what underflow first in low precision.
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
from polychrome.train.recipes import SupervisedRecipe, Update, compiled


def shown_ab(model: ColorizationModel, output: torch.Tensor) -> torch.Tensor:
    """The ab in Lab units that the network's raw ``output`` shows: decoded logits, or scaled regression."""
    if model.head_type == "classification":
        return model.decode_logits(output.float())
    return output.float() * AB_RANGE


class AdversarialRecipe:
    """The critic, its optimizer, and the two kinds of update of an adversarial step around ``supervised``."""

    def __init__(self, supervised: SupervisedRecipe, config: TrainConfig, device: torch.device) -> None:
        self.config = c = config.adversarial
        assert c is not None
        self.supervised = supervised
        self.model, self.autocast = supervised.model, supervised.autocast
        self.forward = compiled(supervised.forward, config)  # the critic's steps need the network alone
        self.channels_last = config.channels_last
        self.critic = create_critic(c.critic, **c.critic_args).to(device).train()
        o = c.critic_optim
        self.optimizer = torch.optim.Adam(
            self.critic.parameters(), lr=o.lr, betas=o.betas, weight_decay=o.weight_decay
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            **self.supervised.state_dict(),
            "critic": self.critic.state_dict(),
            "optimizer": self.optimizer.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.supervised.load_state_dict(state)
        self.critic.load_state_dict(state["critic"])
        self.optimizer.load_state_dict(state["optimizer"])

    def exports(self) -> dict[str, Any]:
        return self.supervised.exports()

    def step(
        self, rgb: torch.Tensor, step: int, update: Update, check_finite: Callable[[torch.Tensor], None]
    ) -> dict[str, torch.Tensor]:
        """Pre-training's step, or critic updates then generator updates; returns the last losses."""
        if step < self.config.pretrain_steps:
            return self.supervised.step(rgb, step, update, check_finite)
        c, autocast, model = self.config, self.autocast, self.model
        lightness, target_ab, seen_lightness = lightness_and_target(
            rgb, model.output_stride, self.channels_last
        )
        real = critic_input(seen_lightness, target_ab)
        device_type = rgb.device.type

        def generate() -> torch.Tensor:
            with torch.autocast(device_type, dtype=autocast, enabled=autocast is not None):
                return self.forward(lightness)

        self.critic.requires_grad_(True)
        for _ in range(c.critic_steps):
            with torch.no_grad():
                fake = critic_input(seen_lightness, shown_ab(model, generate()))
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
            supervised = self.supervised.criterion(raw, target_ab, seen_lightness)
            with torch.autocast(device_type, dtype=autocast, enabled=autocast is not None):
                adversarial = wgan_generator_loss(
                    self.critic(critic_input(seen_lightness, shown_ab(model, raw)))
                )
            loss = c.supervised_weight * supervised + adversarial
            update(loss)
        self.critic.requires_grad_(True)
        return {
            "loss": loss.detach(),
            "loss_supervised": supervised.detach(),
            "loss_adversarial": adversarial.detach(),
            "loss_critic": wasserstein.detach(),
            "gradient_penalty": penalty.detach(),
        }
