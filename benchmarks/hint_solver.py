"""How far spreading's solver stops from the exact solution of its own system, and what the stop costs.

Usage: python benchmarks/hint_solver.py [--side 170] [--hints 10] [--tolerances 1e-5 1e-6 1e-7] [--reach R]

Method 1 of color hints (`polychrome.color.propagate`) solves a sparse system by conjugate gradients and
stops at a relative residual (1e-5 as shipped). For scikit-image's color photos brought to a grid of
``--side`` cells on the longer side (about the built-in model's grid at its default render size), with
``--hints`` hints at random cells taking the photo's own colors, this prints for each tolerance: the solve's
time, the mean and 99th-percentile distance (Lab units of ab) from a solve to 1e-12, and the share of cells
the hints hold (their reach alpha above 0.5) against that of the exact solution. Needs scikit-image.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from PIL import Image

from polychrome.color.lab_np import rgb_to_lab
from polychrome.color.propagate import GridHint, propagate_hints

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def grid_lab(name: str, side: int) -> np.ndarray:
    """A scikit-image photo as Lab ``(3, H, W)`` with ``side`` cells on its longer side."""
    from skimage import data

    photo = Image.fromarray(getattr(data, name)()[..., :3])
    scale = side / max(photo.size)
    photo = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.Resampling.BOX)
    return rgb_to_lab(np.asarray(photo) / 255.0).transpose(2, 0, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=170)
    parser.add_argument("--hints", type=int, default=10)
    parser.add_argument("--tolerances", type=float, nargs="+", default=[1e-5, 1e-6, 1e-7])
    parser.add_argument(
        "--reach", type=float, default=None, help="the solver's reach (its default if left out)"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    options = {} if args.reach is None else {"reach": args.reach}
    print("| photo | tolerance | solve s | mean distance | p99 distance | cells held (exact) |")
    print("|---|---|---|---|---|---|")
    for name in PHOTOS:
        lab = grid_lab(name, args.side)
        height, width = lab.shape[1:]
        rows, cols = rng.integers(0, height, args.hints), rng.integers(0, width, args.hints)
        hints = [
            GridHint(float(r), float(c), 1.0, float(lab[1, r, c]), float(lab[2, r, c]))
            for r, c in zip(rows, cols, strict=True)
        ]
        # On a gray prior the output is the hints' own share; hints all of a = 1 make it their reach.
        gray = np.zeros_like(lab[1:])
        marks = [GridHint(h.row, h.col, h.radius, 1.0, 0.0) for h in hints]
        exact = propagate_hints(lab[0], gray, hints, tolerance=1e-12, max_iterations=100_000, **options)
        reach = propagate_hints(lab[0], gray, marks, tolerance=1e-12, max_iterations=100_000, **options)[0]
        for tolerance in args.tolerances:
            start = time.perf_counter()
            solved = propagate_hints(lab[0], gray, hints, tolerance=tolerance, **options)
            seconds = time.perf_counter() - start
            distance = np.sqrt(np.square(solved - exact).sum(axis=0))
            held = (propagate_hints(lab[0], gray, marks, tolerance=tolerance, **options)[0] > 0.5).mean()
            print(
                f"| {name} {height}x{width} | {tolerance:g} | {seconds:.3f} | {distance.mean():.2f} | "
                f"{np.percentile(distance, 99):.2f} | {held:.2f} ({(reach > 0.5).mean():.2f}) |"
            )


if __name__ == "__main__":
    main()
