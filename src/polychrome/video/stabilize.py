"""Steady colors over time: the predicted ab of each frame blended with the previous frames', along motion.

Colored one frame at a time, a network paints the same wall a slightly different hue in every frame, and
the film flickers. :class:`TemporalStabilizer` keeps a running ab that follows the picture: each new
frame's prediction is blended with the running ab of the previous frame, warped onto the new one by
optical flow (:mod:`polychrome.video.motion`). Where the warp is not trusted (something appeared, the flow
is wrong) the new prediction is taken as it is; at a scene cut, found from the frames' lightness, the
running ab starts afresh. ``strength`` is the weight of the past where it is fully trusted: 0 colors frame by
frame, 0.8 averages over about five frames (1 / (1 - strength)).

Everything runs on ab at the network's output resolution (a few hundred pixels a side), so it costs a few
milliseconds a frame whatever the film's size. Most of that is finding motion and cuts, which depends on the
frames' lightness alone, not on the blended colors: :meth:`TemporalStabilizer.change` finds it for any pair of
frames, in any thread, so a film pipeline finds it ahead for many frames at once and only the blend is
done in order.

Example:
    >>> import numpy as np
    >>> stabilizer = TemporalStabilizer(strength=0.8)
    >>> lightness = np.full((16, 16), 50, np.float32)
    >>> first = stabilizer(lightness, np.full((2, 16, 16), 10, np.float32))
    >>> second = stabilizer(lightness, np.full((2, 16, 16), 20, np.float32))
    >>> round(float(second.mean()), 1)  # mostly the past: 0.8 * 10 + 0.2 * 20
    12.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polychrome.video.formats import DEFAULT_STRENGTH
from polychrome.video.motion import Motion, estimate_motion

# A scene cut: the lightness histograms of two frames share less than this much mass (0..1), or the
# previous frame, warped along the flow, still differs from the new one by this many L units on average.
CUT_HISTOGRAM_DISTANCE = 0.4
CUT_RESIDUAL = 14.0
_HISTOGRAM_BINS = 32


def lightness_histogram(lightness: np.ndarray) -> np.ndarray:
    """A frame's lightness (L in 0..100) as a normalised histogram of ``_HISTOGRAM_BINS`` bins."""
    counts, _ = np.histogram(lightness, bins=_HISTOGRAM_BINS, range=(0.0, 100.0))
    return counts / max(1, lightness.size)


def histogram_distance(first: np.ndarray, second: np.ndarray) -> float:
    """Total variation between two normalised histograms: 0 the same, 1 nothing in common."""
    return 0.5 * float(np.abs(first - second).sum())


@dataclass(frozen=True)
class CutDetector:
    """Tells a scene cut from motion by the frames' lightness alone (the colors are what is predicted)."""

    histogram_distance: float = CUT_HISTOGRAM_DISTANCE
    residual: float = CUT_RESIDUAL

    def is_cut(self, previous: np.ndarray, current: np.ndarray, residual: float | None = None) -> bool:
        """Whether ``current`` starts a new scene after ``previous`` (both ``(h, w)`` L maps); ``residual``
        is the motion-compensated difference when already known."""
        if histogram_distance(lightness_histogram(previous), lightness_histogram(current)) > (
            self.histogram_distance
        ):
            return True
        if residual is None:
            residual = estimate_motion(previous, current).residual
        return residual > self.residual


@dataclass(frozen=True)
class FrameChange:
    """How a frame follows the one before it, from the two frames' lightness alone.

    Attributes:
        motion: where each pixel of the frame was in the one before.
        cut: whether the frame starts a new scene (the past is then forgotten).
    """

    motion: Motion
    cut: bool


class TemporalStabilizer:
    """Blend each frame's ab with the motion-warped ab of the frames before it.

    Args:
        strength: weight of the past where the warp is trusted, 0 (frame by frame) to below 1.
        cuts: how scene cuts are found; at a cut the past is forgotten.

    Call it once per frame, in order, with the frame's lightness ``(h, w)`` (L in 0..100) and its predicted
    ab ``(2, h, w)`` (Lab units) at one resolution; it returns the ab to use, ``(2, h, w)`` float32. Where
    the frame's :meth:`change` from the frame before is already known, pass it: the result is the same.
    """

    def __init__(self, strength: float = DEFAULT_STRENGTH, cuts: CutDetector | None = None) -> None:
        if not 0.0 <= strength < 1.0:
            raise ValueError(f"stabiliser strength must be in 0..1 (1 excluded), got {strength}")
        self.strength = strength
        self.cuts = cuts or CutDetector()
        self.cut_frames: list[int] = []  # indices of the frames found to start a new scene
        self._frames = 0
        self._lightness: np.ndarray | None = None
        self._ab: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the past (a new film, or a cut decided by the caller)."""
        self._lightness = None
        self._ab = None

    @property
    def last_lightness(self) -> np.ndarray | None:
        """The lightness of the frame before the next one (None at the start): the next frame's
        :meth:`change` is found from it."""
        return self._lightness

    def change(self, previous: np.ndarray, current: np.ndarray) -> FrameChange:
        """Motion from frame ``previous`` to the frame after it, ``current`` (``(h, w)`` L maps), and
        whether ``current`` starts a new scene. Uses no state of the stabiliser's: safe in any thread."""
        previous = np.ascontiguousarray(previous, dtype=np.float32)
        current = np.ascontiguousarray(current, dtype=np.float32)
        motion = estimate_motion(previous, current)
        return FrameChange(motion, self.cuts.is_cut(previous, current, motion.residual))

    def __call__(
        self, lightness: np.ndarray, ab: np.ndarray, change: FrameChange | None = None
    ) -> np.ndarray:
        lightness = np.ascontiguousarray(lightness, dtype=np.float32)
        ab = np.ascontiguousarray(ab, dtype=np.float32)
        if ab.shape != (2, *lightness.shape):
            raise ValueError(f"ab must be (2, h, w) for lightness (h, w), got {ab.shape}, {lightness.shape}")
        index = self._frames
        self._frames += 1
        previous, past = self._lightness, self._ab
        if self.strength == 0.0:
            return ab
        if previous is None or past is None or previous.shape != lightness.shape:
            steady = ab
        else:
            change = change or self.change(previous, lightness)
            if change.cut:
                self.cut_frames.append(index)
                steady = ab
            else:
                weight = self.strength * change.motion.trust
                steady = ab + weight * (change.motion.warp(past) - ab)
        self._lightness, self._ab = lightness, steady
        return steady

    def state(self) -> dict[str, np.ndarray]:
        """What the next frame depends on, to save beside a finished part of a film and resume from."""
        if self._lightness is None or self._ab is None:
            return {"frames": np.array(self._frames)}
        return {"frames": np.array(self._frames), "lightness": self._lightness, "ab": self._ab}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Continue from :meth:`state`'s arrays."""
        self._frames = int(state["frames"])
        self._lightness = state.get("lightness")
        self._ab = state.get("ab")
