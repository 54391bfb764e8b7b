"""The stabiliser and the temporal metrics on synthetic frames: flicker goes down, a cut resets, CDC of a
still film is 0."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from polychrome.evaluate.temporal import TemporalConsistency, js_divergence
from polychrome.video.stabilize import TemporalStabilizer
from tests.video.clips import pattern


def _lightness(index: int, scene: int = 0) -> np.ndarray:
    return pattern(index, 32, 48, scene)[..., 0].astype(np.float32) * 100 / 255


def _flicker(abs_: list[np.ndarray]) -> float:
    """Mean change of the ab of a still scene from frame to frame."""
    return float(np.mean([np.abs(b - a).mean() for a, b in zip(abs_, abs_[1:], strict=False)]))


def test_the_stabiliser_reduces_flicker_of_a_still_scene() -> None:
    rng = np.random.default_rng(0)
    lightness = _lightness(0)
    truth = np.stack([np.full((32, 48), 20.0), np.full((32, 48), -10.0)]).astype(np.float32)
    noisy = [truth + rng.normal(0, 5, size=(2, 1, 1)).astype(np.float32) for _ in range(12)]
    stabilizer = TemporalStabilizer(strength=0.8)

    steady = [stabilizer(lightness, ab) for ab in noisy]

    assert _flicker(steady) < 0.5 * _flicker(noisy)
    assert abs(np.mean(steady) - np.mean(noisy)) < np.std([a.mean() for a in noisy])


def test_strength_zero_is_frame_by_frame() -> None:
    stabilizer = TemporalStabilizer(strength=0.0)
    abs_ = [np.full((2, 32, 48), value, np.float32) for value in (5.0, -5.0)]

    assert all(np.array_equal(stabilizer(_lightness(0), ab), ab) for ab in abs_)


def test_a_scene_cut_resets_the_past() -> None:
    stabilizer = TemporalStabilizer(strength=0.9)
    for index in range(4):
        stabilizer(_lightness(index), np.full((2, 32, 48), 30.0, np.float32))
    fresh = np.full((2, 32, 48), -30.0, np.float32)

    after_cut = stabilizer(_lightness(4, scene=1), fresh)

    assert stabilizer.cut_frames == [4]
    assert np.array_equal(after_cut, fresh)


def test_motion_is_followed_so_a_moving_scene_is_no_cut() -> None:
    stabilizer = TemporalStabilizer(strength=0.8)
    for index in range(6):
        stabilizer(_lightness(index), np.zeros((2, 32, 48), np.float32))
    assert stabilizer.cut_frames == []


def test_changes_found_ahead_in_many_threads_steady_the_film_exactly_as_in_order() -> None:
    rng = np.random.default_rng(1)
    lightness = [_lightness(i, scene=int(i >= 7)) for i in range(12)]
    predicted = [rng.normal(0, 20, (2, 32, 48)).astype(np.float32) for _ in lightness]
    in_order = TemporalStabilizer(strength=0.8)
    expected = [in_order(light, ab) for light, ab in zip(lightness, predicted, strict=True)]

    ahead = TemporalStabilizer(strength=0.8)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(3)  # OpenCV's own threads, another count than in order, must not change the flow
    try:
        with ThreadPoolExecutor(4) as pool:
            changes = list(pool.map(ahead.change, lightness[:-1], lightness[1:]))
    finally:
        cv2.setNumThreads(threads)
    steady = [ahead(lightness[0], predicted[0])]
    steady += [
        ahead(light, ab, change)
        for light, ab, change in zip(lightness[1:], predicted[1:], changes, strict=True)
    ]

    assert ahead.cut_frames == in_order.cut_frames == [7]
    assert all(np.array_equal(a, b) for a, b in zip(steady, expected, strict=True))
    assert not np.array_equal(steady[3], predicted[3])  # the past was blended in


def test_cdc_and_flicker_of_a_still_film_are_zero_and_grow_with_change() -> None:
    still, changing = TemporalConsistency(), TemporalConsistency()
    frame = pattern(0, 32, 48)
    for index in range(6):
        still.update(frame)
        tinted = frame.copy()
        tinted[..., 2] = np.clip(tinted[..., 2].astype(int) + (index % 2) * 40, 0, 255).astype(np.uint8)
        changing.update(tinted)

    assert still.cdc() == 0.0 and still.flicker() == 0.0
    assert changing.cdc() > 0.0 and changing.flicker() > 0.0


def test_js_divergence_is_symmetric_and_bounded_by_ln_2() -> None:
    p, q = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    assert js_divergence(p, q) == js_divergence(q, p) == np.log(2)
