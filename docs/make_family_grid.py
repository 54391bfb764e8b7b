"""A grid of the same photos colorized by several models: gray | one column per model | truth.

Usage: python docs/make_family_grid.py OUT.png NAME=MODEL_DIR [NAME=MODEL_DIR ...] [--photos chelsea coffee]

The photos are scikit-image's sample photos (shipped with that package), so the picture can be committed.
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image, ImageDraw
from skimage import data

from polychrome import Colorizer

SIZE = 192


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("models", nargs="+", help="NAME=MODEL_DIR")
    parser.add_argument(
        "--photos", nargs="+", default=["chelsea", "coffee", "astronaut", "hubble_deep_field"]
    )
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    models = [m.split("=", 1) for m in args.models]
    columns = ["gray", *(name for name, _ in models), "truth"]
    rows = []
    for photo in args.photos:
        image = Image.fromarray(getattr(data, photo)()).convert("RGB")
        scale = SIZE / min(image.size)
        image = image.resize(
            (round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS
        )
        left, top = (image.width - SIZE) // 2, (image.height - SIZE) // 2
        truth = image.crop((left, top, left + SIZE, top + SIZE))
        gray = truth.convert("L").convert("RGB")
        cells = [gray]
        for _, path in models:
            cells.append(Colorizer.from_pretrained(path, device=args.device)(gray).images[0])
        rows.append([*cells, truth])
    label = 18
    sheet = Image.new("RGB", (SIZE * len(columns), label + SIZE * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for j, name in enumerate(columns):
        draw.text((j * SIZE + 4, 3), name, fill="black")
    for i, cells in enumerate(rows):
        for j, cell in enumerate(cells):
            sheet.paste(cell, (j * SIZE, label + i * SIZE))
    sheet.save(args.out)
    print(args.out, np.asarray(sheet).shape)


if __name__ == "__main__":
    main()
