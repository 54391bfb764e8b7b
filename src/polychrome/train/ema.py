"""The exponential moving average of the weights that training validates and exports.

Its decay ramps up over the first updates, ``min(decay, (1 + n) / (10 + n))`` after ``n`` of them (as in
TensorFlow's and timm's EMA): with a fixed 0.999 a run of a few hundred steps would export an average that is
still mostly its random start. After about ``10 / (1 - decay)`` updates the ramp no longer matters.
"""

from __future__ import annotations

import torch
from torch.optim.swa_utils import AveragedModel


def ema_decay_at(decay: float, updates: int | torch.Tensor) -> float | torch.Tensor:
    """The decay used for the update that follows ``updates`` earlier ones; for a tensor count, a tensor on
    its device (the training step never waits for the host to read it)."""
    ramp = (1 + updates) / (10 + updates)
    return torch.clamp(ramp, max=decay) if isinstance(ramp, torch.Tensor) else min(decay, ramp)


def build_ema(model: torch.nn.Module, decay: float) -> AveragedModel:
    """An averaged copy of ``model`` (buffers averaged too) with the ramped decay; its count of updates is
    part of its state dict, so a resumed run continues the same ramp. The decay is computed on the count's
    device: reading the count on the host would stall the GPU at every training step."""

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], updates: torch.Tensor) -> None:
        d = ema_decay_at(decay, updates.to(averaged[0].device, torch.float32))
        if averaged[0].is_floating_point() or averaged[0].is_complex():
            torch._foreach_mul_(averaged, d.to(averaged[0].dtype))
            torch._foreach_add_(averaged, torch._foreach_mul(current, (1 - d).to(current[0].dtype)))
        else:
            for a, c in zip(averaged, current, strict=True):
                a.copy_(a * d + c * (1 - d))

    return AveragedModel(model, multi_avg_fn=update, use_buffers=True)
