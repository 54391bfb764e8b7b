"""Decode, filter and crop images once, in parallel, into a uint8 array that training reads from memory.

Filters, each counted in :class:`PreparedImages.dropped`:
- unreadable: not an image, truncated, empty (the reason is kept per file in ``failures``);
- too small: shorter side below ``min_size`` pixels;
- grayscale: mean chroma sqrt(a^2 + b^2) below ``gray_chroma`` Lab units (measured on the crop). A gray photo
  saved as an RGB JPEG measures below 1 (JPEG noise); on the Imagenette and Tiny-ImageNet validation shards
  2.5-3% of images do, and above that the values rise smoothly (5% below 2.5-3, 10% below 5, median 12-15).
  The default of 2 drops gray and near-gray images (3.5-4% of those shards) and keeps faintly colored and
  toned photos.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Protocol

import numpy as np
import PIL
import torch
from PIL import Image

from polychrome import __version__
from polychrome._messages import printable_name
from polychrome.color.lab import rgb_to_lab
from polychrome.data.hashing import DuplicateIndex, Exclusion, difference_hash
from polychrome.data.sources import Record
from polychrome.images import ImageReadError, load_image, load_image_bytes, to_uint8
from polychrome.resize import ENLARGE_FILTERS, resize_for_render

logger = logging.getLogger(__name__)

DEFAULT_GRAY_CHROMA = 2.0


def resize_shorter_side(
    image: Image.Image, size: int, enlarge: str = "lanczos", extent: tuple[float, float] | None = None
) -> Image.Image:
    """Scale so the shorter side is ``size`` pixels, keeping the aspect ratio (never squashing).

    Reductions use Lanczos. Enlargements use Lanczos too, or ``enlarge="bilinear"`` / ``"bicubic"``: the
    inference pipeline's own code (:func:`polychrome.resize.resize_for_render`), so small photos are
    trained on as a pipeline enlarging with that filter shows them to the model. ``extent`` is the photo's
    :attr:`~polychrome.images.LoadedImage.extent` when it was decoded reduced, so that the result has the
    size and geometry of the full-size photo's.
    """
    w, h = extent or image.size
    scale = size / min(w, h)
    new = (max(size, round(w * scale)), max(size, round(h * scale)))
    if new == image.size and extent is None:
        return image
    if enlarge != "lanczos" and scale > 1:
        pixels = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)
        enlarged = resize_for_render(pixels.unsqueeze(0), (new[1], new[0]), enlarge)[0].permute(1, 2, 0)
        return Image.fromarray(enlarged.mul(255).round().to(torch.uint8).numpy(), "RGB")  # in 0..1 already
    return image.resize(new, Image.Resampling.LANCZOS, box=(0, 0, w, h), reducing_gap=3.0)


def center_crop(image: Image.Image, size: int) -> Image.Image:
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    return image.crop((left, top, left + size, top + size))


def rgb_tensor(images: np.ndarray) -> torch.Tensor:
    """Prepared uint8 images ``(N, H, W, 3)`` as float RGB ``(N, 3, H, W)`` in 0..1 (a copy)."""
    return torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).float() / 255


def rgb_batches(images: np.ndarray, batch_size: int = 128) -> Iterator[torch.Tensor]:
    """:func:`rgb_tensor` of ``images`` a batch at a time, so large collections never convert at once."""
    for start in range(0, len(images), batch_size):
        yield rgb_tensor(images[start : start + batch_size])


def mean_chroma(rgb_uint8: np.ndarray) -> float:
    """Mean sqrt(a^2 + b^2) of an HxWx3 uint8 image, in Lab units (measured on at most 64x64 samples)."""
    step = max(1, min(rgb_uint8.shape[:2]) // 64)
    sample = torch.from_numpy(np.array(rgb_uint8[::step, ::step])).permute(2, 0, 1).float() / 255
    ab = rgb_to_lab(sample)[1:]
    return float(ab.square().sum(0).sqrt().mean())


# The modules whose code decides the decoded pixels; a change to any of them changes decoder_version().
_DECODER_MODULES = (
    "polychrome.images",
    "polychrome.data.hashing",
    "polychrome.data.prepare",
    "polychrome.color.lab",
    "polychrome.resize",
)


@cache
def decoder_version() -> dict[str, str]:
    """What decoded images depend on besides the options: the libraries that decode, resize and measure
    chroma, and a digest of our own decoding code (the package version stays the same between commits)."""
    digest = hashlib.sha256()
    for name in _DECODER_MODULES:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None
        digest.update(Path(spec.origin).read_bytes())
    return {
        "polychrome": __version__,
        "decoder_sha256": digest.hexdigest()[:16],
        "pillow": PIL.__version__,
        "numpy": np.__version__,
        "torch": torch.__version__,
    }


# (name, square uint8 image or None, the reason it was dropped or None)
Decoded = tuple[str, np.ndarray | None, str | None]


@dataclass(frozen=True)
class PrepareOptions:
    """How each photo is decoded, filtered and cropped.

    Attributes:
        image_size: shorter side resized to this, then the centre square; None keeps each photo as it is
            (photos of many sizes, for evaluation at their own size).
        min_size: photos whose shorter side is smaller are dropped ("too small").
        gray_chroma: photos with a smaller mean chroma are dropped ("grayscale"); negative keeps all.
        enlarge: how photos smaller than image_size are enlarged: lanczos | bilinear | bicubic.
        crop: take the centre square of the resized photo; False only reduces photos whose shorter side is
            larger than ``image_size`` (aspect kept, never enlarged): compact copies to train from later.
        exclusion: photos never to use (near-copies of reserved photos, listed files), dropped as "excluded".
    """

    image_size: int | None = 256
    min_size: int = 64
    gray_chroma: float = DEFAULT_GRAY_CHROMA
    enlarge: str = "lanczos"
    crop: bool = True
    exclusion: Exclusion | None = None

    def __post_init__(self) -> None:
        if self.enlarge not in ("lanczos", *ENLARGE_FILTERS):
            raise ValueError(f"enlarge must be lanczos, {', '.join(ENLARGE_FILTERS)}; got {self.enlarge!r}")


def prepare_one(record: Record, options: PrepareOptions) -> Decoded:
    """(name, square uint8 image or None, reason it was dropped or None)."""
    if record.problem is not None:
        return (
            record.name,
            None,
            f"unreadable: {printable_name(record.path or record.name)}: {record.problem}",
        )
    # A large photo is decoded reduced (never as full-size floats), still larger than both sizes below.
    needed = None if options.image_size is None else max(options.image_size, options.min_size)
    try:
        if record.data is not None:
            loaded = load_image_bytes(record.data, record.name, target_shorter_side=needed)
        else:
            loaded = load_image(record.path, target_shorter_side=needed)
    except (ImageReadError, OSError, ValueError) as err:
        return record.name, None, f"unreadable: {err}"
    h, w = loaded.rgb.shape[:2]
    if min(h, w) < options.min_size:
        return record.name, None, "too small"
    rgb = to_uint8(loaded.rgb)
    if options.exclusion and options.exclusion.excludes(record.name, rgb):
        return record.name, None, "excluded"
    if options.image_size is None:
        array = rgb
    elif not options.crop:
        array = rgb
        if min(h, w) > options.image_size:
            resized = resize_shorter_side(Image.fromarray(rgb), options.image_size, extent=loaded.extent)
            array = np.asarray(resized, dtype=np.uint8)
    else:
        resized = resize_shorter_side(
            Image.fromarray(rgb), options.image_size, options.enlarge, loaded.extent
        )
        array = np.asarray(center_crop(resized, options.image_size), dtype=np.uint8)
    if mean_chroma(array) < options.gray_chroma:
        return record.name, None, "grayscale"
    return record.name, array, None


def _exit_with_parent() -> None:
    """Pool worker initializer: leave when the process that started this one dies. A worker waits on a queue
    that a killed (SIGKILL) main process never closes, so it would otherwise live on, holding its memory."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _prepare_chunk(args: tuple[list[Record], PrepareOptions]) -> list[Decoded]:
    torch.set_num_threads(1)
    records, options = args
    return [prepare_one(r, options) for r in records]


class ChunkStore(Protocol):
    """Where :func:`prepare_images` keeps each chunk's results as it finishes, so a killed run can go on."""

    def load(self, index: int, records: list[Record]) -> list[Decoded] | None:
        """The stored results of chunk ``index`` if they are still those of ``records``, else None."""

    def save(self, index: int, records: list[Record], results: list[Decoded]) -> None: ...


def _chunks(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    part: list[Record] = []
    for record in records:
        part.append(record)
        if len(part) == size:
            yield part
            part = []
    if part:
        yield part


@dataclass
class PreparedImages:
    """Square uint8 images ``(N, S, S, 3)`` in the order of ``names``, and what was dropped and why."""

    images: np.ndarray
    names: list[str]
    dropped: Counter = field(default_factory=Counter)
    failures: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def from_results(cls, results: Iterable[Decoded], image_size: int) -> PreparedImages:
        names, arrays, dropped, failures = [], [], Counter(), []
        for name, array, reason in results:
            if array is None:
                assert reason is not None
                key = "unreadable" if reason.startswith("unreadable") else reason
                dropped[key] += 1
                if key == "unreadable":
                    failures.append((name, reason))
                    logger.warning("skipped %s", reason.removeprefix("unreadable: "))
            else:
                names.append(name)
                arrays.append(array)
        empty = np.zeros((0, image_size, image_size, 3), np.uint8)
        return cls(np.stack(arrays) if arrays else empty, names, dropped, failures)

    def summary(self) -> str:
        parts = [f"{len(self.names)} images kept"]
        parts += [f"{n} {reason}" for reason, n in sorted(self.dropped.items())]
        return ", ".join(parts)


def decode_records(
    records: Iterable[Record],
    options: PrepareOptions,
    workers: int | None = None,
    chunk: int = 64,
    store: ChunkStore | None = None,
) -> Iterator[Decoded]:
    """Decode and filter every record in ``workers`` processes (default: all cores), yielding the results
    in the records' order as they are done.

    Records are read ``chunk`` at a time and only a few chunks per worker are in flight, so neither tar
    shards nor decoded photos pile up in memory; a consumer that stops early stops the decoding. With a
    ``store``, chunks it already holds are taken from it and every newly decoded chunk is handed to it; the
    results are the same either way.
    """
    workers = workers or os.cpu_count() or 1
    pool = ProcessPoolExecutor(workers, initializer=_exit_with_parent) if workers > 1 else None
    # In submission order: (index, records, decoded results or the future that will give them).
    pending: deque[tuple[int, list[Record], list[Decoded] | Future]] = deque()

    def finish(index: int, part: list[Record], done: list[Decoded] | Future) -> list[Decoded]:
        if isinstance(done, Future):
            done = done.result()
            if store is not None:
                store.save(index, part, done)
        return done

    try:
        for index, part in enumerate(_chunks(records, chunk)):
            stored = store.load(index, part) if store is not None else None
            if stored is not None:
                pending.append((index, part, stored))
            elif pool is None:
                done = _prepare_chunk((part, options))
                if store is not None:
                    store.save(index, part, done)
                pending.append((index, part, done))
            else:
                pending.append((index, part, pool.submit(_prepare_chunk, (part, options))))
            while pending and (len(pending) > 2 * workers or not isinstance(pending[0][2], Future)):
                yield from finish(*pending.popleft())
        while pending:
            yield from finish(*pending.popleft())
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def drop_near_copies(
    prepared: PreparedImages, seen: DuplicateIndex, exempt: Collection[int] = ()
) -> PreparedImages:
    """Keep the first photo (in name order) of each group of near-identical photos (difference hashes within
    ``seen``'s distance), and none that is near a photo ``seen`` holds already; count the rest as
    "duplicate". Kept photos' hashes are added to ``seen``; ``exempt`` photos are kept and already in it."""
    keep = []
    for i in sorted(range(len(prepared.names)), key=prepared.names.__getitem__):
        if i in exempt:
            keep.append(i)
            continue
        h = difference_hash(prepared.images[i])
        if not seen.near(h):
            keep.append(i)
            seen.add(h)
    keep.sort()
    dropped = prepared.dropped.copy()
    if len(keep) < len(prepared.names):
        dropped["duplicate"] += len(prepared.names) - len(keep)
    return PreparedImages(
        prepared.images[keep], [prepared.names[i] for i in keep], dropped, prepared.failures
    )


def prepare_images(
    records: Iterable[Record],
    options: PrepareOptions,
    workers: int | None = None,
    chunk: int = 64,
    store: ChunkStore | None = None,
) -> PreparedImages:
    """Decode and filter every record (:func:`decode_records`) into one array of square photos."""
    if options.image_size is None:
        raise ValueError("prepare_images stacks square photos: give an image_size")
    return PreparedImages.from_results(
        decode_records(records, options, workers, chunk, store), options.image_size
    )
