"""Fool rates with Wilson score intervals: the figures a Turing test reports.

A model's fool rate is the share of its trials in which the colorized photo was chosen as the real one; 50%
means people cannot tell it from the real photo. The Wilson score interval is used rather than the normal
approximation because it stays inside 0..1 and keeps its coverage at the small counts and extreme rates a
study with a handful of participants gives (Brown, Cai and DasGupta 2001).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import NormalDist

from polychrome.turing.store import Answer

__all__ = ["FoolRate", "fool_rates", "wilson_interval"]

# Below this many answers a model's interval is too wide to compare models on.
MIN_ANSWERS = 30


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion ``successes / n``.

    Example:
        >>> [round(x, 4) for x in wilson_interval(8, 10)]
        [0.4902, 0.9433]
    """
    if n < 1:
        raise ValueError(f"an interval needs at least one trial, got n={n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in 0..n={n}, got {successes}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # Exact bounds at 0 and n, where rounding would otherwise leave 1e-17 outside [0, 1].
    low = 0.0 if successes == 0 else centre - half
    high = 1.0 if successes == n else centre + half
    return low, high


@dataclass(frozen=True)
class FoolRate:
    """One model's result: ``fooled`` of ``answers`` trials, the rate and its interval, and a caveat."""

    model: str
    answers: int
    fooled: int
    participants: int
    rate: float
    low: float
    high: float
    note: str = ""


def fool_rates(
    answers: Iterable[Answer], confidence: float = 0.95, min_answers: int = MIN_ANSWERS
) -> list[FoolRate]:
    """Per model (sorted by name), the share of answers that took the colorized photo for the real one."""
    tallies: dict[str, tuple[int, int, set[str]]] = {}
    for answer in answers:
        total, fooled, people = tallies.get(answer.model, (0, 0, set()))
        people.add(answer.participant)
        tallies[answer.model] = (total + 1, fooled + answer.fooled, people)
    results = []
    for model in sorted(tallies):
        total, fooled, people = tallies[model]
        low, high = wilson_interval(fooled, total, confidence)
        note = f"fewer than {min_answers} answers: the interval is wide" if total < min_answers else ""
        results.append(FoolRate(model, total, fooled, len(people), fooled / total, low, high, note))
    return results
