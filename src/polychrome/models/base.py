"""What every colorization model offers, whatever its family.

A model speaks real Lab units: it takes L in 0..100 and :meth:`ColorizationModel.predict_ab` returns ab in
Lab units; any normalisation lives inside. Its constructor arguments are kept in :attr:`init_args` so a saved
model can be rebuilt exactly from ``config.json``.

A classification model predicts logits over ab bins whose centres are its ``ab_centers`` buffer ``(Q, 2)``:
by default the in-gamut cells of a regular grid, or the colors of a K-means palette (``palette``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from polychrome.color.decode import DECODERS, decode
from polychrome.color.palette import as_palette
from polychrome.color.quantize import in_gamut_ab_bins

AB_RANGE = 110.0  # bound of a regression model's output (tanh x AB_RANGE), in Lab units

PaletteArg = str | Path | Sequence[Sequence[float]] | None


class ColorizationModel(nn.Module):
    #: registered name of the variant, set by the builder
    architecture: str = ""
    #: "classification" (logits over ab bins) or "regression" (ab directly)
    head_type: str = ""
    #: input height and width must be multiples of this
    input_multiple: int = 32
    #: the raw output is this many times smaller than the input
    output_stride: int = 1
    #: whether ``forward`` and ``predict_ab`` take a hint map (:mod:`polychrome.color.hint_map`)
    takes_hints: bool = False

    def __init__(self) -> None:
        super().__init__()
        self.init_args: dict[str, Any] = {}
        #: default decoding of a classification model's logits (see :func:`decoding_options`)
        self.decode_options: dict[str, Any] = {}

    def predict_ab(self, lightness: torch.Tensor, **decode_options: Any) -> torch.Tensor:
        """ab in Lab units, ``(B, 2, H / output_stride, W / output_stride)``, for L ``(B, 1, H, W)``."""
        raise NotImplementedError

    def load_initial_weights(self, state: dict[str, torch.Tensor]) -> None:
        """Start from a saved model's weights (``model.init_from`` of a training config); every weight must
        fit. A family that adds layers to another's network accepts that network's weights without them."""
        self.load_state_dict(state, strict=True)

    def decode_logits(self, logits: torch.Tensor, **overrides: Any) -> torch.Tensor:
        """ab ``(B, 2, h, w)`` in Lab units from logits ``(B, Q, h, w)`` over :attr:`ab_centers`, by the
        model's default decoding with ``overrides`` (``method``, ``temperature``, ``k``) applied on top."""
        options = {**self.decode_options, **overrides}
        method = options.pop("method", "annealed_mean")
        if method != "annealed_mean":
            options.pop("temperature", None)
        if method != "topk_mean":
            options.pop("k", None)
        return decode(logits, self.ab_centers, method, **options)


def decoding_options(method: str, temperature: float, k: int) -> dict[str, Any]:
    """The decoding a classification model applies by default: ``annealed_mean`` at ``temperature`` (Zhang's
    0.38 sits between the desaturated mean and the noisy mode), ``topk_mean`` over each pixel's ``k`` most
    probable bins, ``mean`` or ``mode``."""
    if method not in DECODERS:
        raise ValueError(f"unknown decoding {method!r}; choose from {sorted(DECODERS)}")
    options: dict[str, Any] = {"method": method}
    if method == "annealed_mean":
        options["temperature"] = temperature
    elif method == "topk_mean":
        options["k"] = k
    return options


def classification_centers(ab_grid: int, num_bins: int | None, palette: PaletteArg) -> torch.Tensor:
    """The ab bin centres ``(Q, 2)`` of a classification head, in Lab units.

    A ``palette`` (a file from ``polychrome palette`` or ``[[a, b], ...]``) gives its colors; otherwise
    ``num_bins`` placeholders are made when a saved model is rebuilt (its weights then fill them), or the
    in-gamut cells of the ``ab_grid`` grid for a new one.
    """
    if palette is not None:
        centers = as_palette(palette)
        if num_bins is not None and num_bins != centers.shape[0]:
            raise ValueError(f"num_bins is {num_bins} but the palette has {centers.shape[0]} colors")
        return centers
    if num_bins is not None:
        return torch.zeros(num_bins, 2)
    return in_gamut_ab_bins(ab_grid)


def build_from_scratch(
    cls: type[ColorizationModel], architecture: str, pretrained_encoder: bool, **kwargs: Any
) -> Any:
    """Builder of a family with no pretrained encoder: refuses ``pretrained_encoder`` (a recipe written for
    another family) with a message saying what to set, and names the variant."""
    if pretrained_encoder:
        raise ValueError(f"{architecture} has no pretrained encoder; set model.pretrained_encoder=false")
    model = cls(**kwargs)
    model.architecture = architecture
    return model
