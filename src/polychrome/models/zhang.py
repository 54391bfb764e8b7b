"""The classification CNN of Zhang, Isola and Efros, "Colorful Image Colorization" (ECCV 2016).

Eight VGG-style blocks of 3x3 convolutions, each conv followed by a ReLU and each of blocks 1-7 by a
normalisation layer: blocks 1-3 end in a stride-2 conv (1/8 resolution), blocks 5-6 are dilated by 2 to widen
the receptive field without losing resolution, block 8 starts with a transposed conv back to 1/4, and a 1x1
head gives logits over the ab bins at 1/4 of the input resolution (chroma needs little resolution; the
pipeline keeps the photo's own full-resolution L). With the default widths it has the paper's size (about
32 M parameters) so its speed can be compared with ours.

Two deliberate departures from the original: the normalisation is GroupNorm by default (batch-norm statistics
made a model's colors depend on the scale and sharpness of a photo; ``norm="batch"`` restores the original),
and the head predicts our 261 in-gamut bins (or a palette's colors) instead of the 313 cells of the gamut's
convex hull, 52 of which no sRGB color reaches (see :mod:`polychrome.color.quantize`).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from polychrome.models._registry import register_model
from polychrome.models.base import (
    ColorizationModel,
    PaletteArg,
    build_from_scratch,
    classification_centers,
    decoding_options,
)
from polychrome.models.layers import norm_layer

ZHANG_WIDTHS = (64, 128, 256, 512, 512, 512, 512, 256)
ZHANG_DEPTHS = (2, 2, 3, 3, 3, 3, 3, 3)  # convolutions per block; block 8 counts its transposed conv
DOWNSAMPLED_BLOCKS = (0, 1, 2)  # their last conv has stride 2
DILATED_BLOCKS = (4, 5)  # dilation 2
L_CENTER, L_SCALE = 50.0, 100.0  # Zhang's input normalisation: (L - 50) / 100


def _block(index: int, cin: int, width: int, depth: int, norm: str | None) -> nn.Sequential:
    layers: list[nn.Module] = []
    dilation = 2 if index in DILATED_BLOCKS else 1
    for j in range(depth):
        if index == 7 and j == 0:
            layers.append(nn.ConvTranspose2d(cin, width, 4, stride=2, padding=1))
        else:
            stride = 2 if index in DOWNSAMPLED_BLOCKS and j == depth - 1 else 1
            layers.append(nn.Conv2d(cin, width, 3, stride=stride, padding=dilation, dilation=dilation))
        layers.append(nn.ReLU(inplace=True))
        cin = width
    if norm is not None:
        layers.append(norm_layer(norm, width))
    return nn.Sequential(*layers)


class Zhang2016(ColorizationModel):
    """Zhang et al.'s colorization CNN: L in, logits over ab bins at 1/4 resolution.

    Args:
        widths: channels of blocks 1-8.
        depths: convolutions in blocks 1-8 (block 8's first is the transposed conv).
        ab_grid, num_bins, palette: the ab bins (:func:`.base.classification_centers`): the grid's in-gamut
            cells, or with ``palette`` (a file or ``[[a, b], ...]``) the colors of a K-means palette.
        decode_method, decode_temperature, decode_k: default decoding (Zhang's annealed mean at T = 0.38).
        norm: ``"group"`` (default) or ``"batch"`` (the original), after each of blocks 1-7.
    """

    head_type = "classification"
    input_multiple = 8
    output_stride = 4

    def __init__(
        self,
        widths: tuple[int, ...] = ZHANG_WIDTHS,
        depths: tuple[int, ...] = ZHANG_DEPTHS,
        ab_grid: int = 10,
        num_bins: int | None = None,
        palette: PaletteArg = None,
        decode_method: str = "annealed_mean",
        decode_temperature: float = 0.38,
        decode_k: int = 5,
        norm: str = "group",
    ) -> None:
        super().__init__()
        if len(widths) != 8 or len(depths) != 8 or min(depths) < 1:
            raise ValueError(
                f"widths and depths must give 8 blocks of at least one conv, got {widths}, {depths}"
            )
        blocks, cin = OrderedDict(), 1
        for i, (width, depth) in enumerate(zip(widths, depths, strict=True)):
            blocks[f"conv{i + 1}"] = _block(i, cin, width, depth, norm if i < 7 else None)
            cin = width
        self.blocks = nn.Sequential(blocks)
        centers = classification_centers(ab_grid, num_bins, palette)
        self.register_buffer("ab_centers", centers)
        self.head = nn.Conv2d(cin, centers.shape[0], 1)
        self.decode_options = decoding_options(decode_method, decode_temperature, decode_k)
        self.init_args = {
            "widths": list(widths),
            "depths": list(depths),
            "ab_grid": ab_grid,
            "num_bins": int(centers.shape[0]),
            "palette": centers.tolist() if palette is not None else None,
            "decode_method": decode_method,
            "decode_temperature": decode_temperature,
            "decode_k": decode_k,
            "norm": norm,
        }

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, Q, H/4, W/4)`` for L ``(B, 1, H, W)`` in 0..100, H and W multiples of 8."""
        return self.head(self.blocks((lightness - L_CENTER) / L_SCALE))

    def predict_ab(self, lightness: torch.Tensor, **decode_options: Any) -> torch.Tensor:
        return self.decode_logits(self.forward(lightness), **decode_options)


def _build(architecture: str, pretrained_encoder: bool, **kwargs: Any) -> Zhang2016:
    return build_from_scratch(Zhang2016, architecture, pretrained_encoder, **kwargs)


@register_model
def zhang2016_cls(pretrained_encoder: bool = False, **kwargs: Any) -> Zhang2016:
    """The paper's network (about 32 M parameters), GroupNorm, 261 in-gamut ab bins."""
    return _build("zhang2016_cls", pretrained_encoder, **kwargs)


@register_model
def zhang2016_tiny_cls(pretrained_encoder: bool = False, **kwargs: Any) -> Zhang2016:
    """Same blocks, strides and dilations with 8-16 channels, for tests."""
    return _build(
        "zhang2016_tiny_cls", pretrained_encoder, **{"widths": (8, 8, 16, 16, 16, 16, 16, 16), **kwargs}
    )
