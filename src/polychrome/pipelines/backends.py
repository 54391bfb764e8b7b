"""Which runtime colors: ONNX Runtime (the base install) or PyTorch (the ``polychrome[torch]`` install).

``auto`` takes ONNX Runtime wherever it gives what was asked, and PyTorch only where it is needed: a
device other than the CPU (``cuda``, ``mps``, or ``auto`` finding a GPU), a precision other than fp32
(``bf16-mixed``, ``fp16-mixed``), a classification model's decoding options (the ONNX graph holds its default
decoding), or a model folder without ``model.onnx`` (a training run's folder, say; a hint-conditioned model
with one colors on ONNX Runtime like any other). On a CPU ONNX Runtime colors the same photos within one
8-bit level, several times faster and in a fraction of the memory (BENCHMARKS section 12): installing
PyTorch to train must not make colorizing slower. A ``Colorizer`` put on ONNX Runtime by ``auto`` moves to
PyTorch when later asked for what only PyTorch does (``.to("cuda")``, decoding options), by the same rule.

A choice that cannot be had is refused in one line that says what to install or export. Precision ``int8`` is
the model's ``model-int8.onnx`` on ONNX Runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from polychrome._model_files import INT8_ONNX_NAME, ONNX_NAME, WEIGHTS_NAME

Backend = Literal["onnx", "torch"]
BACKENDS = ("auto", "onnx", "torch")
# What ONNX Runtime runs: the CPU (``auto`` where it finds no GPU), and the file's own precision.
ONNX_DEVICES = ("cpu", "auto")
ONNX_PRECISIONS = ("fp32", "torch.float32", "int8")


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


def torch_needed(device: str = "cpu", precision: str = "fp32", decoding: bool = False) -> str | None:
    """Why only PyTorch can color as asked, or None where ONNX Runtime can: ``device`` and ``precision`` by
    name (``str()`` of a ``torch.device`` or ``torch.dtype`` too); ``decoding``: a classification model's
    decoding options are asked."""
    if str(device) not in ONNX_DEVICES:
        return f"device {str(device)!r}"
    if str(device) == "auto" and torch_installed():
        from polychrome.devices import resolve_device

        if resolve_device("auto").type != "cpu":
            return "device 'auto' found a GPU"
    if str(precision) not in ONNX_PRECISIONS:
        return f"precision {str(precision)!r}"
    if decoding:
        return "decoding options"
    return None


def choose_backend(
    requested: str,
    path: Path,
    *,
    has_weights: bool,
    has_onnx: bool,
    precision: str = "fp32",
    device: str = "cpu",
    decoding: bool = False,
) -> Backend:
    """The backend that colors with the model at ``path`` (``has_onnx``: the file of ``precision``) on
    ``device``, with a classification model's decoding options where ``decoding``; ``auto`` by the rule of
    the module docstring.

    >>> choose_backend("auto", Path("m"), has_weights=True, has_onnx=True)  # doctest: +SKIP
    'onnx'

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
    if requested == "auto":
        # A folder with neither file goes to PyTorch, whose loader names the missing weights; a model with
        # only its ONNX file stays on ONNX Runtime, which refuses what it cannot do in its own words. PyTorch
        # is imported only where it is needed (a second or more of start-up).
        needed = not has_onnx or (has_weights and torch_needed(device, precision, decoding) is not None)
        requested = "torch" if needed and torch_installed() else "onnx"
    if requested == "torch":
        if path.is_file():
            raise FileNotFoundError(f"{path}: an ONNX file; backend 'torch' needs a model folder")
        if has_onnx and not has_weights:
            raise FileNotFoundError(
                f"{path}: no {WEIGHTS_NAME}, only {ONNX_NAME}: this model colors on ONNX Runtime "
                "(backend 'onnx' or 'auto')"
            )
        if not torch_installed():
            raise ValueError("backend 'torch' needs PyTorch: pip install 'polychrome[torch]'")
        return "torch"
    if not has_onnx:
        raise FileNotFoundError(
            f"{path}: no {ONNX_NAME} for ONNX Runtime (and PyTorch is not installed); make one with "
            f"`polychrome export {path} -o {path / ONNX_NAME}` where polychrome[torch] is installed"
        )
    return "onnx"
