"""Judging several colorizers on the same photos in one pass, beside a gray output and the truth.

The data is streamed: records are decoded and cropped a chunk at a time in parallel
(:func:`polychrome.data.prepare.prepare_images`, :mod:`polychrome.evaluate.protocol`), then every candidate
colorizes each batch on the evaluation device and every metric accumulates, so memory does not grow with
the data set. An image that any candidate cannot provide (a missing or unreadable output file) is left out
for all of them and reported, so every row of the table is computed on the same photos.

Per image: PSNR (dB, capped at 100 so the truth row stays finite), SSIM, colorfulness, the AuC of the ab
error and the bin accuracy. Over the data set: their means (PSNR and SSIM as the mean of per-image values),
delta-CF = |mean colorfulness - the truth's| (as DDColor reports it), the AuC and bin accuracy over all
pixels (:mod:`polychrome.evaluate.ab_error`), and a Fréchet distance to the truth per feature extractor
(:mod:`polychrome.evaluate.frechet`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import numpy as np
import torch

from polychrome.color.lab import rgb_to_lab, rgb_to_lightness
from polychrome.data.prepare import prepare_images, rgb_tensor
from polychrome.data.sources import Record, iter_records
from polychrome.evaluate.ab_error import AbErrorStats
from polychrome.evaluate.candidates import (
    GRAY,
    TRUTH,
    Batch,
    Candidate,
    CandidateOutput,
    GrayCandidate,
    TruthCandidate,
)
from polychrome.evaluate.frechet import FeatureExtractor, FeatureStatistics, feature_distance
from polychrome.evaluate.metrics import colorfulness, psnr, ssim
from polychrome.evaluate.protocol import EVAL_SIZE, protocol_options

logger = logging.getLogger(__name__)

PSNR_CAP = 100.0
PER_IMAGE_METRICS = ("psnr", "ssim", "colorfulness", "auc", "bin_accuracy")


@dataclass(frozen=True)
class EvaluateOptions:
    """How photos are judged.

    Attributes:
        size: evaluation crop (shorter side resized to it, centre square).
        render_size: shorter side at which networks see the photos (as ``polychrome colorize``).
        limit: judge only the first ``limit`` usable photos.
        batch_size: photos per network call and per metric step.
        keep_gray: also judge photos that are already gray.
        workers: processes decoding the data (default: all cores).
        grid_images: photos shown side by side for every candidate in the report.
        extremes: best and worst photos (by PSNR) kept per candidate.
        chunk: records decoded per call of the parallel decoder.
    """

    size: int = EVAL_SIZE
    render_size: int = 256
    limit: int | None = None
    batch_size: int = 32
    keep_gray: bool = False
    workers: int | None = None
    grid_images: int = 8
    extremes: int = 3
    chunk: int = 256


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
    """The result of :func:`evaluate_candidates`; rows are ordered gray, the candidates, truth."""

    options: EvaluateOptions
    sources: list[str]
    names: list[str]
    scores: dict[str, CandidateScores]
    extractors: list[str]
    dropped: Counter = field(default_factory=Counter)
    failures: list[tuple[str, str]] = field(default_factory=list)
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (candidate, image, reason)

    @property
    def labels(self) -> list[str]:
        return list(self.scores)

    def summary(self) -> dict[str, dict[str, Any]]:
        """Data-set numbers per row: images, psnr, ssim, colorfulness, colorfulness_delta, auc,
        auc_rebalanced, bin_accuracy and one Fréchet distance per extractor (None below 2 photos)."""
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
        return table

    def cdf(self, label: str, rebalanced: bool = False) -> list[float]:
        return self.scores[label].ab.cdf(rebalanced).tolist()


def _chunks(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    iterator = iter(records)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _to_uint8(rgb: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` float in 0..1 -> ``(H, W, 3)`` uint8."""
    return (rgb.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()


class _Judge:
    """Accumulates the scores of every candidate, batch by batch."""

    def __init__(
        self,
        candidates: Sequence[Candidate],
        extractors: Sequence[FeatureExtractor],
        options: EvaluateOptions,
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
                [batch.records[i] for i in keep],
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


def evaluate_candidates(
    candidates: Sequence[Candidate],
    sources: Sequence[str],
    options: EvaluateOptions = EvaluateOptions(),
    extractors: Sequence[FeatureExtractor] = (),
    device: str | torch.device = "cpu",
    progress: Callable[[int], None] | None = None,
) -> Evaluation:
    """Score ``candidates`` (and the gray and truth references) on the photos of ``sources``.

    Args:
        candidates: from :func:`polychrome.evaluate.candidates.resolve_candidate`; labels must be unique.
        sources: folders, globs, tar shards, zip archives or image files, as for
            :func:`polychrome.data.sources.iter_records`.
        extractors: feature extractors for Fréchet distances, already on ``device``.
        device: where the truth, the networks and the metrics live.
        progress: called with the number of photos judged so far.

    Raises:
        FileNotFoundError: a source does not exist. ValueError: duplicate labels, or no photo to judge.
    """
    labels = [c.label for c in candidates]
    if len(set(labels)) != len(labels) or {GRAY, TRUTH} & set(labels):
        raise ValueError(f"models must have distinct names other than {GRAY!r} and {TRUTH!r}, got {labels}")
    device = torch.device(device)
    judge = _Judge([GrayCandidate(), *candidates, TruthCandidate()], extractors, options)
    prepare = protocol_options(options.size, options.keep_gray)
    dropped: Counter = Counter()
    failures: list[tuple[str, str]] = []
    usable = 0
    for chunk in _chunks(iter_records(list(sources)), options.chunk):
        prepared = prepare_images(chunk, prepare, workers=options.workers)
        dropped.update(prepared.dropped)
        failures.extend(prepared.failures)
        records = {r.name: r for r in chunk}
        count = len(prepared.names)
        if options.limit is not None:
            count = min(count, options.limit - usable)
        for start in range(0, count, options.batch_size):
            stop = min(count, start + options.batch_size)
            truth = rgb_tensor(prepared.images[start:stop]).to(device)
            names = prepared.names[start:stop]
            judge.judge(Batch(names, [records[n] for n in names], truth, rgb_to_lightness(truth)))
            if progress is not None:
                progress(len(judge.names))
        usable += count
        logger.info("judged %d photos", len(judge.names))
        if options.limit is not None and usable >= options.limit:
            break
    if not judge.names:
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(dropped.items())) or "the data holds no images"
        raise ValueError(f"no photo to evaluate ({reasons})")
    return Evaluation(
        options=options,
        sources=list(sources),
        names=judge.names,
        scores=judge.scores,
        extractors=[e.name for e in extractors],
        dropped=dropped,
        failures=failures,
        problems=judge.problems,
    )
