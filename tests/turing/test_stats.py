"""Fool rates and Wilson score intervals, against hand-computed values and scipy's implementation."""

from __future__ import annotations

import pytest
from scipy.stats import binomtest

from polychrome.turing.stats import fool_rates, wilson_interval
from polychrome.turing.store import Answer

# By hand, z = 1.959964, z^2 = 3.841459: centre = (p + z^2/2n) / (1 + z^2/n),
# half = z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2).
HAND_COMPUTED = [
    # 8/10: p = 0.8, 1 + z^2/n = 1.384146, centre = 0.99208 / 1.384146 = 0.71674,
    # half = 1.416010 * sqrt(0.016 + 0.0096036) = 0.22658.
    (8, 10, 0.49016, 0.94332),
    # 5/10: centre 0.5, half = 1.416010 * sqrt(0.025 + 0.0096036) = 0.26341.
    (5, 10, 0.23659, 0.76341),
    # 0/10: the upper bound is (z^2/n) / (1 + z^2/n) = 0.384146 / 1.384146.
    (0, 10, 0.0, 0.27753),
    # 10/10: the lower bound is 1 / (1 + z^2/n).
    (10, 10, 0.72247, 1.0),
    # 15/40: p = 0.375, 1 + z^2/n = 1.096036, centre = 0.423018 / 1.096036 = 0.38596,
    # half = 1.788234 * sqrt(0.005859375 + 0.00060023) = 0.14372.
    (15, 40, 0.24223, 0.52968),
]


@pytest.mark.parametrize(("successes", "n", "low", "high"), HAND_COMPUTED)
def test_wilson_interval_matches_hand_computed_values(
    successes: int, n: int, low: float, high: float
) -> None:
    assert wilson_interval(successes, n) == pytest.approx((low, high), abs=1e-5)


@pytest.mark.parametrize("n", [1, 2, 7, 30, 333])
def test_wilson_interval_matches_scipy(n: int) -> None:
    for successes in range(n + 1):
        for confidence in (0.9, 0.95, 0.99):
            expected = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
            got = wilson_interval(successes, n, confidence)
            assert got == pytest.approx((expected.low, expected.high), abs=1e-12)
            assert 0.0 <= got[0] <= successes / n <= got[1] <= 1.0


@pytest.mark.parametrize(
    ("successes", "n", "confidence", "message"),
    [
        (0, 0, 0.95, "at least one trial"),
        (11, 10, 0.95, "must lie in 0..n=10"),
        (-1, 10, 0.95, "0..n"),
        (5, 10, 1.0, "strictly between 0 and 1"),
    ],
)
def test_wilson_interval_refuses_impossible_counts(
    successes: int, n: int, confidence: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        wilson_interval(successes, n, confidence)


def _answer(model: str, fooled: bool, participant: str = "p") -> Answer:
    return Answer(
        participant, "photo", model, "left", "right" if fooled else "left", 1000, "2026-01-01T00:00:00"
    )


def test_fool_rates_count_colorized_chosen_as_real_per_model() -> None:
    answers = [_answer("b", True, "x")] * 8 + [_answer("b", False, "y")] * 2 + [_answer("a", False, "x")] * 40
    a, b = fool_rates(answers)
    assert (a.model, a.answers, a.fooled, a.participants, a.rate, a.note) == ("a", 40, 0, 1, 0.0, "")
    assert (b.model, b.answers, b.fooled, b.participants, b.rate) == ("b", 10, 8, 2, 0.8)
    assert (b.low, b.high) == pytest.approx((0.49016, 0.94332), abs=1e-5)
    assert b.note == "fewer than 30 answers: the interval is wide"
    assert fool_rates(answers, min_answers=5)[1].note == ""


def test_fool_rates_of_no_answers_is_an_empty_list() -> None:
    assert fool_rates([]) == []
