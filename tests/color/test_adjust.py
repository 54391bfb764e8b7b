"""Tests for polychrome.color.adjust: tone curves, warm/cool, saturation and gamut fitting.

Oracles: scipy's PCHIP for the interior of the monotone curve, hand-written geometry for hue and chroma.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.interpolate import PchipInterpolator

from polychrome.color.adjust import (
    adjust_temperature,
    fit_to_gamut,
    monotone_curve,
    scale_chroma,
    temperature_curves,
)
from polychrome.color.lab import lab_to_rgb, rgb_to_lab

STRENGTHS = [-1.0, -0.5, 0.5, 1.0]
DENSE = torch.linspace(0, 1, 4001, dtype=torch.float64)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _gray_image() -> torch.Tensor:
    """(1, 3, 4, 8) Lab: a gray ramp from L = 5 to 95 with a faint warm/cool tint, float64."""
    lightness = torch.linspace(5, 95, 32, dtype=torch.float64).view(1, 1, 4, 8)
    ab = torch.tensor([1.0, -1.0], dtype=torch.float64).view(1, 2, 1, 1).expand(1, 2, 4, 8)
    return torch.cat((lightness, ab), dim=1)


def _colored_image() -> torch.Tensor:
    """(2, 3, 8, 8) Lab of random colors kept off the cube's faces so warming does not clip, float64."""
    return rgb_to_lab(0.1 + 0.8 * torch.rand(2, 3, 8, 8, dtype=torch.float64))


def _hue(lab: torch.Tensor) -> torch.Tensor:
    return torch.atan2(lab[..., 2, :, :], lab[..., 1, :, :])


def _chroma(lab: torch.Tensor) -> torch.Tensor:
    return lab[..., 1:, :, :].norm(dim=-3)


def _out_of_gamut(lab: torch.Tensor, tol: float = 1e-3) -> torch.Tensor:
    rgb = lab_to_rgb(lab, clip=False)
    return ((rgb < -tol) | (rgb > 1 + tol)).any(dim=-3)


class TestMonotoneCurve:
    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    @pytest.mark.parametrize("strength", STRENGTHS)
    def test_passes_through_anchors(self, strength, dtype):
        knots, red, blue = temperature_curves(strength)
        x = torch.tensor(knots, dtype=dtype)
        for ys in (red, blue):
            torch.testing.assert_close(
                monotone_curve(x, knots, ys), torch.tensor(ys, dtype=dtype), atol=1e-6, rtol=0
            )

    def test_passes_through_irregular_anchors(self):
        kx = [0.0, 0.1, 0.45, 0.5, 0.9, 1.0]
        ky = [0.0, 0.4, 0.42, 0.8, 0.81, 1.0]
        out = monotone_curve(torch.tensor(kx, dtype=torch.float64), kx, ky)
        torch.testing.assert_close(out, torch.tensor(ky, dtype=torch.float64), atol=1e-6, rtol=0)

    @pytest.mark.parametrize("strength", STRENGTHS)
    def test_monotone_on_dense_grid(self, strength):
        knots, red, blue = temperature_curves(strength)
        for ys in (red, blue):
            y = monotone_curve(DENSE, knots, ys)
            assert (y[1:] - y[:-1] >= -1e-12).all()

    def test_no_overshoot_with_flat_segment(self):
        kx = [0.0, 0.2, 0.5, 0.6, 1.0]
        ky = [0.0, 0.5, 0.5, 0.9, 1.0]
        y = monotone_curve(DENSE, kx, ky)
        assert (y[1:] - y[:-1] >= -1e-12).all()
        flat = (DENSE >= 0.2) & (DENSE <= 0.5)
        torch.testing.assert_close(y[flat], torch.full_like(y[flat], 0.5))  # a plateau stays flat
        for i in range(len(kx) - 1):  # each segment stays between its anchors
            seg = (kx[i] <= DENSE) & (kx[i + 1] >= DENSE)
            assert (y[seg] >= ky[i] - 1e-12).all() and (y[seg] <= ky[i + 1] + 1e-12).all()

    def test_decreasing_data_stays_monotone(self):
        y = monotone_curve(DENSE, [0.0, 0.3, 0.7, 1.0], [1.0, 0.9, 0.2, 0.0])
        assert (y[1:] - y[:-1] <= 1e-12).all()

    def test_reproduces_a_line(self):
        torch.testing.assert_close(
            monotone_curve(DENSE, [0.0, 0.3, 0.5, 1.0], [1.0, 1.6, 2.0, 3.0]), 1 + 2 * DENSE
        )

    def test_matches_scipy_pchip_on_interior_segments(self):
        # Interior slopes are Fritsch-Carlson's weighted harmonic mean, as in scipy; scipy's end slopes
        # use a three-point formula instead, so compare only segments between interior anchors.
        kx = [0.0, 0.15, 0.4, 0.55, 0.8, 1.0]
        ky = [0.0, 0.3, 0.35, 0.7, 0.95, 1.0]
        x = torch.linspace(0.15, 0.8, 501, dtype=torch.float64)
        expected = PchipInterpolator(kx, ky)(x.numpy())
        np.testing.assert_allclose(monotone_curve(x, kx, ky).numpy(), expected, atol=1e-12)

    @pytest.mark.parametrize("strength", STRENGTHS)
    def test_endpoints_fixed(self, strength):
        knots, red, blue = temperature_curves(strength)
        x = torch.tensor([0.0, 1.0], dtype=torch.float64)
        for ys in (red, blue):
            torch.testing.assert_close(monotone_curve(x, knots, ys), x, atol=1e-12, rtol=0)

    def test_clamps_outside(self):
        kx, ky = [0.2, 0.5, 0.8], [0.1, 0.6, 0.7]
        out = monotone_curve(torch.tensor([-3.0, 0.0, 0.2, 0.8, 1.0, 5.0]), kx, ky)
        torch.testing.assert_close(out, torch.tensor([0.1, 0.1, 0.1, 0.7, 0.7, 0.7]))

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_shape_and_dtype(self, dtype):
        x = torch.rand(2, 3, 4, 5, dtype=dtype)
        out = monotone_curve(x, [0.0, 0.5, 1.0], [0.0, 0.7, 1.0])
        assert out.shape == x.shape and out.dtype == dtype

    @pytest.mark.parametrize(
        ("kx", "ky"),
        [
            ([0.0, 0.5, 0.5, 1.0], [0.0, 0.2, 0.3, 1.0]),  # repeated x
            ([0.0, 0.7, 0.5, 1.0], [0.0, 0.2, 0.3, 1.0]),  # decreasing x
            ([1.0, 0.0], [0.0, 1.0]),
            ([0.5], [0.5]),  # one anchor
            ([0.0, 0.5, 1.0], [0.0, 1.0]),  # length mismatch
        ],
    )
    def test_bad_anchors(self, kx, ky):
        with pytest.raises(ValueError, match="increasing"):
            monotone_curve(torch.rand(4), kx, ky)


class TestTemperatureCurves:
    @pytest.mark.parametrize("strength", [1.01, -1.5, 3.0])
    def test_out_of_range(self, strength):
        with pytest.raises(ValueError, match="temperature"):
            temperature_curves(strength)

    def test_zero_is_identity(self):
        knots, red, blue = temperature_curves(0.0)
        assert red == knots and blue == knots

    def test_warm_lifts_red_and_lowers_blue(self):
        knots, red, blue = temperature_curves(1.0)
        assert all(r >= x for r, x in zip(red, knots, strict=True))
        assert all(b <= x for b, x in zip(blue, knots, strict=True))
        assert red[2] == pytest.approx(0.58) and blue[2] == pytest.approx(0.42)


class TestAdjustTemperature:
    @pytest.mark.parametrize("image", [_gray_image, _colored_image])
    @pytest.mark.parametrize("strength", STRENGTHS)
    def test_keeps_lightness(self, image, strength):
        lab = image()
        out = adjust_temperature(lab, strength)
        assert out.shape == lab.shape
        torch.testing.assert_close(out[:, :1], lab[:, :1], atol=1e-4, rtol=0)

    @pytest.mark.parametrize("image", [_gray_image, _colored_image])
    def test_warm_is_yellower_and_redder(self, image):
        lab = image()
        mean_a, mean_b = lab[:, 1].mean(), lab[:, 2].mean()
        previous_b = mean_b
        for strength in (0.5, 1.0):
            out = adjust_temperature(lab, strength)
            assert out[:, 2].mean() > previous_b + 0.5  # b grows with strength
            assert out[:, 1].mean() > mean_a
            previous_b = out[:, 2].mean()

    @pytest.mark.parametrize("image", [_gray_image, _colored_image])
    def test_cool_is_bluer(self, image):
        lab = image()
        mean_a, previous_b = lab[:, 1].mean(), lab[:, 2].mean()
        for strength in (-0.5, -1.0):
            out = adjust_temperature(lab, strength)
            assert out[:, 2].mean() < previous_b - 0.5
            assert out[:, 1].mean() < mean_a
            previous_b = out[:, 2].mean()

    def test_zero_is_identity(self):
        lab = _colored_image()
        torch.testing.assert_close(adjust_temperature(lab, 0.0), lab, atol=0, rtol=0)

    def test_continuous_at_zero_for_out_of_gamut_input(self):
        lab = _lab((50.0, 100.0, -100.0))
        torch.testing.assert_close(adjust_temperature(lab, 1e-6), lab, atol=1e-2, rtol=0)

    def test_batch_dims(self):
        lab = _colored_image().reshape(1, 2, 3, 8, 8)
        out = adjust_temperature(lab, 0.5)
        assert out.shape == lab.shape
        torch.testing.assert_close(out[0, 1], adjust_temperature(lab[0, 1], 0.5))

    def test_float32(self):
        lab = _colored_image().float()
        out = adjust_temperature(lab, -0.5)
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, adjust_temperature(lab.double(), -0.5).float(), atol=1e-3, rtol=0)

    @pytest.mark.parametrize("strength", [1.5, -2.0])
    def test_out_of_range(self, strength):
        with pytest.raises(ValueError, match="temperature"):
            adjust_temperature(_gray_image(), strength)


class TestScaleChroma:
    def test_zero_is_gray(self):
        ab = torch.randn(2, 2, 4, 4) * 30
        assert torch.equal(scale_chroma(ab, 0.0), torch.zeros_like(ab))

    def test_one_is_identity(self):
        ab = torch.randn(2, 2, 4, 4) * 30
        torch.testing.assert_close(scale_chroma(ab, 1.0), ab, atol=0, rtol=0)

    def test_scales_chroma_keeps_hue(self):
        ab = torch.randn(2, 2, 4, 4, dtype=torch.float64) * 30
        out = scale_chroma(ab, 1.7)
        torch.testing.assert_close(out.norm(dim=1), 1.7 * ab.norm(dim=1))
        torch.testing.assert_close(torch.atan2(out[:, 1], out[:, 0]), torch.atan2(ab[:, 1], ab[:, 0]))

    @pytest.mark.parametrize("factor", [-0.1, -2.0])
    def test_negative(self, factor):
        with pytest.raises(ValueError, match="saturation"):
            scale_chroma(torch.zeros(1, 2, 1, 1), factor)


def _lab(*colors: tuple[float, float, float]) -> torch.Tensor:
    """(1, 3, 1, N) float64 Lab from (L, a, b) triples."""
    return torch.tensor(colors, dtype=torch.float64).T.reshape(1, 3, 1, len(colors))


OUTSIDE = _lab((50.0, 100.0, -100.0), (90.0, -100.0, 100.0), (30.0, 80.0, 80.0), (70.0, -60.0, -60.0))


class TestFitToGamut:
    def test_outside_colors_become_displayable(self):
        assert _out_of_gamut(OUTSIDE).all()
        out = fit_to_gamut(OUTSIDE)
        rgb = lab_to_rgb(out, clip=False)
        assert (rgb >= -1e-3).all() and (rgb <= 1 + 1e-3).all()

    def test_keeps_lightness_and_hue(self):
        out = fit_to_gamut(OUTSIDE)
        torch.testing.assert_close(out[:, 0], OUTSIDE[:, 0], atol=0, rtol=0)
        torch.testing.assert_close(_hue(out), _hue(OUTSIDE), atol=1e-6, rtol=0)
        assert (_chroma(out) < _chroma(OUTSIDE)).all()
        assert (_chroma(out) > 0).all()

    def test_desaturates_only_as_much_as_needed(self):
        # Bisection on the chroma scale with 10 steps: 1/512 more of the original chroma leaves the gamut.
        out = fit_to_gamut(OUTSIDE)
        scale = _chroma(out) / _chroma(OUTSIDE)
        bigger = torch.cat((OUTSIDE[:, :1], OUTSIDE[:, 1:] * (scale + 1 / 512).unsqueeze(1)), dim=1)
        assert _out_of_gamut(bigger, tol=1e-4).all()

    def test_in_gamut_unchanged(self):
        lab = _colored_image()
        torch.testing.assert_close(fit_to_gamut(lab), lab, atol=0, rtol=0)

    def test_mixed_image(self):
        inside = _colored_image()[:1, :, :1, :4]
        lab = torch.cat((inside, OUTSIDE), dim=-1)  # (1, 3, 1, 8)
        out = fit_to_gamut(lab)
        torch.testing.assert_close(out[..., :4], inside, atol=0, rtol=0)
        torch.testing.assert_close(out[..., 4:], fit_to_gamut(OUTSIDE))
        assert not _out_of_gamut(out).any()

    def test_batch_dims(self):
        lab = torch.cat((OUTSIDE, OUTSIDE.flip(-1)), dim=0).reshape(2, 1, 3, 1, 4).expand(2, 2, 3, 1, 4)
        out = fit_to_gamut(lab)
        assert out.shape == lab.shape
        torch.testing.assert_close(out[1, 1], fit_to_gamut(OUTSIDE.flip(-1))[0])
        assert not _out_of_gamut(out).any()

    def test_float32(self):
        out = fit_to_gamut(OUTSIDE.float())
        assert out.dtype == torch.float32
        rgb = lab_to_rgb(out, clip=False)
        assert (rgb >= -1e-3).all() and (rgb <= 1 + 1e-3).all()

    def test_does_not_modify_input(self):
        lab = OUTSIDE.clone()
        fit_to_gamut(lab)
        assert torch.equal(lab, OUTSIDE)
