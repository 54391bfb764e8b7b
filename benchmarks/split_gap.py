"""Does a model do better on its own validation split than on a benchmark set because it memorised its
training photos, or because the benchmark photos differ? Scores it on photos it was trained on, on its own
validation split, and on the benchmark sets, at the same chroma gains.

If the training photos and the own validation photos gain alike over gray, the model has not fitted its
training photos more closely than new photos of the same source, and a lower number on a benchmark set is a
difference between sources, which regularising against memorisation cannot close.

Usage: python benchmarks/split_gap.py RUN_CONFIG.yaml MODEL [--sizes 224 64] [--limit 600]
    [--gains 1.0 1.4] [--device cuda]
"""

from __future__ import annotations

from _own_val import own_split_parser, own_validation_sets
from evaluate_val import benchmark_sets
from select_model import score

from polychrome import Colorizer
from polychrome.train.config import load_config


def main() -> None:
    parser = own_split_parser()
    parser.add_argument("--gains", type=float, nargs="+", default=[1.0, 1.4], help="effective chroma gains")
    parser.add_argument("--bench-data", default=None, help="default: --data")
    args = parser.parse_args()
    config = load_config(args.config)
    colorizer = Colorizer.from_pretrained(args.model, device=args.device)
    names = [", ".join(spec.sources) for spec in config.data]
    train = own_validation_sets(config, args.data, args.sizes, args.limit, part="train")
    val = own_validation_sets(config, args.data, args.sizes, args.limit)
    bench = benchmark_sets(args.bench_data or args.data, limit=args.limit)
    groups = [(f"{n}: trained on", x) for n, x in zip(names, train, strict=True)]
    groups += [(f"{n}: own validation", x) for n, x in zip(names, val, strict=True)]
    groups += [(f"{name}: benchmark", images) for name, (_, images) in bench.items()]
    print("| photos | images | gain | PSNR | gray PSNR | PSNR - gray | colorfulness | truth's |")
    print("|---|---|---|---|---|---|---|---|")
    for gain in args.gains:
        for label, images in groups:
            s = score(colorizer, images, gain)
            print(
                f"| {label} | {int(s['images'])} | {gain} | {s['psnr']:.2f} | {s['psnr_gray']:.2f} | "
                f"{s['psnr_gain_over_gray']:+.2f} | {s['colorfulness']:.1f} | "
                f"{s['colorfulness_truth']:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
