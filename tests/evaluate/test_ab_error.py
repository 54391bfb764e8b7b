"""Zhang et al.'s ab-error AuC (plain and rebalanced) and bin accuracy: hand cases and a numpy oracle."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from polychrome.color.quantize import in_gamut_ab_bins
from polychrome.evaluate.ab_error import AbErrorStats, auc, cdf_from_histogram, error_buckets


def _ab(pairs: list[tuple[float, float]]) -> torch.Tensor:
    """One image, one row of pixels: [(a, b), ...] -> (1, 2, 1, N)."""
    return torch.tensor(pairs, dtype=torch.float32).T.reshape(1, 2, 1, len(pairs))


def test_two_pixels_by_hand() -> None:
    # Errors 5 (a 3-4-5 triangle) and 0: the CDF is 1/2 for t = 0..4 and 1 from t = 5 on. Trapezoid area
    # over 0..150: 4 * 0.5 + (0.5 + 1) / 2 + 145 * 1 = 147.75, normalised 147.75 / 150 = 0.985.
    stats = AbErrorStats()
    batch = stats.update(_ab([(3.0, 4.0), (0.0, 0.0)]), _ab([(0.0, 0.0), (0.0, 0.0)]))
    assert batch.auc.tolist() == pytest.approx([0.985])
    assert stats.auc() == pytest.approx(0.985)
    cdf = stats.cdf()
    assert cdf.shape == (151,)
    assert cdf[:5].tolist() == [0.5] * 5 and bool((cdf[5:] == 1).all())
    # (3, 4) is nearest the bin (0, 0), like the truth: both pixels are in the right bin.
    assert batch.bin_accuracy.tolist() == [1.0] and stats.bin_accuracy == 1.0


def test_exact_and_hopeless_predictions() -> None:
    truth = _ab([(20.0, 20.0), (-30.0, 50.0)])
    stats = AbErrorStats()
    assert stats.update(truth, truth).auc.tolist() == [1.0]
    far = AbErrorStats()
    assert far.update(truth + 200.0, truth).auc.tolist() == [0.0]
    assert far.bin_accuracy == 0.0


def test_rebalancing_gives_every_true_color_the_same_weight() -> None:
    # Three gray pixels predicted exactly and one (20, 20) pixel predicted 200 units away (never within 150).
    # Plain: 3 of 4 pixels are right at every threshold -> AuC 0.75. Rebalanced: the gray class's CDF is 1,
    # the (20, 20) class's is 0, and each class counts once -> AuC 0.5.
    truth = _ab([(0.0, 0.0)] * 3 + [(20.0, 20.0)])
    pred = _ab([(0.0, 0.0)] * 3 + [(140.0, 180.0)])
    stats = AbErrorStats()
    stats.update(pred, truth)
    assert stats.auc() == pytest.approx(0.75)
    assert stats.auc(rebalanced=True) == pytest.approx(0.5)
    assert stats.bin_accuracy == pytest.approx(0.75)


def test_bin_accuracy_by_hand() -> None:
    # Truth (0, 0). A prediction 4 units away stays in bin (0, 0); one 6 units away is nearer bin (10, 0).
    stats = AbErrorStats()
    batch = stats.update(_ab([(4.0, 0.0), (6.0, 0.0)]), _ab([(0.0, 0.0), (0.0, 0.0)]))
    assert batch.bin_accuracy.tolist() == [0.5]


def _numpy_oracle(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float, float, np.ndarray]:
    """(AuC, rebalanced AuC, bin accuracy, per-image AuC) by brute force; ab arrays (B, 2, H, W)."""
    centers = in_gamut_ab_bins(10).numpy().astype(np.float64)
    error = np.sqrt(((pred - truth) ** 2).sum(axis=1))  # (B, H, W)
    thresholds = np.arange(151)

    def nearest(ab: np.ndarray) -> np.ndarray:
        flat = ab.transpose(0, 2, 3, 1).reshape(-1, 2)
        clipped = np.clip(flat, -110, 110)
        return ((clipped[:, None, :] - centers[None]) ** 2).sum(-1).argmin(1)

    true_bins, pred_bins = nearest(truth), nearest(pred)
    flat_error = error.reshape(-1)
    cdf = np.array([(flat_error <= t).mean() for t in thresholds])
    counts = np.bincount(true_bins, minlength=len(centers))
    weights = 1.0 / counts[true_bins]
    cdf_rebalanced = np.array([(weights * (flat_error <= t)).sum() / weights.sum() for t in thresholds])
    per_image = [np.trapezoid([(e <= t).mean() for t in thresholds]) / 150 for e in error]
    return (
        np.trapezoid(cdf) / 150,
        np.trapezoid(cdf_rebalanced) / 150,
        float((true_bins == pred_bins).mean()),
        np.array(per_image),
    )


def test_matches_a_numpy_oracle_over_several_batches() -> None:
    gen = torch.Generator().manual_seed(0)
    truth = (torch.rand(5, 2, 9, 11, generator=gen) - 0.5) * 160
    truth[:, :, :4] *= 0.1  # many near-gray pixels, so the classes are far from balanced
    # Desaturated with noise, as colorizers tend to be: colorful (rare) pixels get the largest errors.
    pred = truth * 0.3 + torch.randn(5, 2, 9, 11, generator=gen) * 10
    stats = AbErrorStats()
    per_image = torch.cat([stats.update(pred[:2], truth[:2]).auc, stats.update(pred[2:], truth[2:]).auc])
    expected = _numpy_oracle(pred.double().numpy(), truth.double().numpy())
    assert stats.auc() == pytest.approx(expected[0], abs=1e-6)
    assert stats.auc(rebalanced=True) == pytest.approx(expected[1], abs=1e-6)
    assert stats.bin_accuracy == pytest.approx(expected[2])
    np.testing.assert_allclose(per_image.numpy(), expected[3], atol=1e-6)
    assert stats.auc(rebalanced=True) < stats.auc()  # rare colors are the hard ones here


def test_helpers() -> None:
    assert error_buckets(torch.tensor([0.0, 0.5, 1.0, 149.9, 150.0, 150.1, 1e6])).tolist() == [
        0,
        1,
        1,
        150,
        150,
        151,
        151,
    ]
    counts = torch.tensor([[1.0, 0.0, 1.0, 2.0]])  # T = 2: buckets 0, 1, 2 and beyond
    assert cdf_from_histogram(counts).tolist() == [[0.25, 0.25, 0.5]]
    assert auc(torch.tensor([0.0, 1.0, 1.0])).item() == pytest.approx(0.75)


def test_bad_shapes_and_empty_stats_raise() -> None:
    stats = AbErrorStats()
    with pytest.raises(ValueError, match="no pixels"):
        stats.auc()
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\)"):
        stats.update(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 5))
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\)"):
        stats.update(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4))
