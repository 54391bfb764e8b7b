"""Seconds to color a photo with hints, end to end, against the same photo without them: the issue's budget
is 1 s for a 1 MP photo with hints spread (method 1) on a 2-core CPU.

Usage: python benchmarks/hints_speed.py [--size 1024x768] [--hints 10] [--repeats 5] [--backend onnx]
           [--candidate REACH TOLERANCE]

scikit-image's astronaut, resized to ``--size`` and made gray, is colored by the built-in model with no hints,
with ``--hints`` hints spread as shipped and, with ``--candidate``, spread with that reach and tolerance of
the solver (`polychrome.color.propagate`), all in the same run, alternating, ``--repeats`` times each after a
warm-up. Prints the median and the range of each in seconds.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from PIL import Image

from polychrome import Colorizer, Hint
from polychrome.color import propagate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1024x768")
    parser.add_argument("--hints", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backend", default="onnx")
    parser.add_argument("--candidate", type=float, nargs=2, metavar=("REACH", "TOLERANCE"), default=None)
    args = parser.parse_args()
    from skimage import data

    width, height = (int(v) for v in args.size.split("x"))
    photo = Image.fromarray(data.astronaut()).resize((width, height), Image.Resampling.LANCZOS).convert("L")
    rng = np.random.default_rng(0)
    hints = [
        Hint(float(x), float(y), f"#{r:02x}{g:02x}{b:02x}")
        for x, y, (r, g, b) in zip(
            rng.integers(0, width, args.hints),
            rng.integers(0, height, args.hints),
            rng.integers(0, 256, (args.hints, 3)),
            strict=True,
        )
    ]
    colorizer = Colorizer.from_pretrained(backend=args.backend)
    shipped = (propagate.REACH, propagate.TOLERANCE)
    cases = {"no hints": (None, shipped), f"{args.hints} hints, as shipped {shipped}": (hints, shipped)}
    if args.candidate is not None:
        cases[f"{args.hints} hints, candidate {tuple(args.candidate)}"] = (hints, tuple(args.candidate))
    times: dict[str, list[float]] = {name: [] for name in cases}
    for repeat in range(args.repeats + 1):  # the first round warms up
        for name, (given, (reach, tolerance)) in cases.items():
            propagate.REACH, propagate.TOLERANCE = reach, tolerance
            start = time.perf_counter()
            colorizer(photo, hints=given or ())
            if repeat:
                times[name].append(time.perf_counter() - start)
    print(f"{args.size}, backend {args.backend}, {args.repeats} runs each")
    for name, seconds in times.items():
        low, high = min(seconds), max(seconds)
        print(f"| {name} | median {statistics.median(seconds):.3f} s | {low:.3f}-{high:.3f} s |")


if __name__ == "__main__":
    main()
