"""The numpy color functions against the PyTorch ones they mirror, on dense grids of colors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from polychrome.color import adjust, adjust_np, lab, lab_np
from polychrome.images import to_uint8


def _lab_grid(dtype: type = np.float64) -> np.ndarray:
    """L 0..100 in steps of 2 with a and b -120..120 in steps of 4, in and far out of gamut; nudged off round
    numbers, where a bisection step can land exactly on the gamut's edge and either answer is right."""
    steps = (np.linspace(0, 100, 51), np.linspace(-120, 120, 61), np.linspace(-120, 120, 61))
    grid = np.meshgrid(*(np.clip(s + np.sqrt(2) / 1000, s[0], s[-1]) for s in steps))
    return np.stack(grid, axis=-1).reshape(-1, 3).astype(dtype)


def _torch(x: np.ndarray) -> torch.Tensor:
    """Channel-last numpy -> (1, 3, N, 1) tensor, the torch functions' layout."""
    return torch.from_numpy(np.ascontiguousarray(x.T.reshape(1, 3, -1, 1)))


def _numpy(x: torch.Tensor) -> np.ndarray:
    return x.reshape(3, -1).T.numpy()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gamut_fitting_agrees_with_torch_on_a_dense_lab_grid(dtype: type) -> None:
    colors = _lab_grid(dtype)

    fitted = lab_np.fit_to_gamut(colors)
    expected = _numpy(adjust.fit_to_gamut(_torch(colors)))

    assert fitted.dtype == dtype
    error = np.abs(fitted - expected).max(axis=1)
    if dtype == np.float64:
        assert error.max() < 1e-3
    else:  # float32 rounding may send a pixel on the edge the other way at one bisection step
        assert np.quantile(error, 0.999) < 1e-3 and error.max() < 170 / 2**10
    rgb = lab_np.lab_to_rgb_in_gamut(colors)
    torch_rgb = _numpy(adjust.lab_to_rgb_in_gamut(_torch(colors)))
    assert np.quantile(np.abs(rgb - torch_rgb), 0.999) < 1e-5


def test_out_of_gamut_colors_are_fitted_and_in_gamut_ones_kept() -> None:
    colors = _lab_grid()

    fitted = lab_np.fit_to_gamut(colors)
    rgb = lab_np.lab_to_rgb(fitted, clip=False)

    assert rgb.min() > -2e-4 and rgb.max() < 1 + 2e-4
    np.testing.assert_array_equal(fitted[:, 0], colors[:, 0])
    inside = (lab_np.lab_to_rgb(colors, clip=False) >= 0).all(axis=1)
    inside &= (lab_np.lab_to_rgb(colors, clip=False) <= 1).all(axis=1)
    np.testing.assert_array_equal(fitted[inside], colors[inside])


def test_rgb_to_lab_and_back_agree_with_torch() -> None:
    rgb = np.stack(np.meshgrid(*[np.linspace(0, 1, 33)] * 3), axis=-1).reshape(-1, 3)

    np.testing.assert_allclose(lab_np.rgb_to_lab(rgb), _numpy(lab.rgb_to_lab(_torch(rgb))), atol=1e-9)
    np.testing.assert_allclose(lab_np.rgb_to_lightness(rgb), lab_np.rgb_to_lab(rgb)[:, 0], atol=1e-9)
    np.testing.assert_allclose(lab_np.lab_to_rgb(lab_np.rgb_to_lab(rgb)), rgb, atol=1e-6)
    colors = _lab_grid()
    np.testing.assert_allclose(
        lab_np.lab_to_rgb(colors, clip=False), _numpy(lab.lab_to_rgb(_torch(colors), clip=False)), atol=1e-9
    )


def test_the_8bit_gray_tables_are_the_lightness_of_each_level() -> None:
    gray = np.repeat(np.arange(256, dtype=np.float64)[:, None] / 255.0, 3, axis=1)

    expected = _numpy(lab.rgb_to_lab(_torch(gray)))[:, 0]

    np.testing.assert_allclose(lab_np.GRAY8_LIGHTNESS, expected, atol=1e-4)
    np.testing.assert_allclose(lab_np.GRAY8_LUMINANCE, lab_np.srgb_to_linear(gray[:, 0]), rtol=1e-6)
    rgb8 = np.random.default_rng(0).integers(0, 256, (1000, 3))
    y = lab_np.CHANNEL8_LUMINANCE[np.arange(3), rgb8].sum(axis=1)
    np.testing.assert_allclose(y, lab_np.luminance(rgb8 / 255.0), rtol=1e-5, atol=1e-7)


def test_the_8bit_encoding_tables_round_like_to_uint8() -> None:
    linear = np.linspace(-0.01, 1.01, 2_000_001).astype(np.float32)

    codes = lab_np.linear_to_srgb8(linear)
    srgb = lab_np.linear_to_srgb(np.clip(linear.astype(np.float64), 0, 1))

    differ = codes != to_uint8(srgb)
    assert differ.sum() < 20  # only where the edge itself, stored in float32, is a hair off
    edge_distance = np.abs(srgb * 255 - np.floor(srgb * 255) - 0.5)
    assert edge_distance[differ].max() < 1e-4
    assert np.abs(codes.astype(int) - to_uint8(srgb)).max() <= 1


def test_temperature_and_saturation_agree_with_torch() -> None:
    rng = np.random.default_rng(1)
    colors = np.column_stack((rng.uniform(0, 100, 5000), rng.uniform(-90, 90, (5000, 2))))
    for strength in (-1.0, -0.3, 0.5, 1.0):
        expected = _numpy(adjust.adjust_temperature(_torch(colors), strength))
        np.testing.assert_allclose(adjust_np.adjust_temperature(colors, strength), expected, atol=1e-4)
    np.testing.assert_array_equal(adjust_np.scale_chroma(colors[:, 1:], 0.5), colors[:, 1:] * 0.5)
    with pytest.raises(ValueError, match=">= 0"):
        adjust_np.scale_chroma(colors, -1.0)


def test_monotone_curve_agrees_with_torch() -> None:
    x = np.linspace(-0.2, 1.2, 1001)
    knots, red, _ = adjust.temperature_curves(0.7)

    expected = adjust.monotone_curve(torch.from_numpy(x), knots, red).numpy()

    np.testing.assert_allclose(adjust_np.monotone_curve(x, knots, red), expected, atol=1e-12)
