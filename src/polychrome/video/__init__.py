"""Films: reading and writing them (PyAV), following motion, keeping colors steady over time, and the
pipeline that colorizes a film in resumable parts.

Modules: ``io`` (reading) · ``output`` (encoding, joining) · ``motion`` (optical flow) · ``stabilize``
(the temporal stabiliser and scene cuts) · ``stages`` (overlapping threads) · ``pipeline``.
"""

from polychrome.video.io import VideoReadError, is_video, open_video
from polychrome.video.pipeline import VideoColorizer, VideoOptions, VideoResult
from polychrome.video.stabilize import TemporalStabilizer

__all__ = [
    "TemporalStabilizer",
    "VideoColorizer",
    "VideoOptions",
    "VideoReadError",
    "VideoResult",
    "is_video",
    "open_video",
]
