"""The images a Turing test may show, decoded once and re-encoded alike, each behind an opaque id.

A participant must judge colour, not files: a real photo kept as a 4000-pixel JPEG with EXIF next to a
512-pixel PNG from a model would give the answer away. So both sides of a pair are decoded by
:func:`polychrome.images.load_image`, resized to the same size (the real photo's shape, longer side at most
``display_size``), stripped of metadata and encoded as the same kind of JPEG. Ids are random hex tokens, so
neither a URL nor a file name tells which side is real, and the server can only ever send these bytes.
"""

from __future__ import annotations

import io
import logging
import secrets
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from polychrome._messages import printable_name
from polychrome.images import ImageReadError, load_image, to_uint8
from polychrome.turing.pairs import FilePair, match_folders

__all__ = ["Catalog", "Pair", "build_catalog", "display_jpeg"]

logger = logging.getLogger(__name__)

# Aspect ratios further apart than this mean the two files are not the same photo (or one was cropped).
_ASPECT_TOLERANCE = 0.02
# Photos decoded at once by default: each may be decoded large (a PNG in full), and more threads than this
# add little speed on a few cores while the memory grows with every one.
DECODE_WORKERS = 4


@dataclass(frozen=True)
class Pair:
    """A real photo and one model's version of it, by image id."""

    photo: str
    model: str
    real_image: str
    colorized_image: str


@dataclass
class Catalog:
    """Everything a Turing test server shows: encoded images by id, the pairs, and what was left out."""

    images: dict[str, bytes] = field(default_factory=dict)
    pairs: list[Pair] = field(default_factory=list)
    missing: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def pairs_per_model(self) -> dict[str, int]:
        counts = dict.fromkeys(self.missing, 0)
        for pair in self.pairs:
            counts[pair.model] = counts.get(pair.model, 0) + 1
        return counts


def _fit(size: tuple[float, float], display_size: int) -> tuple[int, int]:
    width, height = size
    scale = min(1.0, display_size / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def display_jpeg(
    path: Path, display_size: int, like: tuple[int, int] | None = None
) -> tuple[bytes, tuple[int, int]]:
    """Decode ``path`` and encode it for display: fitted into ``display_size``, or resized to ``like``.

    Transparent pixels are put on white, as a browser would show them. Returns the JPEG bytes and the size.
    A large photo is decoded reduced (a JPEG by PIL's draft mode), never as full-size floats.

    Raises:
        ImageReadError: the file cannot be read.
        ValueError: its shape is not that of ``like`` (the real photo it is paired with).
    """
    image = load_image(path, target_shorter_side=display_size if like is None else min(like))
    rgb = image.rgb
    if image.alpha is not None:
        rgb = rgb * image.alpha[..., None] + (1.0 - image.alpha[..., None])
    picture = Image.fromarray(to_uint8(rgb))
    width, height = image.extent or picture.size  # the file's own shape, also when decoded reduced
    if like is None:
        target = _fit((width, height), display_size)
    elif abs((width / height) / (like[0] / like[1]) - 1) > _ASPECT_TOLERANCE:
        shape = f"{picture.width}x{picture.height}" if image.extent is None else f"{width / height:.3f} to 1"
        raise ValueError(f"{printable_name(path)}: {shape} is not the shape of its real photo")
    else:
        target = like
    if picture.size != target or image.extent is not None:
        picture = picture.resize(target, Image.Resampling.LANCZOS, box=(0, 0, width, height))
    buffer = io.BytesIO()
    # 4:4:4 so that chroma subsampling blurs no colour, the very thing being judged.
    picture.save(buffer, format="JPEG", quality=95, subsampling=0)
    return buffer.getvalue(), target


def build_catalog(
    real: str | Path, models: Mapping[str, str | Path], display_size: int = 512, workers: int | None = None
) -> Catalog:
    """Match ``real`` with each model's folder and prepare every image for display.

    Unreadable images, and colorized versions whose shape differs from their real photo, are left out with a
    one-line problem each; a real photo that cannot be read takes its pairs with it.

    ``workers`` photos are decoded at once (default :data:`DECODE_WORKERS`), which bounds the memory.

    Raises:
        NotADirectoryError: a folder does not exist.
        ValueError: ``display_size`` is below 16.

    Example:
        >>> catalog = build_catalog("photos/", {"ours": "colorized/"})  # doctest: +SKIP
        >>> catalog.pairs_per_model(), catalog.problems  # doctest: +SKIP
        ({'ours': 48}, ['colorized/cat.png: truncated or corrupt image data'])
    """
    if display_size < 16:
        raise ValueError(f"display_size must be at least 16 pixels, got {display_size}")
    matching = match_folders(real, models)
    catalog = Catalog(missing=matching.missing, problems=list(matching.problems))

    real_paths = sorted({pair.real for pair in matching.pairs})
    with ThreadPoolExecutor(max_workers=workers or DECODE_WORKERS) as pool:
        reals = dict(zip(real_paths, pool.map(lambda p: _encode(p, display_size), real_paths), strict=True))
        real_ids: dict[Path, str] = {}
        for path, result in reals.items():
            if isinstance(result, str):
                catalog.problems.append(result)
            else:
                real_ids[path] = _add(catalog, result[0])
        usable = [pair for pair in matching.pairs if pair.real in real_ids]

        def colorized(pair: FilePair) -> tuple[bytes, tuple[int, int]] | str:
            return _encode(pair.colorized, display_size, reals[pair.real][1])  # type: ignore[index]

        for pair, result in zip(usable, pool.map(colorized, usable), strict=True):
            if isinstance(result, str):
                catalog.problems.append(result)
            else:
                catalog.pairs.append(
                    Pair(pair.photo, pair.model, real_ids[pair.real], _add(catalog, result[0]))
                )
    logger.info("Turing test catalog: %d pairs, %d problems", len(catalog.pairs), len(catalog.problems))
    return catalog


def _encode(
    path: Path, display_size: int, like: tuple[int, int] | None = None
) -> tuple[bytes, tuple[int, int]] | str:
    """:func:`display_jpeg`'s result, or its one-line problem."""
    try:
        return display_jpeg(path, display_size, like)
    except (ImageReadError, ValueError) as err:
        return str(err)


def _add(catalog: Catalog, data: bytes) -> str:
    image_id = secrets.token_hex(16)
    catalog.images[image_id] = data
    return image_id
