"""The built-in model on a GPU: agreement with the CPU output, and time per photo.

Usage (on a machine with CUDA): python benchmarks/gpu_check.py
Prints the largest difference from the CPU fp32 output for CUDA fp32 and bf16, and the median time to
colorize a 1024x768 and a 6000x4000 photo (the network on the GPU; the full-resolution merge on the CPU).
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch
from PIL import Image
from skimage import data

from polychrome import Colorizer


def photo(size: tuple[int, int]) -> np.ndarray:
    gray = Image.fromarray(data.chelsea()).convert("L").resize(size, Image.Resampling.BICUBIC)
    return np.repeat(np.asarray(gray, dtype=np.float32)[..., None] / 255, 3, axis=2)


def colorized(colorizer: Colorizer, rgb: np.ndarray) -> np.ndarray:
    return colorizer(rgb, output_type="np").images[0]


def timed(colorizer: Colorizer, rgb: np.ndarray, repeats: int) -> float:
    colorized(colorizer, rgb)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        colorized(colorizer, rgb)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    small = photo((1024, 768))
    reference = colorized(Colorizer.from_pretrained(backend="torch"), small)  # PyTorch on the CPU, fp32
    print("| run | max abs difference from CPU fp32 | 1024x768 (s) | 6000x4000 (s) |")
    print("|---|---|---|---|")
    big = photo((6000, 4000))
    for precision in ("fp32", "bf16-mixed"):
        colorizer = Colorizer.from_pretrained(device="cuda", precision=precision)
        diff = float(np.abs(colorized(colorizer, small) - reference).max())
        seconds = timed(colorizer, small, 10), timed(colorizer, big, 3)
        print(f"| cuda {precision} | {diff:.4f} | {seconds[0]:.3f} | {seconds[1]:.3f} |", flush=True)


if __name__ == "__main__":
    main()
