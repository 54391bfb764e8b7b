"""Make docs/example.jpg: gray | colorized by the built-in model | original, from scikit-image samples.

Usage: python docs/make_example.py [--model PATH_OR_NAME] [--photos chelsea coffee]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

from polychrome import Colorizer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    parser.add_argument("--photos", nargs="+", default=["chelsea", "coffee"])
    parser.add_argument("--height", type=int, default=240)
    args = parser.parse_args()
    colorizer = Colorizer.from_pretrained(args.model)
    rows = []
    for name in args.photos:
        original = Image.fromarray(getattr(data, name)()).convert("RGB")
        scale = args.height / original.height
        original = original.resize((round(original.width * scale), args.height), Image.Resampling.LANCZOS)
        gray = original.convert("L").convert("RGB")
        colorized = colorizer(gray).images[0]
        rows.append(np.concatenate([np.asarray(im) for im in (gray, colorized, original)], axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    out = Path(__file__).with_name("example.jpg")
    Image.fromarray(np.concatenate(rows, axis=0)[:-4]).save(out, quality=88, optimize=True)
    print(out)


if __name__ == "__main__":
    main()
