"""Does the training run's own validation rank models as the benchmark protocol does?

`polychrome train` validates on the photos as training sees them (brought to the recipe's image_size, colored
at that size). The benchmark protocol (evaluate_val.py) scores each photo at its own size (Tiny-ImageNet:
64 px), colored through the render size (256: four times larger). This script scores the same own-split
photos both ways, at an effective chroma gain of 1.0, for each model.

Usage: python benchmarks/val_protocols.py RUN_CONFIG.yaml MODEL [MODEL ...] [--sizes 224 64] [--limit 800]
"""

from __future__ import annotations

from _own_val import own_split_parser, own_validation_sets
from select_model import score

from polychrome import Colorizer
from polychrome.train.config import load_config


def main() -> None:
    parser = own_split_parser(many_models=True)
    args = parser.parse_args()
    config = load_config(args.config)
    as_trained = own_validation_sets(config, args.data, None, args.limit)
    as_scored = own_validation_sets(config, args.data, args.sizes, args.limit)
    print(
        "| model | set | as validated in training: PSNR - gray, colorfulness - truth's "
        "| as the benchmark scores: PSNR - gray, colorfulness - truth's |"
    )
    print("|---|---|---|---|")
    for model in args.model:
        colorizer = Colorizer.from_pretrained(model, device=args.device)
        for i, spec in enumerate(config.data):
            cells = [
                score(colorizer, images, 1.0, render_size)
                for images, render_size in ((as_trained[i], spec.image_size), (as_scored[i], 256))
            ]
            text = [
                f"{s['psnr_gain_over_gray']:+.3f}, {s['colorfulness'] - s['colorfulness_truth']:+.2f}"
                for s in cells
            ]
            print(f"| {model} | {i} ({len(as_trained[i])} photos) | {text[0]} | {text[1]} |", flush=True)


if __name__ == "__main__":
    main()
