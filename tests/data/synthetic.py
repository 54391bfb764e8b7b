"""Smooth, clearly colored test photos for the data tests, the same for a given seed on every machine."""

from __future__ import annotations

import numpy as np


def smooth_photo(seed: int, h: int, w: int, max_frequency: float) -> np.ndarray:
    """uint8 ``(h, w, 3)``: one sine wave per channel, up to ``max_frequency`` periods across the photo."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    channels = [
        np.sin(
            2
            * np.pi
            * (rng.uniform(0.5, max_frequency) * x + rng.uniform(0.5, max_frequency) * y + rng.uniform())
        )
        for _ in "rgb"
    ]
    return ((np.stack(channels, axis=2) * 0.45 + 0.5) * 255).astype(np.uint8)
