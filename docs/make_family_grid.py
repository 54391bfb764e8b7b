"""A sheet of the same photos colorized by several models: gray | one column per model | truth.

Usage: python docs/make_family_grid.py OUT.jpg MODEL [MODEL ...] [--photos chelsea coffee]

The photos are scikit-image's sample photos (shipped with that package), so the picture can be committed;
the sheet itself is `polychrome grid`'s.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PIL import Image
from skimage import data
from typer.testing import CliRunner

from polychrome.cli import app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("models", nargs="+", help="built-in names or model folders")
    parser.add_argument(
        "--photos", nargs="+", default=["chelsea", "coffee", "astronaut", "hubble_deep_field"]
    )
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for i, name in enumerate(args.photos):
            Image.fromarray(getattr(data, name)()).convert("RGB").save(Path(folder) / f"{i:02d}-{name}.png")
        models = [arg for model in args.models for arg in ("-m", model)]
        result = CliRunner().invoke(
            app,
            [
                "grid",
                *models,
                "-d",
                folder,
                "-o",
                args.out,
                "--count",
                str(len(args.photos)),
                "--columns",
                "1",
                "--size",
                "192",
                "--device",
                args.device,
                "--overwrite",
            ],
        )
    print(result.output.strip())


if __name__ == "__main__":
    main()
