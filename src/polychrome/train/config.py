"""Training configuration: frozen dataclasses filled from defaults, a YAML recipe, then overrides.

The resolved config is saved beside every run and every exported model, so a result can always be traced to
exactly what produced it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args, get_origin, get_type_hints

import yaml

from polychrome.data.prepare import PrepareOptions
from polychrome.devices import PRECISIONS

if TYPE_CHECKING:
    from polychrome.models import ColorizationModel


@dataclass(frozen=True)
class SourcePreparation:
    """How a collection's sources are decoded, filtered, cropped and split before training (the ``prepare``
    section of a collection; a cache from `polychrome prepare` records its own, made by the same code)."""

    image_size: int = 256  # shorter side resized to this, then the centre square
    min_size: int = 64  # photos smaller on their shorter side are dropped
    gray_chroma: float = 2.0  # photos with a smaller mean chroma (Lab units) are dropped as gray
    # How photos smaller than image_size are enlarged: lanczos, or the inference pipeline's own code with
    # bilinear or bicubic, so small photos are trained on as a model enlarging so is shown them.
    enlarge: str = "lanczos"
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)  # train, validation, test shares
    # How photos are ordered before the split cuts them: "permutation" (a seeded shuffle) or "stable" (a
    # seeded hash of each name, so a few photos kept or dropped move only a few others between parts).
    split_order: str = "permutation"
    max_images: int | None = None  # the first this many photos of the sources
    dedup: bool = True  # drop near-copies of a photo kept before, as `polychrome prepare` does

    def decode_options(self) -> PrepareOptions:
        return PrepareOptions(self.image_size, self.min_size, self.gray_chroma, self.enlarge)


@dataclass(frozen=True)
class DataConfig:
    """One image collection: ``sources`` prepared as ``prepare`` says, or a ``cache`` file from `polychrome
    prepare` (which keeps how it was prepared, and its split). Training takes random ``crop_size`` crops
    with horizontal flips; validation scores the collection's validation photos."""

    sources: tuple[str, ...] = ()
    cache: str | None = None
    prepare: SourcePreparation = field(default_factory=SourcePreparation)
    crop_size: int = 224
    weight: float = 1.0  # share of training steps drawn from this collection, relative to the others
    batch_size: int | None = None  # default: TrainConfig.batch_size (small images can take bigger batches)
    # Share of training crops shown soft: scaled down by a random factor in 1..blur_max_factor and back up
    # bilinearly, as a small or soft photo is when the pipeline brings it to the render size.
    blur: float = 0.0
    blur_max_factor: float = 4.0
    # Scale jitter: each batch's crops are cut at crop_size / s pixels and resized to crop_size, s drawn
    # log-uniformly from this range (s > 1 zooms in). (1, 1) cuts crop_size crops as they are.
    zoom: tuple[float, float] = (1.0, 1.0)
    # The size validation photos are scored at (brought down to it, then colored through the render size
    # as `polychrome colorize` colors them); None: at the size they were prepared at.
    val_size: int | None = None


@dataclass(frozen=True)
class ModelConfig:
    name: str = "effunet_lite0_cls"
    pretrained_encoder: bool = True
    args: dict[str, Any] = field(default_factory=dict)
    init_from: str | None = None  # a saved model folder to start from (fine-tuning); its weights must fit


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 1e-3
    encoder_lr_scale: float = 0.3  # the pretrained encoder moves more slowly than the fresh decoder
    # "train" (all of it), "frozen" (none of it), or "partial" (only its last encoder_trainable_blocks blocks)
    encoder: str = "train"
    encoder_trainable_blocks: int = 0
    unfreeze_at_step: int | None = None  # from this step on, the whole encoder trains
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.99)
    warmup_steps: int = 500
    schedule: str = "cosine"  # after warm-up: cosine | step
    min_lr_ratio: float = 0.02  # cosine decays to lr * min_lr_ratio
    step_every: int = 10_000  # step schedule: multiply the lr by step_gamma every this many steps
    step_gamma: float = 0.1
    grad_clip: float = 1.0
    ema_decay: float | None = None  # keep an exponential moving average of the weights (e.g. 0.999)
    # The batch size ``lr`` was chosen for: with another, the rate is scaled by sqrt(batch / lr_batch), the
    # rule that keeps Adam's updates alike as batches grow. None: ``lr`` as given.
    lr_batch: int | None = None
    fused: bool | None = None  # AdamW's fused kernels (one launch for all parameters); None: on CUDA


@dataclass(frozen=True)
class LossConfig:
    regression: str = "l1"  # l1 | l2 | smooth_l1
    rebalance_lambda: float = 0.5  # mix with uniform for class weights; 1 = no rebalancing
    soft_k: int = 5
    soft_sigma: float = 5.0
    prior_sigma: float = 5.0
    decoded_l1: float = 0.0  # classification: weight of L1 on the annealed-mean decoding
    colorfulness: float = 0.0  # regression: weight of matching the truth's colorfulness (AbRegressionLoss)
    colorfulness_per: str = "image"  # image (each image's colorfulness; measured better) | batch (the mean's)
    space: str = "ab"  # regression: compare colors in ab, or in sRGB after merging with the truth's L (rgb)


@dataclass(frozen=True)
class CriticOptimConfig:
    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.9)  # WGAN-GP's Adam settings
    weight_decay: float = 0.0


@dataclass(frozen=True)
class AdversarialConfig:
    """The adversarial recipe (see ``polychrome.train.recipes.adversarial``) around the model's own recipe."""

    critic: str = "patchgan"  # a name from polychrome.models.list_critics()
    critic_args: dict[str, Any] = field(default_factory=dict)
    pretrain_steps: int = 5000  # the generator alone on its own loss first (0 when it starts trained)
    generator_steps: int = 2  # generator updates per batch (the seed trains it twice)
    critic_steps: int = 1  # critic updates per batch
    gp_lambda: float = 10.0
    # Weight of the recipe's supervised loss against the adversarial term: regression's pixel loss
    # (loss.regression on ab / 110 plus loss.colorfulness; pix2pix's 100 for L1), or classification's
    # rebalanced cross-entropy (a few nats, so a weight of about 10 puts it on the same scale).
    supervised_weight: float = 100.0
    critic_optim: CriticOptimConfig = field(default_factory=CriticOptimConfig)


@dataclass(frozen=True)
class HintSampling:
    """How training draws color hints from the truth for a model that takes them, as Zhang et al. 2017 draw
    them: a photo's number of hints from a geometric distribution on 0, 1, 2... (P(n) = p (1 - p)^n, a mean
    of 7 for p = 1/8), each hint the mean ab of a square of the true colors, of random side 1..max_patch px,
    at a random place."""

    points_p: float = 0.125
    none_share: float = 0.01  # besides the geometric draw's own zeros, this share of photos gets no hints
    max_patch: int = 9
    max_points: int = 100  # a photo's count is cut here (the geometric tail is long)


@dataclass(frozen=True)
class TrainConfig:
    data: tuple[DataConfig, ...] = ()
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    adversarial: AdversarialConfig | None = None  # set to train with a critic (WGAN-GP) after pre-training
    hints: HintSampling = field(default_factory=HintSampling)  # for a model that takes color hints
    batch_size: int = 32
    steps: int = 10_000
    steps_per_epoch: int | None = None  # default: one pass over the training images
    precision: str = "bf16-mixed"  # fp32 | bf16-mixed | fp16-mixed (mixed precision takes effect on CUDA)
    channels_last: bool = True
    compile: bool = False  # torch.compile the training step's loss (Lab conversion, network, criterion)
    compile_backend: str = "inductor"
    # inductor's mode: "reduce-overhead" records CUDA graphs (a step of many small kernels is bound by their
    # launches otherwise); "max-autotune" also searches kernels.
    compile_mode: str = "default"
    tensorboard: bool = True  # TensorBoard event files too, when the package is installed (train extra)
    seed: int = 0
    device: str = "auto"
    workers: int | None = None  # processes for decoding; default all cores
    max_minutes: float | None = None  # stop (with a checkpoint) after this long; resume later
    checkpoint_every_minutes: float | None = None  # also checkpoint this often between validations
    early_stop_patience: int | None = None  # stop after this many validations without a better val/psnr
    val_max_images: int = 512
    grid_images: int = 8
    log_every: int = 50


SCHEDULES = ("cosine", "step")
ENCODER_TRAINING = ("train", "frozen", "partial")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
# The loss options only one kind of head reads; setting one for the other kind is a mistake worth an error.
_LOSS_OPTIONS_OF_HEAD = {
    "classification": ("rebalance_lambda", "soft_k", "soft_sigma", "prior_sigma", "decoded_l1"),
    "regression": ("regression", "colorfulness", "colorfulness_per", "space"),
}


def check_config(config: TrainConfig, model: ColorizationModel, world_size: int = 1) -> None:
    """Every check of a training config, in one place, run before any data is read or anything written:
    a run that would fail (or silently ignore part of its recipe) after minutes of decoding fails in
    seconds instead. ``model`` is the model the config builds; ``world_size`` the number of processes.

    Raises:
        ValueError: naming the field (``data.1.prepare.split_order``) and what is wrong with it.
    """
    from polychrome.data.split import SPLIT_ORDERS
    from polychrome.models import list_critics

    def need(ok: bool, message: str) -> None:
        if not ok:
            raise ConfigError(message)

    need(bool(config.data), "no training data: set data (a list of collections with sources) in the config")
    for i, spec in enumerate(config.data):
        where, prep = f"data.{i}", spec.prepare
        need(bool(spec.sources) != (spec.cache is not None), f"{where}: give either sources or a cache")
        if spec.cache is not None:
            need(
                prep == SourcePreparation(),
                f"{where}.prepare: {spec.cache} keeps how it was prepared and split (polychrome prepare "
                "--size, --enlarge, --split-order ...); remove prepare beside a cache",
            )
        else:
            need(
                spec.crop_size <= prep.image_size,
                f"{where}: crop_size {spec.crop_size} is larger than image_size {prep.image_size}",
            )
            if spec.val_size is not None:
                need(
                    spec.val_size <= prep.image_size,
                    f"{where}: val_size {spec.val_size} must be between 1 and image_size {prep.image_size}",
                )
        try:
            prep.decode_options()
        except ValueError as err:
            raise ConfigError(f"{where}.prepare: {err}") from None
        need(
            prep.split_order in SPLIT_ORDERS,
            f"{where}.prepare.split_order: {prep.split_order!r} must be one of {', '.join(SPLIT_ORDERS)}",
        )
        need(
            min(prep.split) >= 0 and sum(prep.split) > 0,
            f"{where}.prepare.split: {list(prep.split)} must be "
            "three non-negative shares with a positive sum",
        )
        need(
            spec.val_size is None or spec.val_size >= 16,
            f"{where}: val_size {spec.val_size} must be at least 16",
        )
        need(
            0 < spec.zoom[0] <= spec.zoom[1],
            f"{where}: zoom {list(spec.zoom)} must be two scales with 0 < low <= high",
        )
        need(
            0 <= spec.blur <= 1 and spec.blur_max_factor >= 1,
            f"{where}: blur must be a share in 0..1 and blur_max_factor at least 1",
        )
        need(spec.weight > 0, f"{where}: weight must be > 0, got {spec.weight}")
        multiple = model.input_multiple
        need(
            spec.crop_size % multiple == 0,
            f"{where}: crop_size {spec.crop_size} must be a multiple of {multiple} for this model",
        )
    need(
        config.precision in PRECISIONS,
        f"precision must be one of {', '.join(PRECISIONS)}, got {config.precision!r}",
    )
    o = config.optim
    need(o.schedule in SCHEDULES, f"optim.schedule must be 'cosine' or 'step', got {o.schedule!r}")
    need(o.encoder in ENCODER_TRAINING, f"optim.encoder must be train, frozen or partial, got {o.encoder!r}")
    encoder = getattr(model, "encoder", None)
    if o.encoder != "train":
        need(
            encoder is not None,
            f"optim.encoder={o.encoder} needs a model with an encoder; {model.architecture} has none",
        )
    if o.encoder == "partial" and encoder is not None:
        blocks = len(getattr(encoder, "_blocks", []))
        need(
            0 < o.encoder_trainable_blocks <= blocks,
            f"optim.encoder_trainable_blocks must be 1..{blocks} for partial training",
        )
    if o.unfreeze_at_step is not None and o.encoder != "train":
        need(
            world_size == 1,
            "optim.unfreeze_at_step runs in one process (DDP fixes the trained parameters at start)",
        )
    default = LossConfig()
    ignored = [
        f"loss.{name}={getattr(config.loss, name)}"
        for head, names in _LOSS_OPTIONS_OF_HEAD.items()
        if head != model.head_type
        for name in names
        if getattr(config.loss, name) != getattr(default, name)
    ]
    need(
        not ignored, f"{', '.join(ignored)}: not used by {model.head_type} models; remove it from the recipe"
    )
    loss = config.loss
    need(
        loss.regression in ("l1", "l2", "smooth_l1"),
        f"loss.regression must be l1, l2 or smooth_l1, got {loss.regression!r}",
    )
    need(loss.colorfulness >= 0, f"loss.colorfulness must be >= 0, got {loss.colorfulness}")
    need(
        loss.colorfulness_per in ("image", "batch"),
        f"loss.colorfulness_per must be image or batch, got {loss.colorfulness_per!r}",
    )
    need(loss.space in ("ab", "rgb"), f"loss.space must be ab or rgb, got {loss.space!r}")
    h = config.hints
    if model.takes_hints:
        need(
            0 < h.points_p <= 1 and 0 <= h.none_share <= 1,
            "hints: points_p must be in (0, 1] and none_share in 0..1",
        )
        need(h.max_patch >= 1 and h.max_points >= 0, "hints: max_patch must be >= 1 and max_points >= 0")
        need(
            all(spec.crop_size >= h.max_patch for spec in config.data),
            f"hints.max_patch {h.max_patch} is larger than a crop",
        )
        need(config.adversarial is None, "the adversarial recipe does not draw hints; remove adversarial")
    else:
        need(h == HintSampling(), f"hints: {model.architecture} takes no color hints; remove hints")
    if config.adversarial is not None:
        need(
            model.decode_options.get("method") != "mode",
            "the adversarial recipe needs a generator whose decoding passes gradients (annealed_mean, mean "
            f"or topk_mean), not {config.model.name}'s mode",
        )
        need(
            world_size == 1,
            "the adversarial recipe runs in one process (its gradient penalty is not DDP-ready)",
        )
        need(
            config.adversarial.critic in list_critics(),
            f"adversarial.critic: unknown critic "
            f"{config.adversarial.critic!r}; available: {', '.join(list_critics())}",
        )
    need(
        config.compile_mode in COMPILE_MODES,
        f"compile_mode must be one of {', '.join(COMPILE_MODES)}, got {config.compile_mode!r}",
    )
    need(o.lr_batch is None or o.lr_batch >= 1, f"optim.lr_batch must be at least 1, got {o.lr_batch}")
    for name in ("steps", "batch_size", "log_every", "val_max_images"):
        need(getattr(config, name) >= 1, f"{name} must be at least 1, got {getattr(config, name)}")


class ConfigError(ValueError):
    """A training config that cannot be run as written; the message names the field."""


def build_model(config: TrainConfig) -> ColorizationModel:
    """The model a config describes; arguments it does not take are a :class:`ConfigError` naming them."""
    from polychrome.models import create_model

    try:
        return create_model(
            config.model.name, pretrained_encoder=config.model.pretrained_encoder, **config.model.args
        )
    except TypeError as err:
        raise ConfigError(f"model.args: {config.model.name} does not take them ({err})") from None
    except ValueError as err:
        raise ConfigError(f"model: {err}") from None


class ConfigFieldError(ConfigError):
    """A value that does not fit its field, named by its dotted path (``data.0.zoom``)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def _coerce_at(path: str, tp: Any, value: Any) -> Any:
    """:func:`_coerce` for the field at ``path``, which prefixes the path of any error below it."""
    try:
        return _coerce(tp, value)
    except ConfigFieldError as err:
        raise ConfigFieldError(f"{path}.{err.path}", err.reason) from None
    except ValueError as err:
        raise ConfigFieldError(path, str(err)) from None


def _coerce(tp: Any, value: Any) -> Any:
    """Turn YAML/CLI values into the declared field type (tuples, nested dataclasses, optionals)."""
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ValueError(f"expected a mapping for {tp.__name__}, got {value!r}")
        return from_dict(tp, value)
    if origin is tuple:
        args = get_args(tp)
        items = list(value) if isinstance(value, list | tuple) else [value]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce_at(str(i), args[0], v) for i, v in enumerate(items))
        if len(items) != len(args):
            raise ValueError(f"expected {len(args)} values, got {value!r}")
        return tuple(_coerce_at(str(i), a, v) for i, (a, v) in enumerate(zip(args, items, strict=True)))
    if origin is not None and type(None) in get_args(tp):  # X | None
        if value is None:
            return None
        inner = [a for a in get_args(tp) if a is not type(None)][0]
        return _coerce(inner, value)
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):  # YAML 1.1 reads 3e-4 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
    if tp is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if tp in (int, float, str, bool) and not isinstance(value, tp):
        raise ValueError(f"expected {tp.__name__}, got {value!r}")
    return value


def from_dict(cls: type, values: dict[str, Any]) -> Any:
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(sorted(unknown))}")
    return cls(**{k: _coerce_at(k, hints[k], v) for k, v in values.items()})


def to_dict(config: Any) -> dict[str, Any]:
    def plain(v: Any) -> Any:
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(config))


def _set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node: Any = tree
    for i, part in enumerate(parts[:-1]):
        nxt = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if nxt is None:
            raise ValueError(f"cannot set {key}: {'.'.join(parts[: i + 1])} is empty")
        node = nxt
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def _merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` on top: mappings merge key by key, anything else (lists too) is replaced."""
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def _read_recipe(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The YAML recipe at ``path``, on top of the recipe its ``base`` names (relative to ``path``'s folder),
    so a variant says only what it changes."""
    try:
        recipe = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such config file") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})".replace("\n", " ")) from None
    if not isinstance(recipe, dict):
        raise ConfigError(f"{path}: a config must be a mapping of fields")
    base = recipe.pop("base", None)
    if base is None:
        return recipe
    base_path = (path.parent / str(base)).resolve()
    if base_path in seen:
        raise ConfigError(f"{path}: base {base} leads back to itself")
    return _merged(_read_recipe(base_path, (*seen, base_path)), recipe)


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Defaults, then the YAML recipe at ``path`` (on top of its ``base`` recipe, if it names one), then
    ``key=value`` overrides (``optim.lr=3e-4``, ``data.0.sources=[a.tar,b.tar]``; values read as YAML)."""
    tree = to_dict(TrainConfig())
    if path is not None:
        path = Path(path)
        tree.update(_read_recipe(path, (path.resolve(),)))
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as err:
            problem = str(getattr(err, "problem", None) or "not valid YAML")
            raise ConfigError(f"override {item!r}: {problem} (the value is read as YAML)") from None
        try:
            _set_dotted(tree, key.strip(), value)
        except (IndexError, KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"override {item!r}: {err}") from None
    try:
        return from_dict(TrainConfig, tree)
    except ConfigError:
        raise
    except ValueError as err:
        raise ConfigError(str(err)) from None


def save_config(config: TrainConfig, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
