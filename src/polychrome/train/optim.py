"""How the weights move: AdamW with a slower pretrained encoder, the learning-rate schedule, which encoder
parameters are kept fixed (and until when), the moving average of the weights, and one update step, held
together by :class:`Optimization` so a checkpoint saves and restores them as one."""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel

from polychrome.models import ColorizationModel
from polychrome.train.config import TrainConfig
from polychrome.train.ema import build_ema

logger = logging.getLogger(__name__)


def learning_rate(config: TrainConfig, world_size: int = 1) -> float:
    """``optim.lr``, scaled by sqrt(batch / ``optim.lr_batch``) when the batch (over all processes) differs
    from the one it was chosen for."""
    o = config.optim
    if o.lr_batch is None:
        return o.lr
    return o.lr * math.sqrt(config.batch_size * world_size / o.lr_batch)


def build_optimizer(
    model: ColorizationModel, config: TrainConfig, world_size: int = 1
) -> torch.optim.Optimizer:
    """AdamW; the pretrained encoder's parameters learn at ``optim.encoder_lr_scale`` times the rate; fused
    kernels on CUDA (``optim.fused``)."""
    encoder = [p for n, p in model.named_parameters() if n.startswith("encoder.")]
    rest = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    o = config.optim
    lr = learning_rate(config, world_size)
    groups = [{"params": rest, "lr": lr}]
    if encoder:
        groups.append({"params": encoder, "lr": lr * o.encoder_lr_scale})
    fused = o.fused if o.fused is not None else next(model.parameters()).device.type == "cuda"
    return torch.optim.AdamW(groups, lr=lr, betas=o.betas, weight_decay=o.weight_decay, fused=fused)


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


class Optimization:
    """Everything that moves a model's weights and remembers how: the optimizer, its schedule, the loss
    scaler of fp16, the encoder parameters kept fixed until ``optim.unfreeze_at_step``, and the moving
    average of the weights (``optim.ema_decay``) that is validated and exported instead of the weights."""

    def __init__(
        self, model: ColorizationModel, config: TrainConfig, autocast: torch.dtype | None, world_size: int = 1
    ) -> None:
        o = config.optim
        self.model, self.grad_clip, self.unfreeze_at = model, o.grad_clip, o.unfreeze_at_step
        self.optimizer = build_optimizer(model, config, world_size)
        self.scheduler = build_scheduler(self.optimizer, config)
        device_type = next(model.parameters()).device.type
        # fp16 needs its loss scaled against underflow; elsewhere the scaler passes everything through.
        self.scaler = torch.amp.GradScaler(device_type, enabled=autocast is torch.float16)
        self.frozen = frozen_encoder_parameters(model, config)
        apply_encoder_schedule(self.frozen, 0, self.unfreeze_at)
        # BN statistics are averaged along with the weights.
        self.ema: AveragedModel | None = build_ema(model, o.ema_decay) if o.ema_decay is not None else None

    @property
    def shown(self) -> ColorizationModel:
        """The model to validate and export: the moving average when there is one."""
        return self.ema.module if self.ema is not None else self.model

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def update(self, loss: torch.Tensor) -> None:
        apply_update(self.model, self.optimizer, loss, self.grad_clip, self.scaler)

    def end_step(self, step: int) -> None:
        """After ``step``'s update: average the weights, advance the schedule, free the encoder on time."""
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        self.scheduler.step()
        if self.frozen and step + 1 == self.unfreeze_at:
            apply_encoder_schedule(self.frozen, step + 1, self.unfreeze_at)
            logger.info("step %d: the whole encoder trains from now on", step + 1)

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any], step: int) -> None:
        """Restore a checkpoint's state, saved at ``step``."""
        self.model.load_state_dict(state["model"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        apply_encoder_schedule(self.frozen, step, self.unfreeze_at)

    def load_weights(self, state: dict[str, Any]) -> None:
        """Put a checkpoint's weights (and their average) back, e.g. the best ones at an early stop."""
        self.model.load_state_dict(state["model"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
