"""A model exported by ``polychrome export``, run by ONNX Runtime: the network of the install without
PyTorch.

It offers what the pipeline asks of a :class:`~polychrome.models.ColorizationModel` (``input_multiple``,
``output_stride``, ``head_type``, ``takes_hints``, ``predict_ab``) on numpy arrays; the graph holds the
normalisation and, for a classification model, its default decoding (:mod:`polychrome.export.onnx`).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from polychrome.color.constants import HINT_CHANNELS
from polychrome.pipelines.calibration import RenderCalibration

_REQUIRED = ("architecture", "head_type", "input_multiple", "output_stride", "config")


def _pad_to_multiple(lightness: np.ndarray, multiple: int) -> np.ndarray:
    """Pad ``(B, 1, H, W)`` at the bottom and right as the PyTorch path does (reflected, or repeated where
    the photo is too small to reflect)."""
    h, w = lightness.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not (ph or pw):
        return lightness
    mode = "reflect" if ph < h and pw < w else "edge"
    return np.pad(lightness, ((0, 0), (0, 0), (0, ph), (0, pw)), mode=mode)


def _hint_input(hint_map: np.ndarray | None, lightness: np.ndarray, padded: np.ndarray) -> np.ndarray:
    """The graph's hint input for L ``(B, 1, H, W)`` and its ``padded`` copy: ``hint_map`` ``(B, 3, H, W)``
    padded with zeros (no hints there, as on PyTorch), or the all-zero map (no hints at all, as the model's
    own ``hints=None``) where it is None."""
    batch, _, h, w = lightness.shape
    if hint_map is None:
        return np.zeros((batch, HINT_CHANNELS, *padded.shape[-2:]), np.float32)
    if hint_map.shape != (batch, HINT_CHANNELS, h, w):
        raise ValueError(
            f"a hint map must be (B, {HINT_CHANNELS}, H, W) like L {tuple(lightness.shape)}, "
            f"got {tuple(hint_map.shape)}"
        )
    ph, pw = padded.shape[-2] - h, padded.shape[-1] - w
    return np.pad(np.asarray(hint_map, np.float32), ((0, 0), (0, 0), (0, ph), (0, pw)))


class OnnxNetwork:
    """An exported model in an ONNX Runtime session on the CPU.

    Args:
        path: the ``.onnx`` file.
        threads: ONNX Runtime's threads for one call (default: every core).

    Raises:
        ValueError: the file is not an ONNX model that ``polychrome export`` wrote (one line naming it).
    """

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.log_severity_level = 3  # warnings about unused initialisers are ours to fix, not the user's
        # Threads that spin while they wait made PyTorch up to 5x slower beside another busy process and saved
        # nothing on an idle machine (BENCHMARKS section 7); ONNX Runtime's pool spins too unless told not to.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # noqa: BLE001 - ONNX Runtime raises its own types; the reason is what matters
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ValueError(f"{self.path}: not a loadable ONNX model ({reason})") from None
        metadata = self.session.get_modelmeta().custom_metadata_map
        missing = [key for key in _REQUIRED if key not in metadata]
        if missing:
            raise ValueError(
                f"{self.path}: not a polychrome export (no {', '.join(missing)} in its metadata); "
                "make one with `polychrome export MODEL -o FILE.onnx`"
            )
        self.architecture = metadata["architecture"]
        self.head_type = metadata["head_type"]
        self.input_multiple = int(metadata["input_multiple"])
        self.output_stride = int(metadata["output_stride"])
        self.config: dict[str, Any] = json.loads(metadata["config"])
        self.chroma_gain = float(self.config.get("init_args", {}).get("chroma_gain", 1.0))
        self.precision = metadata.get("precision", "fp32")  # int8: a copy by `polychrome export --int8`
        # A hint model's graph takes its hint map as a second input; a plain graph may lack the key.
        self.takes_hints = metadata.get("takes_hints", "false") == "true"
        self._inputs = [node.name for node in self.session.get_inputs()]

    @property
    def render(self) -> RenderCalibration:
        """The rendering settings saved with the model."""
        return RenderCalibration.from_config(self.config, str(self.path))

    def predict_ab(self, lightness: np.ndarray, hint_map: np.ndarray | None = None) -> np.ndarray:
        """ab in Lab units ``(B, 2, ceil(H / s), ceil(W / s))`` float32 for L ``(B, 1, H, W)`` in 0..100 of
        any size (padded here to the input multiple, the padding's part cut off again).

        ``hint_map``: ``(B, 3, H, W)`` for a graph that takes hints (a and b in Lab units where hinted, else
        0, and the 0/1 mask; :mod:`polychrome.color.hint_map`); None gives it the all-zero map, no hints.

        Raises:
            ValueError: a hint map for a graph that takes none, or one whose shape is not L's with 3 channels.
        """
        h, w = lightness.shape[-2:]
        padded = _pad_to_multiple(np.ascontiguousarray(lightness, np.float32), self.input_multiple)
        feed = {self._inputs[0]: padded}
        if self.takes_hints:
            feed[self._inputs[1]] = _hint_input(hint_map, lightness, padded)
        elif hint_map is not None:
            raise ValueError(f"{self.path}: {self.architecture} takes no hint map")
        ab = self.session.run(None, feed)[0]
        s = self.output_stride
        return ab[..., : math.ceil(h / s), : math.ceil(w / s)]
