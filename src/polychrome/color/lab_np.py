"""sRGB <-> CIELAB and gamut fitting in numpy: the twin of :mod:`polychrome.color.lab` and
:mod:`polychrome.color.adjust`'s gamut fitting for the install without PyTorch.

Same constants (:mod:`polychrome.color.constants`), same formulas and the same bisection, so results agree
with the PyTorch functions to float precision (tests/color/test_lab_np.py checks a dense Lab grid). Arrays are
channel-last, as numpy and PIL hold photos: RGB ``(..., 3)`` float in 0..1, Lab ``(..., 3)`` in real units
(L in 0..100, a and b roughly -110..110). Functions keep the input's float dtype.

Two look-up tables make the full-resolution merge cheap: the lightness (and luminance) of each 8-bit gray
level, and the 8-bit sRGB code of linear light, indexed by its square root so that dark tones, where the
sRGB curve is steepest, get as fine steps as bright ones.
"""

from __future__ import annotations

import numpy as np

from polychrome.color.constants import (
    EPSILON,
    GAMUT_ITERATIONS,
    GAMUT_TOLERANCE,
    KAPPA,
    RGB_TO_XYZ,
    SRGB_LINEAR_BELOW,
    WHITE_D65,
)

_RGB_TO_XYZ = np.array(RGB_TO_XYZ, np.float64)
# Linear sRGB from (fx, fy, fz) cubed: the inverse matrix with the white point folded in.
XYZ_F_TO_LINEAR = np.linalg.inv(_RGB_TO_XYZ) * np.array(WHITE_D65)
_CUBE_BELOW = 6.0 / 29.0  # f under which f**3 is replaced by the linear segment


def _check_last_axis(x: np.ndarray, name: str) -> None:
    if x.ndim < 1 or x.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (..., 3), got {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} must be a float array, got {x.dtype}")


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """Undo the sRGB transfer curve (values in 0..1 in, linear light out)."""
    curve = ((np.maximum(rgb, 0.04045) + 0.055) / 1.055) ** 2.4
    return np.where(rgb > 0.04045, curve, rgb / 12.92).astype(rgb.dtype, copy=False)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Apply the sRGB transfer curve (linear light in, display values out)."""
    curve = 1.055 * np.maximum(linear, SRGB_LINEAR_BELOW) ** (1 / 2.4) - 0.055
    return np.where(linear > SRGB_LINEAR_BELOW, curve, linear * 12.92).astype(linear.dtype, copy=False)


def lightness_from_luminance(y: np.ndarray) -> np.ndarray:
    """CIE L (0..100) of relative luminance Y (0..1)."""
    f = np.where(y > EPSILON, np.cbrt(np.maximum(y, EPSILON)), (KAPPA * y + 16.0) / 116.0)
    return (116.0 * f - 16.0).astype(y.dtype, copy=False)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Relative luminance Y of sRGB ``(..., 3)`` in 0..1, shape ``(...)``."""
    _check_last_axis(rgb, "rgb")
    return srgb_to_linear(rgb) @ _RGB_TO_XYZ[1].astype(rgb.dtype)


def rgb_to_lightness(rgb: np.ndarray) -> np.ndarray:
    """The L channel of :func:`rgb_to_lab` alone: ``(..., 3)`` -> ``(...)``."""
    return lightness_from_luminance(luminance(rgb))


def _finv(f: np.ndarray) -> np.ndarray:
    return np.where(f > _CUBE_BELOW, f * f * f, (116.0 * f - 16.0) / KAPPA).astype(f.dtype, copy=False)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """Convert sRGB ``(..., 3)`` in 0..1 to CIELAB ``(..., 3)``.

    Example:
        >>> rgb_to_lab(np.ones(3))[0].round(3)
        np.float64(100.0)
    """
    _check_last_axis(rgb, "rgb")
    xyz = srgb_to_linear(rgb) @ _RGB_TO_XYZ.T.astype(rgb.dtype)
    xyz = xyz / np.array(WHITE_D65, rgb.dtype)
    f = np.where(xyz > EPSILON, np.cbrt(np.maximum(xyz, EPSILON)), (KAPPA * xyz + 16.0) / 116.0)
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
    lab = np.stack((116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)), axis=-1)
    return lab.astype(rgb.dtype, copy=False)


def lab_to_linear(lab: np.ndarray) -> np.ndarray:
    """Linear-light sRGB ``(..., 3)`` of Lab ``(..., 3)``, unclipped (out-of-gamut colors leave 0..1)."""
    _check_last_axis(lab, "lab")
    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack((fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0), axis=-1)
    return (_finv(f) @ XYZ_F_TO_LINEAR.T.astype(lab.dtype)).astype(lab.dtype, copy=False)


def lab_to_rgb(lab: np.ndarray, clip: bool = True) -> np.ndarray:
    """Convert CIELAB ``(..., 3)`` to sRGB ``(..., 3)``; ``clip=False`` leaves out-of-gamut values."""
    rgb = linear_to_srgb(lab_to_linear(lab))
    return np.clip(rgb, 0.0, 1.0) if clip else rgb


def gamut_bounds(tolerance: float = GAMUT_TOLERANCE) -> tuple[float, float]:
    """Linear light that sRGB shows within ``tolerance`` of 0..1: the gamut test of
    :func:`polychrome.color.adjust.fit_to_gamut` moved before the transfer curve, which is monotone."""
    high = ((1.0 + tolerance + 0.055) / 1.055) ** 2.4
    return -tolerance / 12.92, high


def fit_to_gamut(
    lab: np.ndarray, iterations: int = GAMUT_ITERATIONS, tolerance: float = GAMUT_TOLERANCE
) -> np.ndarray:
    """Pull out-of-gamut colors toward gray along their hue until sRGB can show them; L and hue are kept.

    :func:`polychrome.color.adjust.fit_to_gamut` in numpy: only pixels outside the gamut are searched, by
    bisection on their chroma scale.
    """
    _check_last_axis(lab, "lab")
    flat = lab.reshape(-1, 3)
    low, high = gamut_bounds(tolerance)
    linear = lab_to_linear(flat)
    outside = np.flatnonzero((linear.min(axis=1) < low) | (linear.max(axis=1) > high))
    if outside.size == 0:
        return lab
    fitted = flat.copy()
    fitted[outside] = fit_chroma(flat[outside], iterations, tolerance)
    return fitted.reshape(lab.shape)


def fit_chroma(lab: np.ndarray, iterations: int = GAMUT_ITERATIONS, tolerance: float = GAMUT_TOLERANCE):
    """The bisection of :func:`fit_to_gamut` on Lab colors ``(N, 3)`` known to be out of gamut."""
    low, high = gamut_bounds(tolerance)
    lo = np.zeros((lab.shape[0], 1), lab.dtype)
    hi = np.ones_like(lo)
    trial = lab.copy()
    for _ in range(iterations):
        mid = (lo + hi) / 2
        trial[:, 1:] = lab[:, 1:] * mid
        linear = lab_to_linear(trial)
        ok = ((linear >= low) & (linear <= high)).all(axis=1, keepdims=True)
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    trial[:, 1:] = lab[:, 1:] * lo
    return trial


def lab_to_rgb_in_gamut(
    lab: np.ndarray, iterations: int = GAMUT_ITERATIONS, tolerance: float = GAMUT_TOLERANCE
) -> np.ndarray:
    """:func:`fit_to_gamut` followed by the conversion to sRGB in 0..1."""
    return lab_to_rgb(fit_to_gamut(lab, iterations, tolerance))


def _gray_levels() -> tuple[np.ndarray, np.ndarray]:
    y = srgb_to_linear(np.arange(256, dtype=np.float64) / 255.0)  # a gray's luminance is its linear value
    return y.astype(np.float32), lightness_from_luminance(y).astype(np.float32)


#: Luminance Y and lightness L of each 8-bit gray level (R = G = B).
GRAY8_LUMINANCE, GRAY8_LIGHTNESS = _gray_levels()
#: Each 8-bit channel's share of luminance: Y of an 8-bit RGB pixel is the sum of its three entries.
CHANNEL8_LUMINANCE = (GRAY8_LUMINANCE[None, :] * _RGB_TO_XYZ[1][:, None]).astype(np.float32)

ENCODE_STEPS = 1 << 12  # fine enough that no step of sqrt(linear) holds two codes' rounding edges


def _encode_tables(steps: int) -> tuple[np.ndarray, np.ndarray]:
    # Step k covers sqrt(linear) in [k, k + 1) / steps: the code at its start, and the linear light from
    # which the code one higher is the rounded one.
    root = np.arange(steps + 1, dtype=np.float64) / steps
    codes = np.rint(linear_to_srgb(root * root) * 255.0)
    up = srgb_to_linear(np.minimum(codes + 0.5, 255.5) / 255.0)
    return codes.astype(np.uint8), up.astype(np.float32)


#: The 8-bit sRGB code where ``sqrt(linear) * ENCODE_STEPS`` starts, and the linear light from which the
#: next code is the rounded one.
SRGB8_CODE, SRGB8_NEXT_FROM = _encode_tables(ENCODE_STEPS)


def linear_to_srgb8(
    linear: np.ndarray,
    out: np.ndarray | None = None,
    work: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """8-bit sRGB codes of linear light (clipped to 0..1), rounded as :func:`polychrome.images.to_uint8`
    rounds :func:`linear_to_srgb`, by table: no power is computed.

    ``out`` (uint8) and ``work`` (two buffers of ``linear``'s dtype and one of ``np.intp``, each of its shape)
    let a caller that encodes strip after strip make its arrays once: fresh ones of a strip's size cost page
    faults that took longer than the encoding itself.
    """
    clipped, step, index = work or (np.empty_like(linear), None, None)
    np.clip(linear, 0.0, 1.0, out=clipped)
    step = np.sqrt(clipped, out=step)
    step *= ENCODE_STEPS
    if index is None:
        index = step.astype(np.intp)  # np.take with native indices gathers fastest
    else:
        index[...] = step  # the same truncation as astype
    # mode="clip" changes nothing (the index is in range) but lets numpy gather straight into ``out``.
    codes = np.take(SRGB8_CODE, index, out=out, mode="clip")
    next_from = np.take(SRGB8_NEXT_FROM, index, out=step, mode="clip")
    codes += clipped >= next_from
    return codes
