"""A checkpoint's random-number state survives saving and loading: Python, NumPy and torch continue the
same sequences after a resume as without the interruption."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from polychrome.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state


def _draws() -> tuple[float, float, torch.Tensor]:
    return random.random(), float(np.random.rand()), torch.rand(4)


def test_rng_state_round_trips_through_a_checkpoint_file(tmp_path: Path) -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    _draws()
    save_checkpoint({"rng": rng_state()}, tmp_path / "last")
    expected = _draws()

    random.seed(10)  # a resumed process starts elsewhere
    np.random.seed(20)
    torch.manual_seed(30)
    set_rng_state(load_checkpoint(tmp_path / "last")["rng"])
    resumed = _draws()

    assert resumed[0] == expected[0] and resumed[1] == expected[1]
    assert torch.equal(resumed[2], expected[2])


def test_a_checkpoint_is_cut_into_small_parts_and_read_back_whole(tmp_path: Path) -> None:
    state = {"weights": torch.randn(3000), "step": 7, "names": ["a.jpg", "b.jpg"]}

    save_checkpoint(state, tmp_path / "last", part_bytes=4000)

    parts = sorted((tmp_path / "last").glob("part-*.bin"))
    assert len(parts) >= 3 and all(p.stat().st_size <= 4000 for p in parts)
    loaded = load_checkpoint(tmp_path / "last")
    assert torch.equal(loaded["weights"], state["weights"]) and loaded["names"] == ["a.jpg", "b.jpg"]
    # A new checkpoint replaces the old one's parts; the parts it shares are kept as they are.
    state["step"] = 8
    save_checkpoint(state, tmp_path / "last", part_bytes=4000)
    assert load_checkpoint(tmp_path / "last")["step"] == 8
    assert len(list((tmp_path / "last").glob("part-*.bin"))) == len(parts)


def test_a_damaged_or_missing_part_is_one_line_naming_the_checkpoint(tmp_path: Path) -> None:
    save_checkpoint({"weights": torch.randn(3000)}, tmp_path / "last", part_bytes=4000)
    part = sorted((tmp_path / "last").glob("part-*.bin"))[1]
    part.write_bytes(part.read_bytes()[:-1] + b"x")
    with pytest.raises(ValueError, match=rf"{tmp_path / 'last'}: unreadable checkpoint .*damaged"):
        load_checkpoint(tmp_path / "last")
    part.unlink()
    with pytest.raises(ValueError, match="unreadable checkpoint"):
        load_checkpoint(tmp_path / "last")
    with pytest.raises(FileNotFoundError, match="no checkpoint there"):
        load_checkpoint(tmp_path / "elsewhere")


def test_a_write_killed_before_its_index_leaves_the_previous_checkpoint(tmp_path: Path, monkeypatch) -> None:
    from polychrome.train import checkpoint

    save_checkpoint({"step": 1, "w": torch.randn(3000)}, tmp_path / "last", part_bytes=4000)
    written = []

    def killed_at_the_index(path: Path, write) -> Path:
        if Path(path).name == "index.json":
            raise KeyboardInterrupt  # the process dies here
        written.append(path)
        return original(path, write)

    original = checkpoint.atomic_write
    monkeypatch.setattr(checkpoint, "atomic_write", killed_at_the_index)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"step": 2, "w": torch.randn(3000)}, tmp_path / "last", part_bytes=4000)
    monkeypatch.undo()

    assert written and load_checkpoint(tmp_path / "last")["step"] == 1
    save_checkpoint({"step": 3, "w": torch.randn(3000)}, tmp_path / "last", part_bytes=4000)
    assert load_checkpoint(tmp_path / "last")["step"] == 3
    assert not any(p.exists() for p in written)  # the orphans of the killed write are gone
