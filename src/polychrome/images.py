"""Reading and writing user images, whatever PIL mode, bit depth or damage they arrive with.

Everything leaves this module as float32 sRGB in 0..1 (scikit-image's dtype rules: uint8 is 0..255,
uint16 is 0..65535, float is 0..1), so the colorizer never sees a PIL mode. Failures on user files become
one-line :class:`ImageReadError` messages that a batch job can log and skip.

Example:
    >>> import numpy as np
    >>> img = load_image(np.zeros((4, 6), dtype=np.uint8))
    >>> img.rgb.shape, img.size, img.bit_depth
    ((4, 6, 3), (6, 4), 8)
"""

from __future__ import annotations

import io
import logging
import math
import os
import stat
import struct
import threading
import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from polychrome._atomic import atomic_write
from polychrome._messages import os_error_reason, printable_name

if TYPE_CHECKING:
    import torch

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "ImageReadError",
    "LoadedImage",
    "load_image",
    "save_image",
    "to_uint8",
    "to_float01",
    "tensor_to_uint8",
]

logger = logging.getLogger(__name__)

SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"}
)

# Output formats by suffix, and which of them can carry an alpha channel.
_SAVE_FORMATS: dict[str, str] = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
}
_ALPHA_FORMATS = frozenset({"PNG", "WEBP", "TIFF"})

_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})

# What PIL decoders raise on damaged data; MemoryError is deliberately not here.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)

# Image.MAX_IMAGE_PIXELS is process-global: we lift it only around the (lazy, header-only) open and
# apply our own limit, under a lock so concurrent loads cannot restore each other's value.
_PIL_LIMIT_LOCK = threading.Lock()


class _WarningsByFile:
    """Python warnings raised while a thread reads or writes a file (PIL's DecompressionBombWarning, corrupt
    EXIF, TIFF tags), logged once each with that file's name instead of shown without it.

    The warnings module's state is process-wide and batch jobs read and write in several threads at once, so
    one catcher serves every thread at work: the first thread in installs it, each warning goes to the file
    of the thread that raised it (those of other threads pass on as before), the last thread out restores
    what was there. While it is installed every warning is shown, not only its first occurrence, so that
    each file gets its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._catcher: warnings.catch_warnings | None = None
        self._pass_on = warnings.showwarning
        self._thread = threading.local()

    def _show(
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        caught: list[str] | None = getattr(self._thread, "caught", None)
        if caught is None:
            self._pass_on(message, category, filename, lineno, file, line)
        else:
            caught.append(str(message))

    @contextmanager
    def named(self, name: str) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self._catcher = warnings.catch_warnings()
                self._catcher.__enter__()
                warnings.simplefilter("always")
                self._pass_on = warnings.showwarning
                warnings.showwarning = self._show
            self._users += 1
        outer: list[str] | None = getattr(self._thread, "caught", None)
        caught: list[str] = []
        self._thread.caught = caught
        try:
            yield
        finally:
            self._thread.caught = outer
            with self._lock:
                self._users -= 1
                if self._users == 0 and self._catcher is not None:
                    self._catcher.__exit__(None, None, None)
                    self._catcher = None
            for message in dict.fromkeys(caught):
                logger.warning("%s: %s", printable_name(name), " ".join(message.split()))


_warnings_by_file = _WarningsByFile()


class ImageReadError(Exception):
    """A user image could not be read; the message is one line: ``"<file>: <reason>"``, the file name shown
    with control characters and undecodable bytes escaped (``source`` keeps it as it is)."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{printable_name(source)}: {reason}")
        self.source = source
        self.reason = reason

    def __reduce__(self) -> tuple[type[ImageReadError], tuple[str, str]]:
        # Batch workers send these across processes; the default pickling would pass only the message.
        return type(self), (self.source, self.reason)


_ORIENTATION_TAG = 0x0112
# Tags that describe how a file's pixels are laid out (a TIFF's own directory is its EXIF to PIL): they must
# never travel to another file. Resolution travels as dpi instead.
_LAYOUT_TAGS = frozenset(
    {254, 255, 256, 257, 258, 259, 262, 263, 266, 273, 277, 278, 279, 280, 281, 282, 283, 284, 290, 291, 296}
    | {317, 318, 319, 320, 321, 322, 323, 324, 325, 338, 339, 340, 341, 513, 514, 529, 530, 531, 532}
)
_METADATA_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "TIFF"})  # formats that store EXIF and resolution
_JPEG_MAX_EXIF_BYTES = 65533  # what one APP1 marker segment holds


@dataclass(frozen=True)
class PhotoMetadata:
    """What a colorized copy keeps of its source's metadata: the EXIF block (date, camera, caption...) with
    its orientation reset, since the pixels were turned upright when read, and the resolution (dpi)."""

    exif: bytes | None = None
    dpi: tuple[float, float] | None = None


def _read_metadata(img: Image.Image) -> PhotoMetadata | None:
    """The photo's metadata, or None; a malformed EXIF block is dropped rather than failing the photo."""
    exif_bytes = None
    try:
        exif = img.getexif()
        for tag in _LAYOUT_TAGS & set(exif):
            del exif[tag]
        if len(exif):
            exif[_ORIENTATION_TAG] = 1
            exif_bytes = exif.tobytes()
    except Exception:  # noqa: BLE001 - metadata is a courtesy; the pixels are what the user asked for
        logger.debug("unreadable EXIF ignored", exc_info=True)
    dpi = img.info.get("dpi")
    known = isinstance(dpi, tuple) and len(dpi) == 2 and min(float(dpi[0]), float(dpi[1])) > 1
    dpi = (float(dpi[0]), float(dpi[1])) if known else None  # PIL reports 1 for a TIFF that gives none
    return PhotoMetadata(exif_bytes, dpi) if exif_bytes or dpi else None


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """A decoded image in the colorizer's units.

    Attributes:
        rgb: float32 ``(H, W, 3)`` sRGB in 0..1 (gray sources are replicated into three channels).
        alpha: float32 ``(H, W)`` in 0..1, or None when the source has no transparency.
        mode: the original PIL mode (for arrays, the mode PIL would have used, e.g. ``"L"``, ``"RGBA"``).
        bit_depth: 8 for 1- and 8-bit sources (and 32-bit int ones holding 0..255 only), 16 for anything
            more precise (16-bit, 32-bit int, float).
        source: the path it was read from, or None for in-memory inputs.
        metadata: EXIF and resolution of a file, to be written with its colorized copy (None if it has none).
        extent: for an image decoded reduced (``target_shorter_side``), the whole file's ``(width, height)``
            in this image's pixels: its size divided by the reduction, a fraction of a pixel less than
            :attr:`size` where the last row and column averaged fewer pixels. A resize that maps this box
            (``Image.resize(..., box=(0, 0, *extent))``) gives the geometry of the full-size file. None for an
            image at full size.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    mode: str
    bit_depth: int
    source: str | None
    metadata: PhotoMetadata | None = None
    extent: tuple[float, float] | None = None

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels, PIL's order."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Convert an image array to uint8 0..255: the single place floats become bytes.

    Floats are taken as 0..1, clipped and rounded (not truncated, which would darken by half a level);
    uint8 passes through unchanged; bool maps to 0/255.
    """
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x
    if x.dtype == np.bool_:
        return x.astype(np.uint8) * np.uint8(255)
    if np.issubdtype(x.dtype, np.floating):
        scaled = np.clip(np.nan_to_num(x, nan=0.0), 0.0, 1.0) * 255.0
        return np.rint(scaled).astype(np.uint8)
    raise ValueError(f"to_uint8 expects float in 0..1, uint8 or bool, got dtype {x.dtype}")


def tensor_to_uint8(x: torch.Tensor) -> torch.Tensor:
    """:func:`to_uint8` for a float tensor in 0..1, on whatever device it lives: the same clipping and the
    same rounding (half to even, as ``np.rint``) in the tensor's own precision, so a frame made into bytes
    on a GPU is the one numpy makes of it. Returns a new uint8 tensor of the same shape and layout."""
    if not x.is_floating_point():
        raise ValueError(f"tensor_to_uint8 expects a float tensor in 0..1, got {x.dtype}")
    return x.nan_to_num(nan=0.0).clamp_(0.0, 1.0).mul_(255.0).round_().byte()


def to_uint16(x: np.ndarray) -> np.ndarray:
    """Convert an image array to uint16 0..65535 (a 10-bit film's output): the single place floats become
    16-bit levels. Floats are taken as 0..1, clipped and rounded; uint16 passes through unchanged."""
    x = np.asarray(x)
    if x.dtype == np.uint16:
        return x
    if np.issubdtype(x.dtype, np.floating):
        scaled = np.clip(np.nan_to_num(x, nan=0.0), 0.0, 1.0) * 65535.0
        return np.rint(scaled).astype(np.uint16)
    raise ValueError(f"to_uint16 expects float in 0..1 or uint16, got dtype {x.dtype}")


def to_float01(arr: np.ndarray) -> np.ndarray:
    """Apply scikit-image's dtype rules, returning float32 in 0..1: the single place bytes become floats."""
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / np.float32(255.0)
    if arr.dtype == np.uint16 or (arr.dtype.kind == "u" and arr.dtype.itemsize == 2):
        return arr.astype(np.float32) / np.float32(65535.0)
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.floating):
        if arr.size and not (np.all(np.isfinite(arr)) and arr.min() >= 0.0 and arr.max() <= 1.0):
            raise ValueError(
                f"float image values must lie in [0, 1], got range "
                f"[{arr.min():.4g}, {arr.max():.4g}] (non-finite values are refused too)"
            )
        return arr.astype(np.float32)
    raise ValueError(f"unsupported image dtype {arr.dtype}; use uint8, uint16, bool or float in 0..1")


_to_float01 = to_float01


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))


def gray_view(gray: np.ndarray) -> np.ndarray:
    """An ``(H, W)`` gray image seen as ``(H, W, 3)`` without copying it (read-only, channel stride 0)."""
    return np.broadcast_to(gray[:, :, None], (*gray.shape, 3))


def _levels(arr: np.ndarray, keep_8bit: bool) -> np.ndarray:
    """8-bit pixels as they are (``keep_8bit``) or in the float units of everything else."""
    return arr if keep_8bit else _to_float01(arr)


def _gray(gray: np.ndarray, keep_8bit: bool) -> np.ndarray:
    return gray_view(gray) if keep_8bit else _gray_to_rgb(_to_float01(gray))


def _from_array(arr: np.ndarray, keep_8bit: bool = False) -> LoadedImage:
    if arr.ndim == 2:
        channels = 1
    elif arr.ndim == 3 and arr.shape[2] in (3, 4):
        channels = arr.shape[2]
    else:
        raise ValueError(f"image array must be HxW, HxWx3 or HxWx4, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"image array is empty, shape {arr.shape}")
    bit_depth = 8 if arr.dtype in (np.uint8, np.bool_) else 16
    if keep_8bit and arr.dtype == np.uint8:
        if channels == 1:
            return LoadedImage(gray_view(arr), None, "L", 8, None)
        alpha = _to_float01(arr[:, :, 3]) if channels == 4 else None
        return LoadedImage(arr[:, :, :3], alpha, "RGBA" if channels == 4 else "RGB", 8, None)
    values = _to_float01(arr)
    if channels == 1:
        gray_mode = {np.dtype(np.uint8): "L", np.dtype(np.bool_): "1", np.dtype(np.uint16): "I;16"}
        mode = gray_mode.get(arr.dtype, "F")
        return LoadedImage(_gray_to_rgb(values), None, mode, bit_depth, None)
    rgb = np.ascontiguousarray(values[:, :, :3])
    alpha = np.ascontiguousarray(values[:, :, 3]) if channels == 4 else None
    return LoadedImage(rgb, alpha, "RGBA" if channels == 4 else "RGB", bit_depth, None)


def _decode(
    img: Image.Image, name: str, keep_8bit: bool = False
) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Turn a loaded PIL image into ``(rgb, alpha, bit_depth)`` in our units (8-bit ones kept as uint8 with
    ``keep_8bit``, gray as a :func:`gray_view`); ``name`` is for warnings."""
    mode = img.mode
    if mode == "I":
        return _decode_thirty_two_bit(np.asarray(img), name, keep_8bit)
    if mode in _SIXTEEN_BIT_MODES:
        arr = np.clip(np.asarray(img), 0, 65535).astype(np.uint16)
        return _gray_to_rgb(_to_float01(arr)), None, 16
    if mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        finite = bool(np.all(np.isfinite(arr)))
        if arr.size and finite and arr.min() >= 0.0 and 2.0 < arr.max() <= 255.0:
            # 8-bit levels stored as floats (as PIL's convert('F') makes them): 0..1 would clip all but
            # black to white. Up to 2 is taken for 0..1 overshooting, clipped below as before (an 8-bit
            # photo whose brightest level is 2 is black either way).
            logger.warning(
                "%s: float image values lie in 0..255, not 0..1; read as 8-bit levels (divided by 255)",
                printable_name(name),
            )
            return _gray_to_rgb(arr / np.float32(255.0)), None, 16
        if arr.size and not (finite and arr.min() >= 0.0 and arr.max() <= 1.0):
            logger.warning("%s: float image values outside [0, 1] were clipped", printable_name(name))
            arr = np.clip(np.nan_to_num(arr, nan=0.0), 0.0, 1.0)
        return _gray_to_rgb(arr), None, 16
    if mode == "1":
        return _gray(np.asarray(img.convert("L")), keep_8bit), None, 8

    has_alpha = mode in ("LA", "La", "PA", "RGBA", "RGBa") or "transparency" in img.info
    if mode == "P" and img.palette is not None and img.palette.mode == "RGBA":
        has_alpha = True
    if mode in ("L", "LA", "La"):
        if has_alpha:
            arr = np.asarray(img.convert("LA"))
            return _gray(arr[:, :, 0], keep_8bit), _to_float01(arr[:, :, 1]), 8
        return _gray(np.asarray(img), keep_8bit), None, 8
    if has_alpha:
        # P/PA/RGB-with-tRNS/RGBa all go through RGBA so palette transparency becomes an alpha channel.
        arr = np.asarray(img.convert("RGBA"))
        return _levels(np.ascontiguousarray(arr[:, :, :3]), keep_8bit), _to_float01(arr[:, :, 3]), 8
    # RGB, RGBX, CMYK, YCbCr, LAB, HSV, P: PIL's own conversions are colorimetrically right here.
    rgb = img if mode == "RGB" else img.convert("RGB")
    return _levels(np.asarray(rgb), keep_8bit), None, 8


def _check_pixels(name: str, size: tuple[int, int], max_pixels: int | None) -> None:
    width, height = size
    if max_pixels is not None and width * height > max_pixels:
        raise ImageReadError(
            name,
            f"image is {width}x{height} ({width * height / 1e6:.1f} MP), "
            f"over the {max_pixels / 1e6:g} MP limit",
        )


# PIL's Image.transpose methods that ImageOps.exif_transpose applies for each EXIF orientation, as numpy views
# of an (H, W, C) array.
_UPRIGHT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1],  # FLIP_LEFT_RIGHT
    3: lambda a: a[::-1, ::-1],  # ROTATE_180
    4: lambda a: a[::-1],  # FLIP_TOP_BOTTOM
    5: lambda a: a.swapaxes(0, 1),  # TRANSPOSE
    6: lambda a: np.rot90(a, -1),  # ROTATE_270
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],  # TRANSVERSE
    8: lambda a: np.rot90(a, 1),  # ROTATE_90
}


def _is_sixteen_bit_color(img: Image.Image, fp: Path | io.BytesIO) -> bool:
    """A 16-bit RGB or RGBA PNG or TIFF: PIL opens them, but only at 8 bits ("RGB" / "RGBA")."""
    if img.format == "PNG":
        if isinstance(fp, Path):
            with open(fp, "rb") as handle:
                head = handle.read(26)
        else:
            head = bytes(fp.getbuffer()[:26])  # not getvalue(), which would copy the whole file
        # IHDR: bit depth at byte 24, color type at 25 (2: RGB, 6: RGBA)
        return len(head) == 26 and head[12:16] == b"IHDR" and head[24] == 16 and head[25] in (2, 6)
    if img.format == "TIFF" and img.mode in ("RGB", "RGBA"):
        bits = img.tag_v2.get(258)  # BitsPerSample, one per channel
        return isinstance(bits, tuple) and len(bits) in (3, 4) and all(b == 16 for b in bits)
    return False


def _has_opencv(name: str) -> bool:
    """Whether OpenCV is there to read a 16-bit color file; without it (the base install) the file is read
    at 8 bits, as PIL reads it, with a warning naming it."""
    try:
        import cv2  # noqa: F401
    except ImportError:
        logger.warning(
            "%s: 16-bit color read at 8 bits; pip install opencv-python-headless to read all 16",
            printable_name(name),
        )
        return False
    return True


def _decode_sixteen_bit_color(
    img: Image.Image, fp: Path | io.BytesIO
) -> tuple[np.ndarray, np.ndarray | None, int]:
    """:func:`_decode` for :func:`_is_sixteen_bit_color` files, decoded by OpenCV at full precision and
    turned upright by the EXIF orientation that PIL read from the header, as for every other image."""
    import cv2  # only here (an optional package): the 8-bit photos that are most of them never need OpenCV

    data = fp.read_bytes() if isinstance(fp, Path) else fp.getvalue()
    try:
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as err:
        raise ValueError(f"OpenCV cannot decode it ({err})") from err
    width, height = img.size
    if bgr is None or bgr.dtype != np.uint16 or bgr.shape[:2] != (height, width) or bgr.ndim != 3:
        raise ValueError("OpenCV cannot decode it")
    channels = bgr.shape[2]
    pixels = bgr[..., [2, 1, 0, 3][:channels]]  # OpenCV's BGR(A) order
    values = _to_float01(_UPRIGHT.get(_orientation(img), lambda a: a)(pixels))
    alpha = np.ascontiguousarray(values[..., 3]) if channels == 4 else None
    return np.ascontiguousarray(values[..., :3]), alpha, 16


# A photo decoded for a caller that shrinks it keeps at least this many times the size it is shrunk to, so
# that the caller's own (Lanczos) filter still does the visible work, as PIL's reducing_gap does.
_REDUCING_GAP = 3
# Modes whose pixels can be averaged (not palette indices, bits or PIL's 16-bit integers).
_REDUCIBLE_MODES = frozenset({"L", "LA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "I", "F"})


def _draft_size(size: tuple[int, int], shorter_side: int) -> tuple[int, int] | None:
    """The size to ask PIL's JPEG draft mode for: the photo's aspect, its shorter side ``shorter_side``."""
    scale = shorter_side / min(size)
    return None if scale >= 1 else (math.ceil(size[0] * scale), math.ceil(size[1] * scale))


def _reduced(img: Image.Image, shorter_side: int) -> tuple[Image.Image, int]:
    """``img`` (loaded) averaged over blocks of whole pixels while its shorter side stays ``shorter_side``
    or more, and the block's side: the float copies that follow then cost a fraction of the full size."""
    factor = min(img.size) // shorter_side
    if factor < 2 or img.mode not in _REDUCIBLE_MODES or "transparency" in img.info:
        return img, 1
    return img.reduce(factor), factor


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation (1..8), as ImageOps.exif_transpose reads it; 1 when the EXIF is unreadable."""
    try:
        return int(img.getexif().get(_ORIENTATION_TAG, 1))
    except Exception:  # noqa: BLE001 - an unreadable EXIF block leaves the pixels as they are
        return 1


def _decode_reduced(
    img: Image.Image, name: str, shorter_side: int
) -> tuple[np.ndarray, np.ndarray | None, int, tuple[float, float] | None]:
    """:func:`_decode` of ``img`` reduced while its shorter side stays ``shorter_side`` or more (a JPEG
    already in the decoder), and the file's extent in the result's pixels (None when not reduced)."""
    width, height = img.size
    draft = _draft_size(img.size, shorter_side)
    drafted = img.draft(img.mode, draft) if draft is not None else None  # None but for JPEG
    scale = width / drafted[1][2] if drafted is not None else 1.0
    img.load()
    if _orientation(img) in (5, 6, 7, 8):  # turned a quarter
        width, height = height, width
    img, factor = _reduced(ImageOps.exif_transpose(img), shorter_side)
    scale *= factor
    rgb, alpha, bit_depth = _decode(img, name)
    return rgb, alpha, bit_depth, None if scale == 1 else (width / scale, height / scale)


def _decode_thirty_two_bit(
    arr: np.ndarray, name: str, keep_8bit: bool
) -> tuple[np.ndarray, np.ndarray | None, int]:
    """A gray image of PIL's mode 'I' (32-bit signed): 16-bit levels (0..65535) by convention, since PIL
    has opened 16-bit PNG and TIFF files as 'I'; but values that all lie in 0..255 (and are not all 0) are
    8-bit levels in a 32-bit container, as PIL's convert('I') makes them, which 0..65535 would show all but
    black. That reading is a guess, so a warning says it was made; so does one about clipped values."""
    low, high = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
    if low >= 0 and 0 < high <= 255:
        logger.warning(
            "%s: 32-bit integer image with values in 0..255 only; read as 8-bit levels, not 16-bit",
            printable_name(name),
        )
        return _gray(arr.astype(np.uint8), keep_8bit), None, 8
    if low < 0 or high > 65535:
        logger.warning(
            "%s: 32-bit integer image values outside 0..65535 (16-bit levels) were clipped",
            printable_name(name),
        )
    arr = np.clip(arr, 0, 65535).astype(np.uint16)
    return _gray_to_rgb(_to_float01(arr)), None, 16


def _finish(
    img: Image.Image,
    name: str,
    max_pixels: int | None,
    fp: Path | io.BytesIO | None = None,
    target_shorter_side: int | None = None,
    keep_8bit: bool = False,
) -> tuple[str, np.ndarray, np.ndarray | None, int, tuple[float, float] | None]:
    """Check size, decode, apply EXIF orientation, convert; on a header-only (lazy) image opened from ``fp``
    (None for an image that came as a PIL image). See :func:`load_image` for ``target_shorter_side``; the
    last item is :attr:`LoadedImage.extent`."""
    _check_pixels(name, img.size, max_pixels)
    mode = img.mode
    extent = None
    try:
        if fp is not None and _is_sixteen_bit_color(img, fp) and _has_opencv(name):
            rgb, alpha, bit_depth = _decode_sixteen_bit_color(img, fp)
        elif target_shorter_side is not None:
            reduced = _decode_reduced(img, name, target_shorter_side * _REDUCING_GAP)
            rgb, alpha, bit_depth, extent = reduced
        else:
            img.load()
            img = ImageOps.exif_transpose(img)
            rgb, alpha, bit_depth = _decode(img, name, keep_8bit)
    except Image.DecompressionBombError as err:
        raise ImageReadError(name, f"image is over the pixel limit ({err})") from err
    except _DECODE_ERRORS as err:
        raise ImageReadError(name, "truncated or corrupt image data") from err
    return mode, rgb, alpha, bit_depth, extent


def _open_path(
    path: Path, max_pixels: int | None, target_shorter_side: int | None, keep_8bit: bool = False
) -> LoadedImage:
    name = str(path)
    try:
        status = path.stat()
    except FileNotFoundError as err:
        raise ImageReadError(name, "no such file") from err
    except OSError as err:  # a symlink loop, a folder that may not be searched
        raise ImageReadError(name, os_error_reason(err)) from err
    if stat.S_ISDIR(status.st_mode):
        raise ImageReadError(name, "is a directory, not an image file")
    if status.st_size == 0:
        raise ImageReadError(name, "file is empty")
    return _open(path, name, max_pixels, target_shorter_side, keep_8bit)


def _open(
    fp: Path | io.BytesIO,
    name: str,
    max_pixels: int | None,
    target_shorter_side: int | None,
    keep_8bit: bool = False,
) -> LoadedImage:
    with _warnings_by_file.named(name):
        try:
            with _PIL_LIMIT_LOCK:
                saved_limit = Image.MAX_IMAGE_PIXELS
                Image.MAX_IMAGE_PIXELS = None
                try:
                    img = Image.open(fp)
                finally:
                    Image.MAX_IMAGE_PIXELS = saved_limit
        except UnidentifiedImageError as err:
            raise ImageReadError(name, "not an image (cannot identify image file)") from err
        except PermissionError as err:
            raise ImageReadError(name, "permission denied") from err
        except _DECODE_ERRORS as err:
            raise ImageReadError(name, f"cannot open ({err})".replace("\n", " ")) from err
        with img:
            mode, rgb, alpha, bit_depth, extent = _finish(
                img, name, max_pixels, fp, target_shorter_side, keep_8bit
            )
            metadata = _read_metadata(img)
        return LoadedImage(rgb, alpha, mode, bit_depth, name, metadata, extent)


def load_image_bytes(
    data: bytes, name: str, max_pixels: int | None = 200_000_000, *, target_shorter_side: int | None = None
) -> LoadedImage:
    """:func:`load_image` for an encoded image held in memory (a tar member, an upload); ``name`` is what
    error messages call it."""
    if not data:
        raise ImageReadError(name, "file is empty")
    return _open(io.BytesIO(data), name, max_pixels, target_shorter_side)


def load_image(
    source: str | os.PathLike[str] | Image.Image | np.ndarray,
    max_pixels: int | None = 200_000_000,
    *,
    target_shorter_side: int | None = None,
    keep_8bit: bool = False,
) -> LoadedImage:
    """Load a user image as float32 sRGB in 0..1, with alpha if it has any.

    Args:
        source: a path; a PIL image (any mode); or a numpy array ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``
            of uint8 (0..255), uint16 (0..65535), bool, or float (0..1).
        max_pixels: refuse images with more pixels than this, judged from the header before decoding so a
            hostile file costs no memory; None disables the check (PIL's own limit is replaced by this one).
        target_shorter_side: for a caller that will shrink the image to this shorter side (pixels): a large
            image then comes back smaller, by a whole factor, with its shorter side still at least three
            times this, so that it never exists at full size as floats. A JPEG is decoded at 1/2, 1/4 or 1/8
            scale (PIL's draft mode); other 8-bit images are averaged over blocks of pixels before any float
            copy. None (default): full size.
        keep_8bit: give an 8-bit image's ``rgb`` as uint8 (0..255), a gray one as a read-only
            :func:`gray_view` of one channel, so a large photo costs 1 or 3 bytes a pixel, not 12; other
            images (16-bit, float) still come as float32. Not with ``target_shorter_side``.

    Raises:
        ImageReadError: a file is missing, empty, not an image, truncated/corrupt or over ``max_pixels``.
        ValueError: an array has an unsupported shape or dtype, or float values outside [0, 1].

    EXIF orientation is applied before anything else, so ``rgb`` is upright as a viewer would show it.

    Example:
        >>> img = load_image("photo.jpg")  # doctest: +SKIP
        >>> img.rgb.dtype, img.rgb.shape[2]  # doctest: +SKIP
        (dtype('float32'), 3)
    """
    if isinstance(source, np.ndarray):
        return _from_array(source, keep_8bit)
    if isinstance(source, Image.Image):
        mode, rgb, alpha, bit_depth, extent = _finish(
            source, "<PIL image>", max_pixels, None, target_shorter_side, keep_8bit
        )
        return LoadedImage(rgb, alpha, mode, bit_depth, None, extent=extent)
    if isinstance(source, str | os.PathLike):
        return _open_path(Path(source), max_pixels, target_shorter_side, keep_8bit)
    raise TypeError(f"load_image expects a path, PIL image or numpy array, got {type(source).__name__}")


def _rgb_image(rgb: np.ndarray | Image.Image) -> Image.Image:
    if isinstance(rgb, Image.Image):
        if rgb.mode != "RGB":
            raise ValueError(f"an image to save must be RGB, got mode {rgb.mode}")
        return rgb
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must have shape (H, W, 3), got {rgb.shape}")
    return Image.fromarray(np.ascontiguousarray(to_uint8(rgb)), mode="RGB")


def save_image(
    path: str | os.PathLike[str],
    rgb: np.ndarray | Image.Image,
    alpha: np.ndarray | None = None,
    *,
    quality: int = 95,
    metadata: PhotoMetadata | None = None,
) -> None:
    """Write an image atomically, the format chosen by the file extension.

    Args:
        path: target file; parent directories are created. Suffix one of .jpg .jpeg .png .webp .tif
            .tiff .bmp (any case).
        rgb: ``(H, W, 3)`` float in 0..1 or uint8, or an RGB PIL image (saved without another copy).
        alpha: optional ``(H, W)`` float in 0..1 or uint8; kept for png/webp/tif, dropped with a warning
            for jpg/bmp, which cannot store it.
        quality: JPEG/WebP quality 1..100; ignored by lossless formats.
        metadata: EXIF and dpi to keep (from :attr:`LoadedImage.metadata`); written to JPEG, PNG, WebP and
            TIFF, which store them (an EXIF block over JPEG's 64 KB is dropped with a warning).

    The image goes to a temporary file beside the target and is then ``os.replace``-d onto it, so an
    interrupted save never leaves a half-written file or destroys the previous one.

    Example:
        >>> save_image("out/colorized.png", np.zeros((8, 8, 3), np.float32))  # doctest: +SKIP
    """
    path = Path(path)
    fmt = _SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(_SAVE_FORMATS))
        raise ValueError(f"cannot save {path.name!r}: unknown extension {path.suffix!r} (use one of {known})")
    image = _rgb_image(rgb)
    if alpha is not None:
        alpha = np.asarray(alpha)
        if alpha.shape != (image.height, image.width):
            raise ValueError(f"alpha must have shape {(image.height, image.width)}, got {alpha.shape}")
        if fmt in _ALPHA_FORMATS:
            image = image.copy()
            image.putalpha(Image.fromarray(to_uint8(alpha), "L"))
        else:
            logger.warning("%s: %s cannot store transparency; alpha channel dropped", path, fmt)
    options: dict[str, object] = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    if metadata is not None and fmt in _METADATA_FORMATS:
        if metadata.exif and fmt == "JPEG" and len(metadata.exif) > _JPEG_MAX_EXIF_BYTES:
            # EXIF is a courtesy; the colorized photo is what was asked for.
            logger.warning(
                "%s: EXIF block of %d bytes is over JPEG's limit of %d; saved without EXIF",
                printable_name(path),
                len(metadata.exif),
                _JPEG_MAX_EXIF_BYTES,
            )
        elif metadata.exif:
            options["exif"] = metadata.exif
        if metadata.dpi and fmt != "WEBP":
            options["dpi"] = metadata.dpi

    with _warnings_by_file.named(str(path)):
        atomic_write(path, lambda handle: image.save(handle, format=fmt, **options))
