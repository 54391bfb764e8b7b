"""Saturation and warm/cool in numpy: the twin of :mod:`polychrome.color.adjust` for the install without
PyTorch, on channel-last arrays (Lab ``(..., 3)``). Same anchors and curves
(:mod:`polychrome.color.constants`); tests/color/test_adjust_np.py holds both to agree.
"""

from __future__ import annotations

import numpy as np

from polychrome.color.constants import pchip_slopes, temperature_curves
from polychrome.color.lab_np import fit_to_gamut, lab_to_rgb, rgb_to_lab


def scale_chroma(ab: np.ndarray, factor: float) -> np.ndarray:
    """Multiply chroma by ``factor`` (hue kept): 0 is gray, 1 unchanged, above 1 more saturated."""
    if factor < 0:
        raise ValueError(f"saturation factor must be >= 0, got {factor}")
    return ab * np.asarray(factor, ab.dtype)


def monotone_curve(x: np.ndarray, knots_x: list[float], knots_y: list[float]) -> np.ndarray:
    """The monotone cubic (PCHIP) curve through the anchors, as
    :func:`polychrome.color.adjust.monotone_curve`; ``x`` outside the anchors is clamped to the ends."""
    slopes = np.array(pchip_slopes(knots_x, knots_y), x.dtype)
    kx, ky = np.array(knots_x, x.dtype), np.array(knots_y, x.dtype)
    h = kx[1:] - kx[:-1]
    xc = np.clip(x, kx[0], kx[-1])
    seg = np.searchsorted(kx[1:-1], xc, side="left")  # torch.bucketize's segment index
    t = (xc - kx[seg]) / h[seg]
    t2, t3 = t * t, t * t * t
    return (
        (2 * t3 - 3 * t2 + 1) * ky[seg]
        + (t3 - 2 * t2 + t) * h[seg] * slopes[seg]
        + (-2 * t3 + 3 * t2) * ky[seg + 1]
        + (t3 - t2) * h[seg] * slopes[seg + 1]
    ).astype(x.dtype, copy=False)


def adjust_temperature(lab: np.ndarray, strength: float) -> np.ndarray:
    """Warm (``strength`` > 0) or cool (< 0) a Lab ``(..., 3)`` image; L is returned unchanged (see
    :func:`polychrome.color.adjust.adjust_temperature`)."""
    if strength == 0:
        return lab
    knots, red, blue = temperature_curves(strength)
    fitted = fit_to_gamut(lab)
    rgb = lab_to_rgb(fitted)
    shifted = np.stack(
        (monotone_curve(rgb[..., 0], knots, red), rgb[..., 1], monotone_curve(rgb[..., 2], knots, blue)),
        axis=-1,
    )
    ab_shift = rgb_to_lab(shifted)[..., 1:] - fitted[..., 1:]
    return np.concatenate((lab[..., :1], lab[..., 1:] + ab_shift), axis=-1)
