"""The colorizer's path without PyTorch: photos as numpy arrays, the network in ONNX Runtime, the color
science in numpy (:mod:`polychrome.color.lab_np`, :mod:`polychrome.color.adjust_np`).

Step for step the PyTorch path of :class:`~polychrome.pipelines.image.Colorizer`: the photo brought to the
render size, its L (and a hint model's hint map) through the network, ab adjusted at that low resolution
(the model's chroma factor for the enlargement, the user's saturation and warm/cool), a plain model's hints
spread over it, then merged with the photo's own full-resolution L.
An 8-bit photo stays bytes throughout (:func:`polychrome.images.load_image` with ``keep_8bit``), and a PIL
output is encoded to bytes straight from linear light: a 24-megapixel gray photo needs its 24 MB, the
72 MB of its output and a few megabytes of strips.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from PIL import Image

from polychrome.color.adjust_np import adjust_temperature, scale_chroma
from polychrome.color.lab_np import lightness_from_luminance, rgb_to_lightness, srgb_to_linear
from polychrome.images import load_image, to_uint8
from polychrome.pipelines.calibration import RenderCalibration
from polychrome.pipelines.hints import Hint, render_hint_map, spread_hints
from polychrome.pipelines.merge_np import merge_full_resolution
from polychrome.pipelines.onnx_network import OnnxNetwork
from polychrome.pipelines.render_size import render_shape
from polychrome.pipelines.resample_np import area_resize, is_gray_view, resize_for_render

Photo = tuple[np.ndarray, np.ndarray | None]  # (H, W, 3) uint8 / float32 / gray view, and alpha


def _tensor_photos(tensor: Any) -> list[np.ndarray]:
    """A float tensor ``(3, H, W)`` or ``(B, 3, H, W)`` in 0..1 as ``(H, W, 3)`` float32 arrays."""
    batch = tensor.unsqueeze(0) if tensor.dim() == 3 else tensor
    if batch.dim() != 4 or batch.shape[1] != 3:
        raise ValueError(f"a tensor of photos must be (3, H, W) or (B, 3, H, W), got {tuple(tensor.shape)}")
    if not batch.is_floating_point():
        raise ValueError(f"a tensor of photos must be float in 0..1, got {batch.dtype}")
    return list(batch.detach().float().cpu().permute(0, 2, 3, 1).numpy())


def _photos(images: Any, timings: dict[str, float]) -> Iterator[Photo]:
    """Every input as a photo, read only when it is next."""
    items = list(images) if isinstance(images, list | tuple) else [images]
    for item in items:
        started = time.perf_counter()
        if type(item).__module__.startswith("torch"):
            photos: list[Photo] = [(p, None) for p in _tensor_photos(item)]
        else:
            loaded = load_image(item, keep_8bit=True)
            photos = [(loaded.rgb, loaded.alpha)]
        timings["read"] += time.perf_counter() - started
        yield from photos


def _groups(photos: Iterator[Photo], batch_size: int) -> Iterator[list[Photo]]:
    """Runs of consecutive photos of one size, at most ``batch_size`` long."""
    group: list[Photo] = []
    for photo in photos:
        if group and (len(group) == batch_size or group[0][0].shape[:2] != photo[0].shape[:2]):
            yield group
            group = []
        group.append(photo)
    if group:
        yield group


def render_lightness(photo: np.ndarray, size: tuple[int, int], enlarge: str) -> np.ndarray:
    """L ``(h, w)`` of the photo brought to the render size."""
    small = resize_for_render(photo, size, enlarge)
    if is_gray_view(small):
        return lightness_from_luminance(srgb_to_linear(small[:, :, 0]))
    return rgb_to_lightness(small)


def adjust_ab(lightness: np.ndarray, ab: np.ndarray, saturation: float, temperature: float) -> np.ndarray:
    """The user's saturation and warm/cool on low-resolution ab ``(h, w, 2)``, as
    :func:`polychrome.pipelines.render.adjust_ab`; ``lightness`` is the L the network saw."""
    if saturation != 1.0:
        ab = scale_chroma(ab, saturation)
    if temperature != 0.0:
        # Only the warm/cool curve needs L at ab's size. Averaging it down is two BLAS matrix products, whose
        # second thread waited up to 16 ms each for a time slice while another job held the other core;
        # and saturation is rarely 1 here (the model's chroma factor is folded into it).
        lightness_low = area_resize(lightness, ab.shape[:2])
        ab = adjust_temperature(np.dstack((lightness_low, ab)), temperature)[..., 1:]
    return ab


def predict_ab(
    network: OnnxNetwork,
    render: RenderCalibration,
    photos: Sequence[np.ndarray],
    *,
    render_size: int,
    saturation: float,
    temperature: float,
    hints: Sequence[Hint] = (),
) -> tuple[np.ndarray, list[np.ndarray], tuple[float, float]]:
    """The first half of colorizing photos ``(H, W, 3)`` of one size (uint8, or float in 0..1), as
    :meth:`~polychrome.pipelines.image.Colorizer.predict_ab` on PyTorch: the network at the render size, then
    the model's chroma factor for the enlargement, the saturation and the warm/cool shift. ``hints``, the
    same for every photo, go to a network that takes hints as its hint map at the render size, and are
    spread over a plain network's adjusted ab (:mod:`polychrome.pipelines.hints`).

    Returns:
        The L the network saw ``(B, rh, rw)`` (0..100), each photo's adjusted ab ``(h, w, 2)`` in Lab units,
        and how many ab pixels the photos span vertically and horizontally (the rest is padding).
    """
    height, width = photos[0].shape[:2]
    rh, rw = render_shape(height, width, render_size)
    lightness = np.stack([render_lightness(photo, (rh, rw), render.enlarge) for photo in photos])
    hint_map = None
    if hints and network.takes_hints:
        one = render_hint_map(list(hints), height, width, rh, rw)
        hint_map = np.broadcast_to(one, (len(photos), *one.shape))
    ab_low = network.predict_ab(lightness[:, None], hint_map)
    chroma = render.chroma_factor(rh / height)  # the model's own factor for this enlargement
    adjusted = [
        adjust_ab(lightness[i], ab_low[i].transpose(1, 2, 0), saturation * chroma, temperature)
        for i in range(len(photos))
    ]
    covered = (rh / network.output_stride, rw / network.output_stride)
    if hints and not network.takes_hints:
        adjusted = [
            spread_hints(ab.transpose(2, 0, 1), lum, covered, list(hints), height, width).transpose(1, 2, 0)
            for ab, lum in zip(adjusted, lightness, strict=True)
        ]
    return lightness, adjusted, covered


def _output(out: np.ndarray, alpha: np.ndarray | None, output_type: str) -> Any:
    if output_type == "pil":
        if alpha is None:
            return Image.fromarray(out, "RGB")
        return Image.fromarray(np.dstack((out, to_uint8(alpha))), "RGBA")
    if output_type == "np" and alpha is not None:
        return np.dstack((out, alpha)).astype(np.float32)
    return out


def colorize_photos(
    network: OnnxNetwork,
    render: RenderCalibration,
    images: Any,
    output_type: str,
    batch_size: int,
    timings: dict[str, float],
    *,
    render_size: int,
    saturation: float,
    temperature: float,
    decode: dict[str, Any],
    hints: Sequence[Hint] = (),
) -> tuple[Any, Any]:
    """What :meth:`~polychrome.pipelines.image.Colorizer.__call__` returns, as ``(images, ab)``, colored
    with ``network``; the options are the call's (``decode`` must be empty for a classification model)."""
    images_out: list[Any] = []
    ab_out: list[np.ndarray] = []
    for group in _groups(_photos(images, timings), batch_size):
        started = time.perf_counter()
        height, width = group[0][0].shape[:2]
        lightness, adjusted, covered = predict_ab(
            network,
            render,
            [photo for photo, _ in group],
            render_size=render_size,
            saturation=saturation,
            temperature=temperature,
            hints=hints,
        )
        merging = time.perf_counter()
        for (photo, alpha), ab in zip(group, adjusted, strict=True):
            out = np.empty((height, width, 3), np.uint8 if output_type == "pil" else np.float32)
            merge_full_resolution(photo, ab, covered, out=out)
            images_out.append(_output(out, alpha, output_type))
            ab_out.append(np.ascontiguousarray(ab, np.float32))
        timings["network"] += merging - started
        timings["merge"] += time.perf_counter() - merging
    if not images_out:
        raise ValueError("no photos to colorize")
    if output_type == "pt":
        return _as_tensors(images_out, ab_out)
    return images_out, ab_out


def _as_tensors(images: Sequence[np.ndarray], abs_: Sequence[np.ndarray]) -> tuple[Any, Any]:
    import torch  # a caller asking for tensors has PyTorch

    if len({image.shape[:2] for image in images}) > 1:
        raise ValueError("output_type 'pt' needs photos of one size; use 'np' or 'pil'")
    stacked = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)
    return stacked, torch.from_numpy(np.stack(abs_)).permute(0, 3, 1, 2)
