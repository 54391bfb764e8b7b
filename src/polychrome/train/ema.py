"""The exponential moving average of the weights that training validates and exports.

Its decay ramps up over the first updates, ``min(decay, (1 + n) / (10 + n))`` after ``n`` of them (as in
TensorFlow's and timm's EMA): with a fixed 0.999 a run of a few hundred steps would export an average that is
still mostly its random start. After about ``10 / (1 - decay)`` updates the ramp no longer matters.
"""

from __future__ import annotations

import torch
from torch.optim.swa_utils import AveragedModel


def ema_decay_at(decay: float, updates: int) -> float:
    """The decay used for the update that follows ``updates`` earlier ones."""
    return min(decay, (1 + updates) / (10 + updates))


def build_ema(model: torch.nn.Module, decay: float) -> AveragedModel:
    """An averaged copy of ``model`` (buffers averaged too) with the ramped decay; its count of updates is
    part of its state dict, so a resumed run continues the same ramp."""

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], updates: torch.Tensor) -> None:
        d = ema_decay_at(decay, int(updates))
        if averaged[0].is_floating_point() or averaged[0].is_complex():
            torch._foreach_lerp_(averaged, current, 1 - d)
        else:
            for a, c in zip(averaged, current, strict=True):
                a.copy_(a * d + c * (1 - d))

    return AveragedModel(model, multi_avg_fn=update, use_buffers=True)
