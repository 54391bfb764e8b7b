"""Parameters and multiply-adds of every full-size model and critic at one input size.

Usage: python benchmarks/model_cost.py [--size 256] [--model zhang2016_cls ...]

Multiply-adds are counted by ``torch.utils.flop_counter.FlopCounterMode`` over one forward pass of a
1 x 1 x size x size lightness (3-channel Lab for a critic), on the meta device, so nothing is computed and no
weights are downloaded. FlopCounterMode counts 2 FLOPs per multiply-add of convolutions and matrix products
(normalisations, activations and the decoding of bins are not counted; they are a small share). A palette
model is the ``_cls`` variant with ``palette=``; only its head differs (K colors instead of 261 bins).
"""

from __future__ import annotations

import argparse

import torch
from torch.utils.flop_counter import FlopCounterMode

from polychrome.models import create_critic, create_model, list_critics, list_models


def count(module: torch.nn.Module, channels: int, size: int) -> tuple[int, int]:
    """(parameters, multiply-adds) of one forward pass at ``size`` x ``size``."""
    params = sum(p.numel() for p in module.parameters())
    module = module.to("meta").eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(torch.zeros(1, channels, size, size, device="meta"))
    return params, counter.get_total_flops() // 2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--model", nargs="*", help="default: every registered model and critic but the tiny")
    args = parser.parse_args()
    names = args.model or [n for n in list_models() + list_critics() if "tiny" not in n]
    print(f"| model | parameters (M) | multiply-adds at {args.size}x{args.size} (G) | GFLOPs (2 per MAC) |")
    print("|---|---|---|---|")
    for name in names:
        if name in list_critics():
            params, macs = count(create_critic(name), 3, args.size)
        else:
            params, macs = count(create_model(name), 1, args.size)
        print(f"| {name} | {params / 1e6:.2f} | {macs / 1e9:.2f} | {2 * macs / 1e9:.1f} |", flush=True)


if __name__ == "__main__":
    main()
