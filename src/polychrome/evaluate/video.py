"""Scoring colorized films against their true-color versions: per-frame PSNR and colorfulness (the
functions of :mod:`polychrome.evaluate.metrics`, as photos are scored) and the temporal consistency of
:mod:`polychrome.evaluate.temporal`, beside a gray output and the truth itself.

A candidate is a function from the film's frames (``(H, W, 3)`` uint8, in order) to colorized frames of the
same size, such as :meth:`polychrome.video.VideoColorizer.colorize_frames`; it is given the true-color
frames and, like every colorizer here, uses only their lightness.

Example:
    >>> rows = score_film("clip.mp4", {"stabilised": films.colorize_frames})  # doctest: +SKIP
    >>> rows["stabilised"]["flicker"]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from polychrome.color.lab import gray_rgb, rgb_to_lightness
from polychrome.evaluate.candidates import GRAY, TRUTH
from polychrome.evaluate.metrics import colorfulness, psnr
from polychrome.evaluate.scoring import PSNR_CAP
from polychrome.evaluate.temporal import TemporalConsistency
from polychrome.images import to_float01, to_uint8
from polychrome.video.io import open_video

FilmColorizer = Callable[[Iterable[np.ndarray]], Iterable[np.ndarray]]
FILM_METRICS = ("psnr", "colorfulness", "cdc", "flicker")


def _truth_frames(path: Path, limit: int | None) -> Iterator[np.ndarray]:
    with open_video(path) as film:
        for frame in film.frames():
            if limit is not None and frame.index >= limit:
                return
            yield frame.rgb if frame.rgb.dtype == np.uint8 else to_uint8(to_float01(frame.rgb))


def _gray(frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    for frame in frames:
        rgb = torch.from_numpy(to_float01(frame)).permute(2, 0, 1).unsqueeze(0)
        yield to_uint8(gray_rgb(rgb_to_lightness(rgb))[0].permute(1, 2, 0).numpy())


def _as_tensor(frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(to_float01(frame)).permute(2, 0, 1).unsqueeze(0)


def score_frames(outputs: Iterable[np.ndarray], truths: Iterable[np.ndarray]) -> dict[str, float]:
    """PSNR (dB, capped at ``PSNR_CAP``) and colorfulness averaged over frames, CDC and flicker of the
    colorized frames; ``frames`` counts them."""
    temporal = TemporalConsistency()
    psnrs: list[float] = []
    colorfulnesses: list[float] = []
    for output, truth in zip(outputs, truths, strict=True):
        if output.shape != truth.shape:
            raise ValueError(f"a colorized frame is {output.shape}, its truth {truth.shape}")
        predicted = _as_tensor(output)
        psnrs.append(float(psnr(predicted, _as_tensor(truth)).clamp(max=PSNR_CAP)))
        colorfulnesses.append(float(colorfulness(predicted)))
        temporal.update(output)
    if not psnrs:
        raise ValueError("no frames to score")
    return {
        "frames": len(psnrs),
        "psnr": float(np.mean(psnrs)),
        "colorfulness": float(np.mean(colorfulnesses)),
        "cdc": temporal.cdc(),
        "flicker": temporal.flicker(),
    }


def score_film(
    truth: str | Path, candidates: Mapping[str, FilmColorizer], limit: int | None = None
) -> dict[str, dict[str, Any]]:
    """Rows ``gray``, each candidate, ``truth`` for the film ``truth`` (its first ``limit`` frames)."""
    truth = Path(truth)
    labels = [GRAY, *candidates, TRUTH]
    if len(set(labels)) != len(labels):
        raise ValueError(f"candidates must have distinct names other than {GRAY!r} and {TRUTH!r}")
    rows: dict[str, dict[str, Any]] = {}
    makers: dict[str, FilmColorizer] = {GRAY: _gray, **candidates, TRUTH: lambda frames: frames}
    for label in labels:
        produced = makers[label](_truth_frames(truth, limit))
        rows[label] = score_frames(produced, _truth_frames(truth, limit))
    return rows


def mean_rows(films: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Rows averaged over films (each film counts once, whatever its length)."""
    table: dict[str, dict[str, Any]] = {}
    for label in films[0]:
        table[label] = {"films": len(films), "frames": int(sum(f[label]["frames"] for f in films))}
        for key in FILM_METRICS:
            table[label][key] = float(np.nanmean([f[label][key] for f in films]))
    return table
