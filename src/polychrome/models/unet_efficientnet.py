"""U-Net on an EfficientNet-Lite encoder (Lite0, or the wider and deeper Lite2): L in, ab out, as a
distribution over ab bins or by regression.

The encoder starts from ImageNet weights, which already know what a dog or a sky looks like in gray; the
light decoder (one 1x1 fuse and one 3x3 conv per level) brings the prediction back to half the input
resolution, which is fine for ab: chroma carries far less detail than lightness, and the full-resolution L
of the photo is kept as it is.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from polychrome.models._registry import register_model
from polychrome.models.base import (
    AB_RANGE,
    ColorizationModel,
    PaletteArg,
    classification_centers,
    decoding_options,
)
from polychrome.models.efficientnet_lite import EfficientNetLiteEncoder, load_imagenet_weights
from polychrome.models.layers import ConvNormAct, UpBlock, freeze_batchnorm_statistics


class EfficientUNet(ColorizationModel):
    """EfficientNet-Lite encoder + U-Net decoder with a classification or regression head.

    Args:
        head: ``"classification"`` (logits over in-gamut ab bins, decoded by annealed mean) or
            ``"regression"``.
        decoder_channels: channels at strides 16, 8, 4 and 2; each level also takes the encoder's features
            at its stride (their channels are the encoder's :attr:`~.EfficientNetLiteEncoder.channels`).
        ab_grid: spacing of the ab bin grid (classification).
        num_bins: number of bins; given when rebuilding a saved model (the bin centres then come from its
            weights), left ``None`` to derive the bins from ``ab_grid``.
        decode_method, decode_temperature, decode_k: default decoding of the bin distribution.
        norm: decoder normalisation, ``"group"`` or ``"batch"`` (see :func:`.layers.norm_layer`).
        chroma_gain: regression only: factor on the predicted ab. A regression model predicts the average
            of the colors an object could have, which is duller than any of them; a gain chosen on
            validation photos gives back the lost chroma (the user's saturation control acts on top).
        freeze_encoder_bn: keep the encoder's batch-norm statistics (ImageNet's) fixed during training.
            With ``norm="group"`` the network then has no batch statistics at all: it computes exactly the
            same function in training and inference, at any scale and sharpness.
        palette: classify over the colors of a K-means palette instead of the grid (classification): a
            file from ``polychrome palette`` or ``[[a, b], ...]`` in Lab units; kept in ``init_args`` as the
            pairs, so a saved model does not need the file.
        encoder_variant: ``"lite0"`` or ``"lite2"`` (:data:`.efficientnet_lite.VARIANTS`).
    """

    input_multiple = 32
    output_stride = 2

    def __init__(
        self,
        head: str = "classification",
        decoder_channels: tuple[int, int, int, int] = (192, 128, 64, 32),
        ab_grid: int = 10,
        num_bins: int | None = None,
        decode_method: str = "annealed_mean",
        decode_temperature: float = 0.38,
        decode_k: int = 5,
        norm: str = "group",
        freeze_encoder_bn: bool = True,
        chroma_gain: float = 1.0,
        palette: PaletteArg = None,
        encoder_variant: str = "lite0",
    ) -> None:
        super().__init__()
        if head not in ("classification", "regression"):
            raise ValueError(f"head must be 'classification' or 'regression', got {head!r}")
        self.head_type = head
        self.encoder = EfficientNetLiteEncoder(encoder_variant)
        enc = self.encoder.channels
        c16, c8, c4, c2 = decoder_channels
        self.freeze_encoder_bn = freeze_encoder_bn
        self.chroma_gain = chroma_gain
        self.bridge = ConvNormAct(enc[4], c16, kernel=1, norm=norm)
        self.up16 = UpBlock(c16, enc[3], c16, norm)
        self.up8 = UpBlock(c16, enc[2], c8, norm)
        self.up4 = UpBlock(c8, enc[1], c4, norm)
        self.up2 = UpBlock(c4, enc[0], c2, norm)
        if head == "classification":
            centers = classification_centers(ab_grid, num_bins, palette)
            num_bins = int(centers.shape[0])
            self.register_buffer("ab_centers", centers)
            self.head = nn.Conv2d(c2, num_bins, 1)
        else:
            if palette is not None:
                raise ValueError("a palette is for the classification head")
            self.register_buffer("ab_centers", torch.zeros(0, 2))
            self.head = nn.Conv2d(c2, 2, 1)
        self.decode_options = decoding_options(decode_method, decode_temperature, decode_k)
        self.init_args = {
            "head": head,
            "decoder_channels": list(decoder_channels),
            "ab_grid": ab_grid,
            "num_bins": num_bins if head == "classification" else None,
            "decode_method": decode_method,
            "decode_temperature": decode_temperature,
            "decode_k": decode_k,
            "norm": norm,
            "freeze_encoder_bn": freeze_encoder_bn,
            "chroma_gain": chroma_gain,
            "palette": self.ab_centers.tolist() if palette is not None else None,
            "encoder_variant": encoder_variant,
        }

    def train(self, mode: bool = True) -> EfficientUNet:
        super().train(mode)
        if mode and self.freeze_encoder_bn:
            freeze_batchnorm_statistics(self.encoder)
        return self

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        """Raw head output at half resolution: logits ``(B, Q, H/2, W/2)`` or normalised ab in -1..1."""
        return self.decode(self.encoder(lightness / 100.0))

    def decode(self, features: list[torch.Tensor]) -> torch.Tensor:
        """The head's raw output from the encoder's pyramid (strides 2 to 32)."""
        f2, f4, f8, f16, f32 = features
        x = self.bridge(f32)
        x = self.up16(x, f16)
        x = self.up8(x, f8)
        x = self.up4(x, f4)
        x = self.up2(x, f2)
        out = self.head(x)
        return out if self.head_type == "classification" else torch.tanh(out)

    def predict_ab(self, lightness: torch.Tensor, **decode_options: Any) -> torch.Tensor:
        raw = self.forward(lightness)
        if self.head_type == "regression":
            return raw.float() * (AB_RANGE * self.chroma_gain)
        return self.decode_logits(raw, **decode_options)


def _build(
    architecture: str, pretrained_encoder: bool, cls: type[EfficientUNet] = EfficientUNet, **kwargs: Any
) -> Any:
    model = cls(**kwargs)
    model.architecture = architecture
    if pretrained_encoder:
        load_imagenet_weights(model.encoder)
    return model


@register_model
def effunet_lite0_cls(pretrained_encoder: bool = False, **kwargs: Any) -> EfficientUNet:
    """Classification over 261 ab bins, rebalanced cross-entropy, annealed-mean decoding; over the K colors
    of a K-means palette instead with ``palette=`` (a file from ``polychrome palette``)."""
    return _build("effunet_lite0_cls", pretrained_encoder, **{"head": "classification", **kwargs})


@register_model
def effunet_lite0_reg(pretrained_encoder: bool = False, **kwargs: Any) -> EfficientUNet:
    """Regression of ab with a bounded (tanh) output."""
    return _build("effunet_lite0_reg", pretrained_encoder, **{"head": "regression", **kwargs})


@register_model
def effunet_tiny_cls(pretrained_encoder: bool = False, **kwargs: Any) -> EfficientUNet:
    """Narrow decoder for tests; same code path as the full model."""
    defaults = {"head": "classification", "decoder_channels": (16, 16, 16, 16)}
    return _build("effunet_tiny_cls", pretrained_encoder, **{**defaults, **kwargs})


@register_model
def effunet_tiny_reg(pretrained_encoder: bool = False, **kwargs: Any) -> EfficientUNet:
    """Narrow regression decoder for tests."""
    defaults = {"head": "regression", "decoder_channels": (16, 16, 16, 16)}
    return _build("effunet_tiny_reg", pretrained_encoder, **{**defaults, **kwargs})


@register_model
def effunet_lite2_cls(pretrained_encoder: bool = False, **kwargs: Any) -> EfficientUNet:
    """effunet_lite0_cls on the EfficientNet-Lite2 encoder (width x1.1, depth x1.2)."""
    defaults = {"head": "classification", "encoder_variant": "lite2"}
    return _build("effunet_lite2_cls", pretrained_encoder, **{**defaults, **kwargs})


@register_model
def effunet_lite2_reg(pretrained_encoder: bool = False, **kwargs: Any) -> EfficientUNet:
    """effunet_lite0_reg on the EfficientNet-Lite2 encoder (width x1.1, depth x1.2)."""
    defaults = {"head": "regression", "encoder_variant": "lite2"}
    return _build("effunet_lite2_reg", pretrained_encoder, **{**defaults, **kwargs})
