"""A prepared dataset in one HDF5 file: decode a collection once, train on it many times.

Layout (``CACHE_FORMAT`` 1):

- ``images``: ``(N, S, S, 3)`` uint8, one chunk per image (gzip level 1: JPEG-sourced pixels compress little,
  so a light level keeps reading fast);
- ``names``: the stable name of each image (``shard.tar.gz/000123.jpg``, ``folder/a/b.png``), in UTF-8 but for
  the bytes of a file name that are not, which are kept as they are;
- ``split/train``, ``split/val``, ``split/test``: sorted indices into ``images``;
- ``stats/``: color statistics of the training split on the ab grid (``ab_centers``, ``ab_counts``, smoothed
  ``priors``, ``rebalance_weights``) and ``mean_colorfulness`` as an attribute;
- ``bins`` (only when asked for): ``(N, S/stride, S/stride)`` uint16, the index on the ab grid of each
  ``stride`` x ``stride`` block (attributes ``stride`` and ``grid``), one compressed chunk per image;
- attribute ``manifest``: JSON with the sources (and layout, categories), sizes, filters and their thresholds,
  the number of inputs and counts of every reason an image was dropped, the files that failed, the split and
  seed, the bin maps, and the code version (package, decoding libraries and a digest of the decoding code).

Decoded images go to a work folder beside the target as they are done (:mod:`polychrome.data.resume`), so a
killed run continues where it stopped; the cache itself is written inside that folder and renamed onto its
name only when complete, so an interrupted run never leaves a half-written cache. Nothing in it records a
time, so preparing the same input twice, straight or resumed, gives identical bytes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
import torch.nn.functional as F

from polychrome import __version__
from polychrome._atomic import atomic_path
from polychrome._messages import printable_name
from polychrome.color.lab import rgb_to_lab
from polychrome.color.quantize import AbGrid, bin_histogram, rebalance_weights, smooth_priors
from polychrome.data.hashing import DUPLICATE_DISTANCE, DuplicateIndex, difference_hash  # noqa: F401  (difference_hash: named here by ../shared/data/README.md)
from polychrome.data.prepare import (
    PreparedImages,
    PrepareOptions,
    decoder_version,
    drop_near_copies,
    prepare_images,
    rgb_batches,
)
from polychrome.data.resume import WorkFolder
from polychrome.data.sources import Record
from polychrome.data.split import check_split_order, split_indices
from polychrome.evaluate.metrics import colorfulness

CACHE_FORMAT = 1
SPLITS = ("train", "val", "test")
BINS_GZIP_LEVEL = 4  # bin maps are smooth: 9x smaller on Imagenette (level 1: 7x; 9: 10x but 20x slower)


def color_statistics(
    images: np.ndarray, grid: AbGrid, sigma: float = 5.0, lam: float = 0.5
) -> dict[str, Any]:
    """ab-bin histogram, smoothed priors, rebalancing weights and mean colorfulness of uint8 images."""
    counts = torch.zeros(grid.num_bins, dtype=torch.float64)
    cf = []
    for rgb in rgb_batches(images):
        counts += bin_histogram(grid.encode_hard(rgb_to_lab(rgb)[:, 1:]), grid.num_bins)
        cf.append(colorfulness(rgb))
    priors = smooth_priors(counts, grid.centers, sigma)
    return {
        "ab_centers": grid.centers.numpy(),
        "ab_counts": counts.numpy(),
        "priors": priors.numpy(),
        "rebalance_weights": rebalance_weights(priors, lam).numpy(),
        "mean_colorfulness": float(torch.cat(cf).mean()) if cf else float("nan"),
    }


def check_bin_stride(image_size: int, stride: int) -> None:
    """Bin-map cells must tile the image exactly, as the model's output cells tile its input."""
    if stride < 1 or image_size % stride:
        raise ValueError(f"the bin map stride {stride} must divide the image size {image_size}")


def bin_maps(images: np.ndarray, grid: AbGrid, stride: int = 2) -> np.ndarray:
    """Hard ab-bin index of every ``stride`` x ``stride`` block of uint8 images ``(N, S, S, 3)``, as
    ``(N, S / stride, S / stride)`` uint16.

    ab is averaged over the block before the look-up, as the training loop does when it measures class
    priors at a model's output stride, so a classification model of that stride can read its targets here.

    Example:
        >>> bin_maps(np.zeros((1, 4, 4, 3), np.uint8), AbGrid.default()).shape
        (1, 2, 2)
    """
    check_bin_stride(images.shape[1], stride)
    if grid.num_bins > np.iinfo(np.uint16).max:
        raise ValueError(f"{grid.num_bins} bins do not fit in uint16 bin maps")
    side = images.shape[1] // stride
    maps = np.empty((len(images), side, side), np.uint16)
    start = 0
    for rgb in rgb_batches(images, 64):
        ab = F.avg_pool2d(rgb_to_lab(rgb)[:, 1:], stride)
        maps[start : start + len(rgb)] = grid.encode_hard(ab).numpy()
        start += len(rgb)
    return maps


def _dataset(group: h5py.Group, name: str, data: np.ndarray, **kwargs: Any) -> None:
    group.create_dataset(name, data=data, track_times=False, **kwargs)


def write_cache(
    path: str | Path,
    prepared: PreparedImages,
    splits: dict[str, np.ndarray],
    manifest: dict[str, Any],
    stats: dict[str, Any] | None,
    temp_dir: str | Path | None = None,
    bins: np.ndarray | None = None,
    bin_grid: int = 10,
) -> Path:
    """Write a cache file atomically (see the module docstring for the layout), through ``temp_dir``.

    ``bins`` are :func:`bin_maps` of the images on ``AbGrid.default(bin_grid)``.
    """
    path = Path(path)
    with atomic_path(path, temp_dir) as tmp, h5py.File(tmp, "w", track_order=True) as f:
        n, size = len(prepared.names), prepared.images.shape[1]
        chunks = (1, size, size, 3) if n else None
        _dataset(f, "images", prepared.images, chunks=chunks, compression="gzip", compression_opts=1)
        # A file name's bytes that are not UTF-8 are stored as they were on disk (surrogateescape).
        names = [name.encode("utf-8", "surrogateescape") for name in prepared.names]
        _dataset(f, "names", np.array(names, dtype=h5py.string_dtype()))
        if bins is not None:
            side = bins.shape[1]
            chunks = (1, side, side) if n else None
            _dataset(f, "bins", bins, chunks=chunks, compression="gzip", compression_opts=BINS_GZIP_LEVEL)
            f["bins"].attrs["stride"] = size // side
            f["bins"].attrs["grid"] = bin_grid
        group = f.create_group("split", track_times=False)
        for name in SPLITS:
            _dataset(group, name, splits[name].astype(np.int64))
        if stats is not None:
            group = f.create_group("stats", track_times=False)
            for key, value in stats.items():
                if isinstance(value, np.ndarray):
                    _dataset(group, key, value)
            group.attrs["mean_colorfulness"] = stats["mean_colorfulness"]
        f.attrs["manifest"] = json.dumps(manifest, sort_keys=True)
        f.attrs["format"] = CACHE_FORMAT
    return path


@dataclass
class Cache:
    """A cache file read back: images in memory, the split, the manifest, the color statistics and the bin
    maps (indices into ``AbGrid.default()``) when it has them."""

    images: np.ndarray
    names: list[str]
    splits: dict[str, np.ndarray]
    manifest: dict[str, Any]
    stats: dict[str, Any]
    bins: np.ndarray | None = None  # (N, S / bin_stride, S / bin_stride) uint16 ab-bin indices, if prepared
    bin_stride: int | None = None

    @property
    def image_size(self) -> int:
        return int(self.images.shape[1])


def _name(stored: bytes | str) -> str:
    return stored.decode("utf-8", "surrogateescape") if isinstance(stored, bytes) else stored


def read_cache(path: str | Path) -> Cache:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such cache file (make one with `polychrome prepare`)")
    try:
        with h5py.File(path, "r") as f:
            if int(f.attrs.get("format", -1)) != CACHE_FORMAT:
                raise ValueError(f"{path}: not a polychrome cache of format {CACHE_FORMAT}")
            stats: dict[str, Any] = {}
            if "stats" in f:
                stats = {k: f["stats"][k][()] for k in f["stats"]}
                stats["mean_colorfulness"] = float(f["stats"].attrs["mean_colorfulness"])
            bins = f.get("bins")
            return Cache(
                images=f["images"][()],
                names=[_name(n) for n in f["names"][()]],
                splits={k: f["split"][k][()] for k in SPLITS},
                manifest=json.loads(f.attrs["manifest"]),
                stats=stats,
                bins=bins[()] if bins is not None else None,
                bin_stride=int(bins.attrs["stride"]) if bins is not None else None,
            )
    except OSError as err:
        raise ValueError(f"{path}: unreadable cache ({err})") from None


def check_cache_output(output: str | Path) -> Path:
    """The cache file to write; a folder there is refused before any decoding, since a cache is one file."""
    output = Path(output)
    if output.is_dir():
        shown = printable_name(output)
        raise ValueError(f"{shown} is a folder; name the cache file to write, e.g. {shown}/data.h5")
    return output


def build_cache(
    records: Iterable[Record],
    output: str | Path,
    options: PrepareOptions,
    *,
    sources: list[str],
    split: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    split_order: str = "permutation",
    dedup: bool = True,
    workers: int | None = None,
    official_splits: dict[str, str] | None = None,
    layout: str | None = None,
    categories: list[str] | None = None,
    bin_stride: int | None = None,
    restart: bool = False,
    chunk: int = 64,
) -> tuple[Path, dict[str, Any]]:
    """Prepare ``records`` (decode, filter, crop), de-duplicate, split, measure colors, write the cache.

    ``official_splits`` (record name -> train / val / test, from a named layout) replaces the seeded split;
    ``split_order`` is :func:`split_indices`' order of the photos before the seeded split cuts them.
    Decoding continues the unfinished work of an earlier run of the same preparation (``restart``: discard
    it); a different one left there is a ValueError. ``sources``, ``layout`` and ``categories`` describe where
    ``records`` come from. ``bin_stride`` adds :func:`bin_maps` at that stride. Returns the cache path and
    its manifest.
    """
    output = check_cache_output(output)
    check_split_order(split_order)  # before hours of decoding, not after
    if bin_stride is not None:
        check_bin_stride(options.image_size, bin_stride)  # before hours of decoding, not after
    fingerprint = {
        "sources": [os.path.abspath(s) for s in sources],
        "layout": layout,
        "categories": categories,
        "image_size": options.image_size,
        "min_size": options.min_size,
        "gray_chroma": options.gray_chroma,
        "enlarge": options.enlarge,
        "exclusion": options.exclusion.fingerprint() if options.exclusion else None,
        "chunk": chunk,
        "code": decoder_version(),
    }
    with WorkFolder.open(output, fingerprint, restart=restart) as work:
        prepared = prepare_images(records, options, workers=workers, chunk=chunk, store=work)
        if len(prepared.names) == 0:
            work.remove()
            summary = prepared.summary()
            shown = ", ".join(printable_name(source) for source in sources)
            raise ValueError(f"{shown}: no usable photos ({summary}); nothing written")
        if dedup:
            prepared = drop_near_copies(prepared, DuplicateIndex())
        if official_splits is None:
            splits = split_indices(prepared.names, split, seed=seed, order=split_order)
        else:
            assigned = [official_splits.get(name) for name in prepared.names]
            splits = {
                k: np.array([i for i, a in enumerate(assigned) if a == k], dtype=np.int64) for k in SPLITS
            }
        grid = AbGrid.default()
        stats = None
        if len(splits["train"]):
            stats = color_statistics(prepared.images[splits["train"]], grid)
        bins = bin_maps(prepared.images, grid, bin_stride) if bin_stride is not None else None
        manifest = {
            "sources": list(sources),
            "image_size": options.image_size,
            "min_size": options.min_size,
            "gray_chroma": options.gray_chroma,
            "enlarge": options.enlarge,
            "exclusion": options.exclusion.fingerprint() if options.exclusion else None,
            "deduplicated": dedup,
            "duplicate_distance": DUPLICATE_DISTANCE if dedup else None,
            "inputs": len(prepared.names) + sum(prepared.dropped.values()),
            "kept": len(prepared.names),
            "dropped": dict(sorted(prepared.dropped.items())),
            "failures": [list(f) for f in prepared.failures],
            "layout": layout,
            "categories": categories,
            "split_ratios": None if official_splits is not None else list(split),
            "split_source": "official" if official_splits is not None else "seeded",
            "split_sizes": {k: int(len(v)) for k, v in splits.items()},
            "split_order": None if official_splits is not None else split_order,
            "seed": seed,
            "bins": None if bin_stride is None else {"stride": bin_stride, "grid": grid.grid},
            "polychrome_version": __version__,
            "code": decoder_version(),
            "cache_format": CACHE_FORMAT,
        }
        write_cache(
            output, prepared, splits, manifest, stats, temp_dir=work.path, bins=bins, bin_grid=grid.grid
        )
        work.remove()
    return output, manifest
