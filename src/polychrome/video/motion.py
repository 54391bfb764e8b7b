"""Motion between two frames: dense optical flow on their lightness, and warping a map along it.

The one place where polychrome follows motion: the stabiliser warps the previous frame's ab onto the
current frame with it, and the flicker metric of ``polychrome evaluate`` compensates motion the same way.
Flow is computed by OpenCV's DIS (Kroeger et al. 2016) on lightness maps, which is fast at the low
resolution of the predicted ab (a 171x128 map takes about a millisecond).

Example:
    >>> import numpy as np
    >>> still = np.full((32, 48), 50, np.float32)
    >>> motion = estimate_motion(still, still)
    >>> float(np.abs(motion.warp(still[None]) - still).max())
    0.0
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

# Lightness differences (L units) at which a warped pixel is trusted half as much as a still one: a pixel
# that the flow got wrong, or that was hidden in the previous frame, differs by much more than this.
TRUST_LIGHTNESS = 6.0
_LIGHTNESS_TO_BYTE = 255.0 / 100.0

_local = threading.local()  # DIS objects keep buffers between calls; one per thread is safe


def _dis() -> cv2.DISOpticalFlow:
    flow = getattr(_local, "dis", None)
    if flow is None:
        flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        _local.dis = flow
    return flow


@dataclass
class Motion:
    """Where each pixel of the current frame was in the previous one.

    Attributes:
        map_x, map_y: ``(h, w)`` float32 source coordinates in the previous frame (for ``cv2.remap``).
        trust: ``(h, w)`` float32 in 0..1: 1 where the previous frame, warped, shows the same lightness as
            the current one; near 0 where it does not (occlusion, a wrong flow) or the source lies outside.
        residual: mean absolute lightness difference (L units) between the current frame and the warped
            previous one, over the pixels whose source lies inside the frame.
    """

    map_x: np.ndarray
    map_y: np.ndarray
    trust: np.ndarray
    residual: float

    def warp(self, maps: np.ndarray) -> np.ndarray:
        """Previous-frame maps ``(C, h, w)`` float32 seen from the current frame (bilinear)."""
        return np.stack(
            [
                cv2.remap(m, self.map_x, self.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                for m in maps
            ]
        )


def estimate_motion(previous: np.ndarray, current: np.ndarray) -> Motion:
    """Dense motion from ``previous`` to ``current``, both ``(h, w)`` float32 lightness in 0..100.

    Raises:
        ValueError: the maps differ in shape or are not two-dimensional.
    """
    if previous.shape != current.shape or current.ndim != 2:
        raise ValueError(f"lightness maps must be (h, w) of one shape, got {previous.shape}, {current.shape}")
    prev8 = np.clip(previous * _LIGHTNESS_TO_BYTE, 0, 255).astype(np.uint8)
    cur8 = np.clip(current * _LIGHTNESS_TO_BYTE, 0, 255).astype(np.uint8)
    height, width = current.shape
    if min(height, width) < 8:  # DIS needs a few pixels of image per patch; a tiny map is taken as still
        flow = np.zeros((height, width, 2), np.float32)
    else:
        flow = _dis().calc(cur8, prev8, None)  # for each current pixel, its displacement into previous
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    map_x = grid_x + flow[..., 0]
    map_y = grid_y + flow[..., 1]
    inside = (map_x >= -0.5) & (map_x <= width - 0.5) & (map_y >= -0.5) & (map_y <= height - 0.5)
    warped = cv2.remap(
        previous.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    difference = np.abs(warped - current)
    trust = np.where(inside, 1.0 / (1.0 + (difference / TRUST_LIGHTNESS) ** 2), 0.0).astype(np.float32)
    residual = float(difference[inside].mean()) if inside.any() else float("inf")
    return Motion(map_x, map_y, trust, residual)
