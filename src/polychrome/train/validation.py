"""What a training run measures each epoch: its model scored on every collection's validation photos through
the one scoring path (:func:`polychrome.evaluate.scoring.score_colorizers`), colored by
:class:`~polychrome.pipelines.image.Colorizer` exactly as `polychrome colorize` colors a photo, and a grid
of gray | prediction | truth to look at."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from polychrome.evaluate.candidates import GRAY, TRUTH, NetworkCandidate
from polychrome.evaluate.protocol import get_protocol, tensor_batches
from polychrome.evaluate.scoring import Evaluation, ScoringOptions, score_colorizers
from polychrome.models import ColorizationModel
from polychrome.pipelines.calibration import RenderCalibration
from polychrome.pipelines.image import Colorizer
from polychrome.resize import ENLARGE_FILTERS
from polychrome.train.config import TrainConfig
from polychrome.train.data import Collection

MODEL = "model"
# Per collection i: val{i}/<key>, from the model's row (and the gray and truth rows' where named so).
REPORTED = {
    "psnr": (MODEL, "psnr"),
    "psnr_gray": (GRAY, "psnr"),
    "ssim": (MODEL, "ssim"),
    "ssim_gray": (GRAY, "ssim"),
    "colorfulness": (MODEL, "colorfulness"),
    "colorfulness_truth": (TRUTH, "colorfulness"),
}


def validation_colorizer(model: ColorizationModel, collection: Collection) -> Colorizer:
    """The model as `polychrome colorize` would color with it; small photos reach the render size as the
    collection's were enlarged for training, where the pipeline has that filter (a model's own rendering
    settings are chosen only after training)."""
    enlarge = collection.config.prepare.enlarge
    render = RenderCalibration(enlarge=enlarge if enlarge in ENLARGE_FILTERS else "bilinear")
    return Colorizer(model, device=collection.val.device, render=render)


@torch.no_grad()
def validate(
    model: ColorizationModel, collections: list[Collection], config: TrainConfig
) -> tuple[dict[str, float], Evaluation | None]:
    """``val{i}/...`` scores of each collection's first ``val_max_images`` validation photos, at their
    ``val_size`` (or as prepared), and their means over the collections as ``val/...``; and the first
    collection's evaluation, whose first ``grid_images`` pictures make the epoch's grid."""
    was_training = model.training
    metrics: dict[str, float] = {}
    first: Evaluation | None = None
    try:
        for i, coll in enumerate(collections):
            photos = coll.val[: config.val_max_images]
            if len(photos) == 0:
                continue
            protocol = get_protocol("native" if coll.config.val_size is None else coll.config.val_size)
            candidate = NetworkCandidate(MODEL, validation_colorizer(model, coll))
            options = ScoringOptions(grid_images=config.grid_images if i == 0 else 0, extremes=0)
            evaluation = score_colorizers(
                [candidate], tensor_batches(photos, protocol), protocol, options=options
            )
            summary = evaluation.summary()
            for key, (row, column) in REPORTED.items():
                metrics[f"val{i}/{key}"] = float(summary[row][column])
            first = first or evaluation
    finally:
        model.train(was_training)
    for key in REPORTED:
        values = [metrics[f"val{i}/{key}"] for i in range(len(collections)) if f"val{i}/{key}" in metrics]
        if values:
            metrics[f"val/{key}"] = float(np.mean(values))
    return metrics, first


def save_grid(evaluation: Evaluation, path: Path) -> None:
    """A PNG with one row per photo: gray input | prediction | truth, as the evaluation kept them (the
    prediction as `polychrome colorize` shows it)."""
    rows = zip(*(evaluation.scores[label].samples for label in (GRAY, MODEL, TRUTH)), strict=True)
    picture = np.concatenate([np.concatenate(row, axis=1) for row in rows], axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(picture).save(path)
