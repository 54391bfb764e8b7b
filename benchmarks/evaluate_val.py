"""Validation quality of a model on the shared validation shards, next to gray output and the truth.

Usage:
    python benchmarks/evaluate_val.py [--model PATH_OR_NAME] [--data ../shared/data] [--limit N]
        [--decode-temperature T] [--saturation S]

Protocol (documented in polychrome.evaluate.quality): Imagenette val at 224 px and Tiny-ImageNet val at
64 px centre crops, grayscale images (mean chroma < 2) left out as in training (--keep-gray scores them
too); the gray version of each photo is colorized with default settings (render size 256: small photos are
scaled up to it). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from polychrome import Colorizer
from polychrome.data.prepare import PrepareOptions, prepare_images
from polychrome.data.sources import iter_records
from polychrome.evaluate.quality import evaluate_colorizer

SETS = {
    "imagenette-val": ("imagenette-val-00.tar.gz", 224),
    "tiny-imagenet-val": ("tiny-imagenet-val-00.tar.gz", 64),
}


def benchmark_sets(data: Path, keep_gray: bool = False, limit: int | None = None) -> dict[str, tuple]:
    """Each benchmark set's prepared photos (for their summary) and the uint8 photos scored, by name."""
    sets = {}
    for name, (shard, size) in SETS.items():
        gray_chroma = -1.0 if keep_gray else PrepareOptions().gray_chroma
        options = PrepareOptions(image_size=size, min_size=32, gray_chroma=gray_chroma)
        prepared = prepare_images(iter_records([str(data / shard)]), options, workers=2)
        sets[name] = (prepared, prepared.images[:limit])
    return sets


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--decode-temperature", type=float, default=None)
    parser.add_argument("--saturation", type=float, default=1.0)
    parser.add_argument("--device", default="cpu", help="e.g. cuda: the network runs there, the merge on CPU")
    parser.add_argument("--keep-gray", action="store_true", help="also score photos that are already gray")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    colorizer = Colorizer.from_pretrained(args.model, device=args.device)
    options = {"saturation": args.saturation}
    if args.decode_temperature is not None:
        options["decode_temperature"] = args.decode_temperature
    print(f"model: {args.model or 'built-in'}  device: {args.device}  options: {options}")
    columns = "set, images, PSNR, PSNR gray, gain, SSIM, SSIM gray, colorfulness, truth CF, gap, s/img"
    print("| " + " | ".join(columns.split(", ")) + " |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, (prepared, images) in benchmark_sets(Path(args.data), args.keep_gray, args.limit).items():
        start = time.perf_counter()
        report = evaluate_colorizer(lambda rgb: colorizer.colorize_array(rgb, **options), images)
        per_image = (time.perf_counter() - start) / max(1, len(images))
        s = report.summary()
        print(
            f"| {name} ({prepared.summary()}) | {int(s['images'])} | "
            f"{s['psnr']:.2f} | {s['psnr_gray']:.2f} | {s['psnr_gain_over_gray']:+.3f} | "
            f"{s['ssim']:.4f} | {s['ssim_gray']:.4f} | {s['colorfulness']:.1f} | "
            f"{s['colorfulness_truth']:.1f} | {s['colorfulness_gap']:.1f} | {per_image:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
