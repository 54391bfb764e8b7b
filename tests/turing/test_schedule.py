"""Choosing the next pair: never a photo twice for one person, the least-shown model first."""

from __future__ import annotations

import random
from collections import Counter

from polychrome.turing.schedule import choose_pair

AVAILABLE = [("cat", "a"), ("cat", "b"), ("dog", "a"), ("dog", "b"), ("owl", "a")]


def test_a_seen_photo_is_never_chosen_again() -> None:
    rng = random.Random(0)
    for _ in range(50):
        assert choose_pair(AVAILABLE, {"cat", "owl"}, {}, rng)[0] == "dog"


def test_the_least_shown_model_goes_first() -> None:
    rng = random.Random(0)
    picks = {choose_pair(AVAILABLE, set(), {"a": 5, "b": 4}, rng) for _ in range(50)}
    assert picks == {("cat", "b"), ("dog", "b")}


def test_ties_are_broken_at_random_over_all_candidates() -> None:
    rng = random.Random(1)
    counts = Counter(choose_pair(AVAILABLE, set(), {}, rng) for _ in range(2000))
    assert set(counts) == set(AVAILABLE)
    assert min(counts.values()) > 300  # 400 expected for each of five


def test_nothing_left_gives_none() -> None:
    assert choose_pair(AVAILABLE, {"cat", "dog", "owl"}, {}, random.Random(0)) is None
    assert choose_pair([], set(), {}, random.Random(0)) is None
