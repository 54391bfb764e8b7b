"""The training loop: short enough to read in one sitting.

Data is decoded once into uint8 arrays that live on the training device; each step draws random crops and
flips from them on the device and converts to Lab there, so no loader process stands between the GPU and
its data. Batch sampling is a pure function of (seed, step, rank), which is what makes ``resume`` exact.
"""

from __future__ import annotations

import itertools
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.nn.parallel import DistributedDataParallel

from polychrome.color.adjust import lab_to_rgb_in_gamut
from polychrome.color.lab import gray_rgb, lab_to_rgb, rgb_to_lab, rgb_to_lightness
from polychrome.color.quantize import AbBins, ab_bins, bin_histogram, rebalance_weights, smooth_priors
from polychrome.data.cache import read_cache
from polychrome.data.prepare import PrepareOptions, prepare_images
from polychrome.data.sources import Record, iter_records
from polychrome.data.split import SPLIT_ORDERS, split_indices
from polychrome.evaluate.metrics import colorfulness, psnr
from polychrome.models import ColorizationModel, create_model, load_pretrained, save_pretrained
from polychrome.pipelines.calibration import RenderCalibration
from polychrome.pipelines.image import Colorizer
from polychrome.pipelines.render import predict_ab
from polychrome.resize import ENLARGE_FILTERS
from polychrome.train.adversarial import Adversary
from polychrome.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from polychrome.train.config import DataConfig, TrainConfig, check_loss_options, save_config, to_dict
from polychrome.train.distributed import Distributed, init_distributed, shutdown_distributed
from polychrome.train.ema import build_ema
from polychrome.train.inputs import lightness_and_target
from polychrome.train.losses import AbRegressionLoss, RebalancedCrossEntropy
from polychrome.train.scalars import ScalarLog, plot_curves

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int, dict[str, float]], None]


@dataclass
class Collection:
    """One data collection, split, as uint8 ``(N, S, S, 3)`` tensors on the training device."""

    config: DataConfig
    train: torch.Tensor
    val: torch.Tensor
    summary: str
    ab_counts: torch.Tensor | None = None  # training-split ab-bin counts stored by `polychrome prepare`
    ab_centers: torch.Tensor | None = None  # the bins those counts are of


StoredCounts = tuple[torch.Tensor, torch.Tensor] | None  # ab-bin counts and their bin centres


def prepare_options(spec: DataConfig) -> PrepareOptions:
    """How a collection's sources are decoded, filtered and cropped (refuses a bad option when built)."""
    return PrepareOptions(spec.image_size, spec.min_size, spec.gray_chroma, spec.enlarge)


def collection_records(spec: DataConfig, sources: list[str] | None = None) -> Iterator[Record]:
    """The photos a collection trains on, in order: its sources (or ``sources``, the same shards found
    elsewhere), cut to its ``max_images``."""
    records = iter_records(list(sources if sources is not None else spec.sources))
    if spec.max_images is not None:
        records = itertools.islice(records, spec.max_images)
    return records


def _images_and_split(
    spec: DataConfig, config: TrainConfig
) -> tuple[torch.Tensor, dict[str, np.ndarray], str, StoredCounts]:
    """A collection's uint8 images, its split, a line saying what was kept and dropped, and the training
    split's ab-bin counts (with their bins) when a cache holds them."""
    if spec.cache is not None:
        cache = read_cache(spec.cache)
        if spec.crop_size > cache.image_size:
            raise ValueError(f"crop_size {spec.crop_size} is larger than the images of {spec.cache}")
        dropped = ", ".join(f"{n} {reason}" for reason, n in cache.manifest.get("dropped", {}).items())
        counts, centers = cache.stats.get("ab_counts"), cache.stats.get("ab_centers")
        stored = (torch.from_numpy(counts), torch.from_numpy(centers)) if counts is not None else None
        described = f"{spec.cache}: {len(cache.names)} kept ({dropped})"
        return torch.from_numpy(cache.images), cache.splits, described, stored
    if spec.crop_size > spec.image_size:
        raise ValueError(f"crop_size {spec.crop_size} is larger than image_size {spec.image_size}")
    prepared = prepare_images(collection_records(spec), prepare_options(spec), workers=config.workers)
    if len(prepared.names) == 0:
        raise ValueError(f"{', '.join(spec.sources)}: no usable images ({prepared.summary()})")
    parts = split_indices(prepared.names, spec.split, seed=config.seed, order=spec.split_order)
    return torch.from_numpy(prepared.images), parts, f"{', '.join(spec.sources)}: {prepared.summary()}", None


def load_collections(config: TrainConfig, device: torch.device) -> list[Collection]:
    if not config.data:
        raise ValueError("no training data: set data (a list of collections with sources) in the config")
    collections = []
    for spec in config.data:
        images, parts, described, stored = _images_and_split(spec, config)
        if spec.val_size is not None and spec.val_size > images.shape[1]:  # a cache keeps its own size
            raise ValueError(
                f"{spec.cache or ', '.join(spec.sources)}: val_size {spec.val_size} is larger than its "
                f"{images.shape[1]} px images"
            )
        summary = f"{described}; train {len(parts['train'])}, val {len(parts['val'])}"
        logger.info(summary)
        collections.append(
            Collection(
                spec,
                images[torch.from_numpy(parts["train"])].to(device),
                images[torch.from_numpy(parts["val"])].to(device),
                summary,
                *(stored or (None, None)),
            )
        )
    return collections


def _step_generator(seed: int, step: int, rank: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 1024 + rank)


def sample_batch(
    collections: list[Collection], batch_size: int, seed: int, step: int, rank: int = 0, world_size: int = 1
) -> torch.Tensor:
    """Random crops with random horizontal flips, as float RGB ``(B, 3, c, c)`` in 0..1 on the device;
    with a collection's ``zoom``, cut larger or smaller and resized to ``c`` (one scale per batch).

    The collection is drawn with probability proportional to its ``weight``; the draw depends only on
    ``(seed, step, rank)``. Under DDP each rank draws only from its own part of the training images (every
    ``world_size``-th image, starting at ``rank``), so the ranks together see each image once per pass.
    """
    gen = _step_generator(seed, step, rank)
    weights = torch.tensor([c.config.weight for c in collections], dtype=torch.float64)
    which = int(torch.multinomial(weights, 1, generator=gen)) if len(collections) > 1 else 0
    coll = collections[which]
    batch_size = coll.config.batch_size or batch_size
    n, size = coll.train.shape[0], coll.train.shape[1]
    out_size = crop = coll.config.crop_size
    lo, hi = coll.config.zoom
    if (lo, hi) != (1.0, 1.0):  # no draw otherwise: runs without zoom keep their batches
        scale = lo * (hi / lo) ** float(torch.rand((), generator=gen))
        crop = max(1, min(size, round(out_size / scale)))
    own = len(range(rank, n, world_size))
    if own == 0:
        raise ValueError(f"rank {rank} has no training images: fewer images than the {world_size} processes")
    idx = rank + world_size * torch.randint(own, (batch_size,), generator=gen)
    oy = torch.randint(size - crop + 1, (batch_size,), generator=gen)
    ox = torch.randint(size - crop + 1, (batch_size,), generator=gen)
    flip = torch.rand(batch_size, generator=gen) < 0.5
    span = torch.arange(crop)
    rows = oy[:, None] + span
    cols = ox[:, None] + span
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    dev = coll.train.device
    batch = coll.train[idx.to(dev)[:, None, None], rows.to(dev)[:, :, None], cols.to(dev)[:, None, :]]
    batch = batch.permute(0, 3, 1, 2).float().div_(255.0)
    if crop != out_size:
        batch = F.interpolate(
            batch, size=(out_size, out_size), mode="bilinear", antialias=crop > out_size, align_corners=False
        ).clamp_(0, 1)
    if coll.config.blur > 0:
        batch = blur_by_rescaling(batch, coll.config.blur, coll.config.blur_max_factor, gen)
    return batch


def blur_by_rescaling(
    images: torch.Tensor, share: float, max_factor: float, gen: torch.Generator
) -> torch.Tensor:
    """Soften a random ``share`` of ``images`` ``(B, 3, H, W)`` by scaling each down by a factor drawn from
    1..``max_factor`` (in steps of 0.5, so images with the same factor are resized together) and back up
    with bilinear interpolation, which is how the inference pipeline enlarges a small photo."""
    n, _, h, w = images.shape
    chosen = torch.rand(n, generator=gen) < share
    factors = ((1 + torch.rand(n, generator=gen) * (max_factor - 1)) * 2).round() / 2
    out = images.clone()
    for factor in factors[chosen].unique().tolist():
        if factor <= 1:
            continue
        idx = (chosen & (factors == factor)).nonzero().squeeze(1).to(images.device)
        small = F.interpolate(
            images[idx],
            size=(max(1, round(h / factor)), max(1, round(w / factor))),
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )
        out[idx] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False).clamp_(0, 1)
    return out


def measure_priors(collections: list[Collection], grid: AbBins, stride: int, sigma: float) -> torch.Tensor:
    """Smoothed ab-bin distribution of the training images, at the model's output resolution.

    When every collection comes from a cache prepared on the same bins, the counts it stored are used
    instead of measuring again (they are counted at full resolution rather than after the model's
    ``stride`` pooling, which makes a negligible difference to smoothed priors).
    """

    def same_bins(c: Collection) -> bool:
        return c.ab_centers is not None and torch.equal(c.ab_centers.float(), grid.centers.float().cpu())

    if all(c.ab_counts is not None and same_bins(c) for c in collections):
        logger.info("class priors from the prepared caches' color statistics")
        return smooth_priors(sum(c.ab_counts.double() for c in collections), grid.centers, sigma)
    counts = torch.zeros(grid.num_bins, dtype=torch.float64)
    for coll in collections:
        for start in range(0, len(coll.train), 256):
            rgb = coll.train[start : start + 256].permute(0, 3, 1, 2).float() / 255.0
            ab = F.avg_pool2d(rgb_to_lab(rgb)[:, 1:], stride)
            counts += bin_histogram(grid.encode_hard(ab), grid.num_bins).cpu()
    return smooth_priors(counts, grid.centers, sigma)


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up, then cosine decay to ``min_ratio``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def schedule_factor(step: int, config: TrainConfig) -> float:
    """The learning-rate multiplier at ``step``: warm-up, then the configured cosine or step decay."""
    o = config.optim
    if o.schedule == "cosine":
        return lr_factor(step, o.warmup_steps, config.steps, o.min_lr_ratio)
    if o.schedule == "step":
        if step < o.warmup_steps:
            return (step + 1) / o.warmup_steps
        return o.step_gamma ** ((step - o.warmup_steps) // o.step_every)
    raise ValueError(f"optim.schedule must be 'cosine' or 'step', got {o.schedule!r}")


def build_optimizer(model: ColorizationModel, config: TrainConfig) -> torch.optim.Optimizer:
    encoder = [p for n, p in model.named_parameters() if n.startswith("encoder.")]
    rest = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    o = config.optim
    groups = [{"params": rest, "lr": o.lr}]
    if encoder:
        groups.append({"params": encoder, "lr": o.lr * o.encoder_lr_scale})
    return torch.optim.AdamW(groups, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)


def frozen_encoder_parameters(model: ColorizationModel, config: TrainConfig) -> list[torch.nn.Parameter]:
    """The encoder parameters that ``optim.encoder`` keeps fixed (until ``optim.unfreeze_at_step``).

    "partial" trains the last ``encoder_trainable_blocks`` blocks of the encoder (its deepest, most
    task-specific features) and keeps the stem and earlier blocks as ImageNet left them.
    """
    o = config.optim
    if o.encoder not in ("train", "frozen", "partial"):
        raise ValueError(f"optim.encoder must be train, frozen or partial, got {o.encoder!r}")
    encoder = getattr(model, "encoder", None)
    if o.encoder == "train":
        return []
    if encoder is None:
        raise ValueError(
            f"optim.encoder={o.encoder} needs a model with an encoder; {model.architecture} has none"
        )
    frozen = list(encoder.parameters())
    if o.encoder == "partial":
        blocks = list(getattr(encoder, "_blocks", []))
        if not 0 < o.encoder_trainable_blocks <= len(blocks):
            raise ValueError(f"optim.encoder_trainable_blocks must be 1..{len(blocks)} for partial training")
        trainable = {id(p) for block in blocks[-o.encoder_trainable_blocks :] for p in block.parameters()}
        frozen = [p for p in frozen if id(p) not in trainable]
    return frozen


def apply_encoder_schedule(frozen: list[torch.nn.Parameter], step: int, unfreeze_at: int | None) -> None:
    """Frozen parameters take no gradient (AdamW then leaves them, and their moments, untouched) until
    ``unfreeze_at``; resuming past that step trains them again."""
    trainable = unfreeze_at is not None and step >= unfreeze_at
    for p in frozen:
        p.requires_grad_(trainable)


@torch.no_grad()
def validate(
    model: ColorizationModel, collections: list[Collection], config: TrainConfig, autocast: torch.dtype | None
) -> dict[str, float]:
    """PSNR and colorfulness of predictions on each collection's validation images: the whole centre crops
    colored at their own size, or, with the collection's ``val_size``, brought down to that size and colored
    through the render size by :meth:`~polychrome.pipelines.image.Colorizer.colorize_lightness` (fp32), as
    the benchmark protocol colors and scores them."""
    was_training = model.training
    model.eval()
    metrics: dict[str, float] = {}
    for i, coll in enumerate(collections):
        val = coll.val[: config.val_max_images]
        size = coll.config.val_size
        # Small photos reach the render size as this collection's were enlarged for training, where the
        # pipeline has that filter; a model's own calibration is chosen only after training.
        enlarge = coll.config.enlarge if coll.config.enlarge in ENLARGE_FILTERS else "bilinear"
        render = RenderCalibration(enlarge=enlarge)
        colorizer = Colorizer(model, device=val.device, render=render) if size is not None else None
        scores = {"psnr": [], "psnr_gray": [], "colorfulness": [], "colorfulness_truth": []}
        for start in range(0, len(val), 64):
            truth = val[start : start + 64].permute(0, 3, 1, 2).float() / 255.0
            if colorizer is not None:
                if size != truth.shape[-1]:  # the photo at the size it is scored at
                    truth = F.interpolate(truth, size=(size, size), mode="area")
                lightness = rgb_to_lightness(truth)
                pred = colorizer.colorize_lightness(lightness)
            else:
                lightness = rgb_to_lightness(truth)
                ab = predict_ab(model, lightness, autocast_dtype=autocast)
                pred = lab_to_rgb(torch.cat((lightness, ab), dim=1))
            gray = gray_rgb(lightness)
            scores["psnr"].append(psnr(pred, truth).clamp(max=100))
            scores["psnr_gray"].append(psnr(gray, truth).clamp(max=100))
            scores["colorfulness"].append(colorfulness(pred))
            scores["colorfulness_truth"].append(colorfulness(truth))
        for key, values in scores.items():
            if values:
                metrics[f"val{i}/{key}"] = float(torch.cat(values).mean())
    keys = ("psnr", "psnr_gray", "colorfulness", "colorfulness_truth")
    for key in keys:
        values = [metrics[f"val{i}/{key}"] for i in range(len(collections)) if f"val{i}/{key}" in metrics]
        if values:
            metrics[f"val/{key}"] = float(np.mean(values))
    model.train(was_training)
    return metrics


@torch.no_grad()
def save_grid(
    model: ColorizationModel, images: torch.Tensor, path: Path, autocast: torch.dtype | None = None
) -> None:
    """A PNG with one row per image: gray input | prediction | truth; the prediction's out-of-gamut colors are
    pulled toward gray, as `polychrome colorize` shows them, so it keeps the photo's lightness."""
    was_training = model.training
    model.eval()
    truth = images.permute(0, 3, 1, 2).float() / 255.0
    lightness = rgb_to_lightness(truth)
    lab = torch.cat((lightness, predict_ab(model, lightness, autocast_dtype=autocast)), dim=1)
    pred = lab_to_rgb_in_gamut(lab)
    gray = gray_rgb(lightness)
    rows = torch.cat((gray, pred, truth), dim=3)  # side by side
    grid = torch.cat(list(rows), dim=1)  # stacked
    array = (grid.permute(1, 2, 0).clamp(0, 1) * 255).round().byte().cpu().numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    model.train(was_training)


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    finished: bool
    metrics: dict[str, float] = field(default_factory=dict)
    stopped_by: str | None = None  # the signal (e.g. "SIGTERM") that paused an unfinished run


class NonFiniteLoss(RuntimeError):
    pass


_AUTOCAST = {"fp32": None, "bf16-mixed": torch.bfloat16, "fp16-mixed": torch.float16}


def compute_loss(
    model: ColorizationModel,
    criterion: torch.nn.Module,
    rgb: torch.Tensor,
    channels_last: bool,
    autocast: torch.dtype | None,
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """The loss of one batch of RGB crops: L in, ab (pooled to the model's output stride) as the target.

    ``forward`` runs the network when it is wrapped (DDP, ``torch.compile``); default: ``model`` itself.
    """
    lightness, target_ab, target_lightness = lightness_and_target(rgb, model.output_stride, channels_last)
    with torch.autocast(rgb.device.type, dtype=autocast, enabled=autocast is not None):
        output = (forward if forward is not None else model)(lightness)
    return criterion(output, target_ab, target_lightness)


def apply_update(
    model: ColorizationModel,
    optimizer: torch.optim.Optimizer,
    loss: torch.Tensor,
    grad_clip: float,
    scaler: torch.amp.GradScaler | None = None,
) -> None:
    """Backward, optional gradient clipping (on unscaled gradients), optimizer step."""
    scaler = scaler or torch.amp.GradScaler(enabled=False)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if grad_clip > 0:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()


class _StopOnSignals:
    """While active, SIGINT and SIGTERM ask the loop to checkpoint and stop after the current step instead of
    killing it mid-write (a second signal interrupts at once, as usual)."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested is not None:
            signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))
            signal.raise_signal(signum)
        self.requested = signal.Signals(signum).name

    def __enter__(self) -> _StopOnSignals:
        if threading.current_thread() is threading.main_thread():  # only the main thread may set handlers
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def train(
    config: TrainConfig,
    run_dir: str | Path,
    resume: bool = False,
    on_progress: ProgressCallback | None = None,
) -> TrainResult:
    """Train (or continue training) the model described by ``config``, writing everything into ``run_dir``.

    ``run_dir`` receives ``config.yaml``, ``checkpoints/last.pt`` and ``best.pt`` (best validation PSNR),
    ``train.csv`` and ``metrics.csv`` (plus TensorBoard events when installed), ``grids/epoch_NNN.png``
    and, when the run finishes, ``curves.png`` and ``model/`` (safetensors + JSON). Under ``torchrun`` every
    process runs this function; rank 0 alone writes.
    """
    started = time.monotonic()
    run_dir = Path(run_dir)
    last_path = run_dir / "checkpoints" / "last.pt"
    if config.precision not in _AUTOCAST:
        raise ValueError(f"precision must be one of {', '.join(_AUTOCAST)}, got {config.precision!r}")
    schedule_factor(0, config)  # an unknown schedule fails here, before any data is decoded
    if not resume and last_path.exists():
        raise FileExistsError(f"{run_dir}: a run already exists there; pass --resume to continue it")
    ctx, device = init_distributed(config.device)
    try:
        return _train(config, run_dir, resume, on_progress, ctx, device, started)
    finally:
        shutdown_distributed(ctx)


def _train(
    config: TrainConfig,
    run_dir: Path,
    resume: bool,
    on_progress: ProgressCallback | None,
    ctx: Distributed,
    device: torch.device,
    started: float,
) -> TrainResult:
    last_path = run_dir / "checkpoints" / "last.pt"
    torch.manual_seed(config.seed)
    autocast = _AUTOCAST[config.precision] if device.type == "cuda" else None
    # fp16 needs its loss scaled against underflow; elsewhere the scaler passes everything through.
    scaler = torch.amp.GradScaler(device.type, enabled=autocast is torch.float16)

    model = create_model(
        config.model.name, pretrained_encoder=config.model.pretrained_encoder, **config.model.args
    )
    check_loss_options(config.loss, model.head_type)
    if config.model.init_from is not None:
        model.load_state_dict(load_pretrained(config.model.init_from).state_dict())
    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, config)
    o = config.optim
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: schedule_factor(s, config))
    # The averaged copy is what gets validated and exported; BN statistics are averaged along with weights.
    ema = None
    if o.ema_decay is not None:
        ema = build_ema(model, o.ema_decay)
    shown: ColorizationModel = ema.module if ema is not None else model
    frozen = frozen_encoder_parameters(model, config)
    if frozen and o.unfreeze_at_step is not None and ctx.enabled:
        raise ValueError(
            "optim.unfreeze_at_step runs in one process (DDP fixes the trained parameters at start)"
        )
    apply_encoder_schedule(frozen, 0, o.unfreeze_at_step)
    # What the training step calls: DDP averages gradients across processes; compile fuses kernels.
    forward: torch.nn.Module = model
    if ctx.enabled:
        forward = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if config.compile:
        forward = torch.compile(forward, backend=config.compile_backend)

    for spec in config.data:
        if not 0 < spec.zoom[0] <= spec.zoom[1]:
            raise ValueError(f"zoom {list(spec.zoom)} must be two scales with 0 < low <= high")
        if spec.val_size is not None and not 0 < spec.val_size <= spec.image_size:
            raise ValueError(f"val_size {spec.val_size} must be between 1 and image_size {spec.image_size}")
        prepare_options(spec)  # its own checks (enlarge), before the data loads
        if spec.split_order not in SPLIT_ORDERS:
            raise ValueError(f"split_order {spec.split_order!r} must be one of {', '.join(SPLIT_ORDERS)}")
        for option in ("enlarge", "split_order"):
            if spec.cache is not None and getattr(spec, option) != getattr(DataConfig, option):
                flag = "--" + option.replace("_", "-")
                raise ValueError(
                    f"{spec.cache}: {option} applies to sources; a cache keeps how it was made "
                    f"(polychrome prepare {flag})"
                )
        if spec.crop_size % model.input_multiple:
            raise ValueError(
                f"crop_size {spec.crop_size} must be a multiple of {model.input_multiple} for this model"
            )
    # Built before the data loads, so a bad loss option fails in seconds, not minutes.
    pixel_loss = None
    if model.head_type == "regression":
        pixel_loss = AbRegressionLoss(
            config.loss.regression,
            colorfulness=config.loss.colorfulness,
            colorfulness_per=config.loss.colorfulness_per,
            space=config.loss.space,
        )
    adversary = None
    if config.adversarial is not None:
        if model.head_type != "regression":
            raise ValueError(f"the adversarial recipe needs a regression generator, not {config.model.name}")
        if ctx.enabled:
            raise ValueError(
                "the adversarial recipe runs in one process (its gradient penalty is not DDP-ready)"
            )
        adversary = Adversary(config.adversarial, device, pixel_loss=pixel_loss)

    collections = load_collections(config, device)
    batch_images = config.batch_size * ctx.world_size
    passes = sum(
        len(c.train) / ((c.config.batch_size or config.batch_size) * ctx.world_size) for c in collections
    )
    steps_per_epoch = config.steps_per_epoch or max(1, math.ceil(passes))

    step, best_psnr, priors, stale = 0, -math.inf, None, 0
    ckpt: dict[str, Any] = {}
    if resume:
        ckpt = load_checkpoint(last_path)
        model.load_state_dict(ckpt["model"])
        if ema is not None:
            ema.load_state_dict(ckpt["ema"])
        if ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        stale = ckpt.get("stale_validations", 0)
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        step, best_psnr, priors = ckpt["step"], ckpt["best_psnr"], ckpt.get("priors")
        apply_encoder_schedule(frozen, step, o.unfreeze_at_step)
        if adversary is not None and ckpt.get("adversary") is not None:
            adversary.load_state_dict(ckpt["adversary"])
        set_rng_state(ckpt["rng"])
        logger.info("resumed from %s at step %d", last_path, step)
    if ctx.is_main:
        # Written only once the data and any checkpoint have loaded: a start that fails leaves the run's
        # record of how it was made as it was.
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, run_dir / "config.yaml")

    if model.head_type == "classification":
        grid = ab_bins(model.ab_centers.cpu(), model.init_args.get("ab_grid"))
        if priors is None:
            priors = measure_priors(collections, grid, model.output_stride, config.loss.prior_sigma)
        weights = rebalance_weights(priors, config.loss.rebalance_lambda)
        criterion: torch.nn.Module = RebalancedCrossEntropy(
            grid,
            weights,
            k=config.loss.soft_k,
            sigma=config.loss.soft_sigma,
            decoded_l1=config.loss.decoded_l1,
            decode_temperature=float(model.init_args.get("decode_temperature", 0.38)),
        ).to(device)
    else:
        criterion = pixel_loss

    def checkpoint_state() -> dict[str, Any]:
        return {
            "model": model.state_dict(),
            "ema": ema.state_dict() if ema is not None else None,
            "scaler": scaler.state_dict(),
            "stale_validations": stale,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "best_psnr": best_psnr,
            "priors": priors,
            "rng": rng_state(),
            "config": to_dict(config),
            "adversary": adversary.state_dict() if adversary is not None else None,
        }

    scalars = ScalarLog(run_dir, tensorboard=config.tensorboard) if ctx.is_main else None
    model.train()
    metrics: dict[str, float] = {}
    window: dict[str, torch.Tensor] = {}
    window_n, window_start = 0, time.monotonic()

    def stop_if(non_finite: bool, loss: torch.Tensor) -> None:
        # Checked before the update, so the weights stay good.
        if non_finite:
            raise NonFiniteLoss(
                f"loss became {loss.item()} at step {step}; stopped. The last good checkpoint is {last_path}"
            )

    def check_finite(loss: torch.Tensor) -> None:  # the adversarial recipe's, in one process
        stop_if(not bool(torch.isfinite(loss)), loss)

    def over_time() -> bool:
        return config.max_minutes is not None and time.monotonic() - started > config.max_minutes * 60

    def update(loss: torch.Tensor) -> None:
        apply_update(model, optimizer, loss, o.grad_clip, scaler)

    out_of_time = early_stop = False
    with _StopOnSignals() as stop:
        while step < config.steps:
            if frozen and step == o.unfreeze_at_step:
                apply_encoder_schedule(frozen, step, o.unfreeze_at_step)
                logger.info("step %d: the whole encoder trains from now on", step)
            rgb = sample_batch(collections, config.batch_size, config.seed, step, ctx.rank, ctx.world_size)
            if adversary is not None and adversary.active(step):  # one process only
                losses = adversary.step(
                    model, forward, rgb, update, check_finite, autocast, config.channels_last
                )
                out_of_time, requested = over_time(), stop.requested is not None
            else:
                loss = compute_loss(model, criterion, rgb, config.channels_last, autocast, forward)
                # Every decision of the step in one agreement between the ranks, so none waits for another.
                non_finite, out_of_time, requested = ctx.agree(
                    (not bool(torch.isfinite(loss)), over_time(), stop.requested is not None), device
                )
                stop_if(non_finite, loss)
                update(loss)
                losses = {"loss": loss.detach()}
            if ema is not None:
                ema.update_parameters(model)
            scheduler.step()
            step += 1
            for key, value in losses.items():  # summed on the device: no host sync per step
                window[key] = window.get(key, 0) + value
            window_n += 1
            # The last step logs too, so a run shorter than log_every still has its train.csv row.
            if (step % config.log_every == 0 or step == config.steps) and scalars is not None:
                elapsed = time.monotonic() - window_start
                info = {key: float(total) / window_n for key, total in window.items()}
                info["lr"] = optimizer.param_groups[0]["lr"]
                info["images_per_s"] = window_n * batch_images / max(elapsed, 1e-9)
                scalars.log_train(step, info)
                if on_progress is not None:
                    on_progress(step, config.steps, info)
                window, window_n, window_start = {}, 0, time.monotonic()
            if step % steps_per_epoch == 0 or step == config.steps or out_of_time:
                if scalars is not None:
                    epoch = math.ceil(step / steps_per_epoch)
                    metrics = validate(shown, collections, config, autocast)
                    metrics.update({"step": step, "epoch": epoch, "loss": float(losses["loss"])})
                    logger.info("step %d: %s", step, ", ".join(f"{k}={v:.3f}" for k, v in metrics.items()))
                    scalars.log_validation(step, metrics)
                    grid_source = collections[0].val[: config.grid_images]
                    if len(grid_source):
                        save_grid(shown, grid_source, run_dir / "grids" / f"epoch_{epoch:03d}.png", autocast)
                    improved = metrics.get("val/psnr", -math.inf) > best_psnr
                    stale = 0 if improved else stale + 1
                    early_stop = (
                        config.early_stop_patience is not None and stale >= config.early_stop_patience
                    )
                    if improved:
                        best_psnr = metrics["val/psnr"]
                        best_path = run_dir / "checkpoints" / "best.pt"
                        save_checkpoint({**checkpoint_state(), "best_psnr": best_psnr}, best_path)
                    save_checkpoint(checkpoint_state(), last_path)
                early_stop = ctx.any(early_stop, device)
            if out_of_time:
                logger.info(
                    "time budget of %.1f min reached at step %d; resume to continue", config.max_minutes, step
                )
                break
            if early_stop:
                logger.info("no better val/psnr in %d validations: stopping early at step %d", stale, step)
                if ctx.is_main:
                    best = load_checkpoint(run_dir / "checkpoints" / "best.pt", map_location=device)
                    model.load_state_dict(best["model"])
                    if ema is not None:
                        ema.load_state_dict(best["ema"])
                    metrics = {**metrics, "best_step": best["step"]}
                break
            # One process stops at once; several stop together at the next step's agreement.
            if requested or (not ctx.enabled and stop.requested is not None):
                if ctx.is_main:
                    save_checkpoint(checkpoint_state(), last_path)
                logger.info(
                    "stopped by %s at step %d, checkpoint saved; resume to continue",
                    stop.requested or "another process",
                    step,
                )
                break

    finished = step >= config.steps or early_stop
    if scalars is not None:
        scalars.close()
        if finished:
            plot_curves(run_dir)
            export_model(shown, run_dir / "model", config, metrics, priors)
    ctx.barrier()  # the others wait until rank 0 has written the model
    return TrainResult(run_dir, step, finished, metrics, None if finished else stop.requested)


def export_model(
    model: ColorizationModel,
    directory: Path,
    config: TrainConfig,
    metrics: dict[str, float],
    priors: torch.Tensor | None,
) -> Path:
    """Save the model as safetensors + config.json, with the training config and final metrics inside."""
    extra = {
        "train_config": to_dict(config),
        "metrics": metrics,
        "class_priors": priors.tolist() if priors is not None else None,
    }
    model_cpu = model.to("cpu", memory_format=torch.contiguous_format)
    return save_pretrained(model_cpu, directory, extra)
