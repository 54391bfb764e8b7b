"""Saving and loading models as ``model.safetensors`` + ``config.json`` (no pickles)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save

from polychrome import __version__
from polychrome._atomic import atomic_write
from polychrome._model_files import CONFIG_NAME, INT8_ONNX_NAME, ONNX_NAME, WEIGHTS_NAME, read_config
from polychrome.models._registry import create_model
from polychrome.models.base import ColorizationModel

logger = logging.getLogger(__name__)


def save_pretrained(
    model: ColorizationModel,
    directory: str | Path,
    extra: dict[str, Any] | None = None,
    *,
    half_weights: bool = False,
) -> Path:
    """Write the model's weights and everything needed to rebuild it; each file is written atomically.

    ONNX files already in ``directory`` were exported from the weights being replaced, so they are removed:
    ``backend="auto"`` colors with ``model.onnx`` where it is present, and must not color with a stale one.

    ``half_weights`` stores the parameters in float16: half the file, for shipping. The model loads and
    computes in float32 as before, with its weights rounded to 11 significant bits; an ONNX file exported
    from the saved folder computes with the same rounded weights, so the two backends still agree to float
    rounding. Buffers (normalisation statistics, which can be tiny) stay in float32.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in (directory / ONNX_NAME, directory / INT8_ONNX_NAME):
        if stale.is_file():
            logger.warning("%s: removed (exported from the weights now replaced); export it again", stale)
            stale.unlink()
    halved = (
        {name for name, value in model.named_parameters() if value.is_floating_point()}
        if half_weights
        else set()
    )
    state = {
        k: (v.detach().half() if k in halved else v.detach()).cpu().contiguous()
        for k, v in model.state_dict().items()
    }
    atomic_write(directory / WEIGHTS_NAME, lambda handle: handle.write(save(state)))
    config = {
        "architecture": model.architecture,
        "init_args": model.init_args,
        "polychrome_version": __version__,
        **(extra or {}),
    }
    text = json.dumps(config, indent=2, sort_keys=True) + "\n"
    atomic_write(directory / CONFIG_NAME, lambda handle: handle.write(text.encode()))
    return directory


def config_extras(config: dict[str, Any]) -> dict[str, Any]:
    """What a saved ``config.json`` holds beyond what :func:`save_pretrained` writes itself (training record,
    metrics, rendering settings...): the ``extra`` that keeps it when the model is saved again."""
    return {k: v for k, v in config.items() if k not in ("architecture", "init_args", "polychrome_version")}


def load_pretrained(directory: str | Path) -> ColorizationModel:
    """Rebuild a model saved by :func:`save_pretrained`, in eval mode, fp32, on the CPU."""
    directory = Path(directory)
    config = read_config(directory)
    model = create_model(config["architecture"], pretrained_encoder=False, **config.get("init_args", {}))
    weights = directory / WEIGHTS_NAME
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: no such file")
    state = load_file(weights)
    model.load_state_dict(state, strict=True)
    return model.eval()


def save_with_init_args(
    source: str | Path, target: str | Path, changes: dict[str, Any], record: dict[str, Any] | None = None
) -> Path:
    """Copy the saved model at ``source`` to ``target`` with some constructor arguments changed (e.g. a
    decoding default tuned after training); the weights stay as they are, and ``record`` (what was changed,
    by what measurement) is kept in config.json under ``init_args_changed``."""
    config = read_config(source)
    model = load_pretrained(source)
    try:
        rebuilt = create_model(config["architecture"], **{**config.get("init_args", {}), **changes})
    except TypeError as err:
        raise ValueError(
            f"{source}: the model has no such argument(s) {', '.join(sorted(changes))} ({err})"
        ) from None
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    extra = config_extras(config)
    extra["init_args_changed"] = {"changes": changes, **(record or {})}
    return save_pretrained(rebuilt, target, extra)
