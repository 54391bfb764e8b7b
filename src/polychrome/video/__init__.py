"""Films: reading and writing them (PyAV), following motion, keeping colors steady over time, and the
pipeline that colorizes a film in resumable parts.

Modules: ``io`` (reading) · ``output`` (encoding parts) · ``join`` (the parts with audio and subtitles) ·
``motion`` (optical flow) · ``stabilize`` (the temporal stabiliser and scene cuts) · ``stages`` (overlapping
threads) · ``steps`` (the network and the merge on either backend) · ``pipeline``.
"""

from __future__ import annotations

from polychrome._lazy import lazy_attributes

# Loaded on first use, so that planning a batch (which only asks which files are films) does not load
# FFmpeg and OpenCV.
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


__getattr__ = lazy_attributes(__name__, _EXPORTS)
