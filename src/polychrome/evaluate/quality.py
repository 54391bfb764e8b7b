"""Scoring a colorizer on held-out photos, always beside the two references that give the numbers meaning:
a gray output (ab = 0, what doing nothing scores) and the ground truth itself (its colorfulness).

Protocol: each photo is the centre crop prepared by :mod:`polychrome.data.prepare` (shorter side resized,
centre-cropped square); its gray version (the truth's L with ab = 0) is colorized at the crop's size, and
PSNR / SSIM are computed on RGB in 0..1 over the whole crop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from polychrome.color.lab import gray_rgb, rgb_to_lightness
from polychrome.evaluate.metrics import colorfulness, psnr, ssim

ArrayColorize = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class QualityReport:
    """Per-image scores (arrays of length N) of predictions, of the gray baseline, and of the truth."""

    psnr: np.ndarray
    ssim: np.ndarray
    colorfulness: np.ndarray
    psnr_gray: np.ndarray
    ssim_gray: np.ndarray
    colorfulness_truth: np.ndarray

    def summary(self) -> dict[str, float]:
        means = {k: float(np.mean(getattr(self, k))) for k in self.__dataclass_fields__}
        means["colorfulness_gap"] = abs(means["colorfulness"] - means["colorfulness_truth"])
        means["psnr_gain_over_gray"] = means["psnr"] - means["psnr_gray"]
        means["images"] = float(len(self.psnr))
        return means


def gray_version(rgb: torch.Tensor) -> torch.Tensor:
    """The photo as a black-and-white print would show it: its own L, no chroma. ``(B, 3, H, W)``."""
    return gray_rgb(rgb_to_lightness(rgb))


def evaluate_colorizer(colorize: ArrayColorize, images: np.ndarray) -> QualityReport:
    """Score ``colorize`` (float32 HxWx3 gray RGB -> float32 HxWx3 RGB) on uint8 images ``(N, S, S, 3)``."""
    scores: dict[str, list[torch.Tensor]] = {k: [] for k in QualityReport.__dataclass_fields__}
    for image in images:
        truth = torch.from_numpy(np.array(image)).permute(2, 0, 1).unsqueeze(0).float() / 255.0
        gray = gray_version(truth)
        pred_np = colorize(np.ascontiguousarray(gray[0].permute(1, 2, 0).numpy()))
        pred = torch.from_numpy(pred_np).permute(2, 0, 1).unsqueeze(0).clamp(0, 1)
        scores["psnr"].append(psnr(pred, truth).clamp(max=100))
        scores["ssim"].append(ssim(pred, truth))
        scores["colorfulness"].append(colorfulness(pred))
        scores["psnr_gray"].append(psnr(gray, truth).clamp(max=100))
        scores["ssim_gray"].append(ssim(gray, truth))
        scores["colorfulness_truth"].append(colorfulness(truth))
    return QualityReport(**{k: torch.cat(v).numpy() for k, v in scores.items()})
