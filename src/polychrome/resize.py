"""Bringing a photo to the scale the network sees it at: one place for inference and for training data.

The inference pipeline brings every photo to the render size with :func:`resize_for_render`;
`polychrome prepare` (``enlarge="bilinear"`` or ``"bicubic"``) can enlarge small training photos with the
same code, so a model is trained on small photos exactly as it is later shown them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

ENLARGE_FILTERS = ("bilinear", "bicubic")


def resize_for_render(image: torch.Tensor, size: tuple[int, int], enlarge: str = "bilinear") -> torch.Tensor:
    """Bring photos ``(B, C, H, W)`` in 0..1 to ``size``: reduced with antialiased bilinear (each output
    pixel averages its whole footprint, so no aliasing), enlarged with ``enlarge``.

    Which filter enlarges is a model's own setting (:mod:`polychrome.pipelines.calibration`), bilinear unless
    its config says otherwise. Bicubic keeps more fine detail (it overshoots at sharp edges; the result is
    clamped to 0..1), which can change how much color a model dares on a photo it enlarges a lot, so the
    filter is chosen per model on validation photos (`polychrome calibrate --enlarge`).
    """
    # Imported here: the install without PyTorch reads ENLARGE_FILTERS and resizes with resample_np.
    import torch.nn.functional as F

    if enlarge not in ENLARGE_FILTERS:
        raise ValueError(f"enlarge must be one of {', '.join(ENLARGE_FILTERS)}, got {enlarge!r}")
    height, width = image.shape[-2:]
    if size == (height, width):
        return image
    if enlarge == "bilinear" or size[0] * size[1] <= height * width:
        return F.interpolate(image, size=size, mode="bilinear", antialias=True, align_corners=False)
    return F.interpolate(image, size=size, mode="bicubic", align_corners=False).clamp_(0.0, 1.0)
