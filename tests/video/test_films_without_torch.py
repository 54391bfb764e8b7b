"""Films in an install without PyTorch: `polychrome colorize` colors them on ONNX Runtime (the built-in
model's model.onnx) with the same pipeline, in a child interpreter that cannot import torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.blocked_imports import environment_without
from tests.video.clips import audio_payloads, make_clip, read_frames


def test_a_film_is_colorized_on_onnx_runtime_without_torch(tmp_path: Path) -> None:
    source = tmp_path / "film.mp4"
    times = make_clip(source, frames=6, size=(64, 48), audio=True, cut_at=4)
    output = tmp_path / "color.mp4"
    command = [sys.executable, "-m", "polychrome", "colorize", str(source), "-o", str(output)]

    done = subprocess.run(
        [*command, "--render-size", "64", "--preset", "ultrafast"],
        env=environment_without(tmp_path / "shim", ["torch"]),
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    frames = read_frames(output)
    assert [round(t * 1000) for t, _, _ in frames] == times
    rgb = np.stack([frame for _, frame, _ in frames]).astype(int)
    assert np.abs(rgb[..., 0] - rgb[..., 2]).mean() > 1.0  # colors were added
    assert audio_payloads(output) == audio_payloads(source)
