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
BatchColorize = Callable[[torch.Tensor], torch.Tensor]


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


def _score(pred: torch.Tensor, truth: torch.Tensor, gray: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image scores of predictions, gray outputs and truths, each ``(B, 3, H, W)`` RGB in 0..1."""
    pred = pred.clamp(0, 1)
    return {
        "psnr": psnr(pred, truth).clamp(max=100),
        "ssim": ssim(pred, truth),
        "colorfulness": colorfulness(pred),
        "psnr_gray": psnr(gray, truth).clamp(max=100),
        "ssim_gray": ssim(gray, truth),
        "colorfulness_truth": colorfulness(truth),
    }


def _report(parts: list[dict[str, torch.Tensor]]) -> QualityReport:
    return QualityReport(
        **{k: torch.cat([p[k] for p in parts]).numpy() for k in QualityReport.__dataclass_fields__}
    )


def evaluate_colorizer(colorize: ArrayColorize, images: np.ndarray) -> QualityReport:
    """Score ``colorize`` (float32 HxWx3 gray RGB -> float32 HxWx3 RGB) on uint8 images ``(N, S, S, 3)``."""
    parts = []
    for image in images:
        truth = torch.from_numpy(np.array(image)).permute(2, 0, 1).unsqueeze(0).float() / 255.0
        gray = gray_version(truth)
        pred_np = colorize(np.ascontiguousarray(gray[0].permute(1, 2, 0).numpy()))
        parts.append(_score(torch.from_numpy(pred_np).permute(2, 0, 1).unsqueeze(0), truth, gray))
    return _report(parts)


def evaluate_colorizer_batched(
    colorize: BatchColorize, images: np.ndarray, batch_size: int = 64
) -> QualityReport:
    """:func:`evaluate_colorizer` for a batched colorizer (lightness ``(B, 1, H, W)`` -> RGB ``(B, 3, H, W)``,
    e.g. :meth:`~polychrome.pipelines.image.Colorizer.colorize_lightness` on a GPU): the same scores, many
    times faster where the network is not the bottleneck. The scores are computed where the colorizer
    returns its output (on a GPU, SSIM's filtering was what took the time on the CPU)."""
    parts = []
    for start in range(0, len(images), batch_size):
        truth = (
            torch.from_numpy(np.asarray(images[start : start + batch_size])).permute(0, 3, 1, 2).float() / 255
        )
        lightness = rgb_to_lightness(truth)
        pred = colorize(lightness).float()
        truth, lightness = truth.to(pred.device), lightness.to(pred.device)
        scores = _score(pred, truth, gray_rgb(lightness))
        parts.append({name: value.cpu() for name, value in scores.items()})
    return _report(parts)
