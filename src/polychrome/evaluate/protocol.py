"""The evaluation protocols: which pixels of which photos every colorizer is judged on.

A protocol is named, so that every number quoted anywhere says how it was obtained:

- ``val5k``: the shorter side resized to 256 pixels (Lanczos, aspect kept), then the centre 256 x 256 crop;
  the protocol of colorization papers on ImageNet's validation photos (Zhang et al. 2016's "val5k",
  DDColor's and MultiColor's tables), and the one polychrome's development set is scored at;
- ``native``: each photo as it is, at its own size (Imagenette's 224 px and Tiny-ImageNet's 64 px
  validation photos are scored so: small photos are then enlarged to the render size by the colorizer);
- a number ``N``: the shorter side resized to N, then the centre N x N crop.

The truth, the gray input (the truth's L with a = b = 0) and every colorizer's output are compared on the
protocol's pixels, on sRGB in 0..1. A colorizer that ran elsewhere is judged on its output put through the
same resize and crop, so it must keep the photo's aspect ratio. Photos that are already gray (mean chroma
below 2 Lab units, as in :mod:`polychrome.data.prepare`) are left out unless asked: there is no color to
recover, and a gray output would score a perfect PSNR on them.

Example:
    >>> import numpy as np
    >>> get_protocol("val5k").crop(np.zeros((300, 400, 3), np.uint8)).shape
    (256, 256, 3)
    >>> get_protocol("native").crop(np.zeros((300, 400, 3), np.uint8)).shape
    (300, 400, 3)
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from polychrome.color.lab import rgb_to_lightness
from polychrome.data.prepare import (
    DEFAULT_GRAY_CHROMA,
    PrepareOptions,
    center_crop,
    decode_records,
    resize_shorter_side,
)
from polychrome.data.sources import Record, iter_records

logger = logging.getLogger(__name__)

MIN_SIZE = 32  # shorter side below this is no photo to judge colors on


def default_batch_size(device: torch.device | str) -> int:
    """Photos per network call: 32 on a GPU; 8 on the CPU, where a batch of 32 at 256 px makes every large
    activation a fresh allocation of the operating system's (over glibc's 32 MB mmap threshold) and the
    network runs 20% slower per photo, half of it in the kernel (BENCHMARKS.md section 2)."""
    return 32 if torch.device(device).type == "cuda" else 8


ASPECT_TOLERANCE = 0.02  # relative; rounding of a resized output must not count as a different shape


@dataclass(frozen=True)
class Protocol:
    """How a photo is brought to the pixels it is judged on: ``size`` None keeps it as it is, a number
    resizes its shorter side to ``size`` and takes the centre square."""

    name: str
    size: int | None

    def __post_init__(self) -> None:
        if self.size is not None and self.size < 16:
            raise ValueError(f"an evaluation size must be at least 16 pixels, got {self.size}")

    def describe(self) -> str:
        if self.size is None:
            return f"{self.name}: each photo at its own size"
        size = self.size
        return f"{self.name}: shorter side resized to {size} px (Lanczos), centre crop {size}x{size}"

    def crop(self, rgb: np.ndarray, extent: tuple[int, int] | None = None) -> np.ndarray:
        """The protocol's view of a uint8 ``(H, W, 3)`` photo; ``extent`` is the whole file's ``(width,
        height)`` when it was decoded reduced (:func:`polychrome.data.prepare.resize_shorter_side`)."""
        if self.size is None:
            return rgb
        image = Image.fromarray(np.ascontiguousarray(rgb))
        resized = resize_shorter_side(image, self.size, extent=extent)
        return np.array(center_crop(resized, self.size), dtype=np.uint8)

    def prepare_options(self, keep_gray: bool = False) -> PrepareOptions:
        """Options for :func:`polychrome.data.prepare.decode_records` that apply the protocol to the truth."""
        return PrepareOptions(
            image_size=self.size, min_size=MIN_SIZE, gray_chroma=-1.0 if keep_gray else DEFAULT_GRAY_CHROMA
        )


PROTOCOLS = {"val5k": Protocol("val5k", 256), "native": Protocol("native", None)}


def get_protocol(spec: str | int | Protocol) -> Protocol:
    """A protocol by name (``val5k``, ``native``) or by size in pixels (``224`` or ``"224"``)."""
    if isinstance(spec, Protocol):
        return spec
    if isinstance(spec, int) or str(spec).isdigit():
        return Protocol(f"{int(spec)}px", int(spec))
    if spec not in PROTOCOLS:
        raise ValueError(f"unknown protocol {spec!r}: choose {', '.join(PROTOCOLS)} or a size in pixels")
    return PROTOCOLS[spec]


def same_aspect(shape_a: tuple[int, int], shape_b: tuple[int, int]) -> bool:
    """Whether two ``(H, W)`` shapes have the same aspect ratio, up to rounding of a resize."""
    ratio_a, ratio_b = shape_a[1] / shape_a[0], shape_b[1] / shape_b[0]
    return abs(ratio_a - ratio_b) <= ASPECT_TOLERANCE * ratio_b


@dataclass
class Batch:
    """Truths of one size, and where they came from.

    Attributes:
        names: the photos' names (``folder/sub/photo.jpg``, ``shard.tar/000123.jpg``).
        records: the records, to find the photos' original shapes; None for photos held in memory.
        truth: ``(B, 3, H, W)`` sRGB in 0..1 on the evaluation device.
        lightness: ``(B, 1, H, W)`` L of the truth, 0..100.
    """

    names: list[str]
    records: list[Record] | None
    truth: torch.Tensor
    lightness: torch.Tensor

    @classmethod
    def of(cls, names: list[str], truth: torch.Tensor, records: list[Record] | None = None) -> Batch:
        return cls(names, records, truth, rgb_to_lightness(truth))


def _as_truth(photos: Sequence[np.ndarray] | torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """uint8 photos ``(H, W, 3)`` (or a ``(B, H, W, 3)`` uint8 tensor) -> float ``(B, 3, H, W)`` in 0..1."""
    stacked = photos if isinstance(photos, torch.Tensor) else torch.from_numpy(np.stack(photos))
    return stacked.to(device).permute(0, 3, 1, 2).float().div_(255.0)


def tensor_batches(
    photos: torch.Tensor, protocol: Protocol, batch_size: int | None = None, prefix: str = "photo"
) -> Iterator[Batch]:
    """Photos held in memory, uint8 ``(N, H, W, 3)`` on any device, as batches under ``protocol`` (the
    training run's validation photos). A sized protocol resizes them by area on their device (they are
    already square crops; a real photo would be resized with Lanczos), ``native`` keeps them."""
    batch_size = batch_size or default_batch_size(photos.device)
    for start in range(0, len(photos), batch_size):
        truth = _as_truth(photos[start : start + batch_size], photos.device)
        if protocol.size is not None and truth.shape[-2:] != (protocol.size, protocol.size):
            if truth.shape[-1] != truth.shape[-2]:
                raise ValueError("tensor_batches resizes square photos only")
            size = (protocol.size, protocol.size)
            truth = torch.nn.functional.interpolate(truth, size=size, mode="area").clamp_(0, 1)
        names = [f"{prefix}{start + i}" for i in range(len(truth))]
        yield Batch.of(names, truth)


class PhotoStream:
    """The photos of ``sources`` under a protocol, decoded in parallel, as batches of one size on
    ``device``, ``batch_size`` at a time (default: :func:`default_batch_size`); what was left out and why is
    counted as the stream goes (:attr:`dropped`, :attr:`failures`).

    ``sources`` are folders, globs, tar shards, zip archives or image files
    (:func:`polychrome.data.sources.iter_records`), or a function that gives the records afresh each time the
    stream is iterated (a training run's validation photos, say).

    Photos of one size go into one batch in the order read; with ``native``, a batch is emitted when
    ``batch_size`` photos of its size have come, and the rest at the end. ``limit`` stops after that many
    usable photos.
    """

    def __init__(
        self,
        sources: Sequence[str] | Callable[[], Iterable[Record]],
        protocol: Protocol,
        *,
        keep_gray: bool = False,
        limit: int | None = None,
        batch_size: int | None = None,
        workers: int | None = None,
        device: torch.device | str = "cpu",
        chunk: int = 256,
    ) -> None:
        self.records = sources if callable(sources) else lambda: iter_records(list(sources))
        self.sources = [] if callable(sources) else list(sources)
        self.protocol = protocol
        self.keep_gray = keep_gray
        self.limit = limit
        self.batch_size = batch_size or default_batch_size(device)
        self.workers = workers
        self.device = device
        self.chunk = chunk
        self.dropped: Counter = Counter()
        self.failures: list[tuple[str, str]] = []

    def __iter__(self) -> Iterator[Batch]:
        self.dropped, self.failures = Counter(), []
        in_flight: dict[str, Record] = {}

        def remembered() -> Iterator[Record]:
            for record in self.records():
                in_flight[record.name] = record
                yield record

        options = self.protocol.prepare_options(self.keep_gray)
        buckets: dict[tuple[int, ...], list[tuple[Record, np.ndarray]]] = {}
        usable = 0
        for name, array, reason in decode_records(remembered(), options, self.workers, self.chunk):
            record = in_flight.pop(name)
            if array is None:
                key = "unreadable" if reason.startswith("unreadable") else reason
                self.dropped[key] += 1
                if key == "unreadable":
                    self.failures.append((name, reason))
                    logger.warning("skipped %s", reason.removeprefix("unreadable: "))
                continue
            if self.limit is not None and usable >= self.limit:
                break
            usable += 1
            bucket = buckets.setdefault(array.shape, [])
            bucket.append((record, array))
            if len(bucket) == self.batch_size:
                yield self._batch(buckets.pop(array.shape))
        for bucket in buckets.values():
            yield self._batch(bucket)

    def _batch(self, items: list[tuple[Record, np.ndarray]]) -> Batch:
        records = [record for record, _ in items]
        truth = _as_truth([array for _, array in items], self.device)
        return Batch.of([r.name for r in records], truth, records)
