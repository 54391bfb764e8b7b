"""Training throughput of a registered model: images/s of forward+backward+AdamW on synthetic data.

Usage: python benchmarks/train_step.py --model effunet_lite0_cls --batch 48 --crop 192 [--device cuda]
       [--palette palette.json]   (a classification model over a K-means palette's colors)
Prints one table row; run two at once (`&`) to see how two jobs share one GPU.
"""

from __future__ import annotations

import argparse
import time

import torch

from polychrome.color.quantize import ab_bins
from polychrome.models import create_model
from polychrome.train.inputs import supervised_loss
from polychrome.train.losses import AbRegressionLoss, RebalancedCrossEntropy
from polychrome.train.optim import apply_update


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="effunet_lite0_cls")
    parser.add_argument("--batch", type=int, default=48)
    parser.add_argument("--crop", type=int, default=192)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="bf16-mixed")
    parser.add_argument("--palette", default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    extra = {"palette": args.palette} if args.palette else {}
    model = create_model(args.model, **extra).to(device).to(memory_format=torch.channels_last).train()
    if model.head_type == "classification":
        bins = ab_bins(model.ab_centers.cpu(), model.init_args.get("ab_grid"))
        criterion = RebalancedCrossEntropy(bins).to(device)
    else:
        criterion = AbRegressionLoss("l1")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    autocast = torch.bfloat16 if args.precision == "bf16-mixed" and device.type == "cuda" else None
    rgb = torch.rand(args.batch, 3, args.crop, args.crop, device=device)

    def step() -> None:
        apply_update(model, opt, supervised_loss(model, criterion, rgb, True, autocast), grad_clip=0.0)

    for _ in range(10):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    print(
        f"| {args.model} | {args.batch}x{args.crop} | {args.precision} | "
        f"{args.steps / elapsed:.1f} steps/s | {args.steps * args.batch / elapsed:.0f} img/s |",
        flush=True,
    )


if __name__ == "__main__":
    main()
