"""The EfficientNet-Lite U-Net conditioned on color hints (Zhang et al. 2017, "Real-Time User-Guided Image
Colorization with Learned Deep Priors"): L plus a hint map in, ab out, by regression.

The hint map (:mod:`polychrome.color.hint_map`: a and b where hinted, a 0/1 mask) enters through one
convolution shaped like the encoder's stem, whose output is added to the stem convolution's: the same as
giving that convolution three more input channels, as Zhang et al. concatenate the hints to L, while the
ImageNet (or trained) stem filters keep their names and values. The hint convolution starts at zero, so a
new hint model computes exactly what the plain model with the same weights computes, and can start from a
trained :class:`~.unet_efficientnet.EfficientUNet`'s weights (:meth:`load_initial_weights`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from polychrome.color.hint_map import HINT_CHANNELS
from polychrome.models._registry import register_model
from polychrome.models.base import AB_RANGE
from polychrome.models.efficientnet_lite import STEM_CHANNELS
from polychrome.models.unet_efficientnet import EfficientUNet
from polychrome.models.unet_efficientnet import _build as _build_unet

# Zhang et al.'s code centres the mask (mask - 0.5): "no hint" is then a signal the network can weigh too,
# not the absence of any input.
MASK_CENTRE = 0.5
HINT_PREFIX = "hint_stem."


class HintEfficientUNet(EfficientUNet):
    """:class:`EfficientUNet` (regression head) that also takes a hint map.

    Args: those of :class:`EfficientUNet`; the head must be ``"regression"`` (the hint recipe is
    regression's: the network's ab against the truth's, the hints drawn from that truth).

    Inputs: L ``(B, 1, H, W)`` in 0..100 and ``hints`` ``(B, 3, H, W)`` (a and b in Lab units where hinted,
    0 elsewhere; mask 0/1), or None for no hints (the all-zero map).
    """

    takes_hints = True

    def __init__(self, head: str = "regression", **kwargs: Any) -> None:
        if head != "regression":
            raise ValueError(f"a hint model regresses ab: head must be 'regression', got {head!r}")
        super().__init__(head=head, **kwargs)
        stem = self.encoder._conv_stem
        self.hint_stem = nn.Conv2d(
            HINT_CHANNELS, STEM_CHANNELS, stem.kernel_size, stem.stride, stem.padding, bias=False
        )
        nn.init.zeros_(self.hint_stem.weight)

    def _hint_input(self, lightness: torch.Tensor, hints: torch.Tensor | None) -> torch.Tensor:
        batch, _, height, width = lightness.shape
        if hints is None:
            hints = lightness.new_zeros(batch, HINT_CHANNELS, height, width)
        elif hints.shape != (batch, HINT_CHANNELS, height, width):
            raise ValueError(
                f"hints must be (B, {HINT_CHANNELS}, H, W) like L {tuple(lightness.shape)}, "
                f"got {tuple(hints.shape)}"
            )
        ab, mask = hints[:, :2], hints[:, 2:]
        return torch.cat((ab / AB_RANGE, mask - MASK_CENTRE), dim=1).to(lightness.dtype)

    def forward(self, lightness: torch.Tensor, hints: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised ab in -1..1 at half resolution, ``(B, 2, H/2, W/2)``."""
        offset = self.hint_stem(self._hint_input(lightness, hints))
        return self.decode(self.encoder(lightness / 100.0, stem_offset=offset))

    def predict_ab(
        self, lightness: torch.Tensor, hints: torch.Tensor | None = None, **decode_options: Any
    ) -> torch.Tensor:
        """ab in Lab units ``(B, 2, H/2, W/2)`` for L and the hint map (see the class)."""
        return self.forward(lightness, hints).float() * (AB_RANGE * self.chroma_gain)

    def load_initial_weights(self, state: dict[str, torch.Tensor]) -> None:
        """A hint model's weights, or a plain model's of the same shape (the hint convolution then stays at
        zero, so the network starts as that model)."""
        own = self.state_dict()
        missing = [key for key in own if key not in state and not key.startswith(HINT_PREFIX)]
        unexpected = [key for key in state if key not in own]
        unlike = [key for key in state if key in own and state[key].shape != own[key].shape]
        if missing or unexpected or unlike:
            raise RuntimeError(
                f"the weights do not fit: missing {missing}, unexpected {unexpected}, other shapes {unlike}"
            )
        self.load_state_dict(state, strict=False)


def _build(architecture: str, pretrained_encoder: bool, **kwargs: Any) -> HintEfficientUNet:
    return _build_unet(architecture, pretrained_encoder, cls=HintEfficientUNet, **kwargs)


@register_model
def effunet_lite0_hint_reg(pretrained_encoder: bool = False, **kwargs: Any) -> HintEfficientUNet:
    """effunet_lite0_reg that also takes color hints (a hint map at the input resolution)."""
    return _build("effunet_lite0_hint_reg", pretrained_encoder, **kwargs)


@register_model
def effunet_tiny_hint_reg(pretrained_encoder: bool = False, **kwargs: Any) -> HintEfficientUNet:
    """Narrow hint-conditioned decoder for tests."""
    return _build(
        "effunet_tiny_hint_reg", pretrained_encoder, **{"decoder_channels": (16, 16, 16, 16), **kwargs}
    )
