"""sRGB <-> CIELAB (D65, 2° observer): the one place polychrome converts colors.

Batched torch functions on ``(*, 3, H, W)`` tensors: RGB is float sRGB in 0..1, Lab is in real units
(L in 0..100, a and b roughly -110..110). They run on any device and dtype and are differentiable.
The constants are those of scikit-image's ``rgb2lab`` so results agree with it to float precision.
"""

from __future__ import annotations

import torch

from polychrome.color.constants import EPSILON as _EPSILON
from polychrome.color.constants import KAPPA as _KAPPA
from polychrome.color.constants import RGB_TO_XYZ as _RGB_TO_XYZ
from polychrome.color.constants import WHITE_D65 as _WHITE_D65


def _check_channels(x: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 3 or x.shape[-3] != 3:
        raise ValueError(f"{name} must have shape (*, 3, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")


def _matrix(values, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, dtype=like.dtype, device=like.device)


def _apply_matrix(m: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    # x: (*, 3, H, W) -> (*, 3, H, W) with out[i] = sum_j m[i, j] * x[j]
    return torch.einsum("ij,...jhw->...ihw", m, x)


def srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    """Undo the sRGB transfer curve (values in 0..1 in, linear light out)."""
    return torch.where(rgb > 0.04045, ((rgb.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4, rgb / 12.92)


def linear_to_srgb(linear: torch.Tensor) -> torch.Tensor:
    """Apply the sRGB transfer curve (linear light in, display values out)."""
    safe = linear.clamp(min=0.0031308)
    return torch.where(linear > 0.0031308, 1.055 * safe ** (1 / 2.4) - 0.055, linear * 12.92)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """Convert sRGB in 0..1 to CIELAB.

    Args:
        rgb: ``(*, 3, H, W)`` float tensor, sRGB in 0..1.

    Returns:
        ``(*, 3, H, W)`` tensor: L in 0..100, a and b in Lab units.

    Example:
        >>> lab = rgb_to_lab(torch.ones(1, 3, 2, 2))  # white
        >>> round(lab[0, 0, 0, 0].item(), 3)
        100.0
    """
    _check_channels(rgb, "rgb")
    xyz = _apply_matrix(_matrix(_RGB_TO_XYZ, rgb), srgb_to_linear(rgb))
    xyz = xyz / _matrix(_WHITE_D65, rgb).view(3, 1, 1)
    f = torch.where(xyz > _EPSILON, xyz.clamp(min=_EPSILON) ** (1 / 3), (_KAPPA * xyz + 16.0) / 116.0)
    fx, fy, fz = f.unbind(-3)
    lightness = 116.0 * fy - 16.0
    return torch.stack((lightness, 500.0 * (fx - fy), 200.0 * (fy - fz)), dim=-3)


def lab_to_rgb(lab: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """Convert CIELAB to sRGB.

    Args:
        lab: ``(*, 3, H, W)`` float tensor in Lab units.
        clip: clamp the result to 0..1. Out-of-gamut colors are otherwise returned as they are, which is
            what :func:`polychrome.color.adjust.fit_to_gamut` needs to find them.

    Returns:
        ``(*, 3, H, W)`` sRGB tensor.
    """
    _check_channels(lab, "lab")
    lightness, a, b = lab.unbind(-3)
    fy = (lightness + 16.0) / 116.0
    f = torch.stack((fy + a / 500.0, fy, fy - b / 200.0), dim=-3)
    xyz = torch.where(f > 6.0 / 29.0, f**3, (116.0 * f - 16.0) / _KAPPA)
    xyz = xyz * _matrix(_WHITE_D65, lab).view(3, 1, 1)
    rgb_linear = _apply_matrix(torch.linalg.inv(_matrix(_RGB_TO_XYZ, lab).double()).to(lab.dtype), xyz)
    rgb = linear_to_srgb(rgb_linear)
    return rgb.clamp(0.0, 1.0) if clip else rgb


def rgb_to_lightness(rgb: torch.Tensor) -> torch.Tensor:
    """The L channel of :func:`rgb_to_lab` alone, ``(*, 3, H, W)`` -> ``(*, 1, H, W)``.

    L depends only on relative luminance Y, so this skips the work for a and b.
    """
    _check_channels(rgb, "rgb")
    y_row = _matrix(_RGB_TO_XYZ[1], rgb)
    y = torch.einsum("j,...jhw->...hw", y_row, srgb_to_linear(rgb)).unsqueeze(-3)
    fy = torch.where(y > _EPSILON, y.clamp(min=_EPSILON) ** (1 / 3), (_KAPPA * y + 16.0) / 116.0)
    return 116.0 * fy - 16.0


def gray_rgb(lightness: torch.Tensor) -> torch.Tensor:
    """sRGB of lightness alone (a = b = 0): ``(*, 1, H, W)`` L -> ``(*, 3, H, W)`` gray RGB in 0..1.

    This is how a black-and-white print of a photo looks, and the "gray output" that every colorizer is
    measured against.
    """
    if lightness.dim() < 3 or lightness.shape[-3] != 1:
        raise ValueError(f"lightness must have shape (*, 1, H, W), got {tuple(lightness.shape)}")
    chroma = torch.zeros(
        *lightness.shape[:-3], 2, *lightness.shape[-2:], dtype=lightness.dtype, device=lightness.device
    )
    return lab_to_rgb(torch.cat((lightness, chroma), dim=-3))


class RgbToLab(torch.nn.Module):
    """Module form of :func:`rgb_to_lab`."""

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return rgb_to_lab(rgb)


class LabToRgb(torch.nn.Module):
    """Module form of :func:`lab_to_rgb`."""

    def __init__(self, clip: bool = True) -> None:
        super().__init__()
        self.clip = clip

    def forward(self, lab: torch.Tensor) -> torch.Tensor:
        return lab_to_rgb(lab, clip=self.clip)
