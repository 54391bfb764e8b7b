"""Telling photos apart by their look: difference hashes, near-duplicates, and photos never to train on.

A difference hash is 64 bits of a photo's luminance (resized to 9 x 8 with a box filter, one bit per
``gray[:, 1:] > gray[:, :-1]``, packed big-endian): copies of a photo at other sizes or JPEG qualities get
the same hash or one a few bits away. Two uses:

- near-duplicates in a collection (:class:`DuplicateIndex`): the first of each group is kept;
- test-set contamination (:class:`Exclusion`): photos within a few bits of a list of reserved photos'
  hashes (or of another collection's photos), or named in a list of files, are dropped before training,
  so a model is never judged on near-copies of what it learnt from.

Example:
    >>> import numpy as np
    >>> f"{difference_hash(np.zeros((8, 9, 3), np.uint8)):016x}"
    '0000000000000000'
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from polychrome._messages import printable_name

DUPLICATE_DISTANCE = 4  # hashes at most this many bits apart (of 64) are the same photo


def difference_hash(rgb: np.ndarray) -> int:
    """64-bit difference hash of a uint8 ``(H, W, 3)`` photo's luminance."""
    gray = np.asarray(Image.fromarray(rgb).convert("L").resize((9, 8), Image.Resampling.BOX), dtype=np.int16)
    bits = (gray[:, 1:] > gray[:, :-1]).reshape(-1)
    return int(np.packbits(bits).view(">u8")[0])


def centre_square(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return rgb[top : top + side, left : left + side]


def photo_hashes(rgb: np.ndarray) -> tuple[int, int]:
    """The hashes of a photo and of its centre square: a reserved photo may have been kept whole or as the
    square crop a data set made of it."""
    return difference_hash(rgb), difference_hash(centre_square(rgb))


class DuplicateIndex:
    """Hashes seen so far, asked whether a new one is within ``max_distance`` bits of any of them.

    Candidates are found through exact matches of ``max_distance + 1`` bands of the hash (pigeonhole: two
    hashes that close share at least one band), so the cost grows with the number of hashes, not its square.
    """

    def __init__(self, max_distance: int = DUPLICATE_DISTANCE) -> None:
        self.max_distance = max_distance
        self._bands = max_distance + 1
        self._width = -(-64 // self._bands)
        self._buckets: dict[tuple[int, int], list[int]] = {}

    def _keys(self, h: int) -> list[tuple[int, int]]:
        mask = (1 << self._width) - 1
        return [(b, (h >> (b * self._width)) & mask) for b in range(self._bands)]

    def near(self, h: int) -> bool:
        candidates = {k for key in self._keys(h) for k in self._buckets.get(key, ())}
        return any(bin(h ^ k).count("1") <= self.max_distance for k in candidates)

    def add(self, h: int) -> None:
        for key in self._keys(h):
            self._buckets.setdefault(key, []).append(h)


def read_hashes(path: str | Path) -> list[int]:
    """Hashes written as 16 hex digits a line (blank lines and ``#`` comments ignored)."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise FileNotFoundError(
            f"{printable_name(path)}: cannot read the hash list ({err.strerror})"
        ) from None
    hashes = []
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            if len(text) != 16:
                raise ValueError
            hashes.append(int(text, 16))
        except ValueError:
            raise ValueError(
                f"{printable_name(path)}:{number}: {text[:40]!r} is not a hash of 16 hex digits"
            ) from None
    return hashes


def read_names(path: str | Path) -> list[str]:
    """File names a line, as paths relative to a collection's folder (blanks and ``#`` comments ignored)."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise FileNotFoundError(
            f"{printable_name(path)}: cannot read the list of names ({err.strerror})"
        ) from None
    return [text for line in lines if (text := line.split("#", 1)[0].strip())]


@dataclass(frozen=True)
class Exclusion:
    """Photos not to be used: within ``distance`` bits of one of ``hashes`` (the photo or its centre
    square), or whose name ends with one of ``names`` (whole path parts: ``train/n01/images/x.JPEG`` matches
    ``tiny-imagenet-200/train/n01/images/x.JPEG``)."""

    hashes: tuple[int, ...] = ()
    distance: int = DUPLICATE_DISTANCE
    names: frozenset[str] = frozenset()
    _array: np.ndarray = field(default=None, init=False, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if not 0 <= self.distance <= 64:
            raise ValueError(f"an exclusion distance is 0 to 64 bits, got {self.distance}")
        object.__setattr__(self, "names", frozenset(str(PurePosixPath(n)) for n in self.names))
        object.__setattr__(self, "_array", np.array(sorted(set(self.hashes)), dtype=np.uint64))

    def __bool__(self) -> bool:
        return bool(self.hashes or self.names)

    def named(self, name: str) -> bool:
        parts = PurePosixPath(name).parts
        return any("/".join(parts[i:]) in self.names for i in range(len(parts)))

    def near(self, rgb: np.ndarray) -> bool:
        if not len(self._array):
            return False
        for h in photo_hashes(rgb):
            distances = np.bitwise_count(self._array ^ np.uint64(h))
            if int(distances.min()) <= self.distance:
                return True
        return False

    def excludes(self, name: str, rgb: np.ndarray) -> bool:
        return self.named(name) or self.near(rgb)

    def fingerprint(self) -> dict[str, object]:
        """What identifies the exclusion in a preparation's record (digests, not the lists themselves)."""
        digest = hashlib.sha256(b"".join(int(h).to_bytes(8, "big") for h in self._array.tolist()))
        names = hashlib.sha256("\n".join(sorted(self.names)).encode("utf-8", "surrogateescape"))
        return {
            "hashes": len(self._array),
            "hashes_sha256": digest.hexdigest()[:16],
            "distance": self.distance,
            "names": len(self.names),
            "names_sha256": names.hexdigest()[:16],
        }

    @classmethod
    def from_lists(
        cls,
        hash_files: Sequence[str | Path] = (),
        name_files: Sequence[str | Path] = (),
        like: Iterable[np.ndarray] = (),
        distance: int = DUPLICATE_DISTANCE,
    ) -> Exclusion:
        """An exclusion from hash files, name files and the photos of another collection (``like``, uint8
        ``(H, W, 3)`` arrays: each photo's and its centre square's hashes)."""
        hashes = [h for path in hash_files for h in read_hashes(path)]
        hashes += [h for rgb in like for h in photo_hashes(rgb)]
        names = [n for path in name_files for n in read_names(path)]
        return cls(tuple(hashes), distance, frozenset(names))
