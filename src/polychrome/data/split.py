"""Deterministic, seeded train/val/test splits."""

from __future__ import annotations

import hashlib

import numpy as np

SPLIT_ORDERS = ("stable", "permutation", "hash")
SPLITS = ("train", "val", "test")


def check_split_order(order: str) -> None:
    """Refuse an unknown split order (callers check before hours of decoding, not after)."""
    if order not in SPLIT_ORDERS:
        raise ValueError(f"split order must be one of {', '.join(SPLIT_ORDERS)}, got {order!r}")


def _name_keys(names: list[str], seed: int) -> np.ndarray:
    """A seeded 64-bit key per name, from the name alone."""
    keys = np.empty(len(names), dtype=np.uint64)
    for i, name in enumerate(names):
        # surrogateescape: a file name's bytes that are not UTF-8 come back as they were on disk
        data = name.encode("utf-8", "surrogateescape")
        digest = hashlib.blake2b(data, digest_size=8, key=seed.to_bytes(8, "little", signed=True))
        keys[i] = int.from_bytes(digest.digest(), "little")
    return keys


def split_indices(
    names: list[str],
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    order: str = "permutation",
) -> dict[str, np.ndarray]:
    """Split items into ``train``, ``val`` and ``test`` index arrays.

    Items are ordered, then the first ``round(ratio * n)`` go to each part in turn (val and test are rounded,
    the remainder goes to train). The order depends only on the names and the seed, never on the order items
    were read in:

    - ``"stable"``: by a seeded hash of each name. Adding or dropping a few photos (a new filter keeps a few
      more) moves only a few others between parts, so a fine-tuning run whose data options differ from its
      starting point's still validates on photos neither trained on.
    - ``"permutation"`` (the default, so saved runs and caches keep their splits): a seeded permutation of the
      sorted names. A single photo more or less reshuffles every part.
    - ``"hash"``: each photo's part depends on its own name alone (:func:`hash_parts`): photos coming and
      going never move another, so a run whose sources grow while it trains keeps its validation photos
      unseen. The parts' sizes follow the ratios only on average (binomially).
    """
    if len(ratios) != 3 or any(r < 0 for r in ratios) or sum(ratios) <= 0:
        raise ValueError(f"ratios must be three non-negative numbers with a positive sum, got {ratios}")
    check_split_order(order)
    total = float(sum(ratios))
    n = len(names)
    if order == "hash":
        assigned = np.array(hash_parts(names, ratios, seed), dtype=object)
        return {part: np.flatnonzero(assigned == part) for part in SPLITS}
    if order == "stable":
        ordered = np.lexsort((np.array(names, dtype=object), _name_keys(names, seed))) if n else np.arange(0)
    else:
        ordered = np.argsort(np.array(names, dtype=object), kind="stable")
        ordered = ordered[np.random.default_rng(seed).permutation(n)]
    n_val = int(round(ratios[1] / total * n))
    n_test = int(round(ratios[2] / total * n))
    n_train = n - n_val - n_test
    return {
        "train": np.sort(ordered[:n_train]),
        "val": np.sort(ordered[n_train : n_train + n_val]),
        "test": np.sort(ordered[n_train + n_val :]),
    }


def hash_parts(names: list[str], ratios: tuple[float, float, float], seed: int = 0) -> list[str]:
    """The part (train, val or test) of each name, from a seeded hash of the name alone: ``u`` = the hash
    scaled to 0..1 goes to train below the train share, then val, then test."""
    if len(ratios) != 3 or any(r < 0 for r in ratios) or sum(ratios) <= 0:
        raise ValueError(f"ratios must be three non-negative numbers with a positive sum, got {ratios}")
    total = float(sum(ratios))
    bounds = np.cumsum([r / total for r in ratios])
    u = _name_keys(names, seed).astype(np.float64) / 2.0**64
    parts = np.minimum(np.searchsorted(bounds, u, side="right"), 2)
    return [SPLITS[part] for part in parts.tolist()]
