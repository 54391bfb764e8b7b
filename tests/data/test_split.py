"""Seeded train/val/test splits that depend on names, never on reading order."""

from __future__ import annotations

import random

import numpy as np
import pytest

from polychrome.data.split import SPLIT_ORDERS, hash_parts, split_indices

NAMES = [f"shard-{i // 100:02d}.tar/{i:06d}.jpg" for i in range(1000)]


def _by_name(names: list[str], parts: dict[str, np.ndarray]) -> dict[str, set[str]]:
    return {part: {names[i] for i in indices} for part, indices in parts.items()}


ORDERS = pytest.mark.parametrize("order", SPLIT_ORDERS)
COUNTED = pytest.mark.parametrize("order", [o for o in SPLIT_ORDERS if o != "hash"])  # exact part sizes


@ORDERS
def test_same_seed_gives_the_same_split(order: str) -> None:
    first, second = split_indices(NAMES, seed=3, order=order), split_indices(NAMES, seed=3, order=order)

    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(first[part], second[part])


@ORDERS
def test_assignment_by_name_does_not_depend_on_input_order(order: str) -> None:
    shuffled = NAMES.copy()
    random.Random(1).shuffle(shuffled)

    assert _by_name(NAMES, split_indices(NAMES, seed=5, order=order)) == _by_name(
        shuffled, split_indices(shuffled, seed=5, order=order)
    )


@ORDERS
def test_different_seed_gives_a_different_split(order: str) -> None:
    assert (
        _by_name(NAMES, split_indices(NAMES, seed=0, order=order))["val"]
        != _by_name(NAMES, split_indices(NAMES, seed=1, order=order))["val"]
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
@COUNTED
def test_ratios_are_respected(
    n: int, ratios: tuple[float, float, float], sizes: tuple[int, int, int], order: str
) -> None:
    parts = split_indices(NAMES[:n], ratios, seed=0, order=order)

    assert (len(parts["train"]), len(parts["val"]), len(parts["test"])) == sizes


@ORDERS
def test_parts_are_disjoint_complete_and_sorted(order: str) -> None:
    parts = split_indices(NAMES, (0.7, 0.2, 0.1), seed=2, order=order)
    together = np.concatenate([parts["train"], parts["val"], parts["test"]])

    assert sorted(together.tolist()) == list(range(len(NAMES)))
    for indices in parts.values():
        assert indices.dtype.kind == "i"
        assert np.all(np.diff(indices) > 0)


@pytest.mark.parametrize("ratios", [(0.8, 0.2), (0.5, -0.1, 0.6), (0.0, 0.0, 0.0), (0.5, 0.25, 0.25, 0.0)])
def test_bad_ratios_raise(ratios: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="ratios"):
        split_indices(NAMES[:10], ratios)  # type: ignore[arg-type]


def test_an_unknown_order_is_refused() -> None:
    with pytest.raises(ValueError, match="split order must be one of stable, permutation, hash"):
        split_indices(NAMES[:10], order="random")


def test_the_default_order_is_the_seeded_permutation_every_recorded_run_used() -> None:
    order = np.argsort(np.array(NAMES, dtype=object), kind="stable")
    order = order[np.random.default_rng(7).permutation(len(NAMES))]
    parts = split_indices(NAMES, (0.8, 0.1, 0.1), seed=7)
    np.testing.assert_array_equal(parts["val"], np.sort(order[800:900]))


def _moved(order: str, dropped: int) -> int:
    """How many of the photos left change part when one photo is dropped."""
    fewer = NAMES[:dropped] + NAMES[dropped + 1 :]
    before = {
        name: part
        for part, names in _by_name(NAMES, split_indices(NAMES, seed=0, order=order)).items()
        for name in names
    }
    after = {
        name: part
        for part, names in _by_name(fewer, split_indices(fewer, seed=0, order=order)).items()
        for name in names
    }
    return sum(before[name] != after[name] for name in fewer)


@pytest.mark.parametrize("dropped", [0, 137, 999])
def test_a_stable_split_moves_at_most_two_photos_when_one_is_dropped(dropped: int) -> None:
    assert _moved("stable", dropped) <= 2
    assert _moved("permutation", dropped) > 20  # why the stable order exists


def test_a_hash_split_moves_no_photo_when_photos_come_or_go() -> None:
    assert _moved("hash", 137) == 0
    more = [*NAMES, *(f"shard-99.tar/{i:06d}.jpg" for i in range(200))]
    before = _by_name(NAMES, split_indices(NAMES, seed=0, order="hash"))
    after = _by_name(more, split_indices(more, seed=0, order="hash"))
    assert all(before[part] <= after[part] for part in before)  # old photos keep their part
    assert hash_parts(more[1000:], (0.8, 0.1, 0.1)) == [
        part for name in more[1000:] for part, names in after.items() if name in names
    ]


def test_a_hash_split_follows_the_ratios_on_average() -> None:
    names = [f"photo{i}.jpg" for i in range(20_000)]
    sizes = {k: len(v) for k, v in split_indices(names, (0.7, 0.2, 0.1), seed=4, order="hash").items()}
    # Binomial: a standard deviation of about 65 photos for the train part; 5 of them is far out.
    assert abs(sizes["train"] - 14_000) < 330 and abs(sizes["val"] - 4_000) < 300
    assert sum(sizes.values()) == 20_000
    assert hash_parts(["a.jpg"], (1, 0, 0)) == ["train"] and hash_parts(["a.jpg"], (0, 0, 1)) == ["test"]


def test_a_stable_split_takes_names_that_are_not_utf8() -> None:
    names = [f"photos/{i}\udcff.jpg" for i in range(20)]
    parts = split_indices(names, (0.5, 0.25, 0.25), seed=3, order="stable")
    assert sorted(np.concatenate(list(parts.values())).tolist()) == list(range(20))
