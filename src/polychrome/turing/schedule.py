"""Which pair a participant sees next.

Two rules from the Colorization Turing Test protocol (Zhang et al. 2016): a person sees each photo at most
once, because someone who has seen the real version of a photo recognises it in every later pair; and models
get answers at about the same rate, so the least-shown model goes first (ties broken at random).
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping, Sequence

__all__ = ["choose_pair"]


def choose_pair(
    available: Sequence[tuple[str, str]],
    seen_photos: Collection[str],
    shown_per_model: Mapping[str, int],
    rng: random.Random,
) -> tuple[str, str] | None:
    """The next ``(photo, model)`` among ``available`` for a person who has seen ``seen_photos``.

    Returns None when every available photo has been seen.

    Example:
        >>> available = [("cat", "a"), ("cat", "b"), ("dog", "a")]
        >>> choose_pair(available, {"dog"}, {"a": 3, "b": 1}, random.Random(0))
        ('cat', 'b')
    """
    fresh = [(photo, model) for photo, model in available if photo not in seen_photos]
    if not fresh:
        return None
    fewest = min(shown_per_model.get(model, 0) for _, model in fresh)
    return rng.choice([pair for pair in fresh if shown_per_model.get(pair[1], 0) == fewest])
