"""ONNX Runtime beside PyTorch on this CPU, in one run: the network, photos file to file, peak memory, and
the install without PyTorch (issue 18).

Usage: python benchmarks/backends_cpu.py [--repeats 7] [--skip-install] [--skip-memory] [--onnx-only]

- network: the built-in model (and its int8 copy on ONNX Runtime) and Zhang et al. 2016's network (random
  weights: speed only) at render size 256 (a 4:3 photo: 256x341 in, padded to the input multiple), median of
  --repeats calls after one warm-up;
- photo: decode + colorize + encode of a gray JPEG (quality 95) inside a process that holds the model, as
  `polychrome colorize` does for each photo of a batch (8-bit in, 8-bit out), median of --repeats; ONNX
  Runtime with model.onnx and with model-int8.onnx (`--precision int8`);
- memory: `polychrome colorize` on one photo in a fresh process, its peak resident memory (ru_maxrss);
- install: `pip install` of this checkout into a fresh venv (the base install, no PyTorch) and the first
  `polychrome colorize`, wall time, and the venv's site-packages size beside the full venv's torch folder.
The load average before and after is printed: the machine may be shared. ``--onnx-only`` leaves out
PyTorch and Zhang et al.'s network (a short run, less exposed to other jobs); the script measures whichever
polychrome it imports, so ``PYTHONPATH=OTHER/src`` measures another checkout with the same script (the int8
rows appear where its built-in model has ``model-int8.onnx``).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

import polychrome
from polychrome import Colorizer
from polychrome.export import export_onnx
from polychrome.images import load_image, save_image
from polychrome.models import create_model
from polychrome.pipelines.image import resolve_model_path
from polychrome.pipelines.onnx_network import OnnxNetwork
from polychrome.pipelines.render import predict_ab_lowres

ROOT = Path(__file__).resolve().parents[1]
BUILTIN = resolve_model_path(None)  # the built-in model of the polychrome imported, not of this checkout
INT8 = BUILTIN / "model-int8.onnx"


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def gray_jpeg(path: Path, size: tuple[int, int]) -> Path:
    from skimage import data

    Image.fromarray(data.astronaut()).convert("L").resize(size, Image.Resampling.BICUBIC).save(
        path, quality=95
    )
    return path


def network_rows(tmp: Path, repeats: int, onnx_only: bool) -> list[tuple[str, str, float]]:
    rows = []
    lightness = torch.linspace(0, 100, 256 * 352).reshape(1, 1, 256, 352)
    array = lightness.numpy()
    models = [("effunet-lite0 (built-in)", "builtin", BUILTIN / "model.onnx")]
    if not onnx_only:
        torch.manual_seed(0)
        zhang = create_model("zhang2016_cls").eval()
        export_onnx(zhang, tmp / "zhang.onnx", {})
        models.append(("zhang2016_cls", zhang, tmp / "zhang.onnx"))
    for name, model, onnx_file in models:
        if not onnx_only:
            torch_model = Colorizer.from_pretrained(backend="torch").model if model == "builtin" else model
            with torch.inference_mode():
                seconds = median_seconds(lambda m=torch_model: predict_ab_lowres(m, lightness), repeats)
            rows.append((name, "torch", seconds))
        network = OnnxNetwork(onnx_file)
        rows.append((name, "onnx", median_seconds(lambda n=network: n.predict_ab(array), repeats)))
        if model == "builtin" and INT8.is_file():
            network = OnnxNetwork(INT8)
            rows.append((name, "onnx int8", median_seconds(lambda n=network: n.predict_ab(array), repeats)))
    return rows


def photo_rows(tmp: Path, repeats: int, onnx_only: bool) -> list[tuple[str, str, float]]:
    rows = []
    backends = ([] if onnx_only else ["torch"]) + ["onnx"] + (["onnx int8"] if INT8.is_file() else [])
    for size in ((1024, 768), (6000, 4000)):
        photo = gray_jpeg(tmp / f"gray-{size[0]}.jpg", size)
        for backend in backends:
            if backend == "onnx int8":
                colorizer = Colorizer.from_pretrained(precision="int8")
            else:
                colorizer = Colorizer.from_pretrained(backend=backend)

            def file_to_file(c: Colorizer = colorizer, p: Path = photo) -> None:
                image = load_image(p, keep_8bit=True)
                save_image(tmp / "out.jpg", c(image.rgb).images[0], image.alpha, metadata=image.metadata)

            count = repeats if size[0] < 2000 else max(3, repeats // 2)
            rows.append((f"{size[0]}x{size[1]} JPEG to JPEG", backend, median_seconds(file_to_file, count)))
    return rows


def peak_memory_mb(photo: Path, out: Path, backend: str, python: str = sys.executable) -> tuple[float, float]:
    command = [python, "-m", "polychrome", "colorize", str(photo), "-o", str(out), "--overwrite"]
    command += ["--backend", backend]
    script = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *command], check=True, capture_output=True, text=True
    )
    seconds, megabytes = done.stdout.split()
    return float(seconds), float(megabytes)


def memory_rows(tmp: Path, onnx_only: bool) -> list[tuple[str, str, float, float]]:
    rows = []
    for size in ((6000, 4000), (8000, 8000)):
        photo = gray_jpeg(tmp / f"mem-{size[0]}.jpg", size)
        for backend in ("onnx",) if onnx_only else ("torch", "onnx"):
            seconds, peak = peak_memory_mb(photo, tmp / f"mem-out-{backend}.jpg", backend)
            budget = 12 * size[0] * size[1] / 2**20 + 300
            rows.append((f"{size[0]}x{size[1]} cold CLI", backend, seconds, peak, budget))
    return rows


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def install_rows(tmp: Path) -> list[str]:
    venv = tmp / "venv"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin/pip"), "install", "-q", str(ROOT)], check=True, capture_output=True)
    installed = time.perf_counter() - start
    photo = gray_jpeg(tmp / "install.jpg", (1024, 768))
    subprocess.run(
        [str(venv / "bin/polychrome"), "colorize", str(photo), "-o", str(tmp / "install-out")], check=True
    )
    total = time.perf_counter() - start
    site = next(venv.glob("lib/python*/site-packages"))
    torch_dir = Path(torch.__file__).parent
    has_torch = (site / "torch").exists()
    return [
        f"fresh venv + pip install of the checkout: {installed:.1f} s; + first colorize: {total:.1f} s",
        f"installed size (site-packages): {folder_mb(site):.0f} MB, torch in it: {has_torch}",
        f"for comparison, torch alone ({torch.__version__}): {folder_mb(torch_dir):.0f} MB",
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--skip-install", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--onnx-only", action="store_true", help="no PyTorch, no Zhang et al.'s network")
    args = parser.parse_args()
    import onnxruntime

    print(
        f"machine: {os.cpu_count()} cores ({platform.processor() or platform.machine()}), python "
        f"{platform.python_version()}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"onnxruntime {onnxruntime.__version__}; load average {os.getloadavg()[0]:.2f}; polychrome from "
        f"{Path(polychrome.__file__).parent}"
    )
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        print("\n| network at render size 256 (256x352) | backend | median ms |\n|---|---|---|")
        for model, backend, seconds in network_rows(tmp, args.repeats, args.onnx_only):
            print(f"| {model} | {backend} | {seconds * 1000:.1f} |")
        print("\n| photo, in a running process | backend | median s |\n|---|---|---|")
        for what, backend, seconds in photo_rows(tmp, args.repeats, args.onnx_only):
            print(f"| {what} | {backend} | {seconds:.3f} |")
        if not args.skip_memory:
            print("\n| photo, `polychrome colorize` in a fresh process | backend | s | peak MB | budget MB |")
            print("|---|---|---|---|---|")
            for what, backend, seconds, peak, budget in memory_rows(tmp, args.onnx_only):
                print(f"| {what} | {backend} | {seconds:.2f} | {peak:.0f} | {budget:.0f} |")
        if not args.skip_install:
            print()
            for line in install_rows(tmp):
                print(line)
        shutil.rmtree(tmp / "venv", ignore_errors=True)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}; peak of this process {_self_peak():.0f} MB")


def _self_peak() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
