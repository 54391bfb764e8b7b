"""The overrides of a tiny CPU training run, shared by the tests that start `polychrome train`."""

from __future__ import annotations

from pathlib import Path


def tiny_run_sets(photos: Path, steps: int, image_size: int, *extra: str) -> list[str]:
    """`--set` arguments: the tiny regression U-Net on ``photos`` (32 px crops), batch 2, fp32 on CPU."""
    prepare = f"{{image_size: {image_size}, min_size: 32, split: [0.75, 0.25, 0]}}"
    collection = f"sources: ['{photos}'], prepare: {prepare}, crop_size: 32"
    sets = [
        "model.name=effunet_tiny_reg",
        "model.pretrained_encoder=false",
        f"data=[{{{collection}}}]",
        "batch_size=2",
        f"steps={steps}",
        "steps_per_epoch=2",
        "device=cpu",
        "precision=fp32",
        "workers=1",
        "tensorboard=false",
        *extra,
    ]
    return [arg for s in sets for arg in ("--set", s)]
