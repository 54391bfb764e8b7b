"""The training loop: short enough to read in one sitting.

``train`` sets a run up (model, every config check, optimizer, recipe, data, a checkpoint to resume from),
then ``_fit`` runs the loop: draw a batch, let the recipe step on it, log, and at the end of each epoch
validate, checkpoint and decide whether to stop. Everything a recipe differs in lives in
:mod:`polychrome.train.recipes`; batches in :mod:`~polychrome.train.data`; the optimizer, schedule and
encoder freezing in :mod:`~polychrome.train.optim`; validation in :mod:`~polychrome.train.validation`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from polychrome._atomic import remove_stale_temporaries
from polychrome.devices import PRECISIONS
from polychrome.models import ColorizationModel, load_pretrained, save_pretrained
from polychrome.train.checkpoint import (
    checkpoint_exists,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from polychrome.train.config import TrainConfig, build_model, check_config, save_config, to_dict
from polychrome.train.data import grow_collections, load_collections, sample_batch, steps_per_pass
from polychrome.train.distributed import Distributed, init_distributed, shutdown_distributed
from polychrome.train.optim import Optimization
from polychrome.train.recipes import NonFiniteLoss, build_recipe
from polychrome.train.scalars import LossMeter, ScalarLog, plot_curves
from polychrome.train.stopping import NonFiniteWatch, StopOnSignals
from polychrome.train.validation import save_grid, validate

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int, dict[str, float]], None]


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    finished: bool
    metrics: dict[str, float] = field(default_factory=dict)
    stopped_by: str | None = None  # the signal (e.g. "SIGTERM") that paused an unfinished run


@dataclass
class _Progress:
    """Where the run stands; all of it goes into every checkpoint."""

    step: int = 0
    best_psnr: float = -math.inf
    stale_validations: int = 0  # validations since the best
    out_of_time: bool = False  # agreed by every process at the last update
    stop_requested: bool = False


def train(
    config: TrainConfig,
    run_dir: str | Path,
    resume: bool = False,
    on_progress: ProgressCallback | None = None,
) -> TrainResult:
    """Train (or continue training) the model described by ``config``, writing everything into ``run_dir``.

    ``run_dir`` receives ``config.yaml``, the checkpoints ``checkpoints/last/`` and ``best/`` (best validation
    PSNR; :mod:`polychrome.train.checkpoint`), ``train.csv`` and ``metrics.csv`` (plus TensorBoard events when
    installed), ``grids/epoch_NNN.png`` and, when the run finishes, ``curves.png`` and ``model/``
    (safetensors + JSON). Under ``torchrun`` every process runs this function; rank 0 alone writes.
    """
    started = time.monotonic()
    run_dir = Path(run_dir)
    if not resume and checkpoint_exists(run_dir / "checkpoints" / "last"):
        raise FileExistsError(f"{run_dir}: a run already exists there; pass --resume to continue it")
    ctx, device = init_distributed(config.device)
    try:
        return _fit(config, run_dir, resume, on_progress, ctx, device, started)
    finally:
        shutdown_distributed(ctx)


def _fit(
    config: TrainConfig,
    run_dir: Path,
    resume: bool,
    on_progress: ProgressCallback | None,
    ctx: Distributed,
    device: torch.device,
    started: float,
) -> TrainResult:
    last_path, best_path = run_dir / "checkpoints" / "last", run_dir / "checkpoints" / "best"
    torch.manual_seed(config.seed)
    model = build_model(config)
    check_config(config, model, ctx.world_size)  # before any data is read or anything written
    if config.model.init_from is not None:
        model.load_initial_weights(load_pretrained(config.model.init_from).state_dict())
    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    autocast = PRECISIONS[config.precision] if device.type == "cuda" else None
    weights = Optimization(model, config, autocast, ctx.world_size)
    # What the training step calls: DDP averages gradients across processes (a recipe compiles its step).
    forward: torch.nn.Module = model
    if ctx.enabled:
        forward = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    progress, metrics = _Progress(), {}
    ckpt: dict[str, Any] = load_checkpoint(last_path) if resume else {}
    collections = load_collections(config, device, ckpt.get("data"))
    recipe = build_recipe(model, forward, config, device, autocast, collections, ckpt.get("recipe"))
    if resume:
        progress = _Progress(ckpt["step"], ckpt["best_psnr"], ckpt["stale_validations"])
        metrics = ckpt["metrics"]
        weights.load_state_dict(ckpt["weights"], progress.step)
        set_rng_state(ckpt["rng"])
        logger.info("resumed from %s at step %d", last_path, progress.step)
    if ctx.is_main:
        # Written only once the data and any checkpoint have loaded: a start that fails leaves the run's
        # record of how it was made as it was.
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, run_dir / "config.yaml")
        for folder in (run_dir, last_path, best_path):  # what a killed run was writing when it died
            remove_stale_temporaries(folder)

    def save(path: Path) -> None:
        state = {
            "step": progress.step,
            "best_psnr": progress.best_psnr,
            "stale_validations": progress.stale_validations,
        }
        data = [c.parts for c in collections]
        state |= {
            "weights": weights.state_dict(),
            "recipe": recipe.state_dict(),
            "data": data,
            "metrics": metrics,
        }
        save_checkpoint({**state, "rng": rng_state(), "config": to_dict(config)}, path)

    def check_finite(loss: torch.Tensor) -> None:
        watch.watch(loss, progress.step)

    def stop_if_non_finite(together: bool = True) -> None:
        # Read before anything is logged, validated or saved: the weights on disk stay good. Where every
        # process reaches this point at the same step, they stop together.
        bad = watch.first_bad_step()
        if ctx.any(bad is not None, device) if together else bad is not None:
            where = f"step {bad}" if bad is not None else "another process"
            raise NonFiniteLoss(
                f"loss became NaN or infinite at {where}; stopped. The last good checkpoint is {last_path}"
            )

    def update(loss: torch.Tensor) -> None:
        # Every decision of the step in one agreement between the processes, so none waits for another.
        over_time = config.max_minutes is not None and time.monotonic() - started > config.max_minutes * 60
        progress.out_of_time, progress.stop_requested = ctx.agree(
            (over_time, stop.requested is not None), device
        )
        check_finite(loss)
        weights.update(loss)

    scalars = ScalarLog(run_dir, tensorboard=config.tensorboard) if ctx.is_main else None
    epoch_steps = config.steps_per_epoch or steps_per_pass(collections, config.batch_size, ctx.world_size)
    model.train()
    meter, saved, early_stop, watch = LossMeter(), (progress.step, time.monotonic()), False, NonFiniteWatch()
    ran = progress.step < config.steps
    with StopOnSignals() as stop:
        while progress.step < config.steps:
            step = progress.step
            rgb = sample_batch(collections, config.batch_size, config.seed, step, ctx.rank, ctx.world_size)
            losses = recipe.step(rgb, step, update, check_finite)
            weights.end_step(step)
            progress.step = step = step + 1
            meter.add(losses)
            # The last step logs too, so a run shorter than log_every still has its train.csv row.
            if step % config.log_every == 0 or step == config.steps:
                stop_if_non_finite()
            if (step % config.log_every == 0 or step == config.steps) and scalars is not None:
                info = {**meter.read(config.batch_size * ctx.world_size), "lr": weights.lr}
                scalars.log_train(step, info)
                if on_progress is not None:
                    on_progress(step, config.steps, info)
            if step % epoch_steps == 0 or step == config.steps or progress.out_of_time:
                stop_if_non_finite()
                if step < config.steps and not progress.out_of_time and grow_collections(collections, config):
                    epoch_steps = config.steps_per_epoch or steps_per_pass(
                        collections, config.batch_size, ctx.world_size
                    )
                if scalars is not None:
                    epoch = math.ceil(step / epoch_steps)
                    metrics, evaluation = validate(weights.shown, collections, config)
                    metrics.update({"step": step, "epoch": epoch, "loss": float(losses["loss"])})
                    shown = ", ".join(
                        f"{k}={v:.3f}" for k, v in metrics.items() if k not in ("step", "epoch")
                    )
                    logger.info("step %d (epoch %d): %s", step, epoch, shown)
                    scalars.log_validation(step, metrics)
                    if evaluation is not None and config.grid_images > 0:
                        save_grid(evaluation, run_dir / "grids" / f"epoch_{epoch:03d}.png")
                    improved = metrics.get("val/psnr", -math.inf) > progress.best_psnr
                    progress.stale_validations = 0 if improved else progress.stale_validations + 1
                    if improved:
                        progress.best_psnr = metrics["val/psnr"]
                        save(best_path)
                    save(last_path)
                    saved = (step, time.monotonic())
                    patience = config.early_stop_patience
                    early_stop = patience is not None and progress.stale_validations >= patience
                early_stop = ctx.any(early_stop, device)
            every = config.checkpoint_every_minutes
            if every is not None and saved[0] != step and time.monotonic() - saved[1] >= every * 60:
                stop_if_non_finite(together=False)  # the processes' clocks differ: each checks its own
                if ctx.is_main:
                    save(last_path)
                saved = (step, time.monotonic())
            if progress.out_of_time:
                logger.info(
                    "time budget of %.1f min reached at step %d; resume to continue", config.max_minutes, step
                )
                break
            if early_stop:
                logger.info(
                    "no better val/psnr in %d validations: stopping early at step %d",
                    progress.stale_validations,
                    step,
                )
                if ctx.is_main:
                    best = load_checkpoint(best_path, map_location=device)
                    weights.load_weights(best["weights"])
                    metrics = {**metrics, "best_step": best["step"]}
                break
            # One process stops at once; several stop together at the next step's agreement.
            if progress.stop_requested or (not ctx.enabled and stop.requested is not None):
                stop_if_non_finite()
                if ctx.is_main:
                    save(last_path)
                who = stop.requested or "another process"
                logger.info("stopped by %s at step %d, checkpoint saved; resume to continue", who, step)
                break

    finished = progress.step >= config.steps or early_stop
    if scalars is not None:
        scalars.close()
        if finished and (ran or not (run_dir / "model").is_dir()):  # a finished run resumed stays as it was
            plot_curves(run_dir)
            export_model(weights.shown, run_dir / "model", config, metrics, recipe.exports())
    ctx.barrier()  # the others wait until rank 0 has written the model
    return TrainResult(run_dir, progress.step, finished, metrics, None if finished else stop.requested)


def export_model(
    model: ColorizationModel, directory: Path, config: TrainConfig, metrics: dict[str, float], extra: dict
) -> Path:
    """Save the model as safetensors + config.json, with the training config, final metrics and what the
    recipe keeps (class priors) inside."""
    record = {"train_config": to_dict(config), "metrics": metrics, "class_priors": None, **extra}
    model_cpu = model.to("cpu", memory_format=torch.contiguous_format)
    return save_pretrained(model_cpu, directory, record)


def export_checkpoint(run_dir: str | Path, config: TrainConfig) -> Path:
    """Export the model of the run's last checkpoint, as a finished run exports its own, into
    ``run_dir/model-step-N``: a paused run's model, to evaluate (or hand to another machine) before the run
    ends. An existing folder of that name is refused, never replaced."""
    run_dir = Path(run_dir)
    ckpt = load_checkpoint(run_dir / "checkpoints" / "last")  # a clear error when there is none
    directory = run_dir / f"model-step-{ckpt['step']}"
    if directory.exists():
        raise FileExistsError(f"{directory}: already exported; remove it to export again")
    # The checkpoint holds every weight: no pretrained encoder to load, nothing to compile.
    config = replace(
        config, model=replace(config.model, pretrained_encoder=False, init_from=None), compile=False
    )
    model = build_model(config)
    weights = Optimization(model, config, None)
    weights.load_weights(ckpt["weights"])
    recipe = build_recipe(model, model, config, torch.device("cpu"), None, [], ckpt.get("recipe"))
    return export_model(weights.shown, directory, config, ckpt["metrics"], recipe.exports())
