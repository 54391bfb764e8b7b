"""How batch-norm statistics change a model's quality: stored vs recalibrated at the render scale.

For each model, scores (PSNR gain over a gray output, colorfulness minus the truth's) on a seeded sample of
the Imagenette and Tiny-ImageNet validation shards through the full pipeline (render size 256), with:
the stored statistics; statistics recalibrated on Imagenette and/or Tiny-ImageNet training photos prepared
at the render size; and per-photo statistics (batch norm left in training mode at inference).

Usage: python benchmarks/batchnorm_scale.py MODEL_DIR [MODEL_DIR ...] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from polychrome import Colorizer
from polychrome.color.lab import rgb_to_lightness
from polychrome.data.prepare import PrepareOptions, prepare_images
from polychrome.data.sources import iter_records
from polychrome.evaluate.quality import evaluate_colorizer
from polychrome.models import load_pretrained
from polychrome.train.batchnorm import recalibrate_batchnorm

RENDER = 256


def sample(path: Path, size: int, n: int) -> np.ndarray:
    prepared = prepare_images(iter_records([str(path)]), PrepareOptions(size, 32), workers=2)
    return prepared.images[np.sort(np.random.default_rng(0).permutation(len(prepared.images))[:n])]


def lightness_batches(images: np.ndarray, batch: int = 32):
    for start in range(0, len(images), batch):
        rgb = torch.from_numpy(images[start : start + batch]).permute(0, 3, 1, 2).float() / 255
        rgb = F.interpolate(rgb, size=(RENDER, RENDER), mode="bilinear", antialias=True, align_corners=False)
        yield rgb_to_lightness(rgb)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()
    d = args.data
    val = {
        "imagenette": sample(d / "imagenette-val-00.tar.gz", 224, 100),
        "tiny": sample(d / "tiny-imagenet-val-00.tar.gz", 64, 200),
    }
    train = {
        "imagenette": sample(d / "imagenette-train-00.tar.gz", 224, 384),
        "tiny": sample(d / "tiny-imagenet-train-00.tar.gz", 64, 384),
    }
    print("| model | statistics | Imagenette (dB / CF gap) | Tiny-ImageNet (dB / CF gap) |")
    print("|---|---|---|---|")
    for path in args.models:
        for how in ("stored", "imagenette", "tiny", "imagenette+tiny", "per-photo"):
            model = load_pretrained(path)
            if how not in ("stored", "per-photo"):
                recalibrate_batchnorm(model, (b for s in how.split("+") for b in lightness_batches(train[s])))
            colorizer = Colorizer(model)
            if how == "per-photo":
                for m in model.modules():
                    if isinstance(m, torch.nn.BatchNorm2d):
                        m.train()
            cells = []
            for images in val.values():
                s = evaluate_colorizer(colorizer.colorize_array, images).summary()
                cells.append(
                    f"{s['psnr_gain_over_gray']:+.2f} / {s['colorfulness'] - s['colorfulness_truth']:+.1f}"
                )
            print(f"| {path} | {how} | {cells[0]} | {cells[1]} |", flush=True)


if __name__ == "__main__":
    main()
