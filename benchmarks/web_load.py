"""Load on `polychrome serve` and `polychrome turing serve` at once: is every request answered, and how much
memory does the colorizing server take?

Starts both servers as their commands do (separate processes on free local ports), then sends N concurrent
`POST /api/colorize` of a 1-megapixel JPEG while N Turing participants answer all their pairs. Prints the
status counts, requests that got no answer (connection refused, reset or timed out), the colorizing server's
peak RSS, and the preview round trip of one 1 MP photo on the idle server.

Usage: python benchmarks/web_load.py [--clients 50] [--queue 8]
"""

from __future__ import annotations

import argparse
import collections
import io
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _photo(width: int = 1155, height: int = 866, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    gray = 60 + 120 * x / width + 40 * np.sin(y / 30) + rng.normal(0, 6, (height, width))
    out = io.BytesIO()
    Image.fromarray(gray.clip(0, 255).astype(np.uint8), "L").save(out, "JPEG", quality=90)
    return out.getvalue()


def _wait_up(url: str, process: subprocess.Popen) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _turing_photos(root: Path) -> list[str]:
    for i in range(4):
        for folder, scale in (("real", 1.0), ("model", 0.6)):
            (root / folder).mkdir(parents=True, exist_ok=True)
            pixels = np.random.default_rng(i).integers(0, 256, (60, 80, 3)) * scale
            Image.fromarray(pixels.astype(np.uint8)).save(root / folder / f"p{i}.png")
    args = [
        "--real",
        str(root / "real"),
        "--model",
        f"m={root / 'model'}",
        "--db",
        str(root / "answers.sqlite"),
    ]
    return args + ["--trials-per-person", "3"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--queue", type=int, default=8)
    args = parser.parse_args()
    photo = _photo()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        web_port, turing_port = _free_port(), _free_port()
        web = subprocess.Popen(
            [sys.executable, "-m", "polychrome", "serve", "--port", str(web_port),
             "--queue", str(args.queue)],
            env=env, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        turing = subprocess.Popen(
            [sys.executable, "-m", "polychrome", "turing", "serve", "--port", str(turing_port),
             *_turing_photos(root)],
            env=env, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        web_url, turing_url = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{turing_port}"
        try:
            _wait_up(f"{web_url}/api/health", web)
            _wait_up(f"{turing_url}/", turing)
            idle = []
            for _ in range(6):
                began = time.perf_counter()
                reply = httpx.post(
                    f"{web_url}/api/colorize", files={"image": ("p.jpg", photo)}, data={"format": "jpeg"}
                )
                assert reply.status_code == 200, reply.text
                idle.append(time.perf_counter() - began)
            rss_idle = _peak_rss_mb(web.pid)

            statuses: collections.Counter[str] = collections.Counter()
            latencies: list[float] = []
            answers: collections.Counter[str] = collections.Counter()
            start = threading.Barrier(2 * args.clients)
            lock = threading.Lock()

            def colorize() -> None:
                start.wait()
                began = time.perf_counter()
                try:
                    reply = httpx.post(
                        f"{web_url}/api/colorize", files={"image": ("p.jpg", photo)}, timeout=300
                    )
                    outcome = str(reply.status_code)
                except httpx.HTTPError as err:
                    outcome = f"no answer ({type(err).__name__})"
                with lock:
                    statuses[outcome] += 1
                    if outcome == "200":
                        latencies.append(time.perf_counter() - began)

            def participate() -> None:
                client = httpx.Client(base_url=turing_url, timeout=60)
                start.wait()
                try:
                    while not (state := client.get("/api/trial").json())["done"]:
                        body = {"trial": state["trial"], "choice": "left", "response_ms": 900}
                        outcome = str(client.post("/api/answer", json=body).status_code)
                        with lock:
                            answers[outcome] += 1
                except httpx.HTTPError as err:
                    with lock:
                        answers[f"no answer ({type(err).__name__})"] += 1

            threads = [threading.Thread(target=colorize) for _ in range(args.clients)]
            threads += [threading.Thread(target=participate) for _ in range(args.clients)]
            began = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - began
            rss_peak = _peak_rss_mb(web.pid)
        finally:
            for process in (web, turing):
                process.terminate()
                process.wait(30)
        with sqlite3.connect(root / "answers.sqlite") as db:
            stored = db.execute("SELECT COUNT(*) FROM trials WHERE chosen_side IS NOT NULL").fetchone()[0]

    print(f"machine: {os.cpu_count()} CPU cores; clients: {args.clients} colorize + {args.clients} Turing")
    print(f"idle preview round trip, 1155x866 JPEG in and out: median {statistics.median(idle[1:]):.3f} s")
    print(f"colorize answers: {dict(sorted(statuses.items()))} in {wall:.1f} s")
    if latencies:
        print(f"  200s answered in {min(latencies):.2f} .. {max(latencies):.2f} s")
    print(f"Turing answers: {dict(sorted(answers.items()))}; stored {stored} of {3 * args.clients}")
    print(f"colorizing server peak RSS: {rss_peak:.0f} MB (after the idle requests: {rss_idle:.0f} MB)")


if __name__ == "__main__":
    main()
