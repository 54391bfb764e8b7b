"""PSNR against the number of color hints, as Zhang et al. 2017 and iColoriT measure it.

Usage: python benchmarks/hints_quality.py PHOTOS [--counts 0 1 2 5 10 20 50] [--limit N] [--model MODEL]
           [--hint-model MODEL] [--methods 1 2] [--patch 5] [--plot docs/hints.png]
           [--spread-reach R] [--spread-tolerance T]

Each photo of PHOTOS is scored at the ``val5k`` protocol (shorter side 256, centre crop 256, gray photos left
out) through `polychrome evaluate`'s scoring path. For each count N, every photo gets N hints at random
points (the same points for a photo whatever the method; more hints add points to fewer), each the mean
color of a ``patch`` x ``patch`` square of the truth there, and is colored with them by both methods in the
same run: method 1, ``--model`` (the built-in model by default) with the hints spread along the lightness;
method 2, ``--hint-model`` (the built-in hint network by default), the hints given to the network
(``--methods 2`` measures it alone: method 1's numbers repeat to the digit from run to run). Prints a
Markdown table of PSNR, SSIM and colorfulness (truth's in the header) by count and method; ``--plot``
draws PSNR against the count.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np
import torch

from polychrome.color import propagate
from polychrome.color.lab import gray_rgb
from polychrome.evaluate.candidates import CandidateOutput
from polychrome.evaluate.protocol import Batch, PhotoStream, get_protocol
from polychrome.evaluate.scoring import score_colorizers
from polychrome.pipelines.hints import Hint
from polychrome.pipelines.image import Colorizer


def hints_from_truth(truth: np.ndarray, name: str, count: int, patch: int) -> list[Hint]:
    """``count`` hints for one truth ``(H, W, 3)`` in 0..1: the first ``count`` of a fixed random order of
    points for this photo (seeded by its name), each the mean color of the patch around its point."""
    height, width = truth.shape[:2]
    seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    points = rng.integers(0, [width, height], size=(max(count, 1), 2))[:count]
    hints = []
    half = patch // 2
    for x, y in points:
        square = truth[max(y - half, 0) : y + half + 1, max(x - half, 0) : x + half + 1]
        red, green, blue = np.round(square.reshape(-1, 3).mean(0) * 255).astype(int)
        hints.append(Hint(float(x), float(y), f"#{red:02x}{green:02x}{blue:02x}", radius=half))
    return hints


class HintedCandidate:
    """The colorizer given ``count`` hints drawn from each truth."""

    kind = "model"

    def __init__(self, colorizer: Colorizer, count: int, patch: int, method: str) -> None:
        self.label = f"{method}, {count} hints"
        self.source = f"{method}: the model + {count} hints"
        self.colorizer, self.count, self.patch = colorizer, count, patch
        # Method 1 spreads the hints over the model's colors even where the model has a hint network.
        self.hint_method = "spread" if method == "method 1" else "auto"

    def colorize(self, batch: Batch) -> CandidateOutput:
        gray = gray_rgb(batch.lightness)
        truths = batch.truth.permute(0, 2, 3, 1).cpu().numpy()
        out = []
        for i, name in enumerate(batch.names):
            hints = hints_from_truth(truths[i], name, self.count, self.patch)
            colored = self.colorizer(
                gray[i : i + 1], hints=hints, hint_method=self.hint_method, output_type="pt"
            )
            out.append(colored.images)
        return CandidateOutput(torch.cat(out), {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photos", nargs="+")
    parser.add_argument("--counts", type=int, nargs="+", default=[0, 1, 2, 5, 10, 20, 50])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--model", default=None, help="method 1's model (default: the built-in one)")
    parser.add_argument(
        "--hint-model",
        default="effunet-lite0-hints",
        help="method 2: a hint-conditioned network (the built-in)",
    )
    parser.add_argument("--methods", type=int, nargs="+", choices=[1, 2], default=[1, 2])
    parser.add_argument("--patch", type=int, default=5)
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--spread-reach", type=float, default=None, help="method 1's reach (propagate.REACH)")
    parser.add_argument(
        "--spread-tolerance", type=float, default=None, help="method 1's stop (propagate.TOLERANCE)"
    )
    args = parser.parse_args()
    # Settings of the spreading solver to compare, set where every solve reads them.
    if args.spread_reach is not None:
        propagate.REACH = args.spread_reach
    if args.spread_tolerance is not None:
        propagate.TOLERANCE = args.spread_tolerance

    methods = {}
    if 1 in args.methods:
        methods["method 1"] = Colorizer.from_pretrained(args.model, backend="torch")
    if 2 in args.methods:
        methods["method 2"] = Colorizer.from_pretrained(args.hint_model)
    candidates = {
        method: [HintedCandidate(colorizer, n, args.patch, method) for n in args.counts]
        for method, colorizer in methods.items()
    }
    protocol = get_protocol("val5k")
    started = time.perf_counter()
    evaluation = score_colorizers(
        [c for row in candidates.values() for c in row],
        PhotoStream(args.photos, protocol, limit=args.limit),
        protocol,
    )
    seconds = time.perf_counter() - started
    summary = evaluation.summary()
    print(f"{len(evaluation.names)} photos, val5k, {seconds:.0f} s")
    truth_cf = summary["truth"]["colorfulness"]
    header = (f"{m} PSNR | {m} SSIM | {m} colorfulness (truth {truth_cf:.2f})" for m in candidates)
    print("| hints | " + " | ".join(header) + " |")
    print("|---" * (1 + 3 * len(candidates)) + "|")

    def cells(row: dict) -> str:
        return f"{row['psnr']:.2f} | {row['ssim']:.4f} | {row['colorfulness']:.2f}"

    print("| gray output | " + " | ".join([cells(summary["gray"])] * len(candidates)) + " |")
    for i, count in enumerate(args.counts):
        row_cells = (cells(summary[row[i].label]) for row in candidates.values())
        print(f"| {count} | " + " | ".join(row_cells) + " |")
    if args.plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = {"method 1": "method 1 (hints spread, no training)", "method 2": "method 2 (hint network)"}
        fig, ax = plt.subplots(figsize=(5, 3.4), dpi=120)
        for method, row in candidates.items():
            ax.plot(args.counts, [summary[c.label]["psnr"] for c in row], "o-", label=names[method])
        ax.axhline(summary["gray"]["psnr"], color="gray", ls="--", label="gray output")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlim(-0.2, max(args.counts) * 1.2)
        ax.set_xticks(args.counts, [str(n) for n in args.counts])
        ax.set_xlabel("hints per photo")
        ax.set_ylabel("PSNR (dB)")
        ax.set_title(f"Color hints on {len(evaluation.names)} photos (val5k)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot)


if __name__ == "__main__":
    main()
