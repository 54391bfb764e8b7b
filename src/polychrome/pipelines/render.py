"""From a photo's lightness to a full-resolution color image: the shared core of inference and validation.

The network runs at a *render size* (shorter side, aspect kept, padded to the network's stride; the same
scale for every photo). Its ab is adjusted at that low resolution (cheap), upsampled bilinearly and merged
with the photo's own full-resolution L. The merge runs in strips of rows, so a 24-megapixel photo never
needs more than a few strips of float buffers beside the input and output arrays.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from polychrome.color.adjust import adjust_temperature, lab_to_rgb_in_gamut, scale_chroma
from polychrome.color.lab import rgb_to_lightness
from polychrome.images import tensor_to_uint8
from polychrome.models.base import ColorizationModel
from polychrome.pipelines.render_size import MAX_RENDER_ASPECT, MAX_RENDER_SIZE, render_shape

__all__ = [
    "MAX_RENDER_ASPECT",
    "MAX_RENDER_SIZE",
    "adjust_ab",
    "merge_full_resolution",
    "predict_ab_lowres",
    "render_shape",
    "upsample_ab",
]

STRIP_PIXELS = 1 << 20  # about a megapixel per strip
# On a GPU a strip costs about 1,200 tensor operations (most of them the gamut search's), each a kernel
# launch, and the search waits for the device: at some 6 us a launch, 16 film frames at 1080p in megapixel
# strips (33 strips) would spend about 15 ms a frame launching, in 8-megapixel strips (4) under 2 ms. Such a
# strip holds about 0.8 GB of buffers (about 100 bytes a pixel).
GPU_STRIP_PIXELS = 1 << 23


def _pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


def predict_ab_lowres(
    model: ColorizationModel,
    lightness: torch.Tensor,
    autocast_dtype: torch.dtype | None = None,
    hint_map: torch.Tensor | None = None,
    **decode,
) -> torch.Tensor:
    """ab for L ``(B, 1, H, W)``, at the model's output resolution of the unpadded input; ``hint_map``
    ``(B, 3, H, W)`` goes to a model that takes hints (the padding holds none).

    Returns ``(B, 2, ceil(H / s), ceil(W / s))`` float32 for output stride ``s``.
    """
    padded, (h, w) = _pad_to_multiple(lightness, model.input_multiple)
    if hint_map is not None:
        decode = {**decode, "hints": F.pad(hint_map, (0, padded.shape[-1] - w, 0, padded.shape[-2] - h))}
    device_type = padded.device.type
    with torch.autocast(device_type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
        ab = model.predict_ab(padded, **decode).float()
    s = model.output_stride
    return ab[..., : math.ceil(h / s), : math.ceil(w / s)]


def _bilinear_taps(n_out: int, n_in: int, scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source indices and weights for bilinear resampling where output pixel i sits at input coordinate
    ``(i + 0.5) * scale - 0.5`` (pixel centres; what ``F.interpolate(align_corners=False)`` does)."""
    x = ((torch.arange(n_out, dtype=torch.float64) + 0.5) * scale - 0.5).clamp(0.0, n_in - 1)
    i0 = x.floor().long()
    i1 = (i0 + 1).clamp(max=n_in - 1)
    return i0, i1, (x - i0).float()


def _resample(ab: torch.Tensor, rows, cols) -> torch.Tensor:
    (y0, y1, wy), (x0, x1, wx) = rows, cols
    wy = wy.to(ab.device).unsqueeze(1)
    wx = wx.to(ab.device)
    t = ab[..., y0, :] * (1 - wy) + ab[..., y1, :] * wy
    return t[..., x0] * (1 - wx) + t[..., x1] * wx


def upsample_ab(
    ab: torch.Tensor, size: tuple[int, int], covered: tuple[float, float] | None = None
) -> torch.Tensor:
    """Bilinear upsampling of ab ``(..., 2, h, w)`` to ``size``.

    ``covered`` is how many low-resolution pixels the output spans (default: all of ``h`` and ``w``); a model
    whose input was padded predicts ab for slightly more than the photo, and only that part is stretched.
    """
    h, w = ab.shape[-2:]
    ch, cw = covered or (h, w)
    rows = _bilinear_taps(size[0], h, ch / size[0])
    cols = _bilinear_taps(size[1], w, cw / size[1])
    return _resample(ab, rows, cols)


def adjust_ab(
    lightness: torch.Tensor, ab: torch.Tensor, saturation: float, temperature: float
) -> torch.Tensor:
    """Apply the user's saturation and warm/cool controls to low-resolution ab; ``lightness`` is the L the
    network saw (area-averaged to ab's size here, where the warm/cool curve needs it)."""
    if saturation == 1.0 and temperature == 0.0:
        return ab
    lightness_low = F.interpolate(lightness, size=ab.shape[-2:], mode="area")
    if saturation != 1.0:
        ab = scale_chroma(ab, saturation)
    if temperature != 0.0:
        ab = adjust_temperature(torch.cat((lightness_low, ab), dim=1), temperature)[:, 1:]
    return ab


def merge_full_resolution(
    rgb: torch.Tensor,
    ab_low: torch.Tensor,
    covered: tuple[float, float],
    out: torch.Tensor | None = None,
    strip_pixels: int | None = None,
) -> torch.Tensor:
    """Combine the photos' own L with upsampled ab, a strip of rows at a time, where ``rgb`` lives.

    Args:
        rgb: the photos, ``(B, 3, H, W)`` float in 0..1 or uint8 (0..255), any strides (a view of a numpy
            ``(H, W, 3)`` array works without a copy); their lightness is what is kept. Bytes are made float
            a strip at a time, so a film's frames travel to a GPU and back as bytes.
        ab_low: ``(B, 2, h, w)`` ab predicted for renderings of the photos.
        covered: how many ab pixels the photos span vertically and horizontally (render size / stride).
        out: where to write the result, ``(B, 3, H, W)`` float32 or uint8 (rounded as
            :func:`polychrome.images.to_uint8` rounds), any strides; a new float32 tensor when None.
        strip_pixels: pixels (over the whole batch) merged at once; this bounds the float buffers. None:
            ``STRIP_PIXELS`` on the CPU, ``GPU_STRIP_PIXELS`` elsewhere.

    Returns:
        ``out``: sRGB in 0..1 whose Lab lightness equals the photos' (out-of-gamut colors are pulled toward
        gray, never clipped in RGB, so L is kept).
    """
    batch, _, height, width = rgb.shape
    device = rgb.device
    if out is None:
        out = torch.empty((batch, 3, height, width), dtype=torch.float32, device=device)
    if out.shape != rgb.shape or out.dtype not in (torch.float32, torch.uint8):
        raise ValueError(f"out must be a float32 or uint8 tensor of shape {tuple(rgb.shape)}")
    if strip_pixels is None:
        strip_pixels = STRIP_PIXELS if device.type == "cpu" else GPU_STRIP_PIXELS
    ab_low = ab_low.to(device, torch.float32)
    h, w = ab_low.shape[-2:]
    # The taps go to the device once, not with every strip.
    y0, y1, wy = (t.to(device) for t in _bilinear_taps(height, h, covered[0] / height))
    cols = tuple(t.to(device) for t in _bilinear_taps(width, w, covered[1] / width))
    step = max(1, strip_pixels // max(1, batch * width))
    for top in range(0, height, step):
        bottom = min(height, top + step)
        ab = _resample(ab_low, (y0[top:bottom], y1[top:bottom], wy[top:bottom]), cols)
        strip = rgb[:, :, top:bottom]
        strip = strip.div(255.0) if strip.dtype == torch.uint8 else strip.float()
        lab = torch.cat((rgb_to_lightness(strip.contiguous()), ab), dim=1)
        merged = lab_to_rgb_in_gamut(lab)
        out[:, :, top:bottom] = tensor_to_uint8(merged) if out.dtype == torch.uint8 else merged
    return out
