"""What every colorization model offers, whatever its family.

A model speaks real Lab units: it takes L in 0..100 and :meth:`ColorizationModel.predict_ab` returns ab in
Lab units; any normalisation lives inside. Its constructor arguments are kept in :attr:`init_args` so a saved
model can be rebuilt exactly from ``config.json``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class ColorizationModel(nn.Module):
    #: registered name of the variant, set by the builder
    architecture: str = ""
    #: "classification" (logits over ab bins) or "regression" (ab directly)
    head_type: str = ""
    #: input height and width must be multiples of this
    input_multiple: int = 32
    #: the raw output is this many times smaller than the input
    output_stride: int = 1

    def __init__(self) -> None:
        super().__init__()
        self.init_args: dict[str, Any] = {}

    def predict_ab(self, lightness: torch.Tensor, **decode_options: Any) -> torch.Tensor:
        """ab in Lab units, ``(B, 2, H / output_stride, W / output_stride)``, for L ``(B, 1, H, W)``."""
        raise NotImplementedError
