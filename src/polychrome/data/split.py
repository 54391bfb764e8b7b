"""Deterministic, seeded train/val/test splits."""

from __future__ import annotations

import numpy as np


def split_indices(
    names: list[str], ratios: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> dict[str, np.ndarray]:
    """Split items into ``train``, ``val`` and ``test`` index arrays.

    The order depends only on the sorted names and the seed, never on the order items were read in, so the
    same collection always splits the same way. Ratios are normalised; each part gets ``round(ratio * n)``
    items with the remainder going to train.
    """
    if len(ratios) != 3 or any(r < 0 for r in ratios) or sum(ratios) <= 0:
        raise ValueError(f"ratios must be three non-negative numbers with a positive sum, got {ratios}")
    total = float(sum(ratios))
    n = len(names)
    order = np.argsort(np.array(names, dtype=object), kind="stable")
    order = order[np.random.default_rng(seed).permutation(n)]
    n_val = int(round(ratios[1] / total * n))
    n_test = int(round(ratios[2] / total * n))
    n_train = n - n_val - n_test
    return {
        "train": np.sort(order[:n_train]),
        "val": np.sort(order[n_train : n_train + n_val]),
        "test": np.sort(order[n_train + n_val :]),
    }
