"""How should a photo smaller than the render size be enlarged for the network? Scored on the own split.

The benchmark protocol colors Tiny-ImageNet's 64 px photos through the render size (256: enlarged four
times) and Imagenette's 224 px ones enlarged by 8/7. Until the eighth session the inference pipeline enlarged
bilinearly, which looks softer than any photo the model was trained on (`polychrome prepare` enlarges small
photos with Lanczos). This script colors the same own-split photos with each enlargement filter at several
effective chroma gains; filters are compared at equal colorfulness, since a sharper input also changes how
much color the model dares.

Usage: python benchmarks/enlarge_filters.py RUN_CONFIG.yaml MODEL [--sizes 224 64] [--limit 800]
    [--filters bilinear bicubic lanczos] [--grid 1.0 1.05 1.1 1.15 1.2 1.25 1.3] [--device cuda]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from _own_val import own_split_parser, own_validation_sets
from PIL import Image
from select_model import score

import polychrome.pipelines.image as image_pipeline
from polychrome import Colorizer
from polychrome.resize import ENLARGE_FILTERS, resize_for_render
from polychrome.train.config import load_config


def _lanczos(image: torch.Tensor, size: tuple[int, int], enlarge: str = "bilinear") -> torch.Tensor:
    """Enlarged as `polychrome prepare` enlarges by default (PIL's Lanczos on 8-bit RGB); reduced as the
    pipeline reduces. ``enlarge``, the colorizer's own filter, is not used: this replaces it."""
    if size[0] * size[1] <= image.shape[-2] * image.shape[-1]:
        return resize_for_render(image, size)
    out = []
    for photo in image.cpu():
        pixels = (photo.permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
        enlarged = Image.fromarray(pixels).resize((size[1], size[0]), Image.Resampling.LANCZOS)
        out.append(torch.from_numpy(np.asarray(enlarged, dtype=np.float32) / 255).permute(2, 0, 1))
    return torch.stack(out).to(image.device)


FILTERS = (*ENLARGE_FILTERS, "lanczos")


@contextmanager
def enlarging_with(colorizer: Colorizer, name: str) -> Iterator[None]:
    """``colorizer`` enlarges small photos with filter ``name`` inside the block: its own setting for the
    pipeline's filters; Lanczos, which the pipeline lacks, in place of the pipeline's resize."""
    kept = colorizer.render
    if name == "lanczos":
        image_pipeline.resize_for_render = _lanczos
    else:
        colorizer.render = dataclasses.replace(kept, enlarge=name)
    try:
        yield
    finally:
        colorizer.render = kept
        image_pipeline.resize_for_render = resize_for_render


def main() -> None:
    parser = own_split_parser()
    parser.set_defaults(limit=800)
    parser.add_argument("--filters", nargs="+", choices=FILTERS, default=list(FILTERS))
    parser.add_argument("--grid", type=float, nargs="+", default=[1.0, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3])
    args = parser.parse_args()
    config = load_config(args.config)
    val_sets = own_validation_sets(config, args.data, args.sizes, args.limit)
    colorizer = Colorizer.from_pretrained(args.model, device=args.device)
    print("| set | filter | gain | PSNR - gray | colorfulness - truth's |")
    print("|---|---|---|---|---|")
    for i, images in enumerate(val_sets):
        for name in args.filters:
            with enlarging_with(colorizer, name):
                for gain in args.grid:
                    s = score(colorizer, images, gain)
                    gap = s["colorfulness"] - s["colorfulness_truth"]
                    print(
                        f"| {i} ({len(images)} photos, {images.shape[1]} px) | {name} | {gain} | "
                        f"{s['psnr_gain_over_gray']:+.3f} | {gap:+.2f} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
