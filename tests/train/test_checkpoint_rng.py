"""A checkpoint's random-number state survives saving and loading: Python, NumPy and torch continue the
same sequences after a resume as without the interruption."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from polychrome.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state


def _draws() -> tuple[float, float, torch.Tensor]:
    return random.random(), float(np.random.rand()), torch.rand(4)


def test_rng_state_round_trips_through_a_checkpoint_file(tmp_path: Path) -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    _draws()
    save_checkpoint({"rng": rng_state()}, tmp_path / "last.pt")
    expected = _draws()

    random.seed(10)  # a resumed process starts elsewhere
    np.random.seed(20)
    torch.manual_seed(30)
    set_rng_state(load_checkpoint(tmp_path / "last.pt")["rng"])
    resumed = _draws()

    assert resumed[0] == expected[0] and resumed[1] == expected[1]
    assert torch.equal(resumed[2], expected[2])
