"""Building blocks shared by model families."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("batch", "group")
GROUPS = 8  # GroupNorm groups; every decoder width is a multiple of 8


def norm_layer(kind: str, channels: int) -> nn.Module:
    """``"batch"``: BatchNorm, whose eval-mode statistics are those of the training images' scale and
    sharpness. ``"group"``: GroupNorm, which normalises each image by itself, so a photo behaves the same in
    training and inference whatever its scale or blur."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(GROUPS if channels % GROUPS == 0 else 1, channels)
    raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {kind!r}")


class ConvNormAct(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int = 3, norm: str = "batch") -> None:
        super().__init__(
            nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False),
            norm_layer(norm, cout),
            nn.ReLU(inplace=True),
        )


class UpBlock(nn.Module):
    """Upsample x2 (bilinear), concatenate the skip features, fuse with a 1x1 then refine with a 3x3 conv."""

    def __init__(self, cin: int, cskip: int, cout: int, norm: str = "batch") -> None:
        super().__init__()
        self.in_channels, self.skip_channels = cin, cskip
        self.fuse = ConvNormAct(cin + cskip, cout, kernel=1, norm=norm)
        self.refine = ConvNormAct(cout, cout, kernel=3, norm=norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.refine(self.fuse(torch.cat((x, skip), dim=1)))


def freeze_batchnorm_statistics(module: nn.Module) -> None:
    """Put every BatchNorm layer of ``module`` in eval mode: it normalises with its stored statistics and
    stops updating them (its affine weights still train). Call after each ``train()``."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
