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

from _own_val import DEFAULT_DATA, WORKERS
from enlarge_filters import FILTERS
from select_model import score

import polychrome.pipelines.image as image_pipeline
from polychrome import Colorizer
from polychrome.data.prepare import PrepareOptions, prepare_images
from polychrome.data.sources import iter_records
from polychrome.data.split import split_indices
from polychrome.resize import resize_for_render
from polychrome.train.config import DataConfig, load_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("candidate", type=Path)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--grid", type=float, nargs="+", default=[1.0, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3])
    args = parser.parse_args()
    config = load_config(args.config)

    def validation(spec: DataConfig):
        sources = [str(args.data / Path(s).name) for s in spec.sources]
        options = PrepareOptions(spec.image_size, spec.min_size, spec.gray_chroma, spec.enlarge)
        kept = prepare_images(iter_records(sources), options, workers=WORKERS)
        chosen = split_indices(kept.names, spec.split, seed=config.seed, order=spec.split_order)["val"]
        return sources, kept, {kept.names[i] for i in chosen}

    _, imagenette, names = validation(config.data[0])
    sets = {"Imagenette": imagenette.images[[i for i, n in enumerate(imagenette.names) if n in names]]}
    del imagenette
    sources, _, recipe_val = validation(config.data[1])
    _, _, candidate_val = validation(dataclasses.replace(config.data[1], enlarge="bicubic"))

    def at_64(names: set[str]):
        records = (r for r in iter_records(sources) if r.name in names)
        return prepare_images(records, PrepareOptions(64, 32, 0.0), workers=WORKERS).images

    sets["Tiny, own split"] = at_64(recipe_val)
    sets["Tiny, in both splits"] = at_64(recipe_val & candidate_val)
    print(", ".join(f"{name}: {len(images)} photos" for name, images in sets.items()))
    print("| model | enlarged | gain | " + " | ".join(f"{n}: PSNR - gray, CF gap" for n in sets) + " |")
    print("|---|---|---|" + "---|" * len(sets))
    models = {"built-in": "effunet-lite0", "candidate": args.candidate}
    try:
        for label, model in models.items():
            colorizer = Colorizer.from_pretrained(model, device=args.device)
            for name in ("bilinear", "bicubic"):
                image_pipeline.resize_for_render = FILTERS[name]
                for gain in args.grid:
                    cells = []
                    for images in sets.values():
                        s = score(colorizer, images, gain)
                        gap = s["colorfulness"] - s["colorfulness_truth"]
                        cells.append(f"{s['psnr_gain_over_gray']:+.3f}, {gap:+.2f}")
                    print(f"| {label} | {name} | {gain} | " + " | ".join(cells) + " |", flush=True)
    finally:
        image_pipeline.resize_for_render = resize_for_render


if __name__ == "__main__":
    main()
