"""The user-facing colorizer: photos in, colorized photos out, at their full resolution.

One object, one call, in the manner of a diffusers pipeline: :meth:`Colorizer.__call__` takes paths, PIL
images, numpy arrays, tensors or lists of them and returns a :class:`ColorizerOutput`. Inside there is one
path for everything: photos of one size are colorized as a batch (the network at the render size, ab
adjusted there, then merged with each photo's own lightness in strips of rows, so a 24-megapixel photo
needs only a few strips of buffers). ``polychrome colorize``, ``polychrome evaluate`` and the training
run's validation all color through it.

Example:
    >>> from polychrome import Colorizer
    >>> colorizer = Colorizer.from_pretrained()  # the built-in model, on the CPU, fp32
    >>> colorized = colorizer("old_photo.jpg").images[0]  # doctest: +SKIP
    >>> colorized.save("colorized.png")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

import numpy as np
from PIL import Image

from polychrome._model_files import read_config
from polychrome._runtime_names import PRECISION_NAMES, device_error, is_device_name, precision_error
from polychrome.color.constants import DECODE_METHODS
from polychrome.images import LoadedImage, load_image, to_uint8
from polychrome.pipelines.backends import ONNX_DEVICES, Backend, choose_backend, model_files, torch_needed
from polychrome.pipelines.calibration import RenderCalibration
from polychrome.pipelines.hints import Hint, as_hints, render_hint_map, spread_hints
from polychrome.pipelines.onnx_network import OnnxNetwork
from polychrome.pipelines.render_size import render_shape

if TYPE_CHECKING:  # PyTorch is optional: the base install colorizes with ONNX Runtime
    import torch

    from polychrome.models import ColorizationModel

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "effunet-lite0"
# The built-in network that takes a built-in model's hints when asked (hint_method="network"; method 2 of
# docs/hints.md). It colors closer to the truth than spreading at every count measured, but one hint moves
# colors far beyond the region it names (BENCHMARKS section 14), so spreading stays the default.
HINT_MODELS = {DEFAULT_MODEL: "effunet-lite0-hints"}
HINT_METHODS = ("auto", "spread", "network")
OutputType = Literal["pil", "np", "pt"]
ImageInput = Union[str, Path, Image.Image, np.ndarray, "torch.Tensor"]  # noqa: UP007 - a string member


@dataclass(frozen=True)
class DecodeOptions:
    """How a classification model turns its distribution over ab bins into one color per pixel.

    Unset fields keep the model's own default (saved with it). Regression models ignore these options.

    Attributes:
        method: ``annealed_mean`` (Zhang et al.'s, between the dull mean and the noisy mode), ``topk_mean``,
            ``mean`` or ``mode``.
        temperature: the annealed mean's temperature (0.38 in the paper); lower is more vivid.
        k: how many of each pixel's most probable bins ``topk_mean`` averages.
    """

    method: str | None = None
    temperature: float | None = None
    k: int | None = None

    def __post_init__(self) -> None:
        if self.method is not None and self.method not in DECODE_METHODS:
            raise ValueError(
                f"decode method must be one of {', '.join(sorted(DECODE_METHODS))}, got {self.method!r}"
            )
        if self.temperature is not None and not self.temperature > 0:
            raise ValueError(f"decode temperature must be > 0, got {self.temperature}")
        if self.k is not None and self.k < 1:
            raise ValueError(f"decode k must be at least 1, got {self.k}")

    def overrides(self) -> dict[str, Any]:
        """The options a model's ``predict_ab`` takes, only those that were set."""
        return {
            k: v
            for k, v in (("method", self.method), ("temperature", self.temperature), ("k", self.k))
            if v is not None
        }


@dataclass
class ColorizerOutput:
    """What :meth:`Colorizer.__call__` returns.

    Attributes:
        images: the colorized photos, in the order given: PIL images (``output_type="pil"``; an alpha channel
            is kept), float32 ``(H, W, 3)`` arrays in 0..1 (``"np"``; ``(H, W, 4)`` with alpha), or a float32
            ``(B, 3, H, W)`` tensor on the colorizer's device (``"pt"``; photos of one size).
        ab: the ab the network predicted for each photo at the render size (at its output stride), after the
            saturation and warm/cool controls, in Lab units: ``(h, w, 2)`` float32 arrays, or a
            ``(B, 2, h, w)`` tensor for ``"pt"``.
        timings: seconds spent reading the inputs (``read``), in the network (``network``, the resize to
            the render size included) and merging with the full-resolution lightness (``merge``).
    """

    images: list[Image.Image] | list[np.ndarray] | torch.Tensor
    ab: list[np.ndarray] | torch.Tensor
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class AbPrediction:
    """What :meth:`Colorizer.predict_ab` returns for a batch.

    Attributes:
        ab: ``(B, 2, h, w)`` float32 ab in Lab units at the network's output resolution, on its device.
        lightness: ``(B, 1, rh, rw)`` the L (0..100) that the network saw, at the render size.
        covered: how many ab pixels the photos span vertically and horizontally (the rest is padding).
    """

    ab: torch.Tensor
    lightness: torch.Tensor
    covered: tuple[float, float]


def builtin_models() -> list[str]:
    """Names of the models that ship inside the package."""
    root = resources.files("polychrome") / "pretrained"
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "config.json").is_file())


def resolve_model_path(name_or_path: str | Path | None) -> Path:
    """A built-in model's folder, a user's folder holding ``config.json`` + ``model.safetensors`` (and
    perhaps ``model.onnx``), or an ``.onnx`` file that ``polychrome export`` wrote."""
    if name_or_path is None:
        name_or_path = DEFAULT_MODEL
    path = Path(name_or_path)
    if path.suffix.lower() == ".onnx":
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        return path
    if path.is_dir():
        if not (path / "config.json").exists() and (path / "model" / "config.json").exists():
            raise FileNotFoundError(f"{path} is a training run; its model is {path / 'model'}")
        return path
    builtin = resources.files("polychrome") / "pretrained" / str(name_or_path)
    if builtin.is_dir():
        return Path(str(builtin))
    known = ", ".join(builtin_models()) or "none"
    raise FileNotFoundError(f"{name_or_path}: no such model folder or built-in model (built-in: {known})")


@dataclass
class _Photo:
    """One input in the pipeline's units: ``rgb`` float ``(B, 3, H, W)`` in 0..1 (one photo, a view of its
    numpy array, or a batch tensor as given), and the alpha channel to give back."""

    rgb: torch.Tensor
    alpha: np.ndarray | None = None


class Colorizer:
    """Colorize photos with a trained model.

    Two backends color the same way (tests hold them to it): PyTorch (``backend="torch"``, the
    ``polychrome[torch]`` install), on any device and precision; and ONNX Runtime (``"onnx"``, the base
    install), on the CPU in fp32, with the model's ``model.onnx`` and an 8-bit path that never turns a photo
    into floats. A colorizer that :meth:`from_pretrained` put on ONNX Runtime by ``backend="auto"`` moves to
    PyTorch by itself when later asked for what only PyTorch does (:meth:`to` a GPU or precision, a
    classification model's decoding options, :meth:`predict_ab`), by the same rule
    (:func:`~polychrome.pipelines.backends.choose_backend`).

    Args:
        model: a :class:`~polychrome.models.ColorizationModel` (PyTorch; put in eval mode) or an
            :class:`~polychrome.pipelines.onnx_network.OnnxNetwork` (ONNX Runtime).
        device: where the network runs. Photos given as numpy arrays, PIL images or files are merged with
            their full-resolution lightness on the CPU; photos given as tensors, where they are. ONNX
            Runtime runs on the CPU only.
        precision: ``fp32``, or ``bf16-mixed`` / ``fp16-mixed`` (autocast of the network; for GPUs; PyTorch
            only). An ONNX network runs at its file's own precision (``int8`` for ``model-int8.onnx``).
        render: how the model wants photos shown to it (enlargement filter, chroma by enlargement); a saved
            model's own comes from its ``config.json``, and a bare model gets the defaults.
    """

    def __init__(
        self,
        model: ColorizationModel | OnnxNetwork,
        device: str | torch.device = "cpu",
        precision: str | torch.dtype = "fp32",
        render: RenderCalibration | None = None,
    ):
        self.render = render or RenderCalibration()
        _check_names(device, precision)
        self._auto_path: Path | None = None  # the model folder, where backend "auto" may still pick PyTorch
        # The built-in hint network for this model's photos with hints (HINT_MODELS), loaded at first use.
        self.hint_model: str | None = None
        self._hint_colorizer: Colorizer | None = None
        self._hint_lock = threading.Lock()
        if isinstance(model, OnnxNetwork):
            self.backend: Backend = "onnx"
            self.model: Any = model
            self.device, self.precision = "cpu", model.precision
            self.to(device, precision)
            return
        from polychrome.devices import precision_name, resolve_device

        self.backend = "torch"
        self.precision = precision_name(precision)
        self.device = resolve_device(device)
        self.model = model.eval().to(self.device)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path | None = None,
        device: str | torch.device = "cpu",
        precision: str | torch.dtype = "fp32",
        backend: str = "auto",
    ) -> Colorizer:
        """Load the built-in model (default), another built-in by name, a saved model folder or an exported
        ``.onnx`` file, with the rendering settings saved beside it.

        ``backend``: ``auto`` (ONNX Runtime wherever it can color as asked, PyTorch where only it can: a
        GPU, a precision other than fp32, a model without ``model.onnx``; see
        :mod:`polychrome.pipelines.backends`), ``torch`` or ``onnx``.
        ``precision="int8"`` colors with the folder's ``model-int8.onnx`` on ONNX Runtime (a 4 MB file, no
        faster than fp32 on the CPU, colors close to but not equal to its; BENCHMARKS section 12).
        """
        path = resolve_model_path(name_or_path)
        found = path.resolve()  # a built-in model named by a relative path is still the built-in model
        hint_model = next(
            (h for m, h in HINT_MODELS.items() if found == resolve_model_path(m).resolve()), None
        )
        colorizer = cls._load(path, device, precision, backend)
        colorizer.hint_model = hint_model
        return colorizer

    @classmethod
    def _load(
        cls, path: Path, device: str | torch.device, precision: str | torch.dtype, backend: str
    ) -> Colorizer:
        weights, onnx_file = model_files(path, str(precision))
        chosen = choose_backend(
            backend,
            path,
            has_weights=weights is not None,
            has_onnx=onnx_file is not None,
            precision=str(precision),
            device=str(device),
        )
        if chosen == "onnx":
            network = OnnxNetwork(onnx_file)
            render = network.render if path.is_file() else _folder_render(path)
            colorizer = cls(network, device=device, precision=precision, render=render)
            if backend == "auto" and weights is not None:
                colorizer._auto_path = path
            return colorizer
        from polychrome.models import load_pretrained

        return cls(load_pretrained(path), device=device, precision=precision, render=_folder_render(path))

    def to(
        self, device: str | torch.device | None = None, dtype: str | torch.dtype | None = None
    ) -> Colorizer:
        """Move the network to ``device`` and/or run it at precision ``dtype`` (a precision name, or
        ``torch.float32`` / ``torch.bfloat16`` / ``torch.float16``); returns the colorizer. ONNX Runtime
        runs on the CPU, at the precision of its file (fp32 stands for "as the file is"); a colorizer on it by
        ``backend="auto"`` moves to PyTorch for a GPU or another precision."""
        _check_names(device, dtype)
        self._follow_auto(device or "cpu", dtype or self.precision)
        if self.backend == "onnx":
            if device is not None and str(device) not in ONNX_DEVICES:
                raise ValueError(
                    f"the ONNX backend runs on the CPU, not {str(device)!r}; use backend='torch'"
                )
            if dtype is not None and str(dtype) not in ("fp32", "torch.float32", self.precision):
                hint = "load the model's model-int8.onnx" if str(dtype) == "int8" else "use backend='torch'"
                raise ValueError(f"the ONNX backend runs in {self.precision}, not {str(dtype)!r}; {hint}")
            return self
        from polychrome.devices import precision_name, resolve_device

        if dtype is not None:
            self.precision = precision_name(dtype)
        if device is not None:
            self.device = resolve_device(device)
            self.model.to(self.device)
        return self

    def _follow_auto(
        self, device: str | torch.device, precision: str | torch.dtype, decoding: bool = False
    ) -> None:
        """Move a colorizer that ``backend="auto"`` put on ONNX Runtime to PyTorch (on the CPU, fp32, ready
        for :meth:`to`) where the one rule says that what is now asked needs it."""
        if self.backend != "onnx" or self._auto_path is None:
            return
        reason = torch_needed(str(device), str(precision), decoding)
        if reason is None:
            return
        path, precision = self._auto_path, str(precision)
        weights, onnx_file = model_files(path, precision)
        chosen = choose_backend(
            "auto",
            path,
            has_weights=weights is not None,
            has_onnx=onnx_file is not None,
            precision=precision,
            device=str(device),
            decoding=decoding,
        )
        if chosen == "torch":
            self._use_torch(reason)

    def _use_torch(self, reason: str) -> None:
        from polychrome.devices import resolve_device
        from polychrome.models import load_pretrained

        assert self._auto_path is not None
        path = self._auto_path
        logger.info("%s: colorizing with PyTorch from here on (%s)", path, reason)
        self.model = load_pretrained(path).eval()
        self.backend, self.precision, self.device = "torch", "fp32", resolve_device("cpu")
        self._auto_path = None

    def check_hint_method(self, hint_method: str) -> None:
        """Raise ValueError unless this colorizer can take hints by ``hint_method`` (see :meth:`__call__`)."""
        if hint_method not in HINT_METHODS:
            raise ValueError(f"hint_method must be one of {', '.join(HINT_METHODS)}, got {hint_method!r}")
        if hint_method == "spread" and self._takes_hints():
            raise ValueError(
                "this model takes its hints itself; hint_method 'spread' is for models that do not"
            )
        if hint_method == "network" and not self._takes_hints() and self.hint_model is None:
            raise ValueError(
                "hint_method 'network' needs a model that takes hints, or a built-in model with a hint "
                f"network ({', '.join(HINT_MODELS)})"
            )

    def _takes_hints(self) -> bool:
        return bool(getattr(self.model, "takes_hints", False))

    def _hint_network(self) -> Colorizer:
        """The colorizer of ``hint_model``, loaded once (photos may come from several threads)."""
        with self._hint_lock:
            if self._hint_colorizer is None:
                self._hint_colorizer = Colorizer.from_pretrained(self.hint_model)
            return self._hint_colorizer

    def __call__(
        self,
        images: ImageInput | Sequence[ImageInput],
        *,
        render_size: int = 256,
        saturation: float = 1.0,
        temperature: float = 0.0,
        decode: DecodeOptions | None = None,
        output_type: OutputType = "pil",
        batch_size: int = 8,
        hints: Hint | str | Sequence[Hint | str] = (),
        hint_method: str = "auto",
    ) -> ColorizerOutput:
        """Colorize one photo or several.

        Args:
            images: a path, a PIL image (any mode), a numpy array (``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``;
                uint8, uint16, bool or float in 0..1), a float tensor in 0..1 (``(3, H, W)``, or a batch
                ``(B, 3, H, W)``), or a list of these. A color photo is colorized from its lightness.
            render_size: shorter side, in pixels, at which the network looks at the photos (small photos are
                scaled up to it); the output keeps each photo's full size.
            saturation: chroma scale, 0 (gray) .. 1 (as predicted) .. 2.
            temperature: -1 (cool) .. 0 .. 1 (warm).
            decode: decoding of a classification model (:class:`DecodeOptions`); None keeps the model's.
            output_type: ``pil``, ``np`` or ``pt`` (see :class:`ColorizerOutput`).
            batch_size: photos of one size given one after another go through the network together, at
                most this many at a time.
            hints: colors the owner knows (:class:`~polychrome.pipelines.hints.Hint`, or strings as the
                command line writes them, ``"120,80=#b22222"``; one or a list), the same for each photo.
                With a plain model they are spread from their points along each photo's lightness and
                hold as given, whatever the other controls. A model trained to take hints
                (``takes_hints``, e.g. ``effunet_lite0_hint_reg``, on either backend) is given them
                instead, as a hint map at the render size, and colors the photo around them itself; the
                saturation and warm/cool controls then act on its output, hinted places included.
            hint_method: ``auto``: a model trained to take hints takes them; others spread them.
                ``spread``: spread the hints over this model's own colors (not for a model that takes them).
                ``network``: a network that reads the hints colors the photo: the model itself if it takes
                hints, else its built-in hint network (``hint_model``, on ONNX Runtime on the CPU), which
                colors closer to the truth on average but lets one hint move colors far from it.

        Raises:
            polychrome.images.ImageReadError: a file is missing, unreadable or too large.
            ValueError: an array or tensor of an unsupported shape, dtype or range, or a bad option.
        """
        if output_type not in ("pil", "np", "pt"):
            raise ValueError(f"output_type must be pil, np or pt, got {output_type!r}")
        hints = as_hints(hints)
        if hints or hint_method not in HINT_METHODS:  # a misspelt method is refused with or without hints
            self.check_hint_method(hint_method)
        if hints and hint_method == "network" and not self._takes_hints():
            return self._hint_network()(
                images,
                render_size=render_size,
                saturation=saturation,
                temperature=temperature,
                decode=decode,
                output_type=output_type,
                batch_size=batch_size,
                hints=hints,
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        render_shape(16, 16, render_size)  # an out-of-range render size fails before any photo is read
        options = {
            "render_size": render_size,
            "saturation": saturation,
            "temperature": temperature,
            "decode": (decode or DecodeOptions()).overrides(),
            "hints": list(hints),
        }
        if saturation < 0:
            raise ValueError(f"saturation must be >= 0, got {saturation}")
        if not -1.0 <= temperature <= 1.0:
            raise ValueError(f"temperature must be in -1..1, got {temperature}")
        timings = {"read": 0.0, "network": 0.0, "merge": 0.0}
        if self.backend == "onnx" and options["decode"] and self.model.head_type == "classification":
            self._follow_auto("cpu", self.precision, decoding=True)
        if self.backend == "onnx":
            from polychrome.pipelines.numpy_path import colorize_photos

            if options["decode"] and self.model.head_type == "classification":
                raise ValueError(
                    "decode options need backend='torch': the ONNX graph holds the model's default decoding"
                )
            images_out, ab_out = colorize_photos(
                self.model, self.render, images, output_type, batch_size, timings, **options
            )
            return ColorizerOutput(images_out, ab_out, timings)
        import torch

        with torch.inference_mode():
            return self._call_torch(images, output_type, batch_size, timings, options)

    def _call_torch(
        self,
        images: ImageInput | Sequence[ImageInput],
        output_type: OutputType,
        batch_size: int,
        timings: dict[str, float],
        options: dict[str, Any],
    ) -> ColorizerOutput:
        import torch

        images_out: list[Any] = []
        ab_out: list[Any] = []
        for group in _batches(_photos(images, timings), batch_size):
            rgb = group[0].rgb if len(group) == 1 else torch.cat([p.rgb for p in group])
            if output_type == "pt":
                merged, ab = self._colorize_batch(rgb, timings, **options)
                images_out.append(merged)
                ab_out.append(ab)
                continue
            # Written straight into (H, W, 3) arrays, the layout PIL and numpy users expect: no copy after.
            buffers = np.empty((len(group), *rgb.shape[-2:], 3), np.float32)
            _, ab = self._colorize_batch(
                rgb, timings, out=torch.from_numpy(buffers).permute(0, 3, 1, 2), **options
            )
            alphas = [photo.alpha for photo in group for _ in range(photo.rgb.shape[0])]
            for alpha, array, low in zip(alphas, buffers, ab, strict=True):
                images_out.append(_convert(array, alpha, output_type))
                ab_out.append(low.permute(1, 2, 0).float().cpu().numpy())
        if not images_out:
            raise ValueError("no photos to colorize")
        if output_type == "pt":
            if len({tuple(o.shape[-2:]) for o in images_out}) > 1:
                raise ValueError("output_type 'pt' needs photos of one size; use 'np' or 'pil'")
            return ColorizerOutput(torch.cat(images_out), torch.cat(ab_out), timings)
        return ColorizerOutput(images_out, ab_out, timings)

    def _colorize_batch(
        self,
        rgb: torch.Tensor,
        timings: dict[str, float],
        render_size: int,
        saturation: float,
        temperature: float,
        decode: dict[str, Any],
        hints: list[Hint],
        out: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Photos ``(B, 3, H, W)`` of one size -> (colorized ``(B, 3, H, W)`` where ``rgb`` is, adjusted ab at
        the render size on :attr:`device`), written into ``out`` when given."""
        started = time.perf_counter()
        prediction = self.predict_ab(rgb, render_size, saturation, temperature, decode, hints)
        merging = time.perf_counter()
        merged = self.merge(rgb, prediction, out=out)
        timings["network"] += merging - started
        timings["merge"] += time.perf_counter() - merging
        return merged, prediction.ab

    def predict_ab(
        self,
        rgb: torch.Tensor,
        render_size: int = 256,
        saturation: float = 1.0,
        temperature: float = 0.0,
        decode: dict[str, Any] | None = None,
        hints: Sequence[Hint] = (),
    ) -> AbPrediction:
        """The first half of a call: ab for photos ``(B, 3, H, W)`` of one size (float in 0..1), at the
        render size, with the saturation and warm/cool controls applied, and ``hints`` taken in (see
        :meth:`__call__`). A video pipeline changes the ab (to keep it steady over time) before
        :meth:`merge` puts it on the full-resolution lightness. PyTorch backend only (the ONNX backend's
        halves, on numpy arrays, are :func:`polychrome.pipelines.numpy_path.predict_ab` and
        :func:`polychrome.pipelines.merge_np.merge_full_resolution`; :mod:`polychrome.video.steps` uses
        either)."""
        import torch

        if self.backend == "onnx" and self._auto_path is not None:
            self._use_torch("predict_ab takes tensors")
        if self.backend != "torch":
            raise ValueError(
                "predict_ab takes tensors with backend='torch'; with 'onnx' use "
                "polychrome.pipelines.numpy_path.predict_ab"
            )
        with torch.inference_mode():
            prediction = self._predict_ab(rgb, render_size, saturation, temperature, decode or {}, hints)
            if hints and not self._takes_hints():
                prediction = _with_hints(prediction, list(hints), *rgb.shape[-2:])
            return prediction

    def _predict_ab(
        self,
        rgb: torch.Tensor,
        render_size: int,
        saturation: float,
        temperature: float,
        decode: dict[str, Any],
        hints: Sequence[Hint] = (),
    ) -> AbPrediction:
        import torch

        from polychrome.color.lab import rgb_to_lightness
        from polychrome.devices import PRECISIONS
        from polychrome.pipelines.render import adjust_ab, predict_ab_lowres
        from polychrome.resize import resize_for_render

        height, width = rgb.shape[-2:]
        rh, rw = render_shape(height, width, render_size)
        small = resize_for_render(rgb.float(), (rh, rw), self.render.enlarge)
        lightness = rgb_to_lightness(small.to(self.device))
        hint_map = None
        if hints and self._takes_hints():
            hint_map = _hint_map(list(hints), lightness.shape[0], height, width, (rh, rw), lightness.device)
        ab = predict_ab_lowres(
            self.model, lightness, autocast_dtype=PRECISIONS[self.precision], hint_map=hint_map, **decode
        )
        chroma = self.render.chroma_factor(rh / height)  # the model's own factor for this enlargement
        ab = adjust_ab(lightness, ab, saturation * chroma, temperature)
        if ab.device.type == "cuda":  # so the timings say where the time went
            torch.cuda.synchronize(ab.device)
        stride = self.model.output_stride
        return AbPrediction(ab, lightness, (rh / stride, rw / stride))

    def merge(
        self, rgb: torch.Tensor, prediction: AbPrediction, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The second half of a call: the photos' own full-resolution lightness with ``prediction.ab``
        upsampled, as sRGB ``(B, 3, H, W)`` in 0..1 where ``rgb`` is (written into ``out`` when given)."""
        import torch

        from polychrome.pipelines.render import merge_full_resolution

        with torch.inference_mode():
            return merge_full_resolution(rgb, prediction.ab, covered=prediction.covered, out=out)

    def colorize_video(self, source: str | Path, output: str | Path, **options: Any) -> Any:
        """Colorize a film file into ``output`` (mp4, mov, mkv, webm, gif, or a folder of PNG frames); the
        options are :class:`polychrome.video.VideoOptions`' fields. Returns a
        :class:`polychrome.video.VideoResult`.

        >>> Colorizer.from_pretrained().colorize_video("film.mp4", "film-color.mp4")  # doctest: +SKIP
        """
        from polychrome.video.pipeline import VideoColorizer, VideoOptions

        return VideoColorizer(self, VideoOptions(**options)).colorize_file(source, output)


def _photos(images: ImageInput | Sequence[ImageInput], timings: dict[str, float]) -> Iterator[_Photo]:
    """Every input as a :class:`_Photo`, read only when its batch is next (a list of a thousand paths is
    never decoded at once); a batch tensor stays one batch."""
    import torch

    items = list(images) if isinstance(images, list | tuple) else [images]
    for item in items:
        started = time.perf_counter()
        if isinstance(item, torch.Tensor):
            rows = [_Photo(_tensor_batch(item))]
        else:
            loaded: LoadedImage = load_image(item)
            rows = [_Photo(torch.from_numpy(loaded.rgb).permute(2, 0, 1).unsqueeze(0), loaded.alpha)]
        timings["read"] += time.perf_counter() - started
        yield from rows


def _tensor_batch(images: torch.Tensor) -> torch.Tensor:
    """A float tensor ``(3, H, W)`` or ``(B, 3, H, W)`` in 0..1, checked, as a batch."""
    batch = images.unsqueeze(0) if images.dim() == 3 else images
    if batch.dim() != 4 or batch.shape[1] != 3:
        raise ValueError(f"a tensor of photos must be (3, H, W) or (B, 3, H, W), got {tuple(images.shape)}")
    if not batch.is_floating_point():
        raise ValueError(f"a tensor of photos must be float in 0..1, got {batch.dtype}")
    return batch


def _batches(photos: Iterable[_Photo], batch_size: int) -> Iterator[list[_Photo]]:
    """Runs of consecutive photos of one size, at most ``batch_size`` long (the order is kept); a batch
    tensor given as such is its own run."""
    group: list[_Photo] = []
    for photo in photos:
        if photo.rgb.shape[0] > 1:
            if group:
                yield group
                group = []
            yield [photo]
            continue
        if group and (len(group) == batch_size or group[0].rgb.shape[-2:] != photo.rgb.shape[-2:]):
            yield group
            group = []
        group.append(photo)
    if group:
        yield group


def _check_names(device: object, precision: object) -> None:
    """Refuse a device or precision name that no backend takes, listing the ones there are (the ONNX
    backend's refusals of a GPU or a mixed precision would otherwise answer a misspelt name)."""
    if isinstance(device, str) and not is_device_name(device):
        raise ValueError(device_error(device))
    if isinstance(precision, str) and not precision.startswith("torch.") and precision not in PRECISION_NAMES:
        raise ValueError(precision_error(precision))


def _folder_render(path: Path) -> RenderCalibration:
    return RenderCalibration.from_config(read_config(path), str(path / "config.json"))


def _convert(
    array: np.ndarray, alpha: np.ndarray | None, output_type: OutputType
) -> Image.Image | np.ndarray:
    """One colorized float32 ``(H, W, 3)`` photo as a PIL image or a float32 ``(H, W, 3|4)`` array, alpha
    kept."""
    if output_type == "np":
        return array if alpha is None else np.dstack((array, alpha)).astype(np.float32)
    if alpha is None:
        return Image.fromarray(to_uint8(array), "RGB")
    return Image.fromarray(np.dstack((to_uint8(array), to_uint8(alpha))), "RGBA")


def _with_hints(prediction: AbPrediction, hints: list[Hint], height: int, width: int) -> AbPrediction:
    """``prediction`` with the hints spread over each photo's ab (on the CPU, where the solver runs)."""
    import torch

    ab = prediction.ab
    lightness = prediction.lightness.float().cpu().numpy()
    spread = [
        spread_hints(photo_ab, lum[0], prediction.covered, hints, height, width)
        for photo_ab, lum in zip(ab.float().cpu().numpy(), lightness, strict=True)
    ]
    return replace(prediction, ab=torch.from_numpy(np.stack(spread)).to(ab.device, ab.dtype))


def _hint_map(
    hints: list[Hint], batch: int, height: int, width: int, render: tuple[int, int], device: torch.device
) -> torch.Tensor:
    """The hint map ``(B, 3, rh, rw)`` of a hint-conditioned model for photos of ``height`` x ``width``
    seen at the render size ``render``: every photo of the batch gets the same hints."""
    import torch

    hint_map = torch.from_numpy(render_hint_map(hints, height, width, *render))
    return hint_map.to(device).expand(batch, -1, -1, -1)
