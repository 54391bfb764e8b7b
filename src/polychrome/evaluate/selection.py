"""Choosing a model's rendering settings on validation photos, by a rule fixed before looking.

A regression model predicts the average of the colors a thing could have, duller than any of them; a chroma
gain after training gives some of it back, at a price in PSNR. The rule `polychrome calibrate` applies:

- every setting (an enlargement filter) is scored on every set of photos at every gain of a grid, through
  the one scoring path (:func:`polychrome.evaluate.scoring.score_colorizers`); gains are *effective*: the
  model's own ``chroma_gain`` is divided out, so models saved with different gains compare on one scale;
- a set's gain is the smallest of the grid whose colorfulness is within ``max_gap`` of the truth's (with
  ``per_set_gain``, each set its own; else one gain that fits every set);
- settings are ranked by their worst set's PSNR gain over a gray output at those gains (``rank="mean"``: the
  mean over sets), and the first is written into a copy of the model
  (:func:`polychrome.pipelines.calibration.save_calibrated`), the sets' gains as chroma factors anchored at
  how much each set's photos are enlarged to the render size.

Choose on photos the model was not trained on and that you will not report: a training run's own
validation split (`polychrome calibrate MODEL -d RUN_DIR`) is made for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from polychrome.evaluate.candidates import GRAY, TRUTH, NetworkCandidate
from polychrome.evaluate.protocol import Batch, PhotoStream, Protocol
from polychrome.evaluate.scoring import ScoringOptions, score_colorizers
from polychrome.pipelines.calibration import RenderCalibration
from polychrome.pipelines.image import Colorizer
from polychrome.pipelines.render import render_shape

RANKINGS: dict[str, Callable[[list[float]], float]] = {"worst": min, "mean": lambda x: float(np.mean(x))}


@dataclass
class SetScore:
    """One set's scores at one effective gain."""

    psnr_gain: float
    colorfulness_gap: float  # the model's colorfulness minus the truth's
    images: int


@dataclass
class Setting:
    """An enlargement filter, every set's scores at every grid gain, and the gains the rule chose."""

    enlarge: str
    scores: dict[float, list[SetScore]]
    enlargements: list[float]  # how much each set's photos are enlarged to the render size (median)
    gains: list[float] | None = None  # None: no grid gain brings colorfulness within the gap
    ranked_by: float = -np.inf

    def chosen(self) -> list[SetScore]:
        assert self.gains is not None
        return [self.scores[gain][i] for i, gain in enumerate(self.gains)]


@dataclass
class Selection:
    """Every setting scored, best first by the rule (those the rule could not fit last)."""

    settings: list[Setting]
    set_names: list[str]
    rule: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> Setting | None:
        first = self.settings[0] if self.settings else None
        return first if first is not None and first.gains is not None else None

    def calibration(self, model_gain: float = 1.0) -> RenderCalibration:
        """The best setting as rendering settings: one factor when the sets' gains agree, else the gains
        anchored at the sets' enlargements (``model_gain``, the network's own, is divided out)."""
        best = self.best
        if best is None:
            raise ValueError(
                f"no grid gain brings colorfulness within {self.rule.get('max_gap')} of the truth's"
            )
        factors = [gain / model_gain for gain in best.gains]
        if len(set(factors)) == 1:
            return RenderCalibration(best.enlarge, ((1.0, factors[0]),))
        anchors = sorted(zip(best.enlargements, factors, strict=True))
        if len({scale for scale, _ in anchors}) < len(anchors):
            raise ValueError("two sets are enlarged alike but want different gains: choose one gain for all")
        return RenderCalibration(best.enlarge, tuple(anchors))

    def record(self) -> dict[str, Any]:
        """How the choice was made, to keep in the model's config.json."""
        best = self.best
        assert best is not None
        chosen = best.chosen()
        return {
            "chosen_by": "polychrome calibrate",
            "rule": self.rule,
            "sets": self.set_names,
            "enlarge": best.enlarge,
            "effective_gains": best.gains,
            "enlargements": best.enlargements,
            "images_per_set": [s.images for s in chosen],
            "psnr_gain_over_gray": [s.psnr_gain for s in chosen],
            "colorfulness_gap": [s.colorfulness_gap for s in chosen],
        }


def _smallest_fitting(scores: dict[float, list[SetScore]], sets: list[int], max_gap: float) -> float | None:
    fits = [g for g in sorted(scores) if all(abs(scores[g][i].colorfulness_gap) <= max_gap for i in sets)]
    return fits[0] if fits else None


def choose_gains(
    scores: dict[float, list[SetScore]], max_gap: float, per_set_gain: bool
) -> list[float] | None:
    """The rule's gains, one per set: the smallest grid gain within ``max_gap`` of the truth's colorfulness
    on every set (or, ``per_set_gain``, on each set alone); None when the grid has none."""
    n_sets = len(next(iter(scores.values())))
    if per_set_gain:
        gains = [_smallest_fitting(scores, [i], max_gap) for i in range(n_sets)]
        return None if None in gains else gains  # type: ignore[return-value]
    gain = _smallest_fitting(scores, list(range(n_sets)), max_gap)
    return None if gain is None else [gain] * n_sets


def select_render_settings(
    colorizer: Colorizer,
    sets: Sequence[tuple[str, PhotoStream]],
    protocol: Protocol,
    grid: Sequence[float],
    max_gap: float = 6.0,
    per_set_gain: bool = False,
    filters: Sequence[str] = ("bilinear",),
    render_size: int = 256,
    rank: str = "worst",
    progress: Callable[[str], None] | None = None,
) -> Selection:
    """Score ``colorizer``'s model on each named set of photos at every effective gain of ``grid`` and every
    enlargement filter, and rank the settings by the rule (see the module docstring)."""
    if rank not in RANKINGS:
        raise ValueError(f"rank must be one of {', '.join(RANKINGS)}, got {rank!r}")
    if not grid or min(grid) < 0:
        raise ValueError(f"the gain grid must hold gains >= 0, got {list(grid)}")
    for enlarge in filters:
        RenderCalibration(enlarge)  # an unknown filter fails before any photo is read
    model_gain = float(getattr(colorizer.model, "chroma_gain", 1.0))
    settings = []
    for enlarge in filters:
        trial = Colorizer(colorizer.model, colorizer.device, colorizer.precision, RenderCalibration(enlarge))
        candidates = [
            NetworkCandidate(f"gain {g:g}", trial, render_size, saturation=g / model_gain) for g in grid
        ]
        scores: dict[float, list[SetScore]] = {g: [] for g in grid}
        enlargements = []
        for name, photos in sets:
            shapes: list[tuple[int, int]] = []
            evaluation = score_colorizers(
                candidates, _noting_shapes(photos, shapes), protocol, options=ScoringOptions(0, 0)
            )
            rows = evaluation.summary()
            for g, candidate in zip(grid, candidates, strict=True):
                row = rows[candidate.label]
                gap = row["colorfulness"] - rows[TRUTH]["colorfulness"]
                scores[g].append(SetScore(row["psnr"] - rows[GRAY]["psnr"], gap, len(evaluation.names)))
            enlargements.append(float(np.median([render_shape(h, w, render_size)[0] / h for h, w in shapes])))
            if progress is not None:
                progress(f"{enlarge}: {name} scored ({len(evaluation.names)} photos)")
        settings.append(Setting(enlarge, scores, enlargements))
    for setting in settings:
        setting.gains = choose_gains(setting.scores, max_gap, per_set_gain)
        if setting.gains is not None:
            setting.ranked_by = RANKINGS[rank]([s.psnr_gain for s in setting.chosen()])
    settings.sort(key=lambda s: -s.ranked_by)
    rule = {
        "protocol": protocol.name,
        "render_size": render_size,
        "grid": list(grid),
        "max_gap": max_gap,
        "per_set_gain": per_set_gain,
        "filters": list(filters),
        "rank": rank,
    }
    return Selection(settings, [name for name, _ in sets], rule)


def _noting_shapes(batches: PhotoStream, shapes: list[tuple[int, int]]) -> Iterator[Batch]:
    for batch in batches:
        shapes.extend([tuple(batch.truth.shape[-2:])] * len(batch.names))
        yield batch
