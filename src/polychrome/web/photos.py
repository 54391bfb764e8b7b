"""One uploaded photo colorized and encoded as `polychrome colorize` would write it.

The photo is checked from its header first (an image at all, of a format polychrome reads, under the pixel
limit), so that each refusal has its own status; it is then read, colorized and saved with
:func:`polychrome.images.save_image`, the same call `colorize` saves with, so the download keeps the same
EXIF, resolution and transparency.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal

from PIL import Image, UnidentifiedImageError

from polychrome.images import ImageReadError, load_image, save_image
from polychrome.pipelines.hints import Hint, HintError

__all__ = ["FORMATS", "ColorizeOptions", "Colorized", "PhotoError", "colorize_file"]

# Formats a download can take: what the page offers, with the media type and suffix of each.
FORMATS: dict[str, tuple[str, str]] = {"png": ("image/png", ".png"), "jpeg": ("image/jpeg", ".jpg")}
# PIL's names of the formats `polychrome.images` reads (its SUPPORTED_EXTENSIONS).
_READABLE = frozenset({"JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF", "MPO"})
_READABLE_NAMES = "JPEG, PNG, WebP, TIFF, BMP or GIF"


class PhotoError(Exception):
    """A photo the server will not color; ``status`` says why (400 damaged, 413 too large, 415 not one)."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ColorizeOptions:
    """The controls of a request, in the units of :meth:`polychrome.Colorizer.__call__`."""

    saturation: float = 1.0
    temperature: float = 0.0
    render_size: int = 256
    format: Literal["png", "jpeg"] = "png"
    hints: tuple[Hint, ...] = ()
    hint_method: str = "auto"  # one of polychrome.pipelines.image.HINT_METHODS; only used with hints


@dataclass(frozen=True)
class Colorized:
    """An encoded colorized photo, its media type and the seconds spent on each stage."""

    data: bytes
    media_type: str
    suffix: str
    timings: dict[str, float]


def _probe(path: Path, max_pixels: int) -> None:
    """Refuse what is not a readable image, or over ``max_pixels``, from its header alone."""
    if path.stat().st_size == 0:
        raise PhotoError(HTTPStatus.BAD_REQUEST, "the photo is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit is checked below
            with Image.open(path) as img:
                kind, (width, height) = img.format, img.size
    except Image.DecompressionBombError:
        raise PhotoError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, _over(max_pixels)) from None
    except UnidentifiedImageError:
        raise PhotoError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"not a {_READABLE_NAMES} image") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise PhotoError(HTTPStatus.BAD_REQUEST, f"the photo cannot be read ({err})") from None
    if kind not in _READABLE:
        raise PhotoError(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"{kind} images are not read; send {_READABLE_NAMES}"
        )
    if width * height > max_pixels:
        raise PhotoError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the photo is {width}x{height}, {_over(max_pixels)}"
        )


def _over(max_pixels: int) -> str:
    return f"over the limit of {max_pixels / 1e6:g} megapixels"


def colorize_file(
    colorizer: Any, path: Path, options: ColorizeOptions, max_pixels: int, folder: Path
) -> Colorized:
    """Colorize the photo at ``path`` and encode it in ``options.format``, writing only inside ``folder``.

    Raises:
        PhotoError: the photo is not an image polychrome reads, is damaged, or is over ``max_pixels``.
    """
    started = time.perf_counter()
    _probe(path, max_pixels)
    try:
        photo = load_image(path, max_pixels=max_pixels, keep_8bit=True)  # as `polychrome colorize` reads it
    except ImageReadError as err:
        raise PhotoError(HTTPStatus.BAD_REQUEST, f"the photo cannot be read: {err.reason}") from None
    read = time.perf_counter() - started
    try:
        output = colorizer(
            photo.rgb,
            output_type="pil",
            render_size=options.render_size,
            saturation=options.saturation,
            temperature=options.temperature,
            **({"hints": list(options.hints), "hint_method": options.hint_method} if options.hints else {}),
        )
    except HintError as err:  # a point outside this photo: only known once the photo is read
        raise PhotoError(HTTPStatus.BAD_REQUEST, str(err)) from None
    encoding = time.perf_counter()
    media_type, suffix = FORMATS[options.format]
    target = folder / f"colorized{suffix}"
    save_image(target, output.images[0], photo.alpha, metadata=photo.metadata)
    data = target.read_bytes()
    target.unlink()
    timings = {
        "read": read,
        "network": output.timings.get("network", 0.0),
        "merge": output.timings.get("merge", 0.0),
        "encode": time.perf_counter() - encoding,
    }
    return Colorized(data, media_type, suffix, timings)
