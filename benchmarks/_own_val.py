"""The validation split of a training run, rebuilt for benchmark scripts that choose or study decoding.

Same recipe, seed and code as `polychrome train`; the shards are read from a data folder instead of the
run's .data*/ folders. Choices are made here, never on the benchmark sets that are reported.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from polychrome.data.prepare import PreparedImages, PrepareOptions, prepare_images
from polychrome.data.sources import iter_records
from polychrome.data.split import split_indices
from polychrome.train.config import DataConfig, TrainConfig
from polychrome.train.loop import collection_records, prepare_options

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
WORKERS = min(8, os.cpu_count() or 1)


def split_photos(
    config: TrainConfig, spec: DataConfig, data: Path, part: str = "val"
) -> tuple[list[str], PreparedImages, np.ndarray]:
    """A collection's shards in ``data``, its photos kept as the training run keeps them, and the indices of
    ``part`` among them: the run's own split (same options, order and seed)."""
    sources = [str(data / Path(s).name) for s in spec.sources]
    kept = prepare_images(collection_records(spec, sources), prepare_options(spec), workers=WORKERS)
    chosen = split_indices(kept.names, spec.split, seed=config.seed, order=spec.split_order)[part]
    return sources, kept, chosen


def prepare_named(sources: list[str], names: set[str], size: int, min_size: int) -> np.ndarray:
    """The photos called ``names``, prepared at ``size`` with no gray test (they passed it as trained)."""
    options = PrepareOptions(image_size=size, min_size=min(min_size, size), gray_chroma=0.0)
    records = (r for r in iter_records(sources) if r.name in names)
    return prepare_images(records, options, workers=WORKERS).images


def own_validation_sets(
    config: TrainConfig, data: Path, sizes: list[int] | None = None, limit: int = 400, part: str = "val"
) -> list[np.ndarray]:
    """Up to ``limit`` uint8 photos ``(N, S, S, 3)`` of each collection's validation split (or ``part``,
    e.g. "train": photos the model was trained on), prepared at ``sizes`` (default: the recipe's
    image_size; e.g. 64 scores Tiny-ImageNet at its own size).

    The split is the training run's: taken over the photos kept at the recipe's image_size, as training
    keeps them. Which photos pass the gray test depends on the size they are judged at, and the split is a
    permutation of the kept photos, so a split taken over the photos kept at another size is a different
    split (until the sixth session this function did that, and its Tiny-ImageNet "validation" photos at
    64 px were mostly training photos).
    """
    sets = []
    for spec, size in zip(config.data, sizes or [spec.image_size for spec in config.data], strict=True):
        sources, kept, chosen = split_photos(config, spec, data, part)
        picked = np.sort(np.random.default_rng(0).permutation(chosen)[:limit])
        if size == spec.image_size:
            images = kept.images[picked]
        else:  # the same photos, prepared at the size they are scored at
            images = prepare_named(sources, {kept.names[i] for i in picked}, size, spec.min_size)
        del kept
        sets.append(images)
        print(f"{spec.sources}: {len(chosen)} {part} images, scoring {len(images)}", flush=True)
    return sets


def own_split_parser(description: str | None = None, many_models: bool = False) -> argparse.ArgumentParser:
    """The arguments every own-split script takes: the run's config, the model (or several), and where the
    shards are."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("config", type=Path, help="the training run's recipe (its split and seed)")
    parser.add_argument("model", type=Path, nargs="+" if many_models else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding the run's shards")
    parser.add_argument("--limit", type=int, default=400, help="photos scored per collection")
    parser.add_argument("--device", default="cpu", help="where the network runs, e.g. cuda")
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=None,
        help="size to score each collection's photos at (default: the recipe's image_size); e.g. 224 64 "
        "scores Tiny-ImageNet at its own 64 px, as the benchmark sets are scored",
    )
    return parser
