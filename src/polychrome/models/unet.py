"""A plain U-Net (Ronneberger et al. 2015) that regresses ab from L, trained from scratch.

No pretrained encoder: an encoder of double 3x3 conv blocks with 2x2 max pooling between them, a decoder that
upsamples by 2x2 transposed convs, concatenates the encoder's features of the same resolution and refines
with a double conv, and a 1x1 head bounded by tanh x 110 (ab in Lab units stays in range without clipping,
and the gradient never stops at a clip). The output has the input's full resolution. This is the seeds'
regression model and the generator of the adversarial family (with a PatchGAN critic,
:mod:`polychrome.models.patchgan`).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from polychrome.models._registry import register_model
from polychrome.models.base import AB_RANGE, ColorizationModel, build_from_scratch
from polychrome.models.layers import ConvNormAct

UNET_WIDTHS = (64, 128, 256, 512, 1024)  # Ronneberger et al.'s widths, stride 1 to 16
L_CENTER, L_SCALE = 50.0, 50.0  # L 0..100 -> -1..1


class DoubleConv(nn.Sequential):
    def __init__(self, cin: int, cout: int, norm: str) -> None:
        super().__init__(ConvNormAct(cin, cout, 3, norm), ConvNormAct(cout, cout, 3, norm))


class UNetUp(nn.Module):
    """Transposed-conv x2 upsampling to the skip's width, concatenation with the skip, double conv."""

    def __init__(self, cin: int, cout: int, norm: str) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cout, 2, stride=2)
        self.conv = DoubleConv(2 * cout, cout, norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat((self.up(x), skip), dim=1))


class UNet(ColorizationModel):
    """U-Net regression of ab: L ``(B, 1, H, W)`` in, ab at full resolution out.

    Args:
        widths: channels at strides 1, 2, 4, ...; one pooling per width after the first, so H and W must be
            multiples of ``2 ** (len(widths) - 1)``.
        norm: ``"group"`` (default; the same function in training and inference at any scale) or ``"batch"``.
    """

    head_type = "regression"
    output_stride = 1

    def __init__(self, widths: tuple[int, ...] = UNET_WIDTHS, norm: str = "group") -> None:
        super().__init__()
        if len(widths) < 2:
            raise ValueError(f"a U-Net needs at least two widths, got {widths}")
        self.input_multiple = 2 ** (len(widths) - 1)
        self.stem = DoubleConv(1, widths[0], norm)
        self.down = nn.ModuleList(DoubleConv(a, b, norm) for a, b in zip(widths, widths[1:], strict=False))
        self.up = nn.ModuleList(UNetUp(b, a, norm) for a, b in zip(widths, widths[1:], strict=False))
        self.head = nn.Conv2d(widths[0], 2, 1)
        self.register_buffer("ab_centers", torch.zeros(0, 2))  # no bins: a regression model
        self.init_args = {"widths": list(widths), "norm": norm}

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        """Normalised ab ``(B, 2, H, W)`` in -1..1 (times 110 is Lab units)."""
        x = self.stem((lightness - L_CENTER) / L_SCALE)
        skips = []
        for down in self.down:
            skips.append(x)
            x = down(F.max_pool2d(x, 2))
        for up, skip in zip(reversed(self.up), reversed(skips), strict=True):
            x = up(x, skip)
        return torch.tanh(self.head(x))

    def predict_ab(self, lightness: torch.Tensor, **decode_options: Any) -> torch.Tensor:
        return self.forward(lightness).float() * AB_RANGE


def _build(architecture: str, pretrained_encoder: bool, **kwargs: Any) -> UNet:
    return build_from_scratch(UNet, architecture, pretrained_encoder, **kwargs)


@register_model
def unet_reg(pretrained_encoder: bool = False, **kwargs: Any) -> UNet:
    """Ronneberger's widths 64..1024 (about 31 M parameters), GroupNorm, tanh-bounded ab."""
    return _build("unet_reg", pretrained_encoder, **kwargs)


@register_model
def unet_tiny_reg(pretrained_encoder: bool = False, **kwargs: Any) -> UNet:
    """Three levels of 8-16 channels for tests; same code path as the full model."""
    return _build("unet_tiny_reg", pretrained_encoder, **{"widths": (8, 16, 16), **kwargs})
