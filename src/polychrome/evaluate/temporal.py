"""Temporal consistency of a colorized film: CDC and motion-compensated flicker, streamed frame by frame.

- CDC, the color distribution consistency of Liu et al.'s temporally consistent colorization and of
  ColorMNet's evaluation: for frames ``d`` apart (``d`` = 1, 2 and 4), the Jensen-Shannon divergence
  (natural logarithm) of each RGB channel's 256-bin histogram; averaged over the frame pairs, weighted 1/3
  per distance, and averaged over the three channels. 0 for a film whose colors never change.
- flicker: the mean ab change (Lab units, Euclidean) between consecutive frames after motion compensation
  (:mod:`polychrome.video.motion`, the stabiliser's own), over the pixels whose motion is trusted; pairs
  across a scene cut (:class:`~polychrome.video.stabilize.CutDetector`) are left out.

Memory is constant in the film's length: only the last four frames' histograms and the last frame's
low-resolution Lab are kept.

Example:
    >>> import numpy as np
    >>> still = np.full((32, 32, 3), 120, np.uint8)
    >>> meter = TemporalConsistency()
    >>> for _ in range(6):
    ...     meter.update(still)
    >>> meter.cdc(), meter.flicker()
    (0.0, 0.0)
"""

from __future__ import annotations

from collections import deque

import numpy as np
import torch
import torch.nn.functional as F

from polychrome.color.lab import rgb_to_lab
from polychrome.images import to_float01
from polychrome.video.motion import estimate_motion
from polychrome.video.stabilize import CutDetector

CDC_DILATIONS = (1, 2, 4)
FLICKER_SIZE = 128  # shorter side at which motion and ab are compared: enough for flow, cheap for hours
TRUSTED = 0.5  # motion trust above which a pixel counts for flicker


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence (natural log) of two normalised histograms; 0 for equal ones, at most
    ln 2."""
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log(a[mask] / m[mask])))

    return 0.5 * kl(p) + 0.5 * kl(q)


def channel_histograms(rgb: np.ndarray) -> np.ndarray:
    """``(3, 256)`` normalised histograms of an ``(H, W, 3)`` uint8 frame's R, G and B."""
    pixels = rgb.reshape(-1, 3)
    return np.stack([np.bincount(pixels[:, c], minlength=256) / len(pixels) for c in range(3)])


def low_resolution_lab(rgb: np.ndarray, shorter_side: int = FLICKER_SIZE) -> np.ndarray:
    """``(3, h, w)`` float32 Lab of an ``(H, W, 3)`` frame reduced (area) to ``shorter_side``."""
    tensor = torch.from_numpy(to_float01(rgb)).permute(2, 0, 1).unsqueeze(0)
    height, width = tensor.shape[-2:]
    scale = min(1.0, shorter_side / min(height, width))
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    if size != (height, width):
        tensor = F.interpolate(tensor, size=size, mode="area")
    return rgb_to_lab(tensor)[0].numpy()


class TemporalConsistency:
    """Feed a film's frames in order with :meth:`update`; read :meth:`cdc` and :meth:`flicker`.

    Args:
        cuts: scene-cut detection for flicker (frame pairs across a cut are not compared).
    """

    def __init__(self, cuts: CutDetector | None = None) -> None:
        self.cuts = cuts or CutDetector()
        self._histograms: deque[np.ndarray] = deque(maxlen=max(CDC_DILATIONS) + 1)
        self._divergence = {d: [0.0, 0] for d in CDC_DILATIONS}
        self._lab: np.ndarray | None = None
        self._flicker_sum = 0.0
        self._flicker_pairs = 0

    def update(self, rgb: np.ndarray, lab: np.ndarray | None = None) -> None:
        """One frame, ``(H, W, 3)`` uint8; ``lab`` is its :func:`low_resolution_lab` when already known."""
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[-1] != 3:
            raise ValueError(f"frames must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
        histograms = channel_histograms(rgb)
        for d in CDC_DILATIONS:
            if len(self._histograms) >= d:
                earlier = self._histograms[-d]
                total = self._divergence[d]
                total[0] += float(np.mean([js_divergence(earlier[c], histograms[c]) for c in range(3)]))
                total[1] += 1
        self._histograms.append(histograms)
        lab = low_resolution_lab(rgb) if lab is None else lab
        if self._lab is not None and self._lab.shape == lab.shape:
            previous = self._lab
            motion = estimate_motion(previous[0], lab[0])
            if not self.cuts.is_cut(previous[0], lab[0], motion.residual):
                change = np.linalg.norm(lab[1:] - motion.warp(previous[1:]), axis=0)
                trusted = motion.trust > TRUSTED
                if trusted.any():
                    self._flicker_sum += float(change[trusted].mean())
                    self._flicker_pairs += 1
        self._lab = lab

    def cdc(self) -> float:
        """The CDC of the frames so far (NaN below two frames)."""
        means = [total / count for total, count in self._divergence.values() if count]
        if not means:
            return float("nan")
        # ColorMNet weights each distance 1/3 (a film shorter than 5 frames has no pairs 4 apart).
        return float(np.mean(means))

    def flicker(self) -> float:
        """Mean motion-compensated ab change between consecutive frames (NaN without a compared pair)."""
        return self._flicker_sum / self._flicker_pairs if self._flicker_pairs else float("nan")
