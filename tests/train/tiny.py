"""A tiny CPU training set-up shared by the training tests: colorful photos, a config, saved weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from polychrome.models import load_pretrained
from polychrome.train.config import TrainConfig, load_config

NUM_IMAGES = 24


def colorful(seed: int, size: int = 80) -> np.ndarray:
    """Smooth random color gradients: every image clearly colored, no two alike."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    channels = [
        np.sin(
            2 * np.pi * (rng.uniform(-1.5, 1.5) * x + rng.uniform(-1.5, 1.5) * y) + rng.uniform(0, 2 * np.pi)
        )
        for _ in range(3)
    ]
    return np.clip(127.5 + 110 * np.stack(channels, axis=-1), 0, 255).astype(np.uint8)


def tiny_config(photos: Path, *overrides: str) -> TrainConfig:
    """Six steps of the tiny classification U-Net on ``photos`` (64 px, 32 px crops), batch 4, fp32, CPU."""
    prepare = "{image_size: 64, min_size: 32, split: [0.75, 0.25, 0]}"
    data = f"data=[{{sources: ['{photos}'], prepare: {prepare}, crop_size: 32}}]"
    base = [
        "model.name=effunet_tiny_cls",
        "model.pretrained_encoder=false",
        data,
        "batch_size=4",
        "steps=6",
        "steps_per_epoch=3",
        "workers=1",
        "device=cpu",
        "precision=fp32",
        "log_every=2",
        "optim.warmup_steps=2",
    ]
    return load_config(overrides=[*base, *overrides])


def weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_pretrained(model_dir).state_dict()
