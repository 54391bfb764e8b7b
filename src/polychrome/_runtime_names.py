"""The device and precision names that polychrome takes, checked without PyTorch: the base install (ONNX
Runtime) and the command line refuse a bad one with the same list that :mod:`polychrome.devices` gives.

Example:
    >>> is_device_name("cuda:1"), is_device_name("banana")
    (True, False)
    >>> device_error("banana")
    "device 'banana': not a device name; choose auto, cpu, cuda, cuda:N (N a GPU's number) or mps"
    >>> precision_error("int4")
    "precision 'int4': not a precision; choose fp32, bf16-mixed, fp16-mixed or int8"
"""

from __future__ import annotations

import re

# fp32 and the two mixed precisions are PyTorch's (polychrome.devices.PRECISIONS); int8 is a model's
# model-int8.onnx on ONNX Runtime.
PRECISION_NAMES = ("fp32", "bf16-mixed", "fp16-mixed", "int8")
PRECISION_CHOICES = f"{', '.join(PRECISION_NAMES[:-1])} or {PRECISION_NAMES[-1]}"
DEVICE_CHOICES = "auto, cpu, cuda, cuda:N (N a GPU's number) or mps"
_DEVICE_NAME = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def is_device_name(name: str) -> bool:
    return _DEVICE_NAME.fullmatch(name) is not None


def device_error(name: str) -> str:
    return f"device {name!r}: not a device name; choose {DEVICE_CHOICES}"


def precision_error(name: str) -> str:
    return f"precision {name!r}: not a precision; choose {PRECISION_CHOICES}"
