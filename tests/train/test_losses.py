"""Losses against dense references written out by hand."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from polychrome.color.quantize import AbGrid
from polychrome.train.losses import AbRegressionLoss, RebalancedCrossEntropy


@pytest.fixture(scope="module")
def grid() -> AbGrid:
    return AbGrid.default()


def _ab(seed: int = 0, shape: tuple[int, int, int] = (2, 5, 7)) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    b, h, w = shape
    return (torch.rand(b, 2, h, w, generator=gen) * 2 - 1) * 60.0


def _dense_reference(
    logits: torch.Tensor, ab: torch.Tensor, grid: AbGrid, weights: torch.Tensor, k: int, sigma: float
) -> torch.Tensor:
    target = grid.encode_soft(ab, k=k, sigma=sigma)  # (B, Q, H, W)
    nearest = grid.encode_hard(ab)  # (B, H, W)
    per_pixel = (target * torch.log_softmax(logits, dim=1)).sum(dim=1)
    return -(weights[nearest] * per_pixel).mean()


@pytest.mark.parametrize(("k", "sigma"), [(5, 5.0), (3, 8.0), (1, 5.0)])
def test_rebalanced_cross_entropy_matches_a_dense_reference(grid: AbGrid, k: int, sigma: float) -> None:
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(2, grid.num_bins, 5, 7, generator=gen) * 3
    weights = torch.rand(grid.num_bins, generator=gen) * 4 + 0.1
    ab = _ab(2)

    loss = RebalancedCrossEntropy(grid, weights, k=k, sigma=sigma)(logits, ab)

    torch.testing.assert_close(
        loss, _dense_reference(logits, ab, grid, weights, k, sigma), rtol=1e-5, atol=1e-6
    )


def test_uniform_weights_give_plain_soft_cross_entropy(grid: AbGrid) -> None:
    logits = torch.randn(2, grid.num_bins, 5, 7, generator=torch.Generator().manual_seed(3))
    ab = _ab(4)
    target = grid.encode_soft(ab)

    loss = RebalancedCrossEntropy(grid)(logits, ab)
    explicit = RebalancedCrossEntropy(grid, torch.ones(grid.num_bins))(logits, ab)
    plain = F.cross_entropy(logits, target)  # soft targets, mean over pixels

    torch.testing.assert_close(loss, plain, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(explicit, plain, rtol=1e-5, atol=1e-6)


def test_weights_scale_the_loss(grid: AbGrid) -> None:
    logits = torch.randn(1, grid.num_bins, 4, 4, generator=torch.Generator().manual_seed(5))
    ab = _ab(6, (1, 4, 4))

    base = RebalancedCrossEntropy(grid)(logits, ab)
    doubled = RebalancedCrossEntropy(grid, torch.full((grid.num_bins,), 2.0))(logits, ab)

    torch.testing.assert_close(doubled, 2 * base)


def test_logits_matching_the_target_beat_random_ones(grid: AbGrid) -> None:
    ab = _ab(7)
    perfect = torch.log(grid.encode_soft(ab).clamp(min=1e-8))
    random = torch.randn(perfect.shape, generator=torch.Generator().manual_seed(8))
    criterion = RebalancedCrossEntropy(grid)

    assert float(criterion(perfect, ab)) < float(criterion(random, ab))
    assert float(criterion(perfect, ab)) < float(criterion(torch.zeros_like(perfect), ab))


def test_rebalanced_cross_entropy_has_gradients(grid: AbGrid) -> None:
    logits = torch.randn(1, grid.num_bins, 3, 3, requires_grad=True)
    RebalancedCrossEntropy(grid)(logits, _ab(9, (1, 3, 3))).backward()

    assert logits.grad is not None and torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("kind", "reference"),
    [
        ("l1", lambda p, t: F.l1_loss(p, t)),
        ("l2", lambda p, t: F.mse_loss(p, t)),
        ("smooth_l1", lambda p, t: F.smooth_l1_loss(p, t, beta=0.05)),
    ],
)
def test_regression_losses_on_scaled_ab(kind: str, reference) -> None:
    gen = torch.Generator().manual_seed(10)
    pred = torch.rand(2, 2, 6, 6, generator=gen) * 2 - 1
    ab = _ab(11, (2, 6, 6))

    loss = AbRegressionLoss(kind)(pred, ab)

    torch.testing.assert_close(loss, reference(pred, ab / 110.0))
    assert float(AbRegressionLoss(kind)(ab / 110.0, ab)) == pytest.approx(0.0, abs=1e-7)


def test_l1_by_hand() -> None:
    pred = torch.zeros(1, 2, 1, 2)
    ab = torch.tensor([11.0, -22.0, 55.0, 0.0]).reshape(1, 2, 1, 2)

    assert float(AbRegressionLoss("l1")(pred, ab)) == pytest.approx((0.1 + 0.2 + 0.5 + 0.0) / 4)


def test_bad_regression_kind_raises() -> None:
    with pytest.raises(ValueError, match="huber"):
        AbRegressionLoss("huber")


def test_decoded_l1_adds_the_l1_of_the_annealed_mean(grid: AbGrid) -> None:
    from polychrome.color.decode import decode_annealed_mean

    ab = _ab(3)
    logits = torch.randn(2, grid.num_bins, 5, 7, generator=torch.Generator().manual_seed(4))
    plain = RebalancedCrossEntropy(grid)(logits, ab)
    with_l1 = RebalancedCrossEntropy(grid, decoded_l1=0.5, decode_temperature=0.38)(logits, ab)
    expected = plain + 0.5 * F.l1_loss(decode_annealed_mean(logits, grid.centers, 0.38) / 110, ab / 110)
    torch.testing.assert_close(with_l1, expected)
    assert with_l1 > plain
