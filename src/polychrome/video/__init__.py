"""Films: reading and writing them (PyAV), following motion, keeping colors steady over time, and the
pipeline that colorizes a film in resumable parts.

Modules: ``io`` (reading) · ``output`` (encoding, joining) · ``motion`` (optical flow) · ``stabilize``
(the temporal stabiliser and scene cuts) · ``stages`` (overlapping threads) · ``pipeline``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Loaded on first use, so that planning a batch (which only asks which files are films) does not load
# FFmpeg and PyTorch.
_EXPORTS = {
    "TemporalStabilizer": "polychrome.video.stabilize",
    "VideoColorizer": "polychrome.video.pipeline",
    "VideoOptions": "polychrome.video.pipeline",
    "VideoResult": "polychrome.video.pipeline",
    "VideoReadError": "polychrome.video.io",
    "open_video": "polychrome.video.io",
    "is_video": "polychrome.video.formats",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'polychrome.video' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
