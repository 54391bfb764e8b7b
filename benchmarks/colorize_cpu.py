"""End-to-end CPU time and peak memory of `polychrome colorize` on a 1024x768 and a 6000x4000 JPEG.

Usage: python benchmarks/colorize_cpu.py [--model PATH_OR_NAME] [--photo ../shared/data/kodak/kodim05.png]
       [--repeats 5]

Two measurements per size:
- cold: the whole command in a fresh process (interpreter start, imports, model load, decode, colorize,
  encode), with the child's peak resident memory (ru_maxrss);
- warm: decode + colorize + encode of one photo inside a process that already holds the model (what each
  photo of a batch costs), the median of --repeats runs, with the time split into its steps.
The photos are a Kodak image turned gray and resized to each size, saved as JPEG quality 95.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from polychrome import Colorizer
from polychrome.images import load_image, save_image

SIZES = ((1024, 768), (6000, 4000))


def make_photo(source: Path, size: tuple[int, int], path: Path) -> None:
    Image.open(source).convert("L").resize(size, Image.Resampling.BICUBIC).save(path, quality=95)


def cold_run(photo: Path, out: Path, model: str | None) -> tuple[float, float]:
    cmd = [sys.executable, "-m", "polychrome", "colorize", str(photo), "-o", str(out), "--overwrite"]
    if model:
        cmd += ["--model", model]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    elapsed = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak_kib < before:  # ru_maxrss of children is the max over all children so far
        peak_kib = before
    return elapsed, peak_kib / 1024


def warm_runs(colorizer: Colorizer, photo: Path, out: Path, repeats: int) -> dict[str, float]:
    steps: dict[str, list[float]] = {"decode": [], "colorize": [], "encode": [], "total": []}
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        image = load_image(photo)
        t1 = time.perf_counter()
        rgb = colorizer(image.rgb, output_type="np").images[0]
        t2 = time.perf_counter()
        save_image(out, rgb)
        t3 = time.perf_counter()
        for key, value in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t3 - t0), strict=True):
            steps[key].append(value)
    return {k: statistics.median(v[1:]) for k, v in steps.items()}  # first run warms up


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    default_photo = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "kodak" / "kodim05.png"
    parser.add_argument("--photo", type=Path, default=default_photo)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cpu = platform.processor() or platform.machine()
    print(
        f"machine: {os.cpu_count()} cores ({cpu}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    colorizer = Colorizer.from_pretrained(args.model)
    print("| photo | cold command (s) | peak RSS (MiB) | warm total (s) | decode | colorize | encode |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for w, h in SIZES:
            photo = Path(tmp) / f"gray_{w}x{h}.jpg"
            out = Path(tmp) / f"color_{w}x{h}.jpg"
            make_photo(args.photo, (w, h), photo)
            cold, peak = min((cold_run(photo, out, args.model) for _ in range(2)), key=lambda r: r[0])
            warm = warm_runs(colorizer, photo, out, args.repeats)
            print(
                f"| {w}x{h} JPEG | {cold:.2f} | {peak:.0f} | {warm['total']:.3f} | {warm['decode']:.3f} | "
                f"{warm['colorize']:.3f} | {warm['encode']:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
