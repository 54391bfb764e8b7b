"""Seeded train/val/test splits that depend on names, never on reading order."""

from __future__ import annotations

import random

import numpy as np
import pytest

from polychrome.data.split import split_indices

NAMES = [f"shard-{i // 100:02d}.tar/{i:06d}.jpg" for i in range(1000)]


def _by_name(names: list[str], parts: dict[str, np.ndarray]) -> dict[str, set[str]]:
    return {part: {names[i] for i in indices} for part, indices in parts.items()}


def test_same_seed_gives_the_same_split() -> None:
    first, second = split_indices(NAMES, seed=3), split_indices(NAMES, seed=3)

    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(first[part], second[part])


def test_assignment_by_name_does_not_depend_on_input_order() -> None:
    shuffled = NAMES.copy()
    random.Random(1).shuffle(shuffled)

    assert _by_name(NAMES, split_indices(NAMES, seed=5)) == _by_name(
        shuffled, split_indices(shuffled, seed=5)
    )


def test_different_seed_gives_a_different_split() -> None:
    assert (
        _by_name(NAMES, split_indices(NAMES, seed=0))["val"]
        != _by_name(NAMES, split_indices(NAMES, seed=1))["val"]
    )


@pytest.mark.parametrize(
    ("n", "ratios", "sizes"),
    [
        (1000, (0.8, 0.1, 0.1), (800, 100, 100)),
        (1000, (8, 1, 1), (800, 100, 100)),  # ratios are normalised
        (24, (0.75, 0.25, 0.0), (18, 6, 0)),
        (10, (1.0, 0.0, 0.0), (10, 0, 0)),
        (7, (0.5, 0.25, 0.25), (3, 2, 2)),
        (0, (0.8, 0.1, 0.1), (0, 0, 0)),
    ],
)
def test_ratios_are_respected(
    n: int, ratios: tuple[float, float, float], sizes: tuple[int, int, int]
) -> None:
    parts = split_indices(NAMES[:n], ratios, seed=0)

    assert (len(parts["train"]), len(parts["val"]), len(parts["test"])) == sizes


def test_parts_are_disjoint_complete_and_sorted() -> None:
    parts = split_indices(NAMES, (0.7, 0.2, 0.1), seed=2)
    together = np.concatenate([parts["train"], parts["val"], parts["test"]])

    assert sorted(together.tolist()) == list(range(len(NAMES)))
    for indices in parts.values():
        assert indices.dtype.kind == "i"
        assert np.all(np.diff(indices) > 0)


@pytest.mark.parametrize("ratios", [(0.8, 0.2), (0.5, -0.1, 0.6), (0.0, 0.0, 0.0), (0.5, 0.25, 0.25, 0.0)])
def test_bad_ratios_raise(ratios: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="ratios"):
        split_indices(NAMES[:10], ratios)  # type: ignore[arg-type]
