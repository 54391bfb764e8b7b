"""The full-resolution merge in numpy: the twin of :func:`polychrome.pipelines.render.merge_full_resolution`
for the install without PyTorch, made lean for very large photos.

The photo's own lightness is kept and the ab predicted at the render size is upsampled bilinearly under it;
out-of-gamut colors are pulled toward gray as :func:`polychrome.color.lab_np.fit_to_gamut` does. The work
goes in strips of rows small enough for the CPU's caches (on threads, if asked for), each thread in one set of
buffers that it keeps from strip to strip and photo to photo, so memory beyond the input and output arrays
stays about 10 MB a thread whatever the photo's size, and no strip pays the page faults of fresh arrays
(which were a third of the merge's time).

An 8-bit photo is never turned into floats: the lightness and luminance of each gray level come from a
table, those of 8-bit RGB from per-channel tables, and an 8-bit output is encoded by table from linear light
(:func:`polychrome.color.lab_np.linear_to_srgb8`), so no power is computed per pixel.
"""

from __future__ import annotations

import threading
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


def _take(values: np.ndarray, index: np.ndarray, out: np.ndarray, axis: int | None = None) -> np.ndarray:
    """``np.take`` into ``out``; the indices are in range by construction, and in its default mode numpy
    gathers into a temporary first."""
    return np.take(values, index, axis=axis, out=out, mode="clip")


class _Conversion:
    """Buffers to convert up to ``pixels`` colors to linear sRGB and test them against the gamut."""

    def __init__(self, pixels: int) -> None:
        self.xyz, self.linear = np.empty((2, 3, pixels), np.float32)
        self.scratch, self.low, self.high = np.empty((3, pixels), np.float32)
        self.bright, self.below, self.above = np.empty((3, pixels), bool)

    def cut(self, n: int) -> _Conversion:
        """The same buffers, their first ``n`` pixels."""
        view = object.__new__(_Conversion)
        view.__dict__.update({name: array[..., :n] for name, array in vars(self).items()})
        return view


class _Buffers:
    """Everything one thread merges its strips in: strips of up to ``pixels`` pixels use their first N
    elements. About 160 bytes a pixel (10 MB for :data:`STRIP_PIXELS`)."""

    def __init__(self, pixels: int) -> None:
        self.pixels = pixels
        self.index = np.empty(pixels, np.intp)
        self.fy, self.y = np.empty((2, pixels), np.float32)
        self.ab, self.step = np.empty((2, 2, pixels), np.float32)  # a/500 and -b/200 upsampled
        self.strip = _Conversion(pixels)
        # f(Y), Y, a/500, -b/200 of the colors outside the gamut, the bisection's bracket and trial, and
        # their own conversion (the strip's linear light is still needed around them).
        self.outside = np.empty((8, pixels), np.float32)
        self.fit = _Conversion(pixels)
        self.clipped, self.root = np.empty((2, 3, pixels), np.float32)  # the 8-bit encoding's
        self.codes_index = np.empty((3, pixels), np.intp)
        self.codes = np.empty((3, pixels), np.uint8)


_KEPT = threading.local()


def _buffers(pixels: int) -> _Buffers:
    """This thread's buffers for strips of ``pixels`` pixels, kept from photo to photo (and grown when a
    wider photo needs more): making and first touching 10 MB for each photo cost a tenth of the merge of a
    1024x768 one."""
    buffers = getattr(_KEPT, "buffers", None)
    if buffers is None or buffers.pixels < pixels:
        buffers = _KEPT.buffers = _Buffers(pixels)
    return buffers


def _lightness_terms(photo_rows: np.ndarray, gray: bool, buffers: _Buffers) -> tuple[np.ndarray, np.ndarray]:
    """(fy, Y) of a strip of the photo, flattened, in ``buffers``: f(Y) of CIELAB (L = 116 fy - 16) and
    luminance."""
    n = photo_rows.shape[0] * photo_rows.shape[1]
    fy, y, index = buffers.fy[:n], buffers.y[:n], buffers.index[:n]
    if photo_rows.dtype == np.uint8 and gray:
        index.reshape(photo_rows.shape[:2])[...] = photo_rows[:, :, 0]
        return _take(_GRAY8_FY, index, fy), _take(GRAY8_LUMINANCE, index, y)
    if photo_rows.dtype == np.uint8:
        pixels = photo_rows.reshape(-1, 3)
        share = buffers.strip.scratch[:n]
        for c in range(3):
            index[...] = pixels[:, c]
            _take(CHANNEL8_LUMINANCE[c], index, share if c else y)
            if c:
                y += share
    else:
        y[...] = luminance(photo_rows.reshape(-1, 3).astype(np.float32, copy=False))
    fy[...] = np.where(y > EPSILON, np.cbrt(np.maximum(y, EPSILON)), (KAPPA * y + 16.0) / 116.0)
    return fy, y


def _cube_in_place(f: np.ndarray, scratch: np.ndarray, bright: np.ndarray) -> np.ndarray:
    """CIELAB's inverse of f written over ``f``: f**3, or its linear segment in the darkest tones
    (``scratch``, ``bright``: float and bool buffers of its size). Both pieces are computed everywhere and
    the cube copied over where it holds: picking the dark ones out by mask took longer, half the colors that
    the gamut fit tries being dark."""
    np.greater(f, _CUBE_BELOW, out=bright)
    np.multiply(f, f, out=scratch)
    scratch *= f
    f *= 116.0
    f -= 16.0
    f /= KAPPA
    np.copyto(f, scratch, where=bright)
    return f


def _linear(fy: np.ndarray, y: np.ndarray, da: np.ndarray, db: np.ndarray, work: _Conversion) -> np.ndarray:
    """Linear sRGB ``(3, N)``, in ``work.linear``, from f(Y), Y and the a/500 and -b/200 added to f(Y) for
    f(X) and f(Z)."""
    for row, shift in ((0, da), (2, db)):
        np.add(fy, shift, out=work.xyz[row])
        _cube_in_place(work.xyz[row], work.scratch, work.bright)
    work.xyz[1] = y
    return np.matmul(_TO_LINEAR, work.xyz, out=work.linear)


def _outside(linear: np.ndarray, work: _Conversion) -> np.ndarray:
    """Which colors (columns of ``linear``) sRGB cannot show, in ``work.below``."""
    np.less(np.min(linear, axis=0, out=work.low), _LOW, out=work.below)
    np.greater(np.max(linear, axis=0, out=work.high), _HIGH, out=work.above)
    return np.logical_or(work.below, work.above, out=work.below)


def _fit(outside: np.ndarray, work: _Conversion) -> np.ndarray:
    """Linear sRGB (in ``work.linear``) of out-of-gamut colors after
    :func:`polychrome.color.lab_np.fit_chroma`'s bisection on their chroma scale, done on the f(Y), Y, a/500
    and -b/200 that the strip holds (the first rows of ``outside``, ``(8, N)``; the other four are the
    bisection's).

    Every step halves the bracket from 0..1, so its lower end and the step say all: the midpoint is
    ``lo + half`` exactly (short binary fractions), and a midpoint in the gamut becomes ``lo``. The numbers
    are those of ``fit_chroma``.
    """
    fy, y, da, db, lo, mid, trial_a, trial_b = outside
    lo[...] = 0.0
    half = np.float32(0.5)
    for _ in range(GAMUT_ITERATIONS):
        np.add(lo, half, out=mid)
        np.multiply(da, mid, out=trial_a)
        np.multiply(db, mid, out=trial_b)
        outside_now = _outside(_linear(fy, y, trial_a, trial_b, work), work)
        # lo = mid where it is in the gamut, as arithmetic (a masked copy branches on every color): mid less
        # half where it is not, which is lo again, exactly.
        np.multiply(outside_now, half, out=trial_a)
        np.subtract(mid, trial_a, out=lo)
        half *= np.float32(0.5)
    np.multiply(da, lo, out=trial_a)
    np.multiply(db, lo, out=trial_b)
    return _linear(fy, y, trial_a, trial_b, work)


def _merge_strip(photo_rows: np.ndarray, out_rows: np.ndarray, gray: bool, buffers: _Buffers) -> None:
    """Merge one strip, whose a/500 and -b/200 upsampled are in ``buffers.ab``."""
    rows, width = out_rows.shape[:2]
    n = rows * width
    fy, y = _lightness_terms(photo_rows, gray, buffers)
    da, db = buffers.ab[:, :n]
    strip = buffers.strip.cut(n)
    linear = _linear(fy, y, da, db, strip)
    outside = np.flatnonzero(_outside(linear, strip))
    if outside.size:
        gathered = buffers.outside[:, : outside.size]
        for row, values in enumerate((fy, y, da, db)):
            _take(values, outside, gathered[row])
        linear[:, outside] = _fit(gathered, buffers.fit.cut(outside.size))
    if out_rows.dtype == np.uint8:
        work = (buffers.clipped[:, :n], buffers.root[:, :n], buffers.codes_index[:, :n])
        codes = linear_to_srgb8(linear, buffers.codes[:, :n], work)
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
        buffers = _buffers(min(step, height) * width)
        rows = slice(top, min(height, top + step))
        shape = (2, rows.stop - top, width)
        ab_rows = _take(columns, y0[rows], buffers.ab[:, : shape[1] * width].reshape(shape), axis=1)
        step_rows = _take(steps, y0[rows], buffers.step[:, : shape[1] * width].reshape(shape), axis=1)
        step_rows *= wy[rows, None]
        ab_rows += step_rows
        _merge_strip(photo[rows], out[rows], gray, buffers)

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
