"""Fixtures of the evaluation tests: see :mod:`tests.evaluate.photos`."""

from tests.evaluate.photos import gray_outputs, model_dir, photos_dir, truth_outputs

__all__ = ["gray_outputs", "model_dir", "photos_dir", "truth_outputs"]
