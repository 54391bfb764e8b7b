"""Image quality metrics for colorization: PSNR, SSIM and Hasler-Süsstrunk colorfulness.

All functions take batched RGB tensors of shape ``(B, 3, H, W)``, float in 0..1 (PSNR and SSIM accept any
channel count), and return one value per image, shape ``(B,)``, so a report can aggregate or rank images.
Half-precision inputs are computed in float32; float64 stays float64.

Example:
    >>> import torch
    >>> x = torch.rand(2, 3, 32, 32)
    >>> psnr(x, x.clamp(0, 0.9)).shape, ssim(x, x).round(decimals=4).tolist()
    (torch.Size([2]), [1.0, 1.0])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["colorfulness", "psnr", "ssim"]

# Wang et al. 2004: an 11-tap Gaussian window, sigma 1.5, and these stabilising constants.
_SSIM_WINDOW = 11
_SSIM_SIGMA = 1.5
_SSIM_K1 = 0.01
_SSIM_K2 = 0.03


def _compute_dtype(x: torch.Tensor) -> torch.Tensor:
    # Squared errors and local variances lose too much in 16-bit floats.
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _check_image_batch(x: torch.Tensor, name: str, channels: int | None = None) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4 or (channels is not None and x.shape[1] != channels):
        expected = f"(B, {channels}, H, W)" if channels is not None else "(B, C, H, W)"
        raise ValueError(f"{name} must have shape {expected}, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating point tensor in 0..1, got {x.dtype}")


def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> None:
    _check_image_batch(pred, "pred")
    _check_image_batch(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, per image.

    Args:
        pred, target: ``(B, C, H, W)`` float images, values in ``0..data_range``.
        data_range: the span of possible values (1.0 for images in 0..1).

    Returns:
        ``(B,)`` PSNR in dB from the mean squared error over all channels and pixels. Identical images give
        ``+inf`` (we do not clamp, so a perfect result is never mistaken for a large finite one); filter
        with ``torch.isfinite`` before averaging over a data set.

    Example:
        >>> psnr(torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.1)).round(decimals=3)
        tensor([20.])
    """
    _check_pair(pred, target)
    pred, target = _compute_dtype(pred), _compute_dtype(target)
    mse = (pred - target).square().flatten(1).mean(dim=1)
    return 10.0 * torch.log10(data_range**2 / mse)


def _gaussian_kernel_1d(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    radius = _SSIM_WINDOW // 2
    x = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    kernel = torch.exp(-0.5 * (x / _SSIM_SIGMA) ** 2)
    return kernel / kernel.sum()


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004), per image, averaged over channels.

    An 11x11 Gaussian window (sigma 1.5, applied as two separable 1-D convolutions), K1 = 0.01,
    K2 = 0.03 and population (co)variances; only the "valid" region, where the window lies fully inside
    the image, is averaged. This matches ``skimage.metrics.structural_similarity(a, b, channel_axis=-1,
    data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``.

    Args:
        pred, target: ``(B, C, H, W)`` float images in ``0..data_range``, with H and W at least 11.
        data_range: the span of possible values (1.0 for images in 0..1).

    Returns:
        ``(B,)`` mean SSIM, at most 1 (identical images).

    Raises:
        ValueError: on mismatched shapes or images smaller than 11 pixels on a side.

    Example:
        >>> x = torch.rand(1, 3, 16, 16)
        >>> ssim(x, x).round(decimals=4)
        tensor([1.])
    """
    _check_pair(pred, target)
    batch, channels, height, width = pred.shape
    if height < _SSIM_WINDOW or width < _SSIM_WINDOW:
        raise ValueError(
            f"ssim needs images of at least {_SSIM_WINDOW}x{_SSIM_WINDOW} pixels, got H={height}, W={width}"
        )
    pred, target = _compute_dtype(pred), _compute_dtype(target)

    # Filter all five local statistics in one pass of the separable window, as a depthwise convolution (one
    # group per map): on the CPU a one-channel convolution over a batch of maps is 6x slower, most of it
    # spent allocating its buffers.
    stats = torch.cat([pred, target, pred * pred, target * target, pred * target], dim=1)
    maps = 5 * channels
    kernel = _gaussian_kernel_1d(stats.dtype, stats.device)
    stats = F.conv2d(stats, kernel.view(1, 1, -1, 1).expand(maps, 1, -1, 1).contiguous(), groups=maps)
    stats = F.conv2d(stats, kernel.view(1, 1, 1, -1).expand(maps, 1, 1, -1).contiguous(), groups=maps)
    stats = stats.view(batch, 5, channels, height - _SSIM_WINDOW + 1, width - _SSIM_WINDOW + 1)
    mu_x, mu_y, e_xx, e_yy, e_xy = stats.unbind(dim=1)

    var_x = e_xx - mu_x * mu_x
    var_y = e_yy - mu_y * mu_y
    cov_xy = e_xy - mu_x * mu_y
    c1 = (_SSIM_K1 * data_range) ** 2
    c2 = (_SSIM_K2 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / (
        (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    )
    return ssim_map.mean(dim=(-2, -1)).mean(dim=1)


def colorfulness(rgb: torch.Tensor) -> torch.Tensor:
    """Hasler & Süsstrunk (2003) colorfulness, per image, on the 0..255 scale of the paper.

    With R, G, B in 0..255, ``rg = R - G`` and ``yb = (R + G) / 2 - B``;
    ``M = sqrt(std_rg² + std_yb²) + 0.3 * sqrt(mean_rg² + mean_yb²)`` with population standard deviations
    over all pixels. A gray image scores exactly 0; the paper calls ~33 "moderately" and ~59 "quite"
    colorful.

    Args:
        rgb: ``(B, 3, H, W)`` float sRGB in 0..1.

    Returns:
        ``(B,)`` colorfulness.

    Example:
        >>> colorfulness(torch.full((1, 3, 4, 4), 0.5))
        tensor([0.])
    """
    _check_image_batch(rgb, "rgb", channels=3)
    return opponent_colorfulness(*rgb_opponents(_compute_dtype(rgb) * 255.0))


def rgb_opponents(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's opponent channels of ``(B, 3, H, W)`` RGB, ``rg = R - G`` and ``yb = (R + G) / 2 - B``,
    each ``(B, H * W)`` in the units of ``rgb`` (the metric's 0..255, the training loss's 0..1)."""
    red, green, blue = rgb.flatten(2).unbind(dim=1)
    return red - green, 0.5 * (red + green) - blue


def opponent_colorfulness(first: torch.Tensor, second: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    """Hasler & Süsstrunk's formula on any two opponent channels ``(B, N)``:
    ``sqrt(var_1 + var_2) + 0.3 * sqrt(mean_1² + mean_2²)`` per row, population variances.

    :func:`colorfulness` gives it the paper's rg / yb; the training loss gives it CIELAB's a / b
    (:func:`polychrome.train.losses.ab_colorfulness`), with ``eps`` > 0 so the square roots keep finite
    gradients on a gray map.
    """
    spread = torch.sqrt(first.var(dim=1, correction=0) + second.var(dim=1, correction=0) + eps)
    offset = torch.sqrt(first.mean(dim=1).square() + second.mean(dim=1).square() + eps)
    return spread + 0.3 * offset
