"""Exporting trained models for runtimes without PyTorch."""

from polychrome._model_files import ONNX_NAME
from polychrome.export.onnx import export_onnx

__all__ = ["ONNX_NAME", "export_onnx"]
