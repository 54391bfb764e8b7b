"""Losses against dense references written out by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from polychrome.color.quantize import AbBins, AbGrid, AbPalette, rebalance_weights
from polychrome.train.losses import (
    AbRegressionLoss,
    RebalancedCrossEntropy,
    ab_colorfulness,
    gradient_penalty,
    rgb_colorfulness,
    wgan_critic_loss,
    wgan_generator_loss,
)


@pytest.fixture(scope="module")
def grid() -> AbGrid:
    return AbGrid.default()


def _ab(seed: int = 0, shape: tuple[int, int, int] = (2, 5, 7)) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    b, h, w = shape
    return (torch.rand(b, 2, h, w, generator=gen) * 2 - 1) * 60.0


def _dense_reference(
    logits: torch.Tensor, ab: torch.Tensor, grid: AbBins, weights: torch.Tensor, k: int, sigma: float
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


def _priors(num_bins: int, seed: int) -> torch.Tensor:
    """A skewed, positive class distribution, like a photo collection's (mostly near-gray bins)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(num_bins, generator=gen) ** 4 + 1e-3


def test_lambda_one_is_plain_cross_entropy(grid: AbGrid) -> None:
    # The seeds' first variant: no class weights. rebalance_weights(priors, 1) must give exactly that.
    gen = torch.Generator().manual_seed(12)
    logits = torch.randn(2, grid.num_bins, 5, 7, generator=gen) * 2
    ab = _ab(13)
    weights = rebalance_weights(_priors(grid.num_bins, 14), 1.0)

    loss = RebalancedCrossEntropy(grid, weights)(logits, ab)

    torch.testing.assert_close(weights, torch.ones(grid.num_bins))
    torch.testing.assert_close(loss, F.cross_entropy(logits, grid.encode_soft(ab)), rtol=1e-5, atol=1e-6)


def _per_pixel_ce(logits: torch.Tensor, ab: torch.Tensor, grid: AbGrid) -> tuple[torch.Tensor, torch.Tensor]:
    """Torch's soft cross-entropy of each pixel (B, H, W) and the index of its nearest bin."""
    return F.cross_entropy(logits, grid.encode_soft(ab), reduction="none"), grid.encode_hard(ab)


def test_lambda_zero_weights_by_the_inverse_of_the_datasets_own_distribution(grid: AbGrid) -> None:
    # The seeds' third variant: each pixel weighted by 1 / (Q p) of its color's share p in the data
    # (scikit-learn's "balanced" class weights), written out here from p alone.
    gen = torch.Generator().manual_seed(15)
    logits = torch.randn(2, grid.num_bins, 5, 7, generator=gen)
    ab = _ab(16)
    priors = _priors(grid.num_bins, 17)
    p = priors.double() / priors.sum()

    loss = RebalancedCrossEntropy(grid, rebalance_weights(priors, 0.0))(logits, ab)

    ce, nearest = _per_pixel_ce(logits, ab, grid)
    expected = (ce.double() / (grid.num_bins * p[nearest])).mean()
    torch.testing.assert_close(loss.double(), expected, rtol=1e-5, atol=1e-6)


def test_lambda_half_is_zhangs_rebalancing(grid: AbGrid) -> None:
    # The second variant, Zhang et al. eq. 4: w ~ ((1 - lam) p + lam / Q)^-1, normalised so E_p[w] = 1.
    gen = torch.Generator().manual_seed(18)
    logits = torch.randn(2, grid.num_bins, 5, 7, generator=gen)
    ab = _ab(19)
    priors = _priors(grid.num_bins, 20)
    p = (priors.double() / priors.sum()).tolist()
    raw = [1 / (0.5 * pi + 0.5 / len(p)) for pi in p]
    scale = math.fsum(pi * wi for pi, wi in zip(p, raw, strict=True))
    w = torch.tensor([wi / scale for wi in raw], dtype=torch.float64)

    loss = RebalancedCrossEntropy(grid, rebalance_weights(priors, 0.5))(logits, ab)

    ce, nearest = _per_pixel_ce(logits, ab, grid)
    torch.testing.assert_close(loss.double(), (ce.double() * w[nearest]).mean(), rtol=1e-5, atol=1e-6)


def test_rebalanced_cross_entropy_over_a_palette_matches_a_dense_reference() -> None:
    gen = torch.Generator().manual_seed(21)
    palette = AbPalette((torch.rand(12, 2, generator=gen) * 2 - 1) * 70)
    logits = torch.randn(2, 12, 5, 7, generator=gen)
    weights = torch.rand(12, generator=gen) + 0.5
    ab = _ab(22)

    loss = RebalancedCrossEntropy(palette, weights, k=3, sigma=12.0)(logits, ab)

    expected = _dense_reference(logits, ab, palette, weights, 3, 12.0)
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)


def test_weights_of_the_wrong_size_raise(grid: AbGrid) -> None:
    with pytest.raises(ValueError, match="weights must have shape"):
        RebalancedCrossEntropy(grid, torch.ones(grid.num_bins - 1))


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


def test_ab_colorfulness_by_hand() -> None:
    flat = torch.zeros(1, 2, 2, 2)
    flat[:, 0], flat[:, 1] = 3.0, 4.0  # one color everywhere: no spread, offset |(3, 4)| = 5
    checker = torch.zeros(1, 2, 2, 2)
    checker[0, 0] = torch.tensor([[2.0, -2.0], [-2.0, 2.0]])  # a = +-2, b = 0: spread 2, offset 0

    values = ab_colorfulness(torch.cat([flat, checker]))

    torch.testing.assert_close(values, torch.tensor([0.3 * 5.0, 2.0]), atol=1e-3, rtol=0)


def test_ab_colorfulness_ranks_photos_as_the_rgb_metric_does() -> None:
    from skimage import data

    from polychrome.color import rgb_to_lab
    from polychrome.evaluate.metrics import colorfulness

    photos = [getattr(data, name)() for name in ("astronaut", "coffee", "chelsea", "rocket")]
    rgb = torch.stack([torch.from_numpy(p[:256, :256]).permute(2, 0, 1).float() / 255 for p in photos])
    lab = rgb_to_lab(rgb)
    by_ab = ab_colorfulness(lab[:, 1:]).tolist()
    by_rgb = colorfulness(rgb).tolist()

    assert sorted(range(4), key=by_ab.__getitem__) == sorted(range(4), key=by_rgb.__getitem__)
    half = ab_colorfulness(lab[:, 1:] * 0.5)
    torch.testing.assert_close(half, torch.tensor(by_ab) * 0.5, rtol=1e-4, atol=1e-4)


def test_colorfulness_term_is_added_per_batch_or_per_image() -> None:
    ab = _ab(5, (2, 6, 6))
    pred = ab / 110.0
    pred = torch.stack([pred[0] * 1.5, pred[1] * 0.5])  # one image too colorful, one too dull
    plain = AbRegressionLoss("l1")(pred, ab)
    c_pred, c_true = ab_colorfulness(pred), ab_colorfulness(ab / 110.0)

    per_image = AbRegressionLoss("l1", colorfulness=2.0, colorfulness_per="image")(pred, ab)
    per_batch = AbRegressionLoss("l1", colorfulness=2.0, colorfulness_per="batch")(pred, ab)

    torch.testing.assert_close(per_image, plain + 2.0 * (c_pred - c_true).abs().mean())
    torch.testing.assert_close(per_batch, plain + 2.0 * (c_pred.mean() - c_true.mean()).abs())
    assert per_batch < per_image  # the two errors cancel in the batch's mean, not image by image


def test_colorfulness_term_pushes_a_gray_prediction_towards_color() -> None:
    ab = _ab(6, (1, 8, 8))
    pred = torch.zeros(1, 2, 8, 8, requires_grad=True)  # gray: the square roots must still have gradients
    loss = AbRegressionLoss("l2", colorfulness=1.0)(pred, ab)
    loss.backward()
    assert torch.isfinite(pred.grad).all()

    with torch.no_grad():
        stepped = pred - 50.0 * pred.grad
    assert float(ab_colorfulness(stepped)) > float(ab_colorfulness(pred.detach())) + 0.01


@pytest.mark.parametrize(("weight", "per"), [(-1.0, "batch"), (1.0, "pixel")])
def test_bad_colorfulness_options_raise(weight: float, per: str) -> None:
    with pytest.raises(ValueError, match="colorfulness"):
        AbRegressionLoss("l1", colorfulness=weight, colorfulness_per=per)


# --- regression in rgb space ---------------------------------------------------------------------------


def _lightness(seed: int, shape: tuple[int, int, int]) -> torch.Tensor:
    b, h, w = shape
    return 15.0 + 70.0 * torch.rand(b, 1, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", ["l1", "l2", "smooth_l1"])
def test_rgb_space_loss_compares_the_colors_scikit_image_renders(kind: str) -> None:
    from skimage.color import lab2rgb

    ab, lightness = _ab(20, (2, 6, 6)), _lightness(21, (2, 6, 6))
    pred = torch.rand(2, 2, 6, 6, generator=torch.Generator().manual_seed(22)) * 1.2 - 0.6

    def render(ab_units: torch.Tensor) -> torch.Tensor:
        lab = torch.cat((lightness, ab_units), dim=1).permute(0, 2, 3, 1).double().numpy()
        return torch.from_numpy(lab2rgb(lab)).permute(0, 3, 1, 2).float()  # clipped to 0..1, as shown

    reference = {
        "l1": F.l1_loss,
        "l2": F.mse_loss,
        "smooth_l1": lambda p, t: F.smooth_l1_loss(p, t, beta=0.05),
    }
    loss = AbRegressionLoss(kind, space="rgb")(pred, ab, lightness)

    torch.testing.assert_close(loss, reference[kind](render(pred * 110.0), render(ab)), atol=2e-5, rtol=1e-4)
    assert float(AbRegressionLoss(kind, space="rgb")(ab / 110.0, ab, lightness)) == pytest.approx(0, abs=1e-6)


def test_rgb_space_weighs_an_ab_error_by_what_it_does_to_the_shown_color() -> None:
    ab = torch.zeros(2, 2, 4, 4)
    lightness = torch.stack([torch.full((1, 4, 4), 3.0), torch.full((1, 4, 4), 60.0)])  # a dark, a mid gray
    pred = torch.full((2, 2, 4, 4), 20.0 / 110.0)  # the same ab error on both
    per_image = [AbRegressionLoss("l1", space=space) for space in ("ab", "rgb")]

    in_ab = [float(per_image[0](pred[i : i + 1], ab[i : i + 1])) for i in range(2)]
    in_rgb = [float(per_image[1](pred[i : i + 1], ab[i : i + 1], lightness[i : i + 1])) for i in range(2)]

    assert in_ab[0] == pytest.approx(in_ab[1])
    assert in_rgb[0] < 0.7 * in_rgb[1]  # the dark pixel's error shows less


def test_rgb_colorfulness_is_the_metric_on_a_0_to_1_scale() -> None:
    from skimage import data

    from polychrome.evaluate.metrics import colorfulness

    photo = torch.from_numpy(data.coffee()[:128, :128]).permute(2, 0, 1).float()[None] / 255
    torch.testing.assert_close(rgb_colorfulness(photo) * 255, colorfulness(photo), rtol=1e-4, atol=1e-3)


def test_rgb_space_colorfulness_term_has_gradients_on_gray_and_out_of_gamut_predictions() -> None:
    ab, lightness = _ab(23, (2, 8, 8)), _lightness(24, (2, 8, 8))
    pred = torch.zeros(2, 2, 8, 8)
    pred[1] = 1.0  # a = b = 110: far outside sRGB's gamut, partly clipped
    pred.requires_grad_(True)

    loss = AbRegressionLoss("l1", colorfulness=0.5, space="rgb")(pred, ab, lightness)
    loss.backward()

    assert torch.isfinite(pred.grad).all()
    assert float(pred.grad[0].abs().sum()) > 0  # the gray image is pushed towards color


def test_rgb_space_needs_the_truths_lightness() -> None:
    ab = _ab(25, (1, 4, 4))
    with pytest.raises(ValueError, match="L at ab's size"):
        AbRegressionLoss("l1", space="rgb")(ab / 110, ab)
    with pytest.raises(ValueError, match="L at ab's size"):
        AbRegressionLoss("l1", space="rgb")(ab / 110, ab, torch.full((1, 1, 8, 8), 50.0))
    with pytest.raises(ValueError, match="ab or rgb"):
        AbRegressionLoss("l1", space="xyz")


def test_decoded_l1_adds_the_l1_of_the_annealed_mean(grid: AbGrid) -> None:
    from polychrome.color.decode import decode_annealed_mean

    ab = _ab(3)
    logits = torch.randn(2, grid.num_bins, 5, 7, generator=torch.Generator().manual_seed(4))
    plain = RebalancedCrossEntropy(grid)(logits, ab)
    with_l1 = RebalancedCrossEntropy(grid, decoded_l1=0.5, decode_temperature=0.38)(logits, ab)
    expected = plain + 0.5 * F.l1_loss(decode_annealed_mean(logits, grid.centers, 0.38) / 110, ab / 110)
    torch.testing.assert_close(with_l1, expected)
    assert with_l1 > plain


# --- adversarial ---------------------------------------------------------------------------------------


def test_wgan_losses_by_hand() -> None:
    real = torch.tensor([[1.0, 3.0], [2.0, 2.0]])  # mean 2
    fake = torch.tensor([[-1.0, 0.0], [0.5, 0.5]])  # mean 0

    assert float(wgan_critic_loss(real, fake)) == pytest.approx(-2.0)
    assert float(wgan_generator_loss(fake)) == pytest.approx(0.0)
    assert float(wgan_generator_loss(real)) == pytest.approx(-2.0)


def _linear_critic(weight: torch.Tensor) -> torch.nn.Conv2d:
    """A 1x1 convolution: a linear function whose input gradient is known exactly."""
    critic = torch.nn.Conv2d(weight.numel(), 1, 1)
    with torch.no_grad():
        critic.weight.copy_(weight.view(1, -1, 1, 1))
        critic.bias.fill_(0.3)
    return critic


def test_gradient_penalty_of_a_linear_critic_by_hand() -> None:
    # D(x) = mean over the 4x5 patch map of (w . x_pixel + b): dD/dx = w / 20 at every pixel, so
    # ||grad|| = ||w|| sqrt(20) / 20 = ||w|| / sqrt(20), whatever the inputs and the interpolation.
    w = torch.tensor([3.0, 4.0, 12.0])  # ||w|| = 13
    critic = _linear_critic(w)
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(3, 3, 4, 5, generator=gen), torch.randn(3, 3, 4, 5, generator=gen)

    penalty = gradient_penalty(critic, real, fake, lambda_=10.0)

    assert float(penalty.detach()) == pytest.approx(10 * (13 / math.sqrt(20) - 1) ** 2, rel=1e-5)
    unit = _linear_critic(w / 13 * math.sqrt(20))  # gradient norm exactly 1: no penalty
    assert float(gradient_penalty(unit, real, fake).detach()) == pytest.approx(0.0, abs=1e-8)


def test_gradient_penalty_is_taken_at_the_interpolates() -> None:
    # D(x) = mean of x^2 / 2 over the map: grad = x / N at x = eps real + (1 - eps) fake, one eps per image.
    def critic(x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x**2

    gen = torch.Generator().manual_seed(1)
    real, fake = torch.randn(4, 2, 3, 3, generator=gen) * 5, torch.randn(4, 2, 3, 3, generator=gen) * 5

    penalty = gradient_penalty(critic, real, fake, lambda_=2.0, generator=torch.Generator().manual_seed(7))

    eps = torch.rand(4, generator=torch.Generator().manual_seed(7)).view(4, 1, 1, 1)
    norms = ((eps * real + (1 - eps) * fake) / 18).flatten(1).norm(dim=1)
    torch.testing.assert_close(penalty, 2.0 * ((norms - 1) ** 2).mean())


def test_gradient_penalty_trains_the_critic_and_not_the_generator() -> None:
    w = torch.tensor([3.0, 4.0, 12.0])
    critic = _linear_critic(w)
    fake = torch.randn(2, 3, 4, 5, requires_grad=True)  # stands for a generator's output

    gradient_penalty(critic, torch.randn(2, 3, 4, 5), fake, lambda_=10.0).backward()

    # d/dw of 10 (||w|| / sqrt(20) - 1)^2 = 20 (||w|| / sqrt(20) - 1) w / (||w|| sqrt(20)).
    expected = 20 * (13 / math.sqrt(20) - 1) * w / (13 * math.sqrt(20))
    torch.testing.assert_close(critic.weight.grad.flatten(), expected)
    assert critic.bias.grad is None or not critic.bias.grad.any()  # a shift does not change the gradient
    assert fake.grad is None


def test_gradient_penalty_rejects_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match="shape"):
        gradient_penalty(lambda x: x, torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 5))
