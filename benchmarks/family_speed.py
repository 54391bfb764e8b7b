"""Speed of every model family: training images/s (with the share of time spent drawing batches) and
inference images/s, next to Zhang et al. 2016's full-size network measured in the same run.

Usage:
    python benchmarks/family_speed.py [--device cuda] [--sizes 128 256] [--train-batch 32]
    python benchmarks/family_speed.py --device cpu --inference-only --batch 1   # CPU latency at 256, 512

Weights are random (speed does not depend on them). Training draws batches as `polychrome train` does
(random crops and flips from uint8 images held on the device, Lab conversion in the step), timed apart from
the forward/backward/update; the adversarial family's step is the critic update plus two generator updates.
Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from polychrome.models import create_model
from polychrome.train.config import AdversarialConfig, DataConfig, TrainConfig
from polychrome.train.data import Collection, sample_batch
from polychrome.train.optim import apply_update
from polychrome.train.recipes import build_recipe

FAMILIES = (
    "effunet_lite0_reg",
    "effunet_lite0_cls",
    "effunet_lite2_reg",
    "effunet_lite2_cls",
    "unet_reg",
    "zhang2016_cls",
)
PALETTE = [[a, b] for a in range(-60, 61, 20) for b in range(-60, 61, 20)]  # 49 colors, as a K=49 palette


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / repeats


def _model(name: str, device: torch.device) -> torch.nn.Module:
    if name == "effunet_lite0_palette":
        model = create_model("effunet_lite0_cls", palette=PALETTE)
    else:
        model = create_model(name.removesuffix("+wgan"))
    return model.to(device).to(memory_format=torch.channels_last)


def train_speed(name: str, size: int, batch: int, device: torch.device, steps: int) -> tuple[float, float]:
    """(images/s of data + step, share of the time spent drawing batches)."""
    autocast = torch.bfloat16 if device.type == "cuda" else None
    model = _model(name, device).train()
    images = torch.randint(0, 256, (512, size + 32, size + 32, 3), dtype=torch.uint8, device=device)
    data = [Collection(DataConfig(sources=("synthetic",), crop_size=size), images, images[:1], "")]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    adversarial = AdversarialConfig(pretrain_steps=0) if name.endswith("+wgan") else None
    # The recipe `polychrome train` runs (its class priors measured on the synthetic images).
    recipe = build_recipe(model, model, TrainConfig(adversarial=adversarial), device, autocast, data)
    state = {"step": 0, "rgb": sample_batch(data, batch, 0, 0)}

    def draw() -> None:
        state["step"] += 1
        state["rgb"] = sample_batch(data, batch, 0, state["step"])

    def update(loss: torch.Tensor) -> None:
        apply_update(model, optimizer, loss, grad_clip=1.0)

    def step() -> None:
        recipe.step(state["rgb"], state["step"], update, lambda loss: None)

    for _ in range(5):
        draw()
        step()
    t_data = _timed(draw, device, steps)
    t_step = _timed(step, device, steps)
    return batch / (t_data + t_step), t_data / (t_data + t_step)


@torch.no_grad()
def inference_speed(name: str, size: int, batch: int, device: torch.device, repeats: int) -> float:
    """Images/s of predict_ab (the network and its decoding) on L batches of size x size."""
    autocast = torch.bfloat16 if device.type == "cuda" else None
    model = _model(name, device).eval()
    lightness = (torch.rand(batch, 1, size, size, device=device) * 100).contiguous(
        memory_format=torch.channels_last
    )

    def run() -> None:
        with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
            model.predict_ab(lightness)

    for _ in range(3):
        run()
    return batch / _timed(run, device, repeats)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256], help="training crop sizes")
    parser.add_argument("--infer-sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--train-batch", type=int, default=32)
    parser.add_argument(
        "--batch", type=int, default=None, help="inference batch (default 64 at 256 px, scaled)"
    )
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--inference-only", action="store_true")
    args = parser.parse_args()
    device = torch.device(args.device)
    where = (
        torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    )
    print(f"device: {where}; torch {torch.__version__}")
    families = [*FAMILIES[:2], "effunet_lite0_palette", *FAMILIES[2:]]
    if not args.inference_only:
        print(
            "\n| model | size | train img/s | time drawing batches | vs Zhang 2016 |\n|---|---|---|---|---|"
        )
        for size in args.sizes:
            rows = {
                name: train_speed(name, size, args.train_batch, device, args.steps)
                for name in [*families, "unet_reg+wgan"]
            }
            for name, (speed, share) in rows.items():
                ratio = speed / rows["zhang2016_cls"][0]
                print(f"| {name} | {size} | {speed:.0f} | {share:.1%} | {ratio:.1f}x |", flush=True)
    print("\n| model | size | batch | inference img/s | vs Zhang 2016 |\n|---|---|---|---|---|")
    for size in args.infer_sizes:
        batch = args.batch or max(1, 64 * 256 * 256 // (size * size))
        rows = {
            name: inference_speed(name, size, batch, device, max(3, args.steps // 3)) for name in families
        }
        for name, speed in rows.items():
            print(
                f"| {name} | {size} | {batch} | {speed:.1f} | {speed / rows['zhang2016_cls']:.1f}x |",
                flush=True,
            )


if __name__ == "__main__":
    main()
