"""The evaluation protocol: which pixels of a photo every colorizer is judged on.

Each photo is resized so its shorter side is ``size`` pixels (Lanczos, aspect kept) and centre-cropped to
``size`` x ``size`` (default 256, the common protocol of colorization papers); the truth, the gray input
(the truth's L with a = b = 0) and every colorizer's output are compared on that crop, on sRGB in 0..1.
A colorizer that ran elsewhere is judged on its output put through the same resize and crop, so it must
keep the photo's aspect ratio. Photos that are already gray (mean chroma below 2 Lab units, as in
:mod:`polychrome.data.prepare`) are left out: there is no color to recover.

Example:
    >>> import numpy as np
    >>> protocol_crop(np.zeros((300, 400, 3), np.uint8), 256).shape
    (256, 256, 3)
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from polychrome.data.prepare import DEFAULT_GRAY_CHROMA, PrepareOptions, center_crop, resize_shorter_side

EVAL_SIZE = 256
MIN_SIZE = 32  # shorter side below this is no photo to judge colors on
ASPECT_TOLERANCE = 0.02  # relative; rounding of a resized output must not count as a different shape


def protocol_options(size: int = EVAL_SIZE, keep_gray: bool = False) -> PrepareOptions:
    """Options for :func:`polychrome.data.prepare.prepare_images` that apply the protocol to the truth."""
    if size < 16:
        raise ValueError(f"evaluation size must be at least 16 pixels, got {size}")
    return PrepareOptions(
        image_size=size, min_size=MIN_SIZE, gray_chroma=-1.0 if keep_gray else DEFAULT_GRAY_CHROMA
    )


def protocol_crop(rgb: np.ndarray, size: int = EVAL_SIZE) -> np.ndarray:
    """Shorter side to ``size``, then the centre square: uint8 ``(H, W, 3)`` -> ``(size, size, 3)``."""
    image = Image.fromarray(np.ascontiguousarray(rgb))
    return np.array(center_crop(resize_shorter_side(image, size), size), dtype=np.uint8)


def same_aspect(shape_a: tuple[int, int], shape_b: tuple[int, int]) -> bool:
    """Whether two ``(H, W)`` shapes have the same aspect ratio, up to rounding of a resize."""
    ratio_a, ratio_b = shape_a[1] / shape_a[0], shape_b[1] / shape_b[0]
    return abs(ratio_a - ratio_b) <= ASPECT_TOLERANCE * ratio_b
