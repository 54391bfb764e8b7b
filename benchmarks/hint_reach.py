"""How far one color hint moves the colors, by each method: what a person who says "this coat was red" sees
happen to the rest of the photo.

Usage: python benchmarks/hint_reach.py

For each of scikit-image's astronaut, coffee and chelsea (gray) and a synthetic photo of two flat halves
(L about 27 and 75, with noise), one hint of a color far from the photo's at a fixed point; each method's
output with the hint is compared with the same method's output without it (method 1: the built-in model,
hints spread; method 2: the built-in hint network). Prints, per photo and method, the mean change of ab
(Lab units) near the hint (under 30 px), at 30-100 px and beyond 150 px, and the share of pixels beyond 150
px that moved by more than 5; for the synthetic photo, the mean change on the hint's side and across the
edge. Runs in the base install (ONNX Runtime) in a few seconds.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from polychrome import Colorizer
from polychrome.pipelines.hints import Hint


def lab_ab(rgb: Image.Image) -> np.ndarray:
    from skimage.color import rgb2lab

    return rgb2lab(np.asarray(rgb))[..., 1:]


def two_halves() -> np.ndarray:
    photo = np.zeros((256, 256), np.float64)
    photo[:, :128], photo[:, 128:] = 70, 190
    return (photo + np.random.default_rng(0).normal(0, 4, photo.shape)).clip(0, 255).astype(np.uint8)


def main() -> None:
    from skimage import data

    colorizer = Colorizer.from_pretrained()
    methods = {"method 1 (spread)": "spread", "method 2 (network)": "network"}
    photos = {
        "astronaut": (data.astronaut(), Hint(256, 300, "#2040c0", radius=2)),
        "coffee": (data.coffee(), Hint(300, 200, "#20a040", radius=2)),
        "chelsea": (data.chelsea(), Hint(200, 150, "#3050d0", radius=2)),
    }
    print("| photo | method | near (< 30 px) | 30-100 px | beyond 150 px | share beyond 150 px moved > 5 |")
    print("|---|---|---|---|---|---|")
    for name, (truth, hint) in photos.items():
        gray = np.asarray(Image.fromarray(truth).convert("L"))
        rows, cols = np.mgrid[: gray.shape[0], : gray.shape[1]]
        distance = np.hypot(rows - hint.y, cols - hint.x)
        for label, method in methods.items():
            before = lab_ab(colorizer(gray, hints=[hint], hint_method=method).images[0])
            after = lab_ab(colorizer(gray).images[0] if method == "spread" else _unhinted(colorizer, gray))
            change = np.linalg.norm(before - after, axis=-1)
            far = change[distance > 150]
            print(
                f"| {name} | {label} | {change[distance < 30].mean():.1f} | "
                f"{change[(distance >= 30) & (distance < 100)].mean():.1f} | {far.mean():.1f} | "
                f"{(far > 5).mean():.2f} |"
            )
    gray = two_halves()
    print("\n| two flat halves, hint on the dark one | method | hint's side | across the edge |")
    print("|---|---|---|---|")
    for color in ("#c02020", "#2040c0"):
        hint = Hint(64, 128, color, radius=2)
        for label, method in methods.items():
            before = lab_ab(colorizer(gray, hints=[hint], hint_method=method).images[0])
            after = lab_ab(colorizer(gray).images[0] if method == "spread" else _unhinted(colorizer, gray))
            change = np.linalg.norm(before - after, axis=-1)
            print(f"| {color} | {label} | {change[:, :120].mean():.1f} | {change[:, 136:].mean():.1f} |")


def _unhinted(colorizer: Colorizer, gray: np.ndarray) -> Image.Image:
    """The hint network's own output without hints (not the built-in model's)."""
    assert colorizer.hint_model is not None
    return Colorizer.from_pretrained(colorizer.hint_model)(gray).images[0]


if __name__ == "__main__":
    main()
