"""Choose a model's default decoding on its own validation split, never on the reported benchmark sets.

Rebuilds the validation split of a training run (same recipe, seed and code as `polychrome train`, shards
read from --data instead of the run's .data*/ folders) and scores a grid of settings: the annealed-mean
temperature for classification models, a chroma gain for regression models.

Usage: python benchmarks/tune_decode.py RUN_CONFIG.yaml MODEL_DIR [--data ../shared/data] [--limit 400]
    [--sizes 224 64] [--device cuda]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _own_val import own_split_parser, own_validation_sets

from polychrome import Colorizer
from polychrome.evaluate.quality import evaluate_colorizer
from polychrome.models._hub import save_with_init_args
from polychrome.train.config import load_config


def main() -> None:
    parser = own_split_parser()
    parser.add_argument(
        "--apply",
        default=None,
        metavar="ARG=VALUE",
        help="skip the grid: write a copy of the model with this default (chroma_gain=1.4 for regression, "
        "decode_temperature=0.5 for classification) to --out, after scoring it on the validation split",
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--grid", type=float, nargs="+", default=None, help="values to try instead of the default"
    )
    args = parser.parse_args()
    if args.apply is not None and args.out is None:
        parser.error("--apply needs --out")
    config = load_config(args.config)
    val_sets = own_validation_sets(config, args.data, args.sizes, args.limit)
    colorizer = Colorizer.from_pretrained(args.model, device=args.device)
    if args.apply is not None:
        key, _, text = args.apply.partition("=")
        # chroma_gain is the model's own saturation: score it through the saturation control
        grid = [("saturation" if key == "chroma_gain" else key, float(text))]
    elif colorizer.model.head_type == "classification":
        grid = [("decode_temperature", t) for t in args.grid or (0.2, 0.3, 0.38, 0.5, 0.6, 0.7, 0.85, 1.0)]
    else:
        grid = [("saturation", s) for s in args.grid or (1.0, 1.2, 1.4, 1.6, 1.8, 2.0)]
    print("| setting | PSNR - gray (per set) | CF gap (per set) | mean PSNR gain | max CF gap |")
    print("|---|---|---|---|---|")
    for key, value in grid:
        gains, gaps = [], []
        for images in val_sets:
            s = evaluate_colorizer(
                lambda rgb, k=key, v=value: colorizer.colorize_array(rgb, **{k: v}), images
            ).summary()
            gains.append(s["psnr_gain_over_gray"])
            gaps.append(s["colorfulness"] - s["colorfulness_truth"])
        print(
            f"| {key}={value} | {', '.join(f'{g:+.2f}' for g in gains)} | "
            f"{', '.join(f'{g:+.1f}' for g in gaps)} "
            f"| {np.mean(gains):+.2f} | {max(abs(g) for g in gaps):.1f} |",
            flush=True,
        )
        if args.apply is not None:
            record = {
                "chosen_by": "benchmarks/tune_decode.py on the training run's own validation split",
                "validation_psnr_gain_over_gray": gains,
                "validation_colorfulness_gap": gaps,
                "images_per_set": [len(v) for v in val_sets],
            }
            arg = args.apply.partition("=")[0]
            save_with_init_args(args.model, args.out, {arg: value}, record)
            print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
