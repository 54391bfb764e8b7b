"""Does the training run's own validation rank models as the benchmark protocol does?

`polychrome train` validates on centre crops of the photos as training sees them (brought to the recipe's
image_size, crop_size crops, colored at their own size). The benchmark protocol (evaluate_val.py) scores each
photo at its own size (Tiny-ImageNet: 64 px), colored through the render size (256: four times larger). This
script scores the same own-split photos both ways, at an effective chroma gain of 1.0, for each model.

Usage: python benchmarks/val_protocols.py RUN_CONFIG.yaml MODEL [MODEL ...] [--sizes 224 64] [--limit 800]
"""

from __future__ import annotations

from _own_val import own_split_parser, own_validation_sets

from polychrome import Colorizer
from polychrome.evaluate.quality import evaluate_colorizer_batched
from polychrome.train.config import load_config


def summary_cell(colorizer: Colorizer, images, render_size: int, saturation: float) -> str:
    s = evaluate_colorizer_batched(
        lambda lightness: colorizer.colorize_lightness(lightness, render_size, saturation=saturation), images
    ).summary()
    return f"{s['psnr_gain_over_gray']:+.3f}, {s['colorfulness'] - s['colorfulness_truth']:+.2f}"


def main() -> None:
    parser = own_split_parser(many_models=True)
    args = parser.parse_args()
    config = load_config(args.config)
    as_trained = own_validation_sets(config, args.data, None, args.limit)
    crops = []
    for spec, images in zip(config.data, as_trained, strict=True):
        margin = (spec.image_size - spec.crop_size) // 2
        crops.append(images[:, margin : margin + spec.crop_size, margin : margin + spec.crop_size])
    as_scored = own_validation_sets(config, args.data, args.sizes, args.limit)
    print(
        "| model | set | as validated in training: PSNR - gray, colorfulness - truth's "
        "| as the benchmark scores: PSNR - gray, colorfulness - truth's |"
    )
    print("|---|---|---|---|")
    for model in args.model:
        colorizer = Colorizer.from_pretrained(model, device=args.device)
        saturation = 1.0 / getattr(colorizer.model, "chroma_gain", 1.0)
        for i, spec in enumerate(config.data):
            cells = [
                summary_cell(colorizer, images, render, saturation)
                for images, render in ((crops[i], spec.crop_size), (as_scored[i], 256))
            ]
            print(f"| {model} | {i} ({len(crops[i])} photos) | {cells[0]} | {cells[1]} |", flush=True)


if __name__ == "__main__":
    main()
