"""Streaming photos from sources, shared across DDP ranks and loader workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from polychrome.data.prepare import PrepareOptions
from polychrome.data.stream import StreamingPhotos

SIZE = 32


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(10):
        Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(root / f"{i:02d}.png")
    Image.fromarray(np.full((SIZE, SIZE), 90, np.uint8)).save(root / "gray.png")  # filtered out
    return root


def _key(crop: torch.Tensor) -> bytes:
    """The same photo whether or not it was flipped."""
    a = crop.numpy()
    return min(a.tobytes(), a[:, ::-1].copy().tobytes())


def _epoch(folder: Path, rank: int, world: int, workers: int, seed: int = 0, epoch: int = 0) -> list[bytes]:
    data = StreamingPhotos([str(folder)], PrepareOptions(SIZE, 16), SIZE, rank, world, seed, shuffle_buffer=4)
    data.set_epoch(epoch)
    loader = DataLoader(data, batch_size=None, num_workers=workers)
    return [_key(crop) for crop in loader]


def test_ranks_and_workers_share_each_epoch_without_overlap(folder: Path) -> None:
    parts = [_epoch(folder, rank, 2, workers=2) for rank in range(2)]
    everything = parts[0] + parts[1]
    assert len(everything) == 10 == len(set(everything))  # every colorful photo once; the gray one dropped
    assert not set(parts[0]) & set(parts[1])
    assert set(everything) == set(_epoch(folder, 0, 1, workers=0))


def test_order_is_replayable_and_changes_with_the_epoch(folder: Path) -> None:
    first = _epoch(folder, 0, 1, workers=0, epoch=3)
    assert first == _epoch(folder, 0, 1, workers=0, epoch=3)
    assert first != _epoch(folder, 0, 1, workers=0, epoch=4)


def test_crops_are_random_within_the_photo(folder: Path) -> None:
    data = StreamingPhotos([str(folder)], PrepareOptions(SIZE, 16), 16, seed=1)
    crops = list(data)
    assert all(c.shape == (16, 16, 3) and c.dtype == torch.uint8 for c in crops) and len(crops) == 10


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="rank"):
        StreamingPhotos(["x"], PrepareOptions(SIZE, 16), 16, rank=2, world_size=2)
    with pytest.raises(ValueError, match="crop_size"):
        StreamingPhotos(["x"], PrepareOptions(SIZE, 16), 64)
