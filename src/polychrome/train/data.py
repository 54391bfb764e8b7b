"""What a training run learns from: its collections, split once, held on the training device, and the
batches of random crops drawn from them.

Data is decoded once into uint8 arrays that live on the training device; each step draws random crops and
flips from them there, so no loader process stands between the GPU and its data. Batch sampling is a pure
function of (seed, step, rank), which is what makes ``resume`` exact.
"""

from __future__ import annotations

import io
import itertools
import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from polychrome.data.cache import read_cache
from polychrome.data.hashing import DuplicateIndex, difference_hash
from polychrome.data.prepare import decode_records, drop_near_copies, prepare_images
from polychrome.data.sources import Record, expand_source, iter_records
from polychrome.data.split import SPLITS, hash_parts, split_indices
from polychrome.train.config import DataConfig, TrainConfig

logger = logging.getLogger(__name__)

StoredCounts = tuple[torch.Tensor, torch.Tensor] | None  # ab-bin counts and their bin centres


@dataclass
class Collection:
    """One data collection, split, as uint8 ``(N, S, S, 3)`` tensors on the training device, and what a run
    needs to grow it as its sources grow and to resume it exactly: the part of every photo read so far, and
    which source files and folder photos have been read."""

    config: DataConfig
    train: torch.Tensor
    val: torch.Tensor
    summary: str
    ab_counts: torch.Tensor | None = None  # training-split ab-bin counts stored by `polychrome prepare`
    ab_centers: torch.Tensor | None = None  # the bins those counts are of
    parts: dict[str, str] = field(default_factory=dict)  # name -> train | val | test, in the tensors' order
    duplicates: DuplicateIndex | None = None  # the kept photos' hashes, when near-copies are dropped
    read_files: set[str] = field(default_factory=set)  # tar shards, archives and photo files read
    read_names: set[str] = field(default_factory=set)  # every photo of a folder read, kept or dropped


def collection_records(spec: DataConfig, sources: list[str] | None = None) -> Iterator[Record]:
    """The photos a collection trains on, in order: its sources (or ``sources``, the same shards found
    elsewhere), cut to its ``prepare.max_images``."""
    records = iter_records(list(sources if sources is not None else spec.sources))
    if spec.prepare.max_images is not None:
        records = itertools.islice(records, spec.prepare.max_images)
    return records


def images_and_split(
    spec: DataConfig, config: TrainConfig
) -> tuple[torch.Tensor, dict[str, np.ndarray], str, StoredCounts]:
    """A collection's uint8 images, its split, a line saying what was kept and dropped, and the training
    split's ab-bin counts (with their bins) when a cache holds them."""
    loaded = _load(spec, config, None)
    return loaded.images, loaded.split, loaded.described, loaded.stored


@dataclass
class _Loaded:
    images: torch.Tensor
    names: list[str]
    split: dict[str, np.ndarray]
    described: str
    stored: StoredCounts = None
    read_files: set[str] = field(default_factory=set)
    read_names: set[str] = field(default_factory=set)
    duplicates: DuplicateIndex | None = None


def _load(spec: DataConfig, config: TrainConfig, parts: dict[str, str] | None) -> _Loaded:
    """A collection's photos and split: its cache's, or its sources decoded and split as ``prepare`` says;
    with ``parts`` (a checkpoint's), the photos it names keep their part and any others are split by hash."""
    if spec.cache is not None:
        cache = read_cache(spec.cache)
        if spec.crop_size > cache.image_size:
            raise ValueError(f"crop_size {spec.crop_size} is larger than the images of {spec.cache}")
        if spec.val_size is not None and spec.val_size > cache.image_size:
            raise ValueError(
                f"{spec.cache}: val_size {spec.val_size} is larger than its {cache.image_size} px images"
            )
        dropped = ", ".join(f"{n} {reason}" for reason, n in cache.manifest.get("dropped", {}).items())
        counts, centers = cache.stats.get("ab_counts"), cache.stats.get("ab_centers")
        stored = (torch.from_numpy(counts), torch.from_numpy(centers)) if counts is not None else None
        described = f"{spec.cache}: {len(cache.names)} kept ({dropped})"
        return _Loaded(torch.from_numpy(cache.images), cache.names, cache.splits, described, stored)
    prep = spec.prepare
    read_files, read_names = set(), set()
    records = _noting(collection_records(spec), read_names)
    for source in spec.sources:
        read_files.update(str(path) for path in expand_source(source) if not path.is_dir())
    prepared = prepare_images(records, prep.decode_options(), workers=config.workers)
    duplicates = None
    if prep.dedup:
        # A checkpoint's photos were kept already: only photos new to it can be near-copies.
        duplicates = DuplicateIndex()
        kept = [i for i, name in enumerate(prepared.names) if parts is not None and name in parts]
        for i in kept:
            duplicates.add(difference_hash(prepared.images[i]))
        prepared = drop_near_copies(prepared, duplicates, exempt=set(kept))
    if len(prepared.names) == 0:
        raise ValueError(f"{', '.join(spec.sources)}: no usable images ({prepared.summary()})")
    if parts is None:
        split = split_indices(prepared.names, prep.split, seed=config.seed, order=prep.split_order)
    else:
        split = _split_as(prepared.names, parts, prep.split, config.seed)
    described = f"{', '.join(spec.sources)}: {prepared.summary()}"
    return _Loaded(
        torch.from_numpy(prepared.images),
        prepared.names,
        split,
        described,
        None,
        read_files,
        read_names,
        duplicates,
    )


def _noting(records: Iterable[Record], names: set[str]) -> Iterator[Record]:
    for record in records:
        names.add(record.name)
        yield record


def _split_as(
    names: list[str], parts: dict[str, str], ratios: tuple[float, float, float], seed: int
) -> dict[str, np.ndarray]:
    """Indices of each part: a photo's part from ``parts``, else by its hash; within a part the photos
    ``parts`` names come first, in its order, then the others in ``names``' order."""
    rank = {name: i for i, name in enumerate(parts)}
    new = [name for name in names if name not in rank]
    assigned = {**dict(zip(new, hash_parts(new, ratios, seed), strict=True)), **parts}
    order = sorted(range(len(names)), key=lambda i: rank.get(names[i], len(rank) + i))
    return {p: np.array([i for i in order if assigned[names[i]] == p], dtype=np.int64) for p in SPLITS}


def load_collections(
    config: TrainConfig, device: torch.device, parts: list[dict[str, str]] | None = None
) -> list[Collection]:
    """Every collection of the config, decoded (or read from its cache), split and moved to ``device``;
    with ``parts`` (each collection's :attr:`Collection.parts` from a checkpoint), split and ordered as the
    checkpointed run had them, so a resumed run draws the same batches."""
    collections = []
    for i, spec in enumerate(config.data):
        loaded = _load(spec, config, parts[i] if parts is not None else None)
        split = loaded.split
        summary = f"{loaded.described}; train {len(split['train'])}, val {len(split['val'])}"
        logger.info(summary)
        collections.append(
            Collection(
                spec,
                loaded.images[torch.from_numpy(split["train"])].to(device),
                loaded.images[torch.from_numpy(split["val"])].to(device),
                summary,
                *(loaded.stored or (None, None)),
                parts={loaded.names[j]: part for part in SPLITS for j in split[part].tolist()},
                read_files=loaded.read_files,
                read_names=loaded.read_names,
                duplicates=loaded.duplicates,
            )
        )
    return collections


def grow_collections(collections: list[Collection], config: TrainConfig) -> int:
    """Read the photos that arrived in the collections' sources since they were last read (new tar shards,
    archives or photo files matching their patterns, new photos in their folders), split them by the hash
    of their names and add them; returns how many were added. Caches and collections cut by
    ``prepare.max_images`` do not grow. A file that cannot be read yet (still being copied) is tried again
    next time."""
    added = 0
    for coll in collections:
        spec = coll.config
        if spec.cache is not None or spec.prepare.max_images is not None:
            continue
        records, files = _new_records(spec, coll)
        if not records:
            continue
        prep = spec.prepare
        prepared = prepare_images(records, prep.decode_options(), workers=config.workers)
        if coll.duplicates is not None:
            prepared = drop_near_copies(prepared, coll.duplicates)
        coll.read_files |= files
        coll.read_names |= {r.name for r in records}
        parts = hash_parts(prepared.names, prep.split, config.seed)
        for part in ("train", "val"):
            chosen = [i for i, p in enumerate(parts) if p == part]
            if chosen:
                setattr(coll, part, _appended(getattr(coll, part), prepared.images[chosen]))
        if coll.train.device.type == "cuda":  # the replaced tensors' memory, for a run beside this one
            torch.cuda.empty_cache()
        coll.parts.update(zip(prepared.names, parts, strict=True))
        added += len(prepared.names)
        logger.info(
            "%s: %d new photos (%s)", ", ".join(spec.sources), len(prepared.names), prepared.summary()
        )
    return added


def _appended(stored: torch.Tensor, photos: np.ndarray) -> torch.Tensor:
    """``stored`` followed by ``photos``. The new photos go from host memory straight into their rows, so
    growing by a whole dataset needs the grown tensor and the old one on the device, never the new photos
    a second time (``torch.cat`` of a device copy would: 20 GB more for 140,000 photos at 224 px)."""
    grown = stored.new_empty((len(stored) + len(photos), *stored.shape[1:]))
    grown[: len(stored)] = stored
    grown[len(stored) :] = torch.from_numpy(photos)
    return grown


def _new_records(spec: DataConfig, coll: Collection) -> tuple[list[Record], set[str]]:
    """The records of a collection's sources not read yet, and the files they come from."""
    records: list[Record] = []
    files: set[str] = set()
    for source in spec.sources:
        try:
            paths = expand_source(source)
        except FileNotFoundError:
            continue
        for path in paths:
            if path.is_dir():
                records.extend(r for r in iter_records([str(path)]) if r.name not in coll.read_names)
            elif str(path) not in coll.read_files:
                try:
                    found = list(iter_records([str(path)]))
                except ValueError as err:  # a shard still being copied
                    logger.warning("%s; trying again at the next epoch", err)
                    continue
                records.extend(found)
                files.add(str(path))
    return records, files


def steps_per_pass(collections: list[Collection], batch_size: int, world_size: int = 1) -> int:
    """Steps that draw as many crops as the collections hold training photos (an epoch, by default)."""
    crops = sum(len(c.train) / ((c.config.batch_size or batch_size) * world_size) for c in collections)
    return max(1, math.ceil(crops))


def step_generator(seed: int, step: int, rank: int = 0, stream: int = 0) -> torch.Generator:
    """The random draws of one step on one process: a pure function of ``(seed, step, rank)``. ``stream``
    numbers independent draws of the same step (the batch is stream 0; a recipe's own draws take others)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 1024 + rank + (stream << 56))


def sample_batch(
    collections: list[Collection], batch_size: int, seed: int, step: int, rank: int = 0, world_size: int = 1
) -> torch.Tensor:
    """Random crops with random horizontal flips, as float RGB ``(B, 3, c, c)`` in 0..1 on the device;
    with a collection's ``zoom``, cut larger or smaller and resized to ``c`` (one scale per batch).

    The collection is drawn with probability proportional to its ``weight``; the draw depends only on
    ``(seed, step, rank)``. Under DDP each rank draws only from its own part of the training images (every
    ``world_size``-th image, starting at ``rank``), so the ranks together see each image once per pass.
    """
    gen = step_generator(seed, step, rank)
    weights = torch.tensor([c.config.weight for c in collections], dtype=torch.float64)
    which = int(torch.multinomial(weights, 1, generator=gen)) if len(collections) > 1 else 0
    coll = collections[which]
    batch_size = coll.config.batch_size or batch_size
    n, size = coll.train.shape[0], coll.train.shape[1]
    out_size = crop = coll.config.crop_size
    lo, hi = coll.config.zoom
    if (lo, hi) != (1.0, 1.0):  # no draw otherwise: runs without zoom keep their batches
        scale = lo * (hi / lo) ** float(torch.rand((), generator=gen))
        crop = max(1, min(size, round(out_size / scale)))
    own = len(range(rank, n, world_size))
    if own == 0:
        raise ValueError(f"rank {rank} has no training images: fewer images than the {world_size} processes")
    idx = rank + world_size * torch.randint(own, (batch_size,), generator=gen)
    oy = torch.randint(size - crop + 1, (batch_size,), generator=gen)
    ox = torch.randint(size - crop + 1, (batch_size,), generator=gen)
    flip = torch.rand(batch_size, generator=gen) < 0.5
    dev = coll.train.device
    idx, oy, ox, flip = _to_device(torch.stack([idx, oy, ox, flip.long()]), dev)
    span = torch.arange(crop, device=dev)
    rows = oy[:, None] + span
    cols = ox[:, None] + span
    cols = torch.where(flip[:, None].bool(), cols.flip(1), cols)
    batch = coll.train[idx[:, None, None], rows[:, :, None], cols[:, None, :]]
    batch = batch.permute(0, 3, 1, 2).float().div_(255.0)
    if crop != out_size:
        batch = F.interpolate(
            batch, size=(out_size, out_size), mode="bilinear", antialias=crop > out_size, align_corners=False
        ).clamp_(0, 1)
    if coll.config.blur > 0:
        batch = blur_by_rescaling(batch, coll.config.blur, coll.config.blur_max_factor, gen)
    return batch


def _to_device(draws: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Random draws made on the host, moved to ``device`` without waiting for the GPU: a plain copy to a
    GPU waits until every step queued before it has run, which would keep the next batch from being drawn
    while the GPU works."""
    if device.type != "cuda":
        return draws.to(device)
    return draws.pin_memory().to(device, non_blocking=True)


def blur_by_rescaling(
    images: torch.Tensor, share: float, max_factor: float, gen: torch.Generator
) -> torch.Tensor:
    """Soften a random ``share`` of ``images`` ``(B, 3, H, W)`` by scaling each down by a factor drawn from
    1..``max_factor`` (in steps of 0.5, so images with the same factor are resized together) and back up
    with bilinear interpolation, which is how the inference pipeline enlarges a small photo."""
    n, _, h, w = images.shape
    chosen = torch.rand(n, generator=gen) < share
    factors = ((1 + torch.rand(n, generator=gen) * (max_factor - 1)) * 2).round() / 2
    out = images.clone()
    for factor in factors[chosen].unique().tolist():
        if factor <= 1:
            continue
        idx = _to_device((chosen & (factors == factor)).nonzero().squeeze(1), images.device)
        small = F.interpolate(
            images[idx],
            size=(max(1, round(h / factor)), max(1, round(w / factor))),
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )
        out[idx] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False).clamp_(0, 1)
    return out


def validation_records(spec: DataConfig, config: TrainConfig) -> list[Record]:
    """The photos of a collection's validation split as training cut it (same preparation, filters, order
    and seed), as records to be read again: for sources, the original files or archive members; for a
    cache, its prepared photos (PNG-encoded). What calibration and evaluation choose a model's settings on,
    never the photos a model is reported on."""
    if spec.cache is not None:
        cache = read_cache(spec.cache)
        return [Record(name=cache.names[i], data=_png(cache.images[i])) for i in cache.splits["val"].tolist()]
    prep = spec.prepare
    decoded = decode_records(collection_records(spec), prep.decode_options(), workers=config.workers)
    kept = [name for name, image, _ in decoded if image is not None]
    chosen = {
        kept[i] for i in split_indices(kept, prep.split, seed=config.seed, order=prep.split_order)["val"]
    }
    return [record for record in collection_records(spec) if record.name in chosen]


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()
