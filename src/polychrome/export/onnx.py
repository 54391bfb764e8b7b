"""A saved model as one ONNX file that ONNX Runtime colorizes with, no PyTorch needed.

The graph is the model's own :meth:`~polychrome.models.ColorizationModel.predict_ab`, traced from the same
PyTorch code that training and the PyTorch path run: the input normalisation, the network, a regression
model's chroma gain, and a classification model's default decoding of its ab bins (the annealed mean at
the model's temperature, say). Its input is L in 0..100, ``(B, 1, H, W)``, H and W multiples of the model's
``input_multiple``; its output is ab in Lab units at the output stride. Batch, height and width are dynamic.

What a runtime needs besides the graph travels in the file's metadata: the input multiple, the output
stride, the head, and the model's ``config.json`` (its rendering settings among it), so a ``.onnx`` file
colorizes on its own.

Example:
    >>> from polychrome.models import create_model
    >>> export_onnx(create_model("effunet_tiny_cls"), "tiny.onnx", {})  # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from polychrome import __version__
from polychrome._atomic import atomic_write
from polychrome.models.base import ColorizationModel

OPSET = 17
INPUT_NAME, OUTPUT_NAME = "lightness", "ab"
METADATA_KEYS = ("architecture", "head_type", "input_multiple", "output_stride", "config")


class _PredictAb(nn.Module):
    def __init__(self, model: ColorizationModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        return self.model.predict_ab(lightness)


def export_onnx(model: ColorizationModel, path: str | Path, config: dict[str, Any]) -> Path:
    """Write ``model`` (in eval mode, on the CPU, fp32) as an ONNX file at ``path``, atomically.

    Args:
        model: any registered family, classification or regression, but not one that takes color hints
            (refused: the graph has the one input L).
        path: the file to write.
        config: the model's ``config.json`` as a dict (kept in the metadata; ``{}`` for a bare model).
    """
    if model.takes_hints:
        raise ValueError(
            f"{model.architecture} takes color hints, which the ONNX graph does not carry; "
            "colorize with it on PyTorch (--backend torch)"
        )
    model = model.eval().float().cpu()
    multiple = model.input_multiple
    example = torch.linspace(0, 100, 2 * multiple * 3 * multiple).reshape(1, 1, 2 * multiple, 3 * multiple)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter is the one that needs no extra package; its deprecation is PyTorch's note
        # about the future, not something the user can act on.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _PredictAb(model),
            (example,),
            buffer,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={
                INPUT_NAME: {0: "batch", 2: "height", 3: "width"},
                OUTPUT_NAME: {0: "batch", 2: "ab_height", 3: "ab_width"},
            },
            opset_version=OPSET,
            dynamo=False,
        )
    import onnx  # the export extra's; colorizing reads the metadata through ONNX Runtime alone

    proto = onnx.load_from_string(buffer.getvalue())
    metadata = {
        "architecture": model.architecture,
        "head_type": model.head_type,
        "input_multiple": str(multiple),
        "output_stride": str(model.output_stride),
        "config": json.dumps(config, sort_keys=True),
        "polychrome_version": __version__,
    }
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "polychrome"
    data = proto.SerializeToString()
    path = Path(path)
    atomic_write(path, lambda handle: handle.write(data))
    return path
