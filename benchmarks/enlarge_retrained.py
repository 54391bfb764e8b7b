"""A stage 2 fine-tuned with Tiny-ImageNet enlarged by the pipeline's bicubic filter
(`data.1.enlarge=bicubic`) against the built-in model, each scored with both enlargement filters.

The gray test runs on the enlarged photo, so that run kept 4 more Tiny-ImageNet photos than stage 1's and its
split is a different permutation: most own validation photos of either split were trained on by one of the
two stages. Scores are given on the recipe's own split (stage 1's: clean for the built-in model, partly seen
by the candidate's stage 2) and on the photos in both validation splits (never trained on by either).
Imagenette is not enlarged (224 px) and keeps its split.

Usage: python benchmarks/enlarge_retrained.py RUN_CONFIG.yaml CANDIDATE [--data DIR] [--device cuda]
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from _own_val import DEFAULT_DATA, prepare_named, split_photos
from enlarge_filters import enlarging_with
from select_model import score

from polychrome import Colorizer
from polychrome.train.config import load_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("candidate", type=Path)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--grid", type=float, nargs="+", default=[1.0, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3])
    args = parser.parse_args()
    config = load_config(args.config)

    _, imagenette, chosen = split_photos(config, config.data[0], args.data)
    sets = {"Imagenette": imagenette.images[chosen]}
    del imagenette
    tiny = config.data[1]
    sources, kept, chosen = split_photos(config, tiny, args.data)
    recipe_val = {kept.names[i] for i in chosen}
    _, kept, chosen = split_photos(config, dataclasses.replace(tiny, enlarge="bicubic"), args.data)
    candidate_val = {kept.names[i] for i in chosen}
    del kept
    sets["Tiny, own split"] = prepare_named(sources, recipe_val, 64, tiny.min_size)
    sets["Tiny, in both splits"] = prepare_named(sources, recipe_val & candidate_val, 64, tiny.min_size)
    print(", ".join(f"{name}: {len(images)} photos" for name, images in sets.items()))
    print("| model | enlarged | gain | " + " | ".join(f"{n}: PSNR - gray, CF gap" for n in sets) + " |")
    print("|---|---|---|" + "---|" * len(sets))
    for label, model in {"built-in": "effunet-lite0", "candidate": args.candidate}.items():
        colorizer = Colorizer.from_pretrained(model, device=args.device)
        for name in ("bilinear", "bicubic"):
            with enlarging_with(colorizer, name):
                for gain in args.grid:
                    cells = []
                    for images in sets.values():
                        s = score(colorizer, images, gain)
                        gap = s["colorfulness"] - s["colorfulness_truth"]
                        cells.append(f"{s['psnr_gain_over_gray']:+.3f}, {gap:+.2f}")
                    print(f"| {label} | {name} | {gain} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
