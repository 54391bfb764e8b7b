"""Streaming photos straight from their sources (tar shards, folders, zips), for collections too large to
prepare into memory, split across DDP ranks and loader workers.

Record ``i`` of the sources belongs to part ``i % parts``, with one part per (rank, worker) pair, so every
photo is read by exactly one process each epoch and no two processes decode the same file. Within a part,
photos pass through a seeded shuffle buffer and get a random crop and flip; everything depends only on
(seed, epoch, rank, worker), so an epoch can be replayed exactly.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from polychrome.data.prepare import PrepareOptions, prepare_one
from polychrome.data.sources import iter_records


def part_of(index: int, parts: int) -> int:
    return index % parts


class StreamingPhotos(IterableDataset):
    """Random ``crop_size`` crops (uint8 ``(crop, crop, 3)`` tensors) of filtered photos from ``sources``.

    Args:
        sources: folders, globs, tar shards or zip archives.
        options: the same resize / filters as `polychrome prepare` (photos are resized and centre-cropped to
            ``options.image_size`` first, gray and small ones dropped).
        crop_size: side of the random crops (at most ``options.image_size``).
        rank, world_size: this process's place in a DDP job (``torch.distributed`` rank and world size).
        seed: base seed; call :meth:`set_epoch` each epoch for a new order.
        shuffle_buffer: photos held to shuffle among (0: source order).
    """

    def __init__(
        self,
        sources: Sequence[str],
        options: PrepareOptions,
        crop_size: int,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        shuffle_buffer: int = 256,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in 0..{world_size - 1}, got {rank}")
        if crop_size > options.image_size:
            raise ValueError(f"crop_size {crop_size} is larger than image_size {options.image_size}")
        self.sources, self.options, self.crop_size = list(sources), options, crop_size
        self.rank, self.world_size, self.seed, self.shuffle_buffer = rank, world_size, seed, shuffle_buffer
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _part(self) -> tuple[int, int]:
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        return self.rank * workers + worker, self.world_size * workers

    def _photos(self, part: int, parts: int) -> Iterator[np.ndarray]:
        for index, record in enumerate(iter_records(self.sources)):
            if part_of(index, parts) == part:
                _, array, _ = prepare_one(record, self.options)
                if array is not None:
                    yield array

    def __iter__(self) -> Iterator[torch.Tensor]:
        part, parts = self._part()
        rng = np.random.default_rng([self.seed, self.epoch, part])
        buffer: list[np.ndarray] = []
        for photo in self._photos(part, parts):
            buffer.append(photo)
            if len(buffer) > self.shuffle_buffer:
                yield self._crop(buffer.pop(int(rng.integers(len(buffer)))), rng)
        rng.shuffle(buffer)
        for photo in buffer:
            yield self._crop(photo, rng)

    def _crop(self, photo: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        size, crop = photo.shape[0], self.crop_size
        top, left = (int(v) for v in rng.integers(0, size - crop + 1, size=2))
        patch = photo[top : top + crop, left : left + crop]
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        return torch.from_numpy(np.array(patch))  # a writable copy (PIL arrays are read-only)
