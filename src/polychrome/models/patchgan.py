"""The PatchGAN critic of the adversarial family (Isola et al. 2017, as a WGAN-GP critic).

It scores overlapping patches of a Lab image (about 70x70 pixels each with the default four blocks) rather
than the whole image: color plausibility is local, and a patch critic has few parameters and works at any
image size. Each block is a 4x4 conv, instance norm (not on the first block) and leaky ReLU 0.2; the first
``len(widths) - 1`` blocks halve the resolution, the last keeps it, and a final 4x4 conv gives one raw score
per patch, with no sigmoid: under WGAN the score is a critic's value, not a probability. Instance norm keeps
each image's scores independent of the rest of its batch, which the gradient penalty assumes (Gulrajani et
al. 2017 advise against batch norm in the critic). Conv weights start from N(0, 0.02), biases from 0.

The critic sees L and ab concatenated and normalised to about -1..1 (:func:`critic_input`), the units in
which WGAN-GP's target gradient norm of 1 (and lambda 10) were chosen.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from polychrome.models._registry import register_critic
from polychrome.models.base import AB_RANGE

PATCHGAN_WIDTHS = (64, 128, 256, 512)
INIT_STD = 0.02


def critic_input(lightness: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """The critic's input ``(B, 3, H, W)``: L ``(B, 1, H, W)`` in 0..100 and ab ``(B, 2, H, W)`` in Lab units,
    as (L / 50 - 1, a / 110, b / 110)."""
    if lightness.shape[1] != 1 or ab.shape[1] != 2 or lightness.shape[-2:] != ab.shape[-2:]:
        raise ValueError(
            f"expected L (B, 1, H, W) and ab (B, 2, H, W), got {tuple(lightness.shape)}, {tuple(ab.shape)}"
        )
    return torch.cat((lightness / 50.0 - 1.0, ab / AB_RANGE), dim=1)


class PatchGANCritic(nn.Module):
    """Patch scores ``(B, 1, h, w)`` of normalised Lab images ``(B, 3, H, W)`` (see :func:`critic_input`).

    Args:
        widths: channels of the blocks; all but the last halve the resolution.
        in_channels: 3 (L and ab).
    """

    def __init__(self, widths: tuple[int, ...] = PATCHGAN_WIDTHS, in_channels: int = 3) -> None:
        super().__init__()
        if len(widths) < 2:
            raise ValueError(f"a PatchGAN critic needs at least two blocks, got widths {widths}")
        layers: list[nn.Module] = []
        cin = in_channels
        for i, width in enumerate(widths):
            stride = 2 if i < len(widths) - 1 else 1
            # A bias before instance norm is subtracted again with the mean: only the first conv has one.
            layers.append(nn.Conv2d(cin, width, 4, stride=stride, padding=1, bias=i == 0))
            if i > 0:
                layers.append(nn.InstanceNorm2d(width))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            cin = width
        layers.append(nn.Conv2d(cin, 1, 4, stride=1, padding=1))
        self.blocks = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, INIT_STD)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        self.architecture = ""
        self.init_args: dict[str, Any] = {"widths": list(widths), "in_channels": in_channels}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


def _build(architecture: str, **kwargs: Any) -> PatchGANCritic:
    critic = PatchGANCritic(**kwargs)
    critic.architecture = architecture
    return critic


@register_critic
def patchgan(**kwargs: Any) -> PatchGANCritic:
    """pix2pix's 70x70 PatchGAN: blocks of 64, 128, 256 (stride 2) and 512 (stride 1) channels."""
    return _build("patchgan", **kwargs)


@register_critic
def patchgan_tiny(**kwargs: Any) -> PatchGANCritic:
    """Three blocks of 8-16 channels, for tests."""
    return _build("patchgan_tiny", **{"widths": (8, 16, 16), **kwargs})
