"""End-to-end throughput of `polychrome colorize` over many JPEGs: decode, run, encode, per photo.

Usage: python benchmarks/colorize_throughput.py SHARD [SHARD ...] [--count 1000] [--device cuda]
    [--workers 1 4 8]

The JPEGs are copied out of the shards into a temporary folder first (not timed); then the same processing
the CLI does (`make_processor` over `plan_jobs`/`run_jobs`) colorizes them all into another folder. The model
load is timed separately. Prints a Markdown row per number of workers (threads, as `colorize --workers`).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from polychrome.cli.colorize import load_colorizer, make_processor
from polychrome.data.sources import iter_records
from polychrome.pipelines.batch import plan_jobs, run_jobs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("shards", nargs="+")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model", default=None)
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1],
        help="photos at once, as `colorize --workers`; one row each",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        photos, out = Path(tmp) / "photos", Path(tmp) / "out"
        photos.mkdir()
        for i, record in enumerate(iter_records(args.shards)):
            if i == args.count:
                break
            (photos / f"{i:05d}.jpg").write_bytes(record.data or Path(record.path).read_bytes())
        count = len(list(photos.iterdir()))
        start = time.perf_counter()
        colorizer = load_colorizer(args.model, args.device)
        loaded = time.perf_counter() - start
        jobs, problems = plan_jobs([str(photos)], str(out), suffix=".jpg")
        assert not problems, problems
        process = make_processor(colorizer, 256, 1.0, 0.0)
        jobs[0].output.parent.mkdir(parents=True, exist_ok=True)
        process(jobs[0])  # warm-up (CUDA context, kernels); its output is removed and made again below
        jobs[0].output.unlink()
        threads = f"cpu ({torch.get_num_threads()} threads)"
        device = torch.cuda.get_device_name() if args.device.startswith("cuda") else threads
        print("| device | workers | photos | failed | model load s | total s | photos/s |")
        print("|---|---|---|---|---|---|---|")
        for workers in args.workers:
            for job in jobs:
                job.output.unlink(missing_ok=True)
            start = time.perf_counter()
            report = run_jobs(jobs, process, workers=workers)
            elapsed = time.perf_counter() - start
            row = [device, workers, count, len(report.failed), f"{loaded:.2f}", f"{elapsed:.1f}"]
            print("| " + " | ".join(str(v) for v in row) + f" | {count / elapsed:.1f} |", flush=True)


if __name__ == "__main__":
    main()
