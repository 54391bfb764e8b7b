"""Where training numbers go: CSV always, TensorBoard when it is installed, a PNG of the curves at the end.

Two CSV files, as training and validation are logged at different rhythms: ``train.csv`` gets a row every
``log_every`` steps (loss, learning rate, throughput), ``metrics.csv`` one per validation. Appending keeps
what a resumed run wrote before; a row always has the columns of the file's header.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch

from polychrome._atomic import atomic_write

logger = logging.getLogger(__name__)


def append_csv(path: Path, row: dict[str, float]) -> None:
    """Append ``row``. A new file gets a header from the row's keys; a row with keys the header lacks (the
    critic's losses once an adversarial run leaves pre-training) widens the header, earlier rows empty."""
    fields: list[str] = []
    if path.exists():
        with path.open() as f:
            fields = next(csv.reader(f), None) or []
    added = [k for k in row if k not in fields]
    if fields and added:
        with path.open() as f:
            rows = list(csv.DictReader(f))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=fields + added)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write(path, lambda handle: handle.write(text.getvalue().encode()))
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields + added, extrasaction="ignore")
        if not fields:
            writer.writeheader()
        writer.writerow(row)


def read_csv(path: Path) -> list[dict[str, float]]:
    if not path.exists():
        return []
    with path.open() as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]


class LossMeter:
    """The mean of each loss over the steps since it was last read, and how fast they went. Losses are summed
    on their device, so a step never waits for the host to read them."""

    def __init__(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._steps = 0
        self._since = time.monotonic()

    def add(self, losses: dict[str, torch.Tensor]) -> None:
        for key, value in losses.items():
            self._sums[key] = self._sums.get(key, 0) + value
        self._steps += 1

    def read(self, images_per_step: int) -> dict[str, float]:
        """The means, and ``images_per_s``; starts a new window."""
        elapsed = max(time.monotonic() - self._since, 1e-9)
        info = {key: float(total) / self._steps for key, total in self._sums.items()}
        info["images_per_s"] = self._steps * images_per_step / elapsed
        self._sums, self._steps, self._since = {}, 0, time.monotonic()
        return info


class ScalarLog:
    """Writes training and validation scalars of one run into ``run_dir``.

    Args:
        run_dir: the run folder; ``train.csv``, ``metrics.csv`` and ``tensorboard/`` go there.
        tensorboard: also write TensorBoard event files (needs the ``tensorboard`` package, in the train
            extra); without the package a note is logged once and the CSVs are still written.
    """

    def __init__(self, run_dir: Path, tensorboard: bool = True) -> None:
        self.train_path = run_dir / "train.csv"
        self.metrics_path = run_dir / "metrics.csv"
        self._writer: Any = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                logger.info("tensorboard is not installed: scalars go to CSV only")
            else:
                self._writer = SummaryWriter(str(run_dir / "tensorboard"))

    def _to_tensorboard(self, prefix: str, step: int, row: dict[str, float]) -> None:
        if self._writer is None:
            return
        for key, value in row.items():
            if key not in ("step", "epoch") and math.isfinite(value):
                self._writer.add_scalar(key if "/" in key else f"{prefix}/{key}", value, step)
        self._writer.flush()

    def log_train(self, step: int, values: dict[str, float]) -> None:
        row = {"step": step, **values}
        append_csv(self.train_path, row)
        self._to_tensorboard("train", step, row)

    def log_validation(self, step: int, values: dict[str, float]) -> None:
        row = {**values, "step": step}
        append_csv(self.metrics_path, row)
        self._to_tensorboard("val", step, row)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def plot_curves(run_dir: Path, path: Path | None = None) -> Path | None:
    """Draw the run's training loss and validation PSNR / colorfulness against step into ``curves.png``.

    Returns the path, or ``None`` when matplotlib (train extra) is missing or there is nothing to plot yet.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.info("matplotlib is not installed: no curves.png")
        return None
    train_rows = read_csv(run_dir / "train.csv")
    val_rows = read_csv(run_dir / "metrics.csv")
    if not train_rows and not val_rows:
        return None
    path = path or run_dir / "curves.png"
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), constrained_layout=True)
    loss_keys = sorted({k for r in train_rows for k in r if k.startswith("loss")})
    for key in loss_keys:
        axes[0].plot(
            [r["step"] for r in train_rows if key in r], [r[key] for r in train_rows if key in r], label=key
        )
    axes[0].set(title="training loss", xlabel="step")
    if len(loss_keys) > 1:
        axes[0].legend()
    panels = ((axes[1], "psnr", "validation PSNR (dB)"), (axes[2], "colorfulness", "colorfulness"))
    for ax, metric, title in panels:
        # The model's value, and the gray output's and the truth's beside it (dashed) where logged.
        for key in (f"val/{metric}", f"val/{metric}_gray", f"val/{metric}_truth"):
            points = [(r["step"], r[key]) for r in val_rows if key in r]
            if points:
                style = "-" if key == f"val/{metric}" else "--"
                ax.plot(*zip(*points, strict=True), style, marker="o", label=key.removeprefix("val/"))
        ax.set(title=title, xlabel="step")
        if ax.lines:
            ax.legend()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
