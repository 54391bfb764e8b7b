"""How far one color hint moves the colors, by each method: what a person who says "this coat was red" sees
happen to the rest of the photo.

Usage: python benchmarks/hint_reach.py

For each of scikit-image's astronaut, coffee and chelsea (gray) and four synthetic photos of a flat dark
shape on a flat light ground (L about 38 and 68), one hint of a color far from the photo's; each method's
output with the hint is compared with the same method's output without it (method 1: the built-in model,
hints spread; method 2: the built-in hint network). Prints, per photo and method, the mean change of ab
(Lab units) near the hint (under 30 px), at 30-100 px and beyond 150 px, and the share of pixels beyond 150
px that moved by more than 5; for the synthetic photos, the mean change in the shape (where the hint is) and
on the ground more than 12 px from it. Runs in the base install (ONNX Runtime) in a few seconds.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from polychrome import Colorizer
from polychrome.pipelines.hints import Hint


def lab_ab(rgb: Image.Image) -> np.ndarray:
    from skimage.color import rgb2lab

    return rgb2lab(np.asarray(rgb))[..., 1:]


def shapes() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Synthetic photos of a flat dark shape (gray 90) on a flat light ground (gray 170), 1024x768, each with
    the mask of the ground more than 12 px from the shape: two halves (an upright edge), a rectangle, a
    trapezoid (slanted edges) and a disc."""
    from PIL import ImageDraw

    outlines = {
        "two halves": lambda d: d.rectangle([0, 0, 511, 767], fill=90),
        "rectangle": lambda d: d.rectangle([300, 250, 700, 600], fill=90),
        "trapezoid": lambda d: d.polygon([(300, 250), (700, 300), (780, 650), (250, 600)], fill=90),
        "disc": lambda d: d.ellipse([300, 200, 700, 600], fill=90),
    }
    photos = {}
    for name, draw in outlines.items():
        image = Image.new("L", (1024, 768), 170)
        draw(ImageDraw.Draw(image))
        photo = np.asarray(image)
        shape = (photo == 90).astype(np.uint8)
        near = np.asarray(Image.fromarray(shape * 255).filter(ImageFilter.MaxFilter(25))) > 0
        photos[name] = (photo, ~near)
    return photos


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
    print("\n| dark shape on a light ground, a red hint inside it | method | in the shape | on the ground |")
    print("|---|---|---|---|")
    hint = Hint(420, 450, "#c02020", radius=2)
    for name, (gray, ground) in shapes().items():
        inside = gray == 90
        for label, method in methods.items():
            before = lab_ab(colorizer(gray, hints=[hint], hint_method=method).images[0])
            after = lab_ab(colorizer(gray).images[0] if method == "spread" else _unhinted(colorizer, gray))
            change = np.linalg.norm(before - after, axis=-1)
            print(f"| {name} | {label} | {change[inside].mean():.1f} | {change[ground].mean():.1f} |")


def _unhinted(colorizer: Colorizer, gray: np.ndarray) -> Image.Image:
    """The hint network's own output without hints (not the built-in model's)."""
    assert colorizer.hint_model is not None
    return Colorizer.from_pretrained(colorizer.hint_model)(gray).images[0]


if __name__ == "__main__":
    main()
