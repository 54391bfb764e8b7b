"""The user-facing colorizer: photos in, colorized photos out, at their full resolution.

Example:
    >>> from polychrome import Colorizer
    >>> colorizer = Colorizer.from_pretrained()  # the built-in model, on the CPU
    >>> colorized = colorizer("old_photo.jpg")  # doctest: +SKIP
    >>> colorized.save("colorized.png")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from polychrome.color.adjust import lab_to_rgb_in_gamut
from polychrome.color.lab import gray_rgb, rgb_to_lightness
from polychrome.devices import resolve_device
from polychrome.images import load_image, to_uint8
from polychrome.models import ColorizationModel, load_pretrained
from polychrome.models._hub import read_config
from polychrome.pipelines.calibration import RenderCalibration
from polychrome.pipelines.render import (
    adjust_ab,
    merge_full_resolution,
    predict_ab_lowres,
    render_shape,
    upsample_ab,
)
from polychrome.resize import resize_for_render

DEFAULT_MODEL = "effunet-lite0"
_PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}

ImageInput = str | Path | Image.Image | np.ndarray


def builtin_models() -> list[str]:
    """Names of the models that ship inside the package."""
    root = resources.files("polychrome") / "pretrained"
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "config.json").is_file())


def resolve_model_path(name_or_path: str | Path | None) -> Path:
    """A built-in model's folder, or a user's folder holding ``config.json`` + ``model.safetensors``."""
    if name_or_path is None:
        name_or_path = DEFAULT_MODEL
    path = Path(name_or_path)
    if path.is_dir():
        if not (path / "config.json").exists() and (path / "model" / "config.json").exists():
            raise FileNotFoundError(f"{path} is a training run; its model is {path / 'model'}")
        return path
    builtin = resources.files("polychrome") / "pretrained" / str(name_or_path)
    if builtin.is_dir():
        return Path(str(builtin))
    known = ", ".join(builtin_models()) or "none"
    raise FileNotFoundError(f"{name_or_path}: no such model folder or built-in model (built-in: {known})")


class Colorizer:
    """Colorize photos with a trained model.

    Args:
        model: a :class:`~polychrome.models.ColorizationModel` (in eval mode).
        device: where the network runs; the full-resolution merge always runs on the CPU in strips.
        precision: ``"fp32"``, or ``"bf16"`` / ``"fp16"`` autocast for the network on a GPU.
        render: how the model wants photos shown to it (enlargement filter, chroma by enlargement); a saved
            model's own comes from its ``config.json``, and a bare model gets the defaults.
    """

    def __init__(
        self,
        model: ColorizationModel,
        device: str | torch.device = "cpu",
        precision: str = "fp32",
        render: RenderCalibration | None = None,
    ):
        if precision not in _PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(_PRECISIONS)}, got {precision!r}")
        self.device = resolve_device(device)
        self.model = model.eval().to(self.device)
        self.autocast = _PRECISIONS[precision]
        self.render = render or RenderCalibration()

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path | None = None,
        device: str | torch.device = "cpu",
        precision: str = "fp32",
    ) -> Colorizer:
        """Load the built-in model (default), another built-in by name, or a saved model folder, with the
        rendering settings saved beside it."""
        path = resolve_model_path(name_or_path)
        render = RenderCalibration.from_config(read_config(path), str(path / "config.json"))
        return cls(load_pretrained(path), device=device, precision=precision, render=render)

    def to(self, device: str | torch.device) -> Colorizer:
        self.device = resolve_device(device)
        self.model.to(self.device)
        return self

    @torch.inference_mode()
    def colorize_array(
        self,
        rgb: np.ndarray,
        render_size: int = 256,
        saturation: float = 1.0,
        temperature: float = 0.0,
        **decode: Any,
    ) -> np.ndarray:
        """Colorize one photo given as float32 ``(H, W, 3)`` sRGB in 0..1 (a gray photo has R = G = B).

        Args:
            render_size: shorter side, in pixels, at which the network looks at the photo (small photos are
                scaled up to it). The default matches the scale the built-in model was trained at; larger
                sees finer detail, smaller sees more context and runs faster.
            saturation: chroma scale, 0 (gray) .. 1 (as predicted) .. 2.
            temperature: -1 (cool) .. 0 .. 1 (warm).
            decode: decoding options of classification models, e.g. ``method="annealed_mean"``,
                ``temperature`` is taken by the warm/cool control, so pass ``decode_temperature=`` instead.

        Returns:
            float32 ``(H, W, 3)`` sRGB in 0..1 whose CIELAB lightness is the input's.
        """
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) array, got shape {rgb.shape}")
        if "decode_temperature" in decode:
            decode["temperature"] = decode.pop("decode_temperature")
        rgb = np.ascontiguousarray(rgb, dtype=np.float32)
        height, width = rgb.shape[:2]
        rh, rw = render_shape(height, width, render_size)
        full = torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0)
        small = resize_for_render(full, (rh, rw), enlarge=self.render.enlarge)
        lightness = rgb_to_lightness(small.to(self.device))
        ab = predict_ab_lowres(self.model, lightness, autocast_dtype=self.autocast, **decode)
        chroma = self.render.chroma_factor(rh / height)  # the model's own factor for this enlargement
        ab = adjust_ab(lightness, ab, saturation * chroma, temperature)
        stride = self.model.output_stride
        return merge_full_resolution(rgb, ab[0], covered=(rh / stride, rw / stride))

    @torch.inference_mode()
    def colorize_lightness(
        self,
        lightness: torch.Tensor,
        render_size: int = 256,
        saturation: float = 1.0,
        temperature: float = 0.0,
        **decode: Any,
    ) -> torch.Tensor:
        """Colorize a batch of photos of one size, given by their lightness, all on :attr:`device`.

        The batched form of :meth:`colorize_array` for evaluation: the same rendering (the gray photo resized
        to the render size, ab upsampled bilinearly, out-of-gamut colors pulled toward gray), without the
        strip-wise CPU merge that keeps huge photos within memory.

        Args:
            lightness: ``(B, 1, H, W)`` L in 0..100.
            render_size: shorter side at which the network sees the photos.
            saturation, temperature: as for :meth:`colorize_array` (applied to the low-resolution ab).
            decode: decoding options of classification models, as for :meth:`colorize_array`.

        Returns:
            ``(B, 3, H, W)`` float32 sRGB in 0..1 on :attr:`device`, whose lightness is the input's.
        """
        if lightness.dim() != 4 or lightness.shape[1] != 1:
            raise ValueError(f"lightness must have shape (B, 1, H, W), got {tuple(lightness.shape)}")
        if "decode_temperature" in decode:
            decode["temperature"] = decode.pop("decode_temperature")
        lightness = lightness.to(self.device, torch.float32)
        height, width = lightness.shape[-2:]
        rh, rw = render_shape(height, width, render_size)
        small = lightness
        if (rh, rw) != (height, width):  # resized as the gray photo it is, as colorize_array resizes it
            small = rgb_to_lightness(resize_for_render(gray_rgb(lightness), (rh, rw), self.render.enlarge))
        ab = predict_ab_lowres(self.model, small, autocast_dtype=self.autocast, **decode)
        chroma = self.render.chroma_factor(rh / height)
        ab = adjust_ab(small, ab, saturation * chroma, temperature)
        stride = self.model.output_stride
        ab = upsample_ab(ab, (height, width), (rh / stride, rw / stride))
        return lab_to_rgb_in_gamut(torch.cat((lightness, ab), dim=1))

    def __call__(
        self, images: ImageInput | Sequence[ImageInput], **options: Any
    ) -> Image.Image | list[Image.Image]:
        """Colorize a path, PIL image, numpy array, or a list of them; returns PIL images (alpha kept).

        Options are those of :meth:`colorize_array`.
        """
        if isinstance(images, list | tuple):
            return [self._colorize_one(image, **options) for image in images]
        return self._colorize_one(images, **options)

    def _colorize_one(self, image: ImageInput, **options: Any) -> Image.Image:
        loaded = load_image(image)
        out = to_uint8(self.colorize_array(loaded.rgb, **options))
        if loaded.alpha is None:
            return Image.fromarray(out, "RGB")
        return Image.fromarray(np.dstack((out, to_uint8(loaded.alpha))), "RGBA")
