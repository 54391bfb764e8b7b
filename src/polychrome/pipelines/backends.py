"""Which runtime colors: PyTorch (the ``polychrome[torch]`` install) or ONNX Runtime (the base install).

``auto`` takes PyTorch where it is installed (unless the model has only its ONNX file), else ONNX Runtime; a
choice that cannot be had is refused in one line that says what to install or export. Precision ``int8``
is the model's ``model-int8.onnx`` on ONNX Runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from polychrome._model_files import INT8_ONNX_NAME, ONNX_NAME, WEIGHTS_NAME

Backend = Literal["onnx", "torch"]
BACKENDS = ("auto", "onnx", "torch")


def torch_installed() -> bool:
    """Whether PyTorch can be imported (it is imported, then; the PyTorch path needs it anyway)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def model_files(path: Path, precision: str = "fp32") -> tuple[Path | None, Path | None]:
    """The PyTorch weights and the ONNX file of a model folder (or of a bare ``.onnx`` file), None where
    absent; at precision ``int8``, the int8 ONNX file and no PyTorch weights."""
    if path.is_file():
        return None, path
    if precision == "int8":
        quantized = path / INT8_ONNX_NAME
        return None, (quantized if quantized.is_file() else None)
    weights, exported = path / WEIGHTS_NAME, path / ONNX_NAME
    return (weights if weights.is_file() else None), (exported if exported.is_file() else None)


def choose_backend(
    requested: str, path: Path, *, has_weights: bool, has_onnx: bool, precision: str = "fp32"
) -> Backend:
    """The backend that colors with the model at ``path`` (``has_onnx``: the file of ``precision``).

    Raises:
        ValueError: an unknown backend, PyTorch asked for where it is not installed, or for int8.
        FileNotFoundError: the model lacks the file that the backend needs.
    """
    if requested not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {requested!r}")
    if precision == "int8":
        if requested == "torch":
            raise ValueError("precision int8 runs on ONNX Runtime: use backend 'onnx' or 'auto'")
        if not has_onnx:
            raise FileNotFoundError(
                f"{path}: no {INT8_ONNX_NAME}; make one with `polychrome export {path} -o "
                f"{path / INT8_ONNX_NAME} --int8 PHOTOS` where polychrome[torch] is installed"
            )
        return "onnx"
    torch_ok = requested != "onnx" and torch_installed()
    if requested == "auto":
        # A folder with neither file goes to PyTorch, whose loader names the missing weights.
        requested = "torch" if torch_ok and (has_weights or not has_onnx) else "onnx"
    if requested == "torch":
        if path.is_file():
            raise FileNotFoundError(f"{path}: an ONNX file; backend 'torch' needs a model folder")
        if not torch_ok:
            raise ValueError("backend 'torch' needs PyTorch: pip install 'polychrome[torch]'")
        return "torch"
    if not has_onnx:
        raise FileNotFoundError(
            f"{path}: no {ONNX_NAME} for ONNX Runtime (and PyTorch is not installed); make one with "
            f"`polychrome export {path} -o {path / ONNX_NAME}` where polychrome[torch] is installed"
        )
    return "onnx"
