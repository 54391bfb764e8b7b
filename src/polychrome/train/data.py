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
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from polychrome.data.cache import read_cache
from polychrome.data.prepare import decode_records, prepare_images
from polychrome.data.sources import Record, iter_records
from polychrome.data.split import split_indices
from polychrome.train.config import DataConfig, TrainConfig

logger = logging.getLogger(__name__)

StoredCounts = tuple[torch.Tensor, torch.Tensor] | None  # ab-bin counts and their bin centres


@dataclass
class Collection:
    """One data collection, split, as uint8 ``(N, S, S, 3)`` tensors on the training device."""

    config: DataConfig
    train: torch.Tensor
    val: torch.Tensor
    summary: str
    ab_counts: torch.Tensor | None = None  # training-split ab-bin counts stored by `polychrome prepare`
    ab_centers: torch.Tensor | None = None  # the bins those counts are of


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
        return torch.from_numpy(cache.images), cache.splits, described, stored
    prep = spec.prepare
    prepared = prepare_images(collection_records(spec), prep.decode_options(), workers=config.workers)
    if len(prepared.names) == 0:
        raise ValueError(f"{', '.join(spec.sources)}: no usable images ({prepared.summary()})")
    parts = split_indices(prepared.names, prep.split, seed=config.seed, order=prep.split_order)
    return torch.from_numpy(prepared.images), parts, f"{', '.join(spec.sources)}: {prepared.summary()}", None


def load_collections(config: TrainConfig, device: torch.device) -> list[Collection]:
    """Every collection of the config, decoded (or read from its cache), split and moved to ``device``."""
    collections = []
    for spec in config.data:
        images, parts, described, stored = images_and_split(spec, config)
        summary = f"{described}; train {len(parts['train'])}, val {len(parts['val'])}"
        logger.info(summary)
        collections.append(
            Collection(
                spec,
                images[torch.from_numpy(parts["train"])].to(device),
                images[torch.from_numpy(parts["val"])].to(device),
                summary,
                *(stored or (None, None)),
            )
        )
    return collections


def steps_per_pass(collections: list[Collection], batch_size: int, world_size: int = 1) -> int:
    """Steps that draw as many crops as the collections hold training photos (an epoch, by default)."""
    crops = sum(len(c.train) / ((c.config.batch_size or batch_size) * world_size) for c in collections)
    return max(1, math.ceil(crops))


def _step_generator(seed: int, step: int, rank: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 1024 + rank)


def sample_batch(
    collections: list[Collection], batch_size: int, seed: int, step: int, rank: int = 0, world_size: int = 1
) -> torch.Tensor:
    """Random crops with random horizontal flips, as float RGB ``(B, 3, c, c)`` in 0..1 on the device;
    with a collection's ``zoom``, cut larger or smaller and resized to ``c`` (one scale per batch).

    The collection is drawn with probability proportional to its ``weight``; the draw depends only on
    ``(seed, step, rank)``. Under DDP each rank draws only from its own part of the training images (every
    ``world_size``-th image, starting at ``rank``), so the ranks together see each image once per pass.
    """
    gen = _step_generator(seed, step, rank)
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
    span = torch.arange(crop)
    rows = oy[:, None] + span
    cols = ox[:, None] + span
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    dev = coll.train.device
    batch = coll.train[idx.to(dev)[:, None, None], rows.to(dev)[:, :, None], cols.to(dev)[:, None, :]]
    batch = batch.permute(0, 3, 1, 2).float().div_(255.0)
    if crop != out_size:
        batch = F.interpolate(
            batch, size=(out_size, out_size), mode="bilinear", antialias=crop > out_size, align_corners=False
        ).clamp_(0, 1)
    if coll.config.blur > 0:
        batch = blur_by_rescaling(batch, coll.config.blur, coll.config.blur_max_factor, gen)
    return batch


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
        idx = (chosen & (factors == factor)).nonzero().squeeze(1).to(images.device)
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
