"""The one way polychrome scores colorizers: on the same photos, beside a gray output and the truth.

`polychrome evaluate`, `polychrome calibrate`, the training run's validation and every benchmark score
through :func:`score_colorizers`. Photos come as batches of truths under a named protocol
(:mod:`polychrome.evaluate.protocol`: streamed from files by its ``PhotoStream``, or from memory by its
``tensor_batches``); every candidate colorizes each batch
(a network through :class:`~polychrome.pipelines.image.Colorizer`, exactly as `polychrome colorize` colors
a photo) and every metric accumulates, so memory does not grow with the data set. An image that any
candidate cannot provide (a missing or unreadable output file) is left out for all of them and reported, so
every row is computed on the same photos.

Per image: PSNR (dB, capped at 100 so the truth row stays finite), SSIM, colorfulness, the AuC of the ab
error and the bin accuracy. Over the data set: their means (PSNR and SSIM as the mean of per-image values),
delta-CF = |mean colorfulness - the truth's| (as DDColor reports it), the AuC and bin accuracy over all
pixels (:mod:`polychrome.evaluate.ab_error`), and a Fréchet distance to the truth per feature extractor
(:mod:`polychrome.evaluate.frechet`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from polychrome.color.lab import rgb_to_lab
from polychrome.evaluate.ab_error import AbErrorStats
from polychrome.evaluate.candidates import (
    GRAY,
    TRUTH,
    Candidate,
    CandidateOutput,
    GrayCandidate,
    TruthCandidate,
)
from polychrome.evaluate.frechet import FeatureExtractor, FeatureStatistics, feature_distance
from polychrome.evaluate.metrics import colorfulness, psnr, ssim
from polychrome.evaluate.protocol import Batch, Protocol

logger = logging.getLogger(__name__)

PSNR_CAP = 100.0
PER_IMAGE_METRICS = ("psnr", "ssim", "colorfulness", "auc", "bin_accuracy")


@dataclass(frozen=True)
class ScoringOptions:
    """What is kept besides the numbers.

    Attributes:
        grid_images: photos shown side by side for every candidate in a report.
        extremes: best and worst photos (by PSNR) kept per candidate.
    """

    grid_images: int = 8
    extremes: int = 3


@dataclass
class Example:
    """One photo shown in the report: its name, a candidate's PSNR and uint8 ``(S, S, 3)`` pictures."""

    name: str
    psnr: float
    gray: np.ndarray
    output: np.ndarray
    truth: np.ndarray


@dataclass
class CandidateScores:
    """Everything accumulated for one candidate."""

    label: str
    kind: str
    source: str
    per_image: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in PER_IMAGE_METRICS})
    ab: AbErrorStats = field(default_factory=AbErrorStats)
    features: dict[str, FeatureStatistics] = field(default_factory=dict)
    samples: list[np.ndarray] = field(default_factory=list)
    best: list[Example] = field(default_factory=list)
    worst: list[Example] = field(default_factory=list)


@dataclass
class Evaluation:
    """The result of :func:`score_colorizers`; rows are ordered gray, the candidates, truth."""

    protocol: Protocol
    names: list[str]
    scores: dict[str, CandidateScores]
    extractors: list[str]
    sources: list[str] = field(default_factory=list)
    render_size: int | None = None  # at which the networks saw the photos, when any was scored
    keep_gray: bool = False
    dropped: Counter = field(default_factory=Counter)
    failures: list[tuple[str, str]] = field(default_factory=list)
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (candidate, image, reason)

    @property
    def labels(self) -> list[str]:
        return list(self.scores)

    def summary(self) -> dict[str, dict[str, Any]]:
        """Data-set numbers per row: images, psnr, ssim, colorfulness, colorfulness_delta, auc,
        auc_rebalanced, bin_accuracy, psnr_gain (over the gray row) and one Fréchet distance per extractor
        (None below 2 photos)."""
        truth = self.scores[TRUTH]
        truth_cf = float(np.mean(truth.per_image["colorfulness"]))
        table: dict[str, dict[str, Any]] = {}
        for label, scores in self.scores.items():
            row: dict[str, Any] = {"kind": scores.kind, "source": scores.source, "images": len(self.names)}
            for key in ("psnr", "ssim", "colorfulness"):
                row[key] = float(np.mean(scores.per_image[key]))
            row["colorfulness_delta"] = abs(row["colorfulness"] - truth_cf)
            row["auc"] = scores.ab.auc()
            row["auc_rebalanced"] = scores.ab.auc(rebalanced=True)
            row["bin_accuracy"] = scores.ab.bin_accuracy
            for name, stats in scores.features.items():
                enough = stats.count >= 2
                row[name] = feature_distance(stats, truth.features[name]) if enough else None
            table[label] = row
        for row in table.values():
            row["psnr_gain"] = row["psnr"] - table[GRAY]["psnr"]
        return table

    def cdf(self, label: str, rebalanced: bool = False) -> list[float]:
        return self.scores[label].ab.cdf(rebalanced).tolist()


def _to_uint8(rgb: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` float in 0..1 -> ``(H, W, 3)`` uint8."""
    return (rgb.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()


class _Judge:
    """Accumulates the scores of every candidate, batch by batch."""

    def __init__(
        self,
        candidates: Sequence[Candidate],
        extractors: Sequence[FeatureExtractor],
        options: ScoringOptions,
    ) -> None:
        self.candidates = candidates
        self.extractors = extractors
        self.options = options
        self.scores = {
            c.label: CandidateScores(
                c.label, c.kind, c.source, features={e.name: FeatureStatistics() for e in extractors}
            )
            for c in candidates
        }
        self.names: list[str] = []
        self.problems: list[tuple[str, str, str]] = []

    def judge(self, batch: Batch) -> None:
        outputs = {c.label: c.colorize(batch) for c in self.candidates}
        failed: set[int] = set()
        for label, output in outputs.items():
            for row, reason in sorted(output.failures.items()):
                self.problems.append((label, batch.names[row], reason))
                # Reported in the result (and by the command); a log line at warning level would say it twice.
                logger.info("%s: %s left out for every model: %s", label, batch.names[row], reason)
                failed.add(row)
        keep = [i for i in range(len(batch.names)) if i not in failed]
        if not keep:
            return
        if failed:
            index = torch.tensor(keep, device=batch.truth.device)
            batch = Batch(
                [batch.names[i] for i in keep],
                None if batch.records is None else [batch.records[i] for i in keep],
                batch.truth[index],
                batch.lightness[index],
            )
            outputs = {k: CandidateOutput(v.rgb[index], {}) for k, v in outputs.items()}
        first_index = len(self.names)
        self.names.extend(batch.names)
        true_ab = rgb_to_lab(batch.truth)[:, 1:]
        true_bins = self.scores[TRUTH].ab.grid.encode_hard(true_ab)
        gray = outputs[GRAY].rgb
        for label, output in outputs.items():
            self._score(
                self.scores[label], output.rgb.clamp(0, 1), batch, true_ab, true_bins, gray, first_index
            )

    @torch.inference_mode()
    def _score(
        self,
        scores: CandidateScores,
        rgb: torch.Tensor,
        batch: Batch,
        true_ab: torch.Tensor,
        true_bins: torch.Tensor,
        gray: torch.Tensor,
        first_index: int,
    ) -> None:
        truth = batch.truth
        image_psnr = psnr(rgb, truth).clamp(max=PSNR_CAP)
        ab_error = scores.ab.update(rgb_to_lab(rgb)[:, 1:], true_ab, true_bins)
        values = {
            "psnr": image_psnr,
            "ssim": ssim(rgb, truth),
            "colorfulness": colorfulness(rgb),
            "auc": ab_error.auc,
            "bin_accuracy": ab_error.bin_accuracy,
        }
        for key, value in values.items():
            scores.per_image[key].extend(value.double().cpu().tolist())
        for extractor in self.extractors:
            scores.features[extractor.name].update(extractor(rgb))
        room = self.options.grid_images - len(scores.samples)
        scores.samples.extend(_to_uint8(x) for x in rgb[: max(room, 0)])
        self._keep_extremes(scores, image_psnr, rgb, batch, gray)

    def _keep_extremes(
        self,
        scores: CandidateScores,
        image_psnr: torch.Tensor,
        rgb: torch.Tensor,
        batch: Batch,
        gray: torch.Tensor,
    ) -> None:
        k = self.options.extremes
        if k <= 0:
            return
        order = torch.argsort(image_psnr.cpu(), stable=True).tolist()
        chosen = sorted(set(order[:k] + order[-k:]))
        examples = [
            Example(
                batch.names[i],
                float(image_psnr[i]),
                _to_uint8(gray[i]),
                _to_uint8(rgb[i]),
                _to_uint8(batch.truth[i]),
            )
            for i in chosen
        ]
        scores.best = sorted(scores.best + examples, key=lambda e: -e.psnr)[:k]
        scores.worst = sorted(scores.worst + examples, key=lambda e: e.psnr)[:k]


def score_colorizers(
    candidates: Sequence[Candidate],
    batches: Iterable[Batch],
    protocol: Protocol,
    extractors: Sequence[FeatureExtractor] = (),
    options: ScoringOptions = ScoringOptions(),
    progress: Callable[[int], None] | None = None,
) -> Evaluation:
    """Score ``candidates`` (and the gray and truth references) on every batch of truths.

    Args:
        candidates: from :func:`polychrome.evaluate.candidates.resolve_candidate`, or a
            :class:`~polychrome.evaluate.candidates.NetworkCandidate` of a colorizer; labels must be unique.
        batches: truths under ``protocol``: a :class:`~polychrome.evaluate.protocol.PhotoStream` (whose
            counts of photos left out go into the result) or
            :func:`~polychrome.evaluate.protocol.tensor_batches`.
        extractors: feature extractors for Fréchet distances, already on the batches' device.
        progress: called with the number of photos judged so far.

    Raises:
        ValueError: duplicate labels, or no photo to judge.
    """
    labels = [c.label for c in candidates]
    if len(set(labels)) != len(labels) or {GRAY, TRUTH} & set(labels):
        raise ValueError(f"models must have distinct names other than {GRAY!r} and {TRUTH!r}, got {labels}")
    judge = _Judge([GrayCandidate(), *candidates, TruthCandidate()], extractors, options)
    for batch in batches:
        judge.judge(batch)
        if progress is not None:
            progress(len(judge.names))
    dropped = getattr(batches, "dropped", Counter())
    if not judge.names:
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(dropped.items())) or "the data holds no images"
        raise ValueError(f"no photo to evaluate ({reasons})")
    logger.info("judged %d photos", len(judge.names))
    render_sizes = {getattr(c, "render_size", None) for c in candidates} - {None}
    return Evaluation(
        protocol=protocol,
        names=judge.names,
        scores=judge.scores,
        extractors=[e.name for e in extractors],
        sources=list(getattr(batches, "sources", [])),
        render_size=render_sizes.pop() if len(render_sizes) == 1 else None,
        keep_gray=getattr(batches, "keep_gray", False),
        dropped=dropped,
        failures=list(getattr(batches, "failures", [])),
        problems=judge.problems,
    )
