"""Where tensors go and at what precision: the one place a device name is turned into a ``torch.device``
and checked, and the one list of precision names (training's and inference's alike).

A CPU-only PyTorch asked for CUDA would otherwise fail deep inside with "Torch not compiled with CUDA
enabled"; here it is refused up front with what was asked and why it cannot be had.
"""

from __future__ import annotations

import torch

from polychrome._runtime_names import device_error, is_device_name

# Mixed precision autocasts the network to the named dtype (where the device supports it); fp16 training
# also scales its loss against underflow.
PRECISIONS: dict[str, torch.dtype | None] = {
    "fp32": None,
    "bf16-mixed": torch.bfloat16,
    "fp16-mixed": torch.float16,
}


def precision_name(precision: str | torch.dtype) -> str:
    """A precision as polychrome names it, ``fp32``, ``bf16-mixed`` or ``fp16-mixed``; a torch dtype
    (``torch.float32``, ``torch.bfloat16``, ``torch.float16``) maps to its name."""
    if isinstance(precision, torch.dtype):
        names = {torch.float32: "fp32", torch.bfloat16: "bf16-mixed", torch.float16: "fp16-mixed"}
        if precision not in names:
            raise ValueError(f"precision must be float32, bfloat16 or float16, got {precision}")
        return names[precision]
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def resolve_device(name: str | torch.device) -> torch.device:
    """``auto`` (a GPU when there is one, else the CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    if str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    # PyTorch's own refusal lists its every device type (xla, meta, hpu, ...); only these are polychrome's.
    # A torch.device is taken as it is (a tensor's says "mps:0").
    if not isinstance(name, torch.device) and not is_device_name(name):
        raise ValueError(device_error(name))
    device = torch.device(name)
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {str(name)!r}: this PyTorch sees no Apple GPU (MPS)")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(name)!r}: this PyTorch sees no CUDA GPU (a CPU-only build?)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {str(name)!r}: only {torch.cuda.device_count()} CUDA GPU(s) here")
    return device
