"""Re-estimating batch-norm statistics at the scale a model will be used at.

A network with batch normalisation stores running feature statistics from training. They depend on the
images' scale and sharpness, and statistics gathered at another scale than inference's can cost a model
all its advantage over a gray output. Recalibration replaces the stored statistics with exact averages
over photos prepared as inference will see them; the weights do not change.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def batch_statistics(model: nn.Module) -> list[nn.Module]:
    """The BatchNorm layers whose running statistics training updates: those in training mode after
    ``model.train()`` (a model may keep some frozen, as the EfficientNet U-Net does with its encoder's).
    A model without any computes the same function at every scale and needs no recalibration."""
    was_training = model.training
    model.train()
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    model.train(was_training)
    return layers


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, lightness_batches: Iterable[torch.Tensor]) -> int:
    """Replace the running mean and variance of the model's :func:`batch_statistics` layers with their
    average over the batches (frozen layers keep theirs, as in training).

    Args:
        model: any module; only those BatchNorm layers change, and it is left in eval mode.
        lightness_batches: model inputs, e.g. L ``(B, 1, H, W)`` at the render scale.

    Returns:
        The number of images seen.
    """
    norms = batch_statistics(model)
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: every batch counts equally
    model.eval()
    for m in norms:
        m.train()
    seen = 0
    try:
        for batch in lightness_batches:
            model(batch)
            seen += batch.shape[0]
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        model.eval()
    if norms and seen == 0:
        raise ValueError("no images to recalibrate batch-norm statistics with")
    return seen
