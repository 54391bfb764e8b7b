"""int8 weights and activations for an exported model: ONNX Runtime's static quantisation, calibrated on
photos, with the network's first convolutions kept in float.

The graph of :func:`~polychrome.export.onnx.export_onnx` is quantised in QDQ form (per-channel int8 weights,
uint8 activations whose ranges are the minimum and maximum seen on the calibration photos), so ONNX Runtime
runs its convolutions on integer kernels. Quantising every convolution cost the built-in model 0.1 dB PSNR
on the development set; keeping the first three (the encoder's stem and first block, where the input's L
is still at full detail) in float left PSNR where it was and kept most of the speed (BENCHMARKS section 12).

The weights use 7 of their 8 bits: x86 CPUs without VNNI multiply uint8 by int8 with a 16-bit sum of pairs
that full-range weights can overflow, and 7-bit ones cannot; it cost nothing measurable here in speed or
quality. The result colors close to the float model, not equal to it, so it is
an option beside ``model.onnx``, never its replacement.

A model that takes color hints is refused (:func:`refuse_hint_model`): calibration shows the network
photos' L alone, so the ranges of the activations that hints move would be set without any hints, and a
hinted color clipped to them.

Example:
    >>> quantize_onnx("model.onnx", "model-int8.onnx", list(calibration_lightness(photos)))  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from polychrome._atomic import atomic_write
from polychrome.export.onnx import INPUT_NAME

CALIBRATION_SIZE = 256  # the default render size: the inputs the network sees most
KEEP_FLOAT = 3  # leading convolutions left in float (see the module docstring)


def refuse_hint_model(architecture: str, takes_hints: bool) -> None:
    """Raise ValueError, in one line, for a model that takes color hints (see the module docstring)."""
    if takes_hints:
        raise ValueError(
            f"{architecture} takes color hints, which int8 calibration does not cover (it shows the "
            "network no hints); export it in float, without --int8"
        )


def calibration_lightness(photos: Iterable[np.ndarray], size: int = CALIBRATION_SIZE) -> Iterator[np.ndarray]:
    """L ``(1, 1, size, size)`` float32 of each photo as the pipeline renders it at render size ``size``
    (shorter side ``size``), centre-cropped square; a panorama too long to render that tall is passed over.

    ``photos``: ``(H, W, 3)`` uint8 or float in 0..1 (gray photos serve as well as color ones: the network
    sees only L). ``size`` must be a multiple of the model's input multiple.
    """
    from polychrome.pipelines.numpy_path import render_lightness
    from polychrome.pipelines.render_size import render_shape

    for photo in photos:
        rh, rw = render_shape(*photo.shape[:2], size)
        if min(rh, rw) < size:
            continue
        lightness = render_lightness(photo, (rh, rw), "bilinear").astype(np.float32)
        top, left = (rh - size) // 2, (rw - size) // 2
        yield np.ascontiguousarray(lightness[top : top + size, left : left + size])[None, None]


def quantize_onnx(
    source: str | Path,
    path: str | Path,
    calibration: Sequence[np.ndarray],
    keep_float: int = KEEP_FLOAT,
) -> Path:
    """Write an int8 copy of the exported model ``source`` at ``path``, atomically.

    Args:
        source: an ONNX file that ``polychrome export`` wrote (its metadata travels along, with
            ``precision: int8`` added).
        path: the file to write.
        calibration: network inputs, L ``(1, 1, H, W)`` in 0..100 (:func:`calibration_lightness`); a hundred
            photos settle the ranges.
        keep_float: how many of the graph's first convolutions stay in float.

    Raises:
        ValueError: no calibration inputs, or a graph that takes color hints.
    """
    import onnx  # the export extra's
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    original = onnx.load(source, load_external_data=False)
    metadata = {entry.key: entry.value for entry in original.metadata_props}
    refuse_hint_model(metadata.get("architecture", str(source)), metadata.get("takes_hints") == "true")
    if not calibration:
        raise ValueError("quantising needs calibration photos; none were given")

    class Inputs(CalibrationDataReader):
        def __init__(self) -> None:
            self.remaining = iter(calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            lightness = next(self.remaining, None)
            return None if lightness is None else {INPUT_NAME: lightness}

    with tempfile.TemporaryDirectory() as folder, _quiet_root_logger():
        prepared, quantized = Path(folder) / "prepared.onnx", Path(folder) / "int8.onnx"
        quant_pre_process(str(source), str(prepared))
        convolutions = [node.name for node in onnx.load(prepared).graph.node if node.op_type == "Conv"]
        quantize_static(
            str(prepared),
            str(quantized),
            Inputs(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=True,
            nodes_to_exclude=convolutions[:keep_float],
        )
        proto = onnx.load(quantized)
    metadata["precision"] = "int8"
    metadata["float_convolutions"] = str(keep_float)
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    data = proto.SerializeToString()
    path = Path(path)
    atomic_write(path, lambda handle: handle.write(data))
    return path


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """ONNX Runtime's quantiser warns on the root logger about every shape tensor it leaves alone (dozens of
    lines that ask nothing of the user); its errors still show."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
