"""DDP under torchrun, on CPU with the gloo backend: two processes, one run."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from polychrome.models import load_pretrained
from polychrome.train.distributed import Distributed, init_distributed
from tests.tiny_runs import tiny_run_sets


def _photos(folder: Path, count: int = 16) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        y, x = np.mgrid[0:48, 0:48] / 48
        rgb = np.stack([np.sin(6 * x * rng.uniform(0.5, 2) + i), np.cos(5 * y + i), x * y], axis=-1)
        Image.fromarray((127.5 + 120 * rgb).clip(0, 255).astype(np.uint8)).save(folder / f"{i:02d}.png")
    return folder


def _torchrun(photos: Path, run_dir: Path, steps: int, resume: bool = False) -> subprocess.CompletedProcess:
    # A constant rate after warm-up, so 2 + 2 steps equal 4 straight ones.
    extra = ("log_every=1", "optim.warmup_steps=1", "optim.schedule=step", "optim.step_every=1000")
    sets = tiny_run_sets(photos, steps, 48, *extra)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    command += ["-m", "polychrome", "train", "--run-dir", str(run_dir)]
    command += sets
    if resume:
        command.append("--resume")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ddp")
    photos = _photos(root / "photos")
    straight = _torchrun(photos, root / "straight", steps=4)
    assert straight.returncode == 0, straight.stderr[-3000:]
    first = _torchrun(photos, root / "split", steps=2)
    assert first.returncode == 0, first.stderr[-3000:]
    second = _torchrun(photos, root / "split", steps=4, resume=True)
    assert second.returncode == 0, second.stderr[-3000:]
    return root / "straight", root / "split"


def test_two_processes_train_one_model_and_write_once(runs: tuple[Path, Path]) -> None:
    straight, _ = runs
    with (straight / "metrics.csv").open() as f:
        steps = [int(r["step"]) for r in csv.DictReader(f)]
    with (straight / "train.csv").open() as f:
        logged = list(csv.DictReader(f))

    assert steps == [2, 4]  # validated by rank 0 only, not once per process
    assert [int(r["step"]) for r in logged] == [1, 2, 3, 4]
    model = load_pretrained(straight / "model")
    with torch.no_grad():
        assert torch.isfinite(model.predict_ab(torch.full((1, 1, 32, 32), 40.0))).all()


def test_a_resumed_distributed_run_continues_exactly(runs: tuple[Path, Path]) -> None:
    straight, split = runs
    a = load_pretrained(straight / "model").state_dict()
    b = load_pretrained(split / "model").state_dict()

    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_single_process_needs_no_process_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx, device = init_distributed("cpu")

    assert ctx == Distributed() and not ctx.enabled and ctx.is_main
    assert device == torch.device("cpu")
    assert ctx.any(True, device) and not ctx.any(False, device)


def test_a_named_gpu_under_torchrun_is_refused_not_replaced_by_the_cpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    with pytest.raises(ValueError, match="'cuda:1': under torchrun each process trains on GPU LOCAL_RANK"):
        init_distributed("cuda:1")
