"""Losses for the three ways of predicting ab: classes, regression, and a critic's opinion.

Classification (:class:`RebalancedCrossEntropy`) covers the three cross-entropies of the seeds, chosen by
the class weights it is given, ``rebalance_weights(priors, lam)`` of the training data's own smoothed ab
distribution ``priors`` (``loss.rebalance_lambda`` = lam, ``loss.prior_sigma`` = its smoothing):

- plain cross-entropy: ``lam = 1`` (uniform weights, all exactly 1);
- Zhang et al.'s rebalanced cross-entropy: ``lam = 0.5`` (the prior mixed half and half with uniform, then
  inverted);
- cross-entropy weighted by the dataset's own color distribution: ``lam = 0`` (inverse frequency,
  w = 1 / (Q p); heavy-tailed, which is why Zhang mixes in the uniform distribution).

The weights always have expected value 1 under the data, so the loss keeps its scale whichever is chosen.
The bins are an :class:`~polychrome.color.quantize.AbGrid` or any other
:class:`~polychrome.color.quantize.AbBins`, such as a K-means palette.

Regression: :class:`AbRegressionLoss` (L1, L2, smooth L1, on ab or on the sRGB it renders to; optionally
held to the truth's colorfulness).
Adversarial (WGAN-GP, Gulrajani et al. 2017): :func:`wgan_critic_loss`, :func:`wgan_generator_loss` and
:func:`gradient_penalty`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from polychrome.color.decode import decode_annealed_mean
from polychrome.color.lab import lab_to_rgb
from polychrome.color.quantize import AbBins
from polychrome.evaluate.metrics import opponent_colorfulness, rgb_opponents


class RebalancedCrossEntropy(nn.Module):
    """Cross-entropy against soft-encoded targets, each pixel weighted by the rebalancing weight of its
    nearest bin (Zhang et al. 2016, eq. 2-4). With uniform weights it is plain soft cross-entropy.

    Args:
        bins: the ab bins (a grid, or a palette's colors).
        weights: ``(Q,)`` class weights (see :func:`polychrome.color.quantize.rebalance_weights`) or None.
        decoded_l1: weight of an L1 term on the annealed-mean decoding (at ``decode_temperature``); 0 is
            the plain classification loss.
    """

    def __init__(
        self,
        bins: AbBins,
        weights: torch.Tensor | None = None,
        k: int = 5,
        sigma: float = 5.0,
        decoded_l1: float = 0.0,
        decode_temperature: float = 0.38,
    ):
        super().__init__()
        if weights is not None and weights.shape != (bins.num_bins,):
            raise ValueError(f"weights must have shape ({bins.num_bins},), got {tuple(weights.shape)}")
        self.bins = bins
        self.k, self.sigma = k, sigma
        self.decoded_l1, self.decode_temperature = decoded_l1, decode_temperature
        self.register_buffer("weights", weights if weights is not None else torch.ones(bins.num_bins))
        self.register_buffer("centers", bins.centers.clone())

    def forward(
        self, logits: torch.Tensor, ab: torch.Tensor, lightness: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``lightness`` (the truth's L) is taken for a common signature with :class:`AbRegressionLoss` and
        not used: the classes live in ab alone."""
        with torch.no_grad():
            indices, sq_dist = self.bins.nearest_bins(ab, self.k)
            soft = torch.softmax(-sq_dist / (2 * self.sigma**2), dim=1)  # (B, k, H, W)
            pixel_weight = self.weights[indices[:, 0]]  # (B, H, W)
        log_p = torch.log_softmax(logits.float(), dim=1)
        # Only the k target bins carry mass, so gather them instead of building a dense (B, Q, H, W) target.
        ce = -(soft * torch.gather(log_p, 1, indices)).sum(dim=1)
        loss = (ce * pixel_weight).mean()
        if self.decoded_l1 > 0:
            # Also hold the color that will be shown (the annealed mean) close to the truth, in ~-1..1 units.
            decoded = decode_annealed_mean(logits, self.centers, self.decode_temperature)
            loss = loss + self.decoded_l1 * F.l1_loss(decoded / 110.0, ab / 110.0)
        return loss


def ab_colorfulness(ab: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Hasler & Süsstrunk's colorfulness formula on CIELAB's opponent axes, per image and differentiable.

    ``sqrt(var_a + var_b) + 0.3 * sqrt(mean_a² + mean_b²)`` over the pixels of each ``(2, H, W)`` ab map, in
    the units of ``ab``. The paper's rg/yb axes are close to linear in a/b, so this tracks the metric
    (:func:`polychrome.evaluate.metrics.colorfulness`) without converting to RGB; ``eps`` keeps the square
    roots' gradients finite on a gray map.
    """
    flat = ab.float().flatten(2)  # (B, 2, N)
    return opponent_colorfulness(flat[:, 0], flat[:, 1], eps=eps)


def rgb_colorfulness(rgb: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Hasler & Süsstrunk's colorfulness of ``(B, 3, H, W)`` sRGB in 0..1, per image and differentiable: the
    metric (:func:`polychrome.evaluate.metrics.colorfulness`) divided by 255, with ``eps`` inside the square
    roots so their gradients stay finite on a gray image."""
    return opponent_colorfulness(*rgb_opponents(rgb.float()), eps=eps)


class AbRegressionLoss(nn.Module):
    """L1, L2 or smooth-L1 between predicted and true colors, plus an optional colorfulness term.

    ``space="ab"`` compares the network's ab with the truth's, both scaled to about -1..1 (ab / 110).
    ``space="rgb"`` first merges each with the truth's lightness and converts to sRGB in 0..1 (clipped to the
    gamut, as a shown photo is), so the loss weighs errors as PSNR and the eye do: an ab error in a dark pixel
    barely changes its RGB, one in a bright pixel changes it a lot, and ab-space losses weigh them alike.

    A regression model predicts the average of the colors a thing could have, which is duller than any of
    them. ``colorfulness`` > 0 adds ``colorfulness * |C(pred) - C(truth)|`` (C: :func:`ab_colorfulness` in
    ab space, :func:`rgb_colorfulness` in rgb space), for each image (``colorfulness_per="image"``) or for the
    batch's mean (``"batch"``). Either way the pixel loss decides where the added chroma goes, the trade a
    fixed chroma gain after training cannot make; per image, the model also learns which photos are
    colorful, and it traded PSNR for colorfulness better (BENCHMARKS.md section 2).
    """

    def __init__(
        self,
        kind: str = "l1",
        scale: float = 110.0,
        colorfulness: float = 0.0,
        colorfulness_per: str = "image",
        space: str = "ab",
    ):
        super().__init__()
        if kind not in ("l1", "l2", "smooth_l1"):
            raise ValueError(f"regression loss must be l1, l2 or smooth_l1, got {kind!r}")
        if colorfulness < 0:
            raise ValueError(f"the colorfulness weight must be >= 0, got {colorfulness}")
        if colorfulness_per not in ("batch", "image"):
            raise ValueError(f"colorfulness_per must be batch or image, got {colorfulness_per!r}")
        if space not in ("ab", "rgb"):
            raise ValueError(f"the loss space must be ab or rgb, got {space!r}")
        self.kind, self.scale, self.space = kind, scale, space
        self.colorfulness, self.colorfulness_per = colorfulness, colorfulness_per

    def forward(
        self, pred: torch.Tensor, ab: torch.Tensor, lightness: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``pred``: the network's ab / ``scale``; ``ab``: the truth in Lab units; ``lightness``: the truth's
        L at the same resolution, ``(B, 1, H, W)``, needed in rgb space only."""
        pred = pred.float()
        if self.space == "rgb":
            if lightness is None or lightness.shape[-2:] != ab.shape[-2:]:
                got = None if lightness is None else tuple(lightness.shape)
                raise ValueError(f"the rgb-space loss needs the truth's L at ab's size, got {got}")
            lightness = lightness.float()
            pred = lab_to_rgb(torch.cat((lightness, pred * self.scale), dim=1))
            target = lab_to_rgb(torch.cat((lightness, ab.float()), dim=1))
            measure = rgb_colorfulness
        else:
            target, measure = ab / self.scale, ab_colorfulness
        if self.kind == "l1":
            loss = F.l1_loss(pred, target)
        elif self.kind == "l2":
            loss = F.mse_loss(pred, target)
        else:
            loss = F.smooth_l1_loss(pred, target, beta=0.05)
        if self.colorfulness > 0:
            predicted, true = measure(pred), measure(target)
            if self.colorfulness_per == "batch":
                predicted, true = predicted.mean(), true.mean()
            loss = loss + self.colorfulness * (predicted - true).abs().mean()
        return loss


def wgan_critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The critic's loss, E[D(fake)] - E[D(real)]: minimising it widens the gap whose maximum estimates the
    Wasserstein distance. Scores are raw (no sigmoid), any shape (a patch map's mean is the image's score)."""
    return fake_scores.float().mean() - real_scores.float().mean()


def wgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """The generator's adversarial loss, -E[D(fake)]: lower where the critic rates its colors as real."""
    return -fake_scores.float().mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    lambda_: float = 10.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP's penalty lambda * E[(||grad_x D(x)|| - 1)^2] on random interpolates of real and fake inputs.

    ``D(x)`` is an image's score: the mean of the critic's patch map over its patches, the same score the
    WGAN losses average, so the 1-Lipschitz constraint holds for the function the loss uses. Gradients are
    taken w.r.t. the critic's input, in the units the critic sees (for the PatchGAN critic, normalised Lab),
    with ``create_graph`` so the penalty trains the critic's parameters. The inputs are detached: the penalty
    never reaches the generator.

    Args:
        critic: maps ``(B, C, H, W)`` to scores ``(B, ...)``.
        real, fake: ``(B, C, H, W)`` critic inputs.
        lambda_: weight of the penalty (10 in Gulrajani et al.).
        generator: draws the interpolation weights, one per image in 0..1 (for reproducible tests).
    """
    if real.shape != fake.shape:
        raise ValueError(
            f"real and fake must have the same shape, got {tuple(real.shape)}, {tuple(fake.shape)}"
        )
    eps = torch.rand(real.shape[0], generator=generator, dtype=torch.float32)
    eps = eps.to(real.device, real.dtype).reshape(-1, *([1] * (real.dim() - 1)))
    mixed = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(mixed).float().flatten(1).mean(dim=1)  # (B,): each image's score
    (grads,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    norms = grads.float().flatten(1).norm(dim=1)
    return lambda_ * ((norms - 1) ** 2).mean()
