"""How the weights move: AdamW with a slower pretrained encoder, the learning-rate schedule, which encoder
parameters are kept fixed (and until when), and one update step."""

from __future__ import annotations

import math

import torch

from polychrome.models import ColorizationModel
from polychrome.train.config import TrainConfig


def build_optimizer(model: ColorizationModel, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; the pretrained encoder's parameters learn at ``optim.encoder_lr_scale`` times the rate."""
    encoder = [p for n, p in model.named_parameters() if n.startswith("encoder.")]
    rest = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    o = config.optim
    groups = [{"params": rest, "lr": o.lr}]
    if encoder:
        groups.append({"params": encoder, "lr": o.lr * o.encoder_lr_scale})
    return torch.optim.AdamW(groups, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up, then cosine decay to ``min_ratio``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def schedule_factor(step: int, config: TrainConfig) -> float:
    """The learning-rate multiplier at ``step``: warm-up, then the configured cosine or step decay."""
    o = config.optim
    if o.schedule == "cosine":
        return lr_factor(step, o.warmup_steps, config.steps, o.min_lr_ratio)
    if o.schedule == "step":
        if step < o.warmup_steps:
            return (step + 1) / o.warmup_steps
        return o.step_gamma ** ((step - o.warmup_steps) // o.step_every)
    raise ValueError(f"optim.schedule must be 'cosine' or 'step', got {o.schedule!r}")


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig
) -> torch.optim.lr_scheduler.LRScheduler:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: schedule_factor(step, config))


def frozen_encoder_parameters(model: ColorizationModel, config: TrainConfig) -> list[torch.nn.Parameter]:
    """The encoder parameters that ``optim.encoder`` keeps fixed (until ``optim.unfreeze_at_step``).

    "partial" trains the last ``encoder_trainable_blocks`` blocks of the encoder (its deepest, most
    task-specific features) and keeps the stem and earlier blocks as ImageNet left them. The settings were
    checked by :func:`polychrome.train.config.check_config`.
    """
    o = config.optim
    if o.encoder == "train":
        return []
    frozen = list(model.encoder.parameters())
    if o.encoder == "partial":
        blocks = list(model.encoder._blocks)
        trainable = {id(p) for block in blocks[-o.encoder_trainable_blocks :] for p in block.parameters()}
        frozen = [p for p in frozen if id(p) not in trainable]
    return frozen


def apply_encoder_schedule(frozen: list[torch.nn.Parameter], step: int, unfreeze_at: int | None) -> None:
    """Frozen parameters take no gradient (AdamW then leaves them, and their moments, untouched) until
    ``unfreeze_at``; resuming past that step trains them again."""
    trainable = unfreeze_at is not None and step >= unfreeze_at
    for p in frozen:
        p.requires_grad_(trainable)


def apply_update(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss: torch.Tensor,
    grad_clip: float,
    scaler: torch.amp.GradScaler | None = None,
) -> None:
    """Backward, optional gradient clipping (on unscaled gradients), optimizer step."""
    scaler = scaler or torch.amp.GradScaler(enabled=False)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if grad_clip > 0:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()
