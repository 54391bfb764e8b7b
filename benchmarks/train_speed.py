"""Training throughput of the built-in family, old settings against new, in the same run.

Usage: python benchmarks/train_speed.py [--model effunet_lite0_reg] [--crop 192] [--steps 60]
       [--settings old new] [--device cuda]

Each setting runs the real training step of `polychrome train`: batches drawn by
:func:`polychrome.train.data.sample_batch` from uint8 photos held on the device (random crops and flips),
the recipe's step (Lab conversion, network, loss) and the update
(:class:`polychrome.train.optim.Optimization`, gradient clipping included), on synthetic photos (speed
does not depend on their content). Drawing batches is timed apart: the share of time the step waits for
data. The throughput is measured as the loop runs (no step waits for the GPU, so drawing overlaps the
previous step); the share of drawing in a second pass that waits after each part. Prints a Markdown table.

The settings:
- old: batch 48, the network compiled not at all, AdamW's foreach kernels (the settings of every run before
  issue 16);
- new: batch 256, the whole loss compiled with CUDA graphs (``compile_mode=reduce-overhead``), fused AdamW;
- any other name: ``KEY=VALUE,KEY=VALUE`` overrides of the config (e.g. ``batch_size=512,compile=true``).
Both use bf16 autocast and channels-last on a GPU.
"""

from __future__ import annotations

import argparse
import time

import torch

from polychrome.models import create_model
from polychrome.train.config import DataConfig, load_config
from polychrome.train.data import Collection, sample_batch
from polychrome.train.optim import Optimization
from polychrome.train.recipes import build_recipe

SETTINGS = {
    "old": ["batch_size=48", "compile=false", "optim.fused=false"],
    "new": ["batch_size=256", "compile=true", "compile_mode=reduce-overhead", "optim.fused=true"],
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(name: str, overrides: list[str], args: argparse.Namespace, device: torch.device) -> dict:
    config = load_config(overrides=[f"model.name={args.model}", "model.pretrained_encoder=false", *overrides])
    model = create_model(config.model.name).to(device).to(memory_format=torch.channels_last).train()
    autocast = torch.bfloat16 if device.type == "cuda" else None
    weights = Optimization(model, config, autocast)
    photos = torch.randint(
        0, 256, (2048, args.crop + 32, args.crop + 32, 3), dtype=torch.uint8, device=device
    )
    collections = [
        Collection(DataConfig(sources=("synthetic",), crop_size=args.crop), photos, photos[:1], "")
    ]
    recipe = build_recipe(model, model, config, device, autocast, collections)

    def draw(step: int) -> torch.Tensor:
        return sample_batch(collections, config.batch_size, config.seed, step)

    def train_step(rgb: torch.Tensor, step: int) -> None:
        recipe.step(rgb, step, weights.update, lambda loss: None)
        weights.end_step(step)

    started = time.perf_counter()
    for step in range(args.warmup):  # compilation and CUDA-graph recording happen here
        train_step(draw(step), step)
    _sync(device)
    warmup = time.perf_counter() - started
    # As the loop runs: nothing waits for the GPU between steps, so the next batch is drawn while it works.
    started = time.perf_counter()
    for step in range(args.warmup, args.warmup + args.steps):
        train_step(draw(step), step)
    _sync(device)
    pipelined = time.perf_counter() - started
    # Each part waited for: the share of a step spent drawing its batch.
    drawing = stepping = 0.0
    for step in range(args.warmup + args.steps, args.warmup + 2 * args.steps):
        start = time.perf_counter()
        rgb = draw(step)
        _sync(device)
        middle = time.perf_counter()
        train_step(rgb, step)
        _sync(device)
        drawing += middle - start
        stepping += time.perf_counter() - middle
    return {
        "setting": name,
        "batch": config.batch_size,
        "images_per_s": args.steps * config.batch_size / pipelined,
        "synced_images_per_s": args.steps * config.batch_size / (drawing + stepping),
        "data_share": drawing / (drawing + stepping),
        "warmup_s": warmup,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="effunet_lite0_reg")
    parser.add_argument("--crop", type=int, default=192)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--settings", nargs="+", default=["old", "new"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    print(f"{args.model}, {args.crop} px crops, {name}, torch {torch.__version__}")
    print("| setting | batch | images/s | images/s, each part waited for | drawing batches | warm-up (s) |")
    print("|---|---|---|---|---|---|")
    for setting in args.settings:
        overrides = SETTINGS.get(setting) or setting.split(",")
        row = measure(setting, overrides, args, device)
        print(
            f"| {setting} | {row['batch']} | {row['images_per_s']:,.0f} | "
            f"{row['synced_images_per_s']:,.0f} | {row['data_share']:.1%} | {row['warmup_s']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
