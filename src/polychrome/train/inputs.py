"""What a training step feeds the network and compares with: one place for every recipe."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from polychrome.color.lab import rgb_to_lab
from polychrome.models import ColorizationModel


def lightness_and_target(
    rgb: torch.Tensor, output_stride: int, channels_last: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """From RGB crops ``(B, 3, H, W)`` in 0..1: the network's input L ``(B, 1, H, W)`` (channels-last when
    asked), and the target ab ``(B, 2, H / s, W / s)`` with its L ``(B, 1, H / s, W / s)``, average-pooled to
    the model's output stride ``s`` (the L is what an rgb-space loss merges both ab maps with)."""
    lab = rgb_to_lab(rgb)
    target = F.avg_pool2d(lab, output_stride) if output_stride > 1 else lab
    lightness = lab[:, :1]
    if channels_last:
        lightness = lightness.contiguous(memory_format=torch.channels_last)
    return lightness, target[:, 1:], target[:, :1]


def supervised_loss(
    model: ColorizationModel,
    criterion: torch.nn.Module,
    rgb: torch.Tensor,
    channels_last: bool,
    autocast: torch.dtype | None,
    forward: Callable[..., torch.Tensor] | None = None,
    hints: torch.Tensor | None = None,
) -> torch.Tensor:
    """The loss of one batch of RGB crops: L in, ab (pooled to the model's output stride) as the target.

    ``forward`` runs the network when it is wrapped (DDP, ``torch.compile``); default: ``model`` itself.
    ``hints``: the hint map ``(B, 3, H, W)`` a hint-conditioned model takes beside L.
    """
    lightness, target_ab, target_lightness = lightness_and_target(rgb, model.output_stride, channels_last)
    network = forward if forward is not None else model
    with torch.autocast(rgb.device.type, dtype=autocast, enabled=autocast is not None):
        if hints is None:
            output = network(lightness)
        else:
            if channels_last:
                hints = hints.contiguous(memory_format=torch.channels_last)
            output = network(lightness, hints)
    return criterion(output, target_ab, target_lightness)
