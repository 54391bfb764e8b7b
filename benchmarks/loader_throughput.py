"""Images per second the data paths deliver, to compare with the training step rate.

Usage: python benchmarks/loader_throughput.py SHARD [SHARD ...] [--workers N] [--device cuda]

For crop sizes 128 and 256 it measures:
- cache: `polychrome prepare` the shards once (not timed), then draw batches of random crops and flips from
  the images held on the device, as `polychrome train` does (the Lab conversion included);
- stream: `StreamingPhotos` read straight from the shards by a DataLoader with N worker processes (decode,
  filter, resize, crop on the CPU), including the copy to the device.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from polychrome.color.lab import rgb_to_lab
from polychrome.data.cache import build_cache, read_cache
from polychrome.data.prepare import PrepareOptions
from polychrome.data.sources import iter_records
from polychrome.data.stream import StreamingPhotos
from polychrome.train.config import DataConfig
from polychrome.train.data import Collection, sample_batch


def cache_rate(images: np.ndarray, crop: int, batch: int, device: torch.device, seconds: float) -> float:
    spec = DataConfig(crop_size=crop, batch_size=batch)
    on_device = torch.from_numpy(images).to(device)
    collections = [Collection(spec, on_device, on_device[:1], "benchmark")]
    delivered, step, start = 0, 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        lab = rgb_to_lab(sample_batch(collections, batch, seed=0, step=step))
        if device.type == "cuda":
            torch.cuda.synchronize()
        delivered, step = delivered + lab.shape[0], step + 1
    return delivered / (time.perf_counter() - start)


def stream_rate(
    shards: list[str], size: int, crop: int, batch: int, workers: int, device: torch.device, seconds: float
) -> float:
    data = StreamingPhotos(shards, PrepareOptions(image_size=size, min_size=32), crop)
    loader = DataLoader(data, batch_size=batch, num_workers=workers, persistent_workers=False)
    delivered, start = 0, None
    for crops in loader:
        rgb = crops.to(device, non_blocking=True).permute(0, 3, 1, 2).float() / 255
        rgb_to_lab(rgb)
        if start is None:  # the first batch pays for worker start-up
            start = time.perf_counter()
            continue
        delivered += crops.shape[0]
        if time.perf_counter() - start > seconds:
            break
    return delivered / (time.perf_counter() - start) if start else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("shards", nargs="+")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"device {device}, {args.workers} stream workers, batch {args.batch}")
    print("| crop | cache (images/s) | stream from shards (images/s) |")
    print("|---|---|---|")
    with tempfile.TemporaryDirectory(dir=args.cache_dir) as tmp:
        for crop in (128, 256):
            size = crop + crop // 8
            path = Path(tmp) / f"c{size}.h5"
            build_cache(iter_records(args.shards), path, PrepareOptions(size, 32), sources=args.shards)
            images = read_cache(path).images
            cached = cache_rate(images, crop, args.batch, device, args.seconds)
            streamed = stream_rate(args.shards, size, crop, args.batch, args.workers, device, args.seconds)
            print(f"| {crop} | {cached:.0f} | {streamed:.0f} |", flush=True)


if __name__ == "__main__":
    main()
