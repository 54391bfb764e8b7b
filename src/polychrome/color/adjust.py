"""Adjustments a user reaches for when colors look wrong: saturation, warm/cool, and gamut fitting.

All of them keep the lightness L unchanged, so a colorized photo keeps every detail of the original.
"""

from __future__ import annotations

import torch

from polychrome.color.constants import GAMUT_ITERATIONS, GAMUT_TOLERANCE, pchip_slopes, temperature_curves
from polychrome.color.lab import lab_to_rgb, rgb_to_lab


def scale_chroma(ab: torch.Tensor, factor: float) -> torch.Tensor:
    """Multiply chroma by ``factor`` (hue kept): 0 is gray, 1 unchanged, above 1 more saturated."""
    if factor < 0:
        raise ValueError(f"saturation factor must be >= 0, got {factor}")
    return ab * factor


def monotone_curve(x: torch.Tensor, knots_x: list[float], knots_y: list[float]) -> torch.Tensor:
    """Evaluate the monotone cubic (Fritsch-Carlson / PCHIP) curve through the given anchors.

    The curve passes exactly through every anchor and never overshoots between them, unlike the smoothing
    spline the seed used, which missed its own anchors. ``x`` outside the anchors is clamped to the ends.
    """
    slopes = torch.tensor(pchip_slopes(knots_x, knots_y), dtype=torch.float64)
    kx = torch.tensor(knots_x, dtype=torch.float64)
    ky = torch.tensor(knots_y, dtype=torch.float64)
    h = kx[1:] - kx[:-1]
    kx, ky, slopes, h = (t.to(x.device, x.dtype) for t in (kx, ky, slopes, h))
    xc = x.clamp(kx[0], kx[-1])
    seg = torch.bucketize(xc, kx[1:-1])  # segment index 0..n-2
    t = (xc - kx[seg]) / h[seg]
    t2, t3 = t * t, t * t * t
    return (
        (2 * t3 - 3 * t2 + 1) * ky[seg]
        + (t3 - 2 * t2 + t) * h[seg] * slopes[seg]
        + (-2 * t3 + 3 * t2) * ky[seg + 1]
        + (t3 - t2) * h[seg] * slopes[seg + 1]
    )


def adjust_temperature(lab: torch.Tensor, strength: float) -> torch.Tensor:
    """Warm (``strength`` > 0) or cool (< 0) a ``(*, 3, H, W)`` Lab image; L is returned unchanged.

    The red and blue channels of the (gamut-fitted) color pass through monotone tone curves, and the change
    this makes to ab is added to the original ab. Applying it as a shift keeps the control continuous: a
    small strength moves colors a little, also colors outside the sRGB gamut, which are never clipped here.
    """
    if strength == 0:
        return lab
    knots, red, blue = temperature_curves(strength)
    fitted = fit_to_gamut(lab)
    r, g, b = lab_to_rgb(fitted).unbind(-3)
    shifted = torch.stack((monotone_curve(r, knots, red), g, monotone_curve(b, knots, blue)), dim=-3)
    ab_shift = rgb_to_lab(shifted)[..., 1:, :, :] - fitted[..., 1:, :, :]
    return torch.cat((lab[..., :1, :, :], lab[..., 1:, :, :] + ab_shift), dim=-3)


def _fit(lab: torch.Tensor, iterations: int, tolerance: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(gamut-fitted Lab, its sRGB unclipped); pixels already in gamut are converted once, not searched."""
    rgb = lab_to_rgb(lab, clip=False)
    outside = ((rgb < -tolerance) | (rgb > 1 + tolerance)).any(dim=-3)  # (*, H, W)
    if not bool(outside.any()):
        return lab, rgb
    flat = lab.movedim(-3, -1)[outside]  # (N, 3)
    lo = torch.zeros(flat.shape[0], 1, dtype=lab.dtype, device=lab.device)
    hi = torch.ones_like(lo)
    for _ in range(iterations):
        mid = (lo + hi) / 2
        trial = torch.cat((flat[:, :1], flat[:, 1:] * mid), dim=1)
        rgb_trial = lab_to_rgb(trial.T.reshape(1, 3, -1, 1), clip=False).reshape(3, -1).T
        ok = ((rgb_trial >= -tolerance) & (rgb_trial <= 1 + tolerance)).all(dim=1, keepdim=True)
        lo = torch.where(ok, mid, lo)
        hi = torch.where(ok, hi, mid)
    fitted = torch.cat((flat[:, :1], flat[:, 1:] * lo), dim=1)
    lab_out = lab.movedim(-3, -1).clone()
    lab_out[outside] = fitted
    rgb_out = rgb.movedim(-3, -1).clone()
    rgb_out[outside] = lab_to_rgb(fitted.T.reshape(1, 3, -1, 1), clip=False).reshape(3, -1).T
    return lab_out.movedim(-1, -3), rgb_out.movedim(-1, -3)


def fit_to_gamut(
    lab: torch.Tensor, iterations: int = GAMUT_ITERATIONS, tolerance: float = GAMUT_TOLERANCE
) -> torch.Tensor:
    """Pull out-of-gamut colors toward gray along their hue until sRGB can show them; L and hue are kept.

    Clipping RGB instead would change lightness, so the output's L would no longer match the photo's.
    Only pixels outside the gamut are searched (bisection on the chroma scale), so in-gamut images cost
    one conversion.
    """
    return _fit(lab, iterations, tolerance)[0]


def lab_to_rgb_in_gamut(
    lab: torch.Tensor, iterations: int = GAMUT_ITERATIONS, tolerance: float = GAMUT_TOLERANCE
) -> torch.Tensor:
    """:func:`fit_to_gamut` followed by the conversion to sRGB in 0..1, sharing the one conversion."""
    return _fit(lab, iterations, tolerance)[1].clamp(0.0, 1.0)
