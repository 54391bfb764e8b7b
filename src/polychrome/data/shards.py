"""Compact shards of training photos: many collections filtered once into small JPEG tar files to carry.

`polychrome prepare SOURCES -o FOLDER --shards` decodes every photo of every source in parallel, drops the
unreadable, too small, already gray and excluded ones (:mod:`polychrome.data.hashing`) and the near-copies of
photos kept before (across all sources, in the order given), shrinks the rest so the shorter side is at most
``--size`` (aspect kept, never enlarged), and writes them as JPEGs into WebDataset-style tar shards of about
``shard_bytes`` each (``shard-000000.tar``, ...), with a ``manifest.json`` of counts by source and by reason.
Training reads such shards as sources and splits them itself; a run can take in new shards as they arrive.

Each shard is written whole and renamed into place, so a stopped run leaves only complete shards; running
the command again starts over (``--overwrite`` replaces what the folder holds).
"""

from __future__ import annotations

import io
import json
import logging
import tarfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image

from polychrome import __version__
from polychrome._atomic import atomic_path, atomic_write
from polychrome._messages import printable_name
from polychrome.data.hashing import DUPLICATE_DISTANCE, DuplicateIndex, difference_hash
from polychrome.data.prepare import PrepareOptions, decode_records, decoder_version
from polychrome.data.sources import iter_records

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
SHARD_PATTERN = "shard-*.tar"
LARGE = 150  # shorter side, in pixels, from which a photo counts as large in the manifest


def existing_output(folder: str | Path) -> list[Path]:
    """What a shard folder already holds of a shard preparation's files."""
    folder = Path(folder)
    return sorted([*folder.glob(SHARD_PATTERN), *folder.glob(MANIFEST)]) if folder.is_dir() else []


class _ShardWriter:
    """Members gathered in memory and written as one tar shard once they reach ``shard_bytes``."""

    def __init__(self, folder: Path, shard_bytes: int) -> None:
        self.folder, self.shard_bytes = folder, shard_bytes
        self.members: list[tuple[str, bytes]] = []
        self.size = 0
        self.shards: list[dict[str, Any]] = []

    def add(self, name: str, data: bytes) -> None:
        self.members.append((name, data))
        self.size += len(data) + 1024  # a tar header and padding per member
        if self.size >= self.shard_bytes:
            self.flush()

    def flush(self) -> None:
        if not self.members:
            return
        path = self.folder / f"shard-{len(self.shards):06d}.tar"
        with atomic_path(path) as tmp, tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as archive:
            for name, data in self.members:
                info = tarfile.TarInfo(name)
                info.size, info.mtime = len(data), 0  # no time: the same input gives the same bytes
                archive.addfile(info, io.BytesIO(data))
        self.shards.append({"file": path.name, "photos": len(self.members), "bytes": path.stat().st_size})
        logger.info("%s: %d photos", path, len(self.members))
        self.members, self.size = [], 0


@dataclass
class _SourceCounts:
    inputs: int = 0
    kept: int = 0
    large: int = 0
    dropped: Counter = field(default_factory=Counter)


def _member_name(name: str, used: set[str], source_index: int) -> str:
    member = str(PurePosixPath(name).with_suffix(".jpg"))
    if member in used:  # two sources with photos of the same name
        member = f"{source_index}/{member}"
    used.add(member)
    return member


def _jpeg(rgb: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def write_shards(
    sources: list[str],
    folder: str | Path,
    options: PrepareOptions,
    *,
    quality: int = 88,
    shard_bytes: int = 60_000_000,
    dedup: bool = True,
    workers: int | None = None,
) -> dict[str, Any]:
    """Filter and shrink the photos of ``sources`` into shards in ``folder`` (see the module docstring);
    ``options`` should not crop (``crop=False``). Returns the manifest, also written as ``manifest.json``."""
    if options.crop or options.image_size is None:
        raise ValueError(
            "shards keep whole photos: give an image_size (the largest shorter side) and crop=False"
        )
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality is 1 to 100, got {quality}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    writer = _ShardWriter(folder, shard_bytes)
    seen = DuplicateIndex() if dedup else None
    used: set[str] = set()
    by_source: dict[str, _SourceCounts] = {}
    failures: list[tuple[str, str]] = []
    for index, source in enumerate(sources):
        counts = by_source.setdefault(source, _SourceCounts())
        for name, rgb, reason in decode_records(iter_records([source]), options, workers=workers):
            counts.inputs += 1
            if rgb is None:
                key = "unreadable" if reason.startswith("unreadable") else reason
                counts.dropped[key] += 1
                if key == "unreadable":
                    failures.append((name, reason))
                    logger.warning("skipped %s", reason.removeprefix("unreadable: "))
                continue
            if seen is not None:
                h = difference_hash(rgb)
                if seen.near(h):
                    counts.dropped["duplicate"] += 1
                    continue
                seen.add(h)
            writer.add(_member_name(name, used, index), _jpeg(rgb, quality))
            counts.kept += 1
            counts.large += min(rgb.shape[:2]) >= LARGE
        logger.info("%s: %d of %d photos kept", printable_name(source), counts.kept, counts.inputs)
    writer.flush()
    manifest = {
        "sources": list(sources),
        "max_shorter_side": options.image_size,
        "min_size": options.min_size,
        "gray_chroma": options.gray_chroma,
        "jpeg_quality": quality,
        "exclusion": options.exclusion.fingerprint() if options.exclusion else None,
        "deduplicated": dedup,
        "duplicate_distance": DUPLICATE_DISTANCE if dedup else None,
        "inputs": sum(c.inputs for c in by_source.values()),
        "kept": sum(c.kept for c in by_source.values()),
        f"kept_shorter_side_at_least_{LARGE}": sum(c.large for c in by_source.values()),
        "dropped": dict(sorted(sum((c.dropped for c in by_source.values()), Counter()).items())),
        "by_source": {
            source: {
                "inputs": c.inputs,
                "kept": c.kept,
                f"kept_shorter_side_at_least_{LARGE}": c.large,
                "dropped": dict(sorted(c.dropped.items())),
            }
            for source, c in by_source.items()
        },
        "failures": [list(f) for f in failures],
        "shards": writer.shards,
        "polychrome_version": __version__,
        "code": decoder_version(),
    }
    text = json.dumps(manifest, indent=1, ensure_ascii=True) + "\n"
    atomic_write(folder / MANIFEST, lambda handle: handle.write(text.encode()))
    return manifest
