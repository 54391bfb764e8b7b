"""A training run killed with SIGKILL (no chance to save) resumes from its last checkpoint and ends exactly
where an uninterrupted run ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from polychrome.models import load_pretrained
from polychrome.train.checkpoint import load_checkpoint
from polychrome.train.config import load_config
from polychrome.train.loop import train

STEPS = 120


def _overrides(photos: Path) -> list[str]:
    prepare = "{image_size: 48, min_size: 32, split: [0.75, 0.25, 0]}"
    collection = f"sources: ['{photos}'], prepare: {prepare}, crop_size: 32"
    return [
        "model.name=effunet_tiny_reg",
        "model.pretrained_encoder=false",
        f"data=[{{{collection}}}]",
        "batch_size=2",
        f"steps={STEPS}",
        "steps_per_epoch=4",  # a checkpoint every 4 steps
        "device=cpu",
        "precision=fp32",
        "workers=1",
        "log_every=4",
        "tensorboard=false",
        "val_max_images=2",
        "grid_images=1",
    ]


def test_sigkill_then_resume_loses_only_the_steps_since_the_checkpoint(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(photos / f"{i}.png")
    overrides = _overrides(photos)
    command = [sys.executable, "-m", "polychrome", "train", "--run-dir", str(tmp_path / "killed")]
    command += [arg for o in overrides for arg in ("--set", o)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = tmp_path / "killed" / "checkpoints" / "last"
    deadline = time.monotonic() + 300
    try:
        while not (last / "index.json").exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        time.sleep(0.3)  # somewhere in the middle of later steps, maybe mid-write of the next checkpoint
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    saved = load_checkpoint(last)["step"]  # intact: written atomically
    assert 4 <= saved < STEPS and saved % 4 == 0

    resumed = train(load_config(overrides=overrides), tmp_path / "killed", resume=True)
    straight = train(load_config(overrides=overrides), tmp_path / "straight")

    assert resumed.finished and straight.finished
    a = load_pretrained(tmp_path / "killed" / "model").state_dict()
    b = load_pretrained(tmp_path / "straight" / "model").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
