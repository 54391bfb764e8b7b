"""Which files are films and which film formats are written: names only, so that planning a batch does not
load FFmpeg. Films themselves need the `video` extra (PyAV and OpenCV; either backend colors them);
:func:`require_film_packages` says so."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm"})
# Read as films when they hold more than one frame, as photos otherwise.
ANIMATION_EXTENSIONS: frozenset[str] = frozenset({".gif", ".webp"})
VIDEO_OUTPUT_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm"})
GIF_EXTENSION = ".gif"
FILM_OUTPUT_EXTENSIONS: frozenset[str] = VIDEO_OUTPUT_EXTENSIONS | {GIF_EXTENSION}
# How much each frame's colors follow the frames before it (polychrome.video.stabilize), here so that the
# command line reads it without loading OpenCV.
DEFAULT_STRENGTH = 0.8
# What a film whose own format is not written becomes (AVI and animated WebP are read, not written).
DEFAULT_FILM_EXTENSION = ".mp4"


def is_animation(path: Path) -> bool:
    """Whether a GIF or WebP file holds more than one frame (then it is colorized as a film)."""
    if path.suffix.lower() not in ANIMATION_EXTENSIONS:
        return False
    try:
        with Image.open(path) as image:
            return bool(getattr(image, "is_animated", False))
    except (OSError, ValueError, Image.DecompressionBombError):
        return False  # the photo reader reports it


def is_video(path: Path) -> bool:
    """Whether a file is colorized as a film: a video extension, or an animated GIF / WebP."""
    return path.suffix.lower() in VIDEO_EXTENSIONS or is_animation(path)


def film_output(path: Path, suffix: str | None) -> Path:
    """Where a film planned to ``path`` goes: its own format where it is written, else ``.mp4``; with a
    film format asked for, that one; with a photo format asked for, a folder of frames named like the film."""
    if suffix is None:
        own = path.suffix.lower()
        return path if own in FILM_OUTPUT_EXTENSIONS else path.with_suffix(DEFAULT_FILM_EXTENSION)
    if suffix in FILM_OUTPUT_EXTENSIONS:
        return path.with_suffix(suffix)
    return path.with_suffix("")


def require_film_packages() -> None:
    """A one-line error naming what to install when a film's packages (PyAV, OpenCV) are missing."""
    from importlib.util import find_spec

    missing = [name for name, module in (("PyAV", "av"), ("OpenCV", "cv2")) if not find_spec(module)]
    if missing:
        raise ValueError(f"films need {' and '.join(missing)}: pip install 'polychrome[video]'")
