"""The files of a saved model folder, read without PyTorch: ``config.json`` beside ``model.safetensors``
(the PyTorch weights), ``model.onnx`` (the same model for ONNX Runtime, made by ``polychrome export``) and
perhaps ``model-int8.onnx`` (its int8 copy, ``polychrome export --int8``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
ONNX_NAME = "model.onnx"
INT8_ONNX_NAME = "model-int8.onnx"


def read_config(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / CONFIG_NAME
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path}: no such file; a model folder holds {CONFIG_NAME} and {WEIGHTS_NAME}"
        ) from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
