"""Reading films: a resumed film is read from a key frame seek near where it stopped, to the exact frame."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from polychrome.video.io import Frame, open_video
from tests.video.clips import make_clip

KEYFRAME_EVERY = 5


def _film(path: Path) -> list[Frame]:
    make_clip(path, frames=30, keyframe_every=KEYFRAME_EVERY, b_frames=2)
    with open_video(path) as film:
        return list(film.frames())


def _same(got: list[Frame], expected: list[Frame]) -> bool:
    return [(f.index, f.pts) for f in got] == [(f.index, f.pts) for f in expected] and all(
        np.array_equal(a.rgb, b.rgb) for a, b in zip(got, expected, strict=True)
    )


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
@pytest.mark.parametrize("start", [7, 13, 29])
def test_a_resumed_film_is_read_from_the_key_frame_before_where_it_stopped(
    tmp_path: Path, suffix: str, start: int
) -> None:
    source = tmp_path / f"film{suffix}"
    whole = _film(source)

    with open_video(source) as film:
        resumed = list(film.frames(start, after=whole[start - 1].pts))
        decoded = film.decoded

    assert _same(resumed, whole[start:])
    assert decoded <= len(whole) - start + KEYFRAME_EVERY  # not the frames before the key frame


def test_a_frame_that_seeking_does_not_find_is_reached_from_the_start(tmp_path: Path) -> None:
    source = tmp_path / "film.mp4"
    whole = _film(source)

    with open_video(source) as film:
        resumed = list(film.frames(13, after=whole[12].pts + 1))  # no frame has this timestamp

    assert _same(resumed, whole[13:])
    assert not film.defects


def test_frames_decoded_on_threads_are_those_one_thread_decodes(tmp_path: Path) -> None:
    source = tmp_path / "film.mp4"
    _film(source)
    with av.open(str(source)) as container:
        container.streams.video[0].thread_count = 1
        expected = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]

    with open_video(source) as film:
        frames = [frame.rgb for frame in film.frames()]
        threads = film.decoder_threads

    assert len(frames) == len(expected) and all(map(np.array_equal, frames, expected))
    assert threads >= 1
