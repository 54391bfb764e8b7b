"""Where tensors go: the one place a device name is turned into a ``torch.device`` and checked.

A CPU-only PyTorch asked for CUDA would otherwise fail deep inside with "Torch not compiled with CUDA
enabled"; here it is refused up front with what was asked and why it cannot be had.
"""

from __future__ import annotations

import torch


def resolve_device(name: str | torch.device) -> torch.device:
    """``auto`` (a GPU when there is one, else the CPU), or a device name such as ``cpu``, ``cuda:1``."""
    if str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"device {str(name)!r}: not a device name ({err})") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(name)!r}: this PyTorch sees no CUDA GPU (a CPU-only build?)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {str(name)!r}: only {torch.cuda.device_count()} CUDA GPU(s) here")
    return device
