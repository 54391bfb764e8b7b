"""The adversarial recipe: a PatchGAN critic trained by WGAN-GP beside the generator, after L1 pre-training.

The generator is any regression model. For each batch the critic takes ``critic_steps`` updates (Wasserstein
loss + gradient penalty) on real ab against the generator's current ab, then the generator takes
``generator_steps`` updates on ``l1_weight * L1 + adversarial loss`` (the seed trains it twice per batch).
The critic sees L and ab at the generator's output resolution. The gradient penalty is computed in fp32:
its second-order gradients are what underflow first in low precision.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from polychrome.models import ColorizationModel
from polychrome.models._registry import create_critic
from polychrome.models.base import AB_RANGE
from polychrome.models.patchgan import critic_input
from polychrome.train.config import AdversarialConfig
from polychrome.train.inputs import lightness_and_target
from polychrome.train.losses import AbRegressionLoss, gradient_penalty, wgan_critic_loss, wgan_generator_loss

Update = Callable[[torch.Tensor], None]  # backward + step of the generator's optimizer for a loss


class Adversary:
    """The critic, its optimizer, and the two kinds of update of one adversarial step."""

    def __init__(
        self, config: AdversarialConfig, device: torch.device, pixel_loss: AbRegressionLoss | None = None
    ) -> None:
        """``pixel_loss`` is the recipe's regression loss (``loss.regression``, ``loss.colorfulness``), the
        same one the generator pre-trains on; default plain L1, the seed's."""
        self.config = config
        self.critic = create_critic(config.critic, **config.critic_args).to(device).train()
        o = config.critic_optim
        self.optimizer = torch.optim.Adam(
            self.critic.parameters(), lr=o.lr, betas=o.betas, weight_decay=o.weight_decay
        )
        self.pixel_loss = pixel_loss or AbRegressionLoss("l1")

    def active(self, step: int) -> bool:
        return step >= self.config.pretrain_steps

    def state_dict(self) -> dict[str, Any]:
        return {"critic": self.critic.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.critic.load_state_dict(state["critic"])
        self.optimizer.load_state_dict(state["optimizer"])

    def step(
        self,
        model: ColorizationModel,
        forward: Callable[[torch.Tensor], torch.Tensor],
        rgb: torch.Tensor,
        update_generator: Update,
        check_finite: Callable[[torch.Tensor], None],
        autocast: torch.dtype | None,
        channels_last: bool,
    ) -> dict[str, torch.Tensor]:
        """Critic updates then generator updates on one batch of RGB crops; returns the last losses."""
        c = self.config
        lightness, target_ab, seen_lightness = lightness_and_target(rgb, model.output_stride, channels_last)
        real = critic_input(seen_lightness, target_ab)
        device_type = rgb.device.type

        def generate() -> torch.Tensor:
            with torch.autocast(device_type, dtype=autocast, enabled=autocast is not None):
                return forward(lightness)

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
            check_finite(loss)
            update_generator(loss)
        self.critic.requires_grad_(True)
        return {
            "loss": loss.detach(),
            "loss_l1": l1.detach(),
            "loss_adversarial": adversarial.detach(),
            "loss_critic": wasserstein.detach(),
            "gradient_penalty": penalty.detach(),
        }
