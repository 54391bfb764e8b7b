"""Resampling for the numpy path: the twin of :func:`polychrome.resize.resize_for_render` and of the
pipeline's bilinear taps and area averaging, agreeing with PyTorch's to float precision
(tests/pipelines/test_resample_np.py).

A reduction goes through PIL's float ("F") resampling: PyTorch's antialiased bilinear was written to match
it (each output pixel averages its whole footprint under a triangle filter), and PIL's runs in C without a
full-size float copy of a colour photo's three channels at once. Photos are channel-last, ``(H, W, 3)``.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from polychrome.resize import ENLARGE_FILTERS

_BICUBIC_A = -0.75  # PyTorch's bicubic kernel (PIL's is -0.5)


def is_gray_view(photo: np.ndarray) -> bool:
    """Whether ``photo`` ``(H, W, 3)`` is one gray channel seen three times (a zero channel stride), as
    :func:`polychrome.images.load_image` gives 8-bit gray photos with ``keep_8bit``."""
    return photo.ndim == 3 and photo.strides[2] == 0


def _channel_image(channel: np.ndarray) -> Image.Image:
    if channel.dtype == np.uint8:
        return Image.fromarray(np.ascontiguousarray(channel), "L").convert("F")
    return Image.fromarray(np.ascontiguousarray(channel, dtype=np.float32), "F")


def _bicubic_matrix(n_out: int, n_in: int) -> np.ndarray:
    """``(n_out, n_in)`` weights of PyTorch's bicubic (``align_corners=False``, edges clamped)."""
    scale = n_in / n_out
    x = (np.arange(n_out) + 0.5) * scale - 0.5
    base = np.floor(x)
    t = x - base
    a = _BICUBIC_A
    weights = (
        ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
        ((a + 2) * t - (a + 3)) * t * t + 1,
        ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
        ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a,
    )
    matrix = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    for k, w in enumerate(weights):
        np.add.at(matrix, (rows, np.clip(base.astype(int) - 1 + k, 0, n_in - 1)), w)
    return matrix


def resize_for_render(photo: np.ndarray, size: tuple[int, int], enlarge: str = "bilinear") -> np.ndarray:
    """Bring a photo ``(H, W, 3)`` (uint8, or float in 0..1) to ``size`` as float32 in 0..1: reduced with
    antialiased bilinear, enlarged with ``enlarge`` (the model's own filter), as the PyTorch path does.

    A gray view (:func:`is_gray_view`) is resampled once, not three times, and stays a gray view.
    """
    if enlarge not in ENLARGE_FILTERS:
        raise ValueError(f"enlarge must be one of {', '.join(ENLARGE_FILTERS)}, got {enlarge!r}")
    height, width = photo.shape[:2]
    channels = [photo[:, :, 0]] if is_gray_view(photo) else [photo[:, :, c] for c in range(3)]
    scale = np.float32(1 / 255) if photo.dtype == np.uint8 else np.float32(1)
    resized = []
    for channel in channels:
        if size == (height, width):
            resized.append(channel.astype(np.float32) * scale)
        elif enlarge == "bilinear" or size[0] * size[1] <= height * width:
            image = _channel_image(channel).resize((size[1], size[0]), Image.Resampling.BILINEAR)
            resized.append(np.asarray(image) * scale)
        else:
            rows, cols = _bicubic_matrix(size[0], height), _bicubic_matrix(size[1], width)
            enlarged = rows @ (channel.astype(np.float64) * scale) @ cols.T
            resized.append(np.clip(enlarged, 0.0, 1.0).astype(np.float32))
    if len(resized) == 1:
        return np.broadcast_to(resized[0][:, :, None], (*size, 3))
    return np.stack(resized, axis=-1)


def bilinear_taps(n_out: int, n_in: int, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights for bilinear resampling where output pixel i sits at input coordinate
    ``(i + 0.5) * scale - 0.5``, as the PyTorch path's ``_bilinear_taps``: ``(i0, i1, weight of i1)``."""
    x = np.clip((np.arange(n_out, dtype=np.float64) + 0.5) * scale - 0.5, 0.0, n_in - 1)
    i0 = np.floor(x).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (x - i0).astype(np.float32)


def _area_matrix(n_out: int, n_in: int) -> np.ndarray:
    # PyTorch's adaptive average pooling: output i averages inputs floor(i*n/m) .. ceil((i+1)*n/m) - 1.
    matrix = np.zeros((n_out, n_in))
    for i in range(n_out):
        start, end = (i * n_in) // n_out, math.ceil((i + 1) * n_in / n_out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def area_resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area averaging of ``(H, W)`` to ``size``, as ``F.interpolate(mode="area")``."""
    rows, cols = _area_matrix(size[0], image.shape[0]), _area_matrix(size[1], image.shape[1])
    return (rows @ image.astype(np.float64) @ cols.T).astype(image.dtype)
