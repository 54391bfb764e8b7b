"""Looking at a prepared collection: PCA compressibility and color statistics, as numbers and pictures."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from polychrome.color.lab import lab_to_rgb, rgb_to_lab
from polychrome.data.prepare import rgb_batches, rgb_tensor
from polychrome.evaluate.metrics import colorfulness


def _flatten(images: np.ndarray, size: int) -> torch.Tensor:
    """Images area-resized to ``size`` x ``size``, one float64 row of RGB values each."""
    return F.interpolate(rgb_tensor(images), size=(size, size), mode="area").reshape(len(images), -1).double()


def pca_spectrum(images: np.ndarray, size: int = 32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PCA of images flattened at ``size`` x ``size`` RGB: (cumulative retained variance per number of
    components, the components ``(C, D)``, the mean ``(D,)``)."""
    flat = _flatten(images, size)
    mean = flat.mean(0)
    _, s, vh = torch.linalg.svd(flat - mean, full_matrices=False)
    variance = s**2
    return torch.cumsum(variance, 0) / variance.sum(), vh, mean


def components_for(retained: torch.Tensor, target: float) -> int:
    """Fewest components whose cumulative retained variance reaches ``target`` (e.g. 0.98)."""
    return int(torch.searchsorted(retained, torch.tensor(target, dtype=retained.dtype)).item()) + 1


def pca_reconstruct(
    images: np.ndarray, vh: torch.Tensor, mean: torch.Tensor, c: int, size: int = 32
) -> np.ndarray:
    """Images projected onto the first ``c`` components and back, uint8 ``(N, size, size, 3)``."""
    flat = _flatten(images, size) - mean
    back = (flat @ vh[:c].T) @ vh[:c] + mean
    out = back.reshape(len(images), 3, size, size).permute(0, 2, 3, 1).clamp(0, 1)
    return (out * 255).round().byte().numpy()


def colorfulness_values(images: np.ndarray) -> np.ndarray:
    values = []
    for rgb in rgb_batches(images):
        values.append(colorfulness(rgb))
    return torch.cat(values).numpy() if values else np.zeros(0)


def ab_histogram_picture(images: np.ndarray, size: int = 221, lightness: float = 70.0) -> np.ndarray:
    """The ab plane (a right, b up, -110..110) painted in its own colors, brightness = log pixel count."""
    counts = np.zeros((size, size))
    for rgb in rgb_batches(images, 64):
        ab = rgb_to_lab(rgb)[:, 1:].permute(1, 0, 2, 3).reshape(2, -1).numpy()
        cells = np.clip(np.round((ab + 110) / 220 * (size - 1)).astype(int), 0, size - 1)
        np.add.at(counts, (size - 1 - cells[1], cells[0]), 1)
    axis = np.linspace(-110, 110, size)
    a, b = np.meshgrid(axis, axis[::-1])
    lab = torch.from_numpy(np.stack((np.full_like(a, lightness), a, b))).float()
    color = lab_to_rgb(lab).permute(1, 2, 0).numpy()
    weight = np.log1p(counts) / max(np.log1p(counts).max(), 1e-9)
    return (color * weight[..., None] * 255).round().astype(np.uint8)


def histogram_picture(values: np.ndarray, bins: int = 40, height: int = 120, bar: int = 6) -> np.ndarray:
    """A plain bar chart (white bars on black) of a histogram of ``values``."""
    counts, _ = np.histogram(values, bins=bins)
    picture = np.zeros((height, bins * bar, 3), np.uint8)
    tops = (counts / max(counts.max(), 1) * height).round().astype(int)
    for i, top in enumerate(tops):
        picture[height - top :, i * bar : (i + 1) * bar - 1] = 255
    return picture
