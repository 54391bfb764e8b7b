"""The full-resolution merge in numpy: the twin of :func:`polychrome.pipelines.render.merge_full_resolution`
for the install without PyTorch, made lean for very large photos.

The photo's own lightness is kept and the ab predicted at the render size is upsampled bilinearly under it;
out-of-gamut colors are pulled toward gray as :func:`polychrome.color.lab_np.fit_to_gamut` does. The work
goes in strips of rows small enough for the CPU's caches (on threads, if asked for), so
memory beyond the input and output arrays stays a few megabytes whatever the photo's size.

An 8-bit photo is never turned into floats: the lightness and luminance of each gray level come from a
table, those of 8-bit RGB from per-channel tables, and an 8-bit output is encoded by table from linear light
(:func:`polychrome.color.lab_np.linear_to_srgb8`), so no power is computed per pixel.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from polychrome.color.constants import EPSILON, GAMUT_ITERATIONS, KAPPA
from polychrome.color.lab_np import (
    CHANNEL8_LUMINANCE,
    GRAY8_LIGHTNESS,
    GRAY8_LUMINANCE,
    XYZ_F_TO_LINEAR,
    gamut_bounds,
    linear_to_srgb,
    linear_to_srgb8,
    luminance,
)
from polychrome.pipelines.resample_np import bilinear_taps, is_gray_view

STRIP_PIXELS = 1 << 16  # a strip's dozen float buffers then fit in a core's L2 cache
_GRAY8_FY = ((GRAY8_LIGHTNESS + 16.0) / 116.0).astype(np.float32)
_TO_LINEAR = XYZ_F_TO_LINEAR.astype(np.float32)
_CUBE_BELOW = np.float32(6.0 / 29.0)
_LOW, _HIGH = (np.float32(v) for v in gamut_bounds())


def default_workers() -> int:
    """Threads for the merge: one. On the 2-core machine two threads were no faster on a 24-megapixel photo
    and slower on a 1024x768 one (BENCHMARKS section 12): numpy's short steps on a strip leave little to
    overlap. ``workers`` is there to measure a larger machine with."""
    return 1


def _lightness_terms(photo_rows: np.ndarray, gray: bool) -> tuple[np.ndarray, np.ndarray]:
    """(fy, Y) of a strip of the photo, flattened: f(Y) of CIELAB (L = 116 fy - 16) and luminance."""
    if photo_rows.dtype == np.uint8 and gray:
        levels = photo_rows[:, :, 0].reshape(-1).astype(np.intp)
        return np.take(_GRAY8_FY, levels), np.take(GRAY8_LUMINANCE, levels)
    if photo_rows.dtype == np.uint8:
        pixels = photo_rows.reshape(-1, 3)
        y = np.take(CHANNEL8_LUMINANCE[0], pixels[:, 0].astype(np.intp))
        y += np.take(CHANNEL8_LUMINANCE[1], pixels[:, 1].astype(np.intp))
        y += np.take(CHANNEL8_LUMINANCE[2], pixels[:, 2].astype(np.intp))
    else:
        y = luminance(photo_rows.reshape(-1, 3).astype(np.float32, copy=False))
    fy = np.where(y > EPSILON, np.cbrt(np.maximum(y, EPSILON)), (KAPPA * y + 16.0) / 116.0)
    return fy.astype(np.float32, copy=False), y.astype(np.float32, copy=False)


def _cube(f: np.ndarray) -> np.ndarray:
    """CIELAB's inverse of f: f**3, or its linear segment in the darkest tones."""
    return _cube_in_place(f.copy(), np.empty_like(f))


def _cube_in_place(f: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """:func:`_cube` written over ``f`` (``scratch``: a buffer of its size), the same numbers."""
    dark = f <= _CUBE_BELOW
    segment = (116.0 * f[dark] - 16.0) / KAPPA if dark.any() else None
    np.multiply(f, f, out=scratch)
    np.multiply(scratch, f, out=f)
    if segment is not None:
        f[dark] = segment
    return f


def _linear(fy: np.ndarray, y: np.ndarray, da: np.ndarray, db: np.ndarray) -> np.ndarray:
    """Linear sRGB ``(3, N)`` from f(Y), Y and the a/500 and -b/200 added to f(Y) for f(X) and f(Z)."""
    xyz = np.empty((3, fy.size), np.float32)
    xyz[0] = _cube(fy + da)
    xyz[1] = y
    xyz[2] = _cube(fy + db)
    return _TO_LINEAR @ xyz


def _outside(linear: np.ndarray) -> np.ndarray:
    return (linear.min(axis=0) < _LOW) | (linear.max(axis=0) > _HIGH)


def _fit(fy: np.ndarray, y: np.ndarray, da: np.ndarray, db: np.ndarray) -> np.ndarray:
    """Linear sRGB of out-of-gamut colors after :func:`polychrome.color.lab_np.fit_chroma`'s bisection on
    their chroma scale, done here on f(Y) and the scaled ab the strip already holds.

    Every step halves the bracket from 0..1, so its lower end and the step say all: the midpoint is
    ``lo + half`` exactly (short binary fractions), and a midpoint in the gamut becomes ``lo``. The
    buffers are made once for the ten steps; the numbers are those of ``fit_chroma``.
    """
    lo = np.zeros_like(fy)
    mid = np.empty_like(fy)
    scratch = np.empty_like(fy)
    xyz = np.empty((3, fy.size), np.float32)
    xyz[1] = y
    half = np.float32(0.5)
    for _ in range(GAMUT_ITERATIONS):
        np.add(lo, half, out=mid)
        for row, scaled in ((0, da), (2, db)):
            np.multiply(scaled, mid, out=xyz[row])
            xyz[row] += fy
            _cube_in_place(xyz[row], scratch)
        np.copyto(lo, mid, where=~_outside(_TO_LINEAR @ xyz))
        half *= np.float32(0.5)
    return _linear(fy, y, da * lo, db * lo)


def _merge_strip(photo_rows: np.ndarray, ab_rows: np.ndarray, out_rows: np.ndarray, gray: bool) -> None:
    """Merge one strip: ``ab_rows`` ``(2, rows, W)`` holds a/500 and -b/200 upsampled."""
    fy, y = _lightness_terms(photo_rows, gray)
    da, db = ab_rows[0].reshape(-1), ab_rows[1].reshape(-1)
    linear = _linear(fy, y, da, db)
    outside = np.flatnonzero(_outside(linear))
    if outside.size:
        linear[:, outside] = _fit(fy[outside], y[outside], da[outside], db[outside])
    rows, width = out_rows.shape[:2]
    if out_rows.dtype == np.uint8:
        codes = linear_to_srgb8(linear)
    else:
        codes = np.clip(linear_to_srgb(linear), 0.0, 1.0)
    for c in range(3):
        out_rows[:, :, c] = codes[c].reshape(rows, width)


def merge_full_resolution(
    photo: np.ndarray,
    ab_low: np.ndarray,
    covered: tuple[float, float],
    out: np.ndarray | None = None,
    strip_pixels: int = STRIP_PIXELS,
    workers: int | None = None,
) -> np.ndarray:
    """Combine a photo's own L with upsampled ab, a strip of rows at a time.

    Args:
        photo: ``(H, W, 3)``, uint8 (0..255) or float in 0..1; a gray view (:func:`is_gray_view`) is read
            once per pixel. Its lightness is what is kept.
        ab_low: ``(h, w, 2)`` ab in Lab units predicted for a rendering of the photo.
        covered: how many ab pixels the photo spans vertically and horizontally (render size / stride).
        out: ``(H, W, 3)`` uint8 or float32 array to write into; a new float32 one when None.
        strip_pixels: pixels merged at once by one thread; this bounds the buffers.
        workers: threads (default :func:`default_workers`).

    Returns:
        ``out``: sRGB whose CIELAB lightness is the photo's.
    """
    height, width = photo.shape[:2]
    if out is None:
        out = np.empty((height, width, 3), np.float32)
    if out.shape != (height, width, 3) or out.dtype not in (np.uint8, np.float32):
        raise ValueError(f"out must be a uint8 or float32 array of shape {(height, width, 3)}")
    h, w = ab_low.shape[:2]
    y0, _, wy = bilinear_taps(height, h, covered[0] / height)
    x0, x1, wx = bilinear_taps(width, w, covered[1] / width)
    # a/500 and -b/200 are what the conversion adds to f(Y); scaling commutes with the interpolation, and
    # interpolating columns first, at the low resolution, leaves only the rows for each strip: a row is its
    # upper source row plus a fraction of the step to the next.
    scaled = np.stack((ab_low[..., 0] / 500.0, ab_low[..., 1] / -200.0)).astype(np.float32)
    # Fancy indexing on the last axis leaves a layout in which each strip's row gathers crawl: made (2, h, W).
    columns = np.ascontiguousarray(scaled[:, :, x0] * (1 - wx) + scaled[:, :, x1] * wx)
    steps = np.diff(columns, axis=1, append=columns[:, -1:])
    gray = is_gray_view(photo)
    step = max(1, strip_pixels // max(1, width))

    def merge(top: int) -> None:
        rows = slice(top, min(height, top + step))
        ab_rows = columns[:, y0[rows]]
        step_rows = steps[:, y0[rows]]
        step_rows *= wy[rows, None]
        ab_rows += step_rows
        _merge_strip(photo[rows], ab_rows, out[rows], gray)

    tops = range(0, height, step)
    workers = workers or default_workers()
    if workers == 1 or len(tops) == 1:
        for top in tops:
            merge(top)
    else:
        with ThreadPoolExecutor(workers) as pool:
            for done in pool.map(merge, tops):
                del done
    return out
