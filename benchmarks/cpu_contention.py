"""`polychrome colorize` on the CPU with and without another busy PyTorch process beside it, under each
OpenMP wait policy: why polychrome makes PyTorch's waiting threads sleep (OMP_WAIT_POLICY=PASSIVE).

Each configuration runs the real command in a fresh process (the policy is read when PyTorch loads), on the
same photos into a fresh folder; the competing process is a 2-thread PyTorch loop, like a second job or a
training run sharing the laptop. Prints a Markdown table of wall-clock seconds (best and worst of --repeats).

Usage: python benchmarks/cpu_contention.py [--photos ../shared/data/kodak] [--count 6] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUSY = """
import torch
torch.set_num_threads(2)
a = torch.rand(256, 256)
while True:
    for _ in range(50):
        b = (a * 1.0001).sin()
"""


def colorize_seconds(photos: Path, policy: str) -> float:
    env = dict(os.environ, OMP_WAIT_POLICY=policy)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "polychrome", "colorize", str(photos), "-o", out, "--workers", "1"],
            env=env,
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "kodak"
    parser.add_argument("--photos", type=Path, default=default)
    parser.add_argument("--count", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        chosen = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
        for photo in chosen[: args.count]:
            shutil.copy(photo, folder)
        print(f"{args.count} photos from {args.photos}, {os.cpu_count()} CPU cores")
        print(f"| beside it | OMP_WAIT_POLICY | seconds, best / worst of {args.repeats} |")
        print("|---|---|---|")
        for busy in (False, True):
            competitor = subprocess.Popen([sys.executable, "-c", BUSY]) if busy else None
            try:
                time.sleep(3 if busy else 0)  # let it load PyTorch and start working
                for policy in ("ACTIVE", "PASSIVE"):
                    times = [colorize_seconds(Path(folder), policy) for _ in range(args.repeats)]
                    label = "a busy 2-thread PyTorch process" if busy else "nothing (idle)"
                    print(f"| {label} | {policy} | {min(times):.1f} / {max(times):.1f} |", flush=True)
            finally:
                if competitor is not None:
                    competitor.kill()
                    competitor.wait()


if __name__ == "__main__":
    main()
