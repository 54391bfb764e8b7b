"""Encoding a part: the colors of the frames given, converted where the encoder is or ahead of it, on every
thread x264 picks."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from polychrome.video.io import VideoInfo
from polychrome.video.output import BT709, MPEG_RANGE, EncodeSettings, FrameConverter, PartEncoder
from tests.video.clips import pattern

_INFO = VideoInfo(0, 0, time_base=Fraction(1, 25), frame_rate=Fraction(25), frames=None, duration=None)


def _yuv(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray() for frame in container.decode(video=0)]


def _reference(path: Path, frames: list[np.ndarray], pix_fmt: str) -> None:
    """The frames encoded losslessly the plain way: each converted to YUV by a converter of its own."""
    with av.open(str(path), "w", format="nut") as container:
        stream = container.add_stream("libx264", rate=25, options={"crf": "0", "preset": "ultrafast"})
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = pix_fmt
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame = frame.reformat(format=pix_fmt, dst_colorspace=BT709, dst_color_range=MPEG_RANGE)
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


@pytest.mark.parametrize("size", [(64, 48), (51, 35)])  # 4:2:0, and 4:4:4 for odd sides
@pytest.mark.parametrize("ahead", [False, True])  # converted by the encoder, or by a converter before it
def test_a_part_holds_the_colors_the_frames_convert_to(
    tmp_path: Path, size: tuple[int, int], ahead: bool
) -> None:
    width, height = size
    frames = [pattern(index, height, width) for index in range(6)]
    encoder = PartEncoder(tmp_path / "part.nut", "libx264", _INFO, size, EncodeSettings(0, "ultrafast"))
    convert = FrameConverter("libx264")
    for index, rgb in enumerate(frames):
        encoder.write(convert(rgb) if ahead else rgb, index)
    encoder.close()
    pix_fmt = "yuv420p" if width % 2 == 0 else "yuv444p"
    _reference(tmp_path / "reference.nut", frames, pix_fmt)

    written, reference = _yuv(tmp_path / "part.nut"), _yuv(tmp_path / "reference.nut")

    assert len(written) == len(frames)
    for a, b in zip(written, reference, strict=True):
        np.testing.assert_array_equal(a, b)  # lossless in YUV: the same conversion, exactly


def test_a_frame_converted_for_another_size_is_refused(tmp_path: Path) -> None:
    encoder = PartEncoder(tmp_path / "part.nut", "libx264", _INFO, (64, 48), EncodeSettings(0, "ultrafast"))
    with pytest.raises(ValueError, match="yuv420p"):
        encoder.write(FrameConverter("libx264")(pattern(0, 48, 62)), 0)
    encoder.abort()


def test_x264_works_on_frame_threads(tmp_path: Path) -> None:
    settings = EncodeSettings(18, "ultrafast")
    encoder = PartEncoder(tmp_path / "part.nut", "libx264", _INFO, (320, 240), settings)
    for index in range(3):
        encoder.write(pattern(index, 240, 320), index)
    encoder.close()

    # x264 keeps its settings in the stream (tall enough a frame for several threads to get rows).
    recorded = re.search(rb"sliced_threads=(\d+)", (tmp_path / "part.nut").read_bytes())
    assert recorded is not None and recorded.group(1) == b"0"
