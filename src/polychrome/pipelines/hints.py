"""Color hints: the owner of a photo says what color a point was, and the region around it takes that color.

A :class:`Hint` is a point of the photo (in pixels, or as fractions of its width and height), a color and an
optional radius. :func:`spread_hints` puts them on the grid where the network predicted a photo's ab and
spreads them along the photo's lightness (:mod:`polychrome.color.propagate`), after the saturation and
warm/cool controls, so a hinted color comes out as given. A model trained to take hints (``takes_hints``)
is given them instead as squares of a hint map at the render size (:func:`render_hint_map`), and the
network itself spreads them. Parsing (``120,80=#b22222``, a JSON list) gives
one-line errors that name the hint.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import ImageColor

from polychrome.color.hint_map_np import paint_hints
from polychrome.color.lab_np import rgb_to_lab
from polychrome.color.propagate import GridHint, propagate_hints
from polychrome.pipelines.resample_np import area_resize


class HintError(ValueError):
    """A hint that cannot be used: malformed, a bad color, or outside the photo."""


# Larger than any photo polychrome reads is wide; beyond it a radius is a slip (and overflows the arithmetic).
MAX_RADIUS = 65536.0


@dataclass(frozen=True)
class Hint:
    """The photo had ``color`` at ``(x, y)``.

    Attributes:
        x, y: the point, in pixels from the top-left corner, or as fractions of the width and height when
            ``relative``.
        color: ``#rrggbb`` (or any color name or form PIL understands, e.g. ``red``, ``rgb(178,34,34)``).
        radius: how far around the point the color is known to hold, in pixels of the photo (0: the point).
        relative: whether ``x`` and ``y`` are fractions (0..1) of the width and height.
        written: the hint as its owner wrote it (``--hint 120,80,3=red``), which messages quote as it is.
    """

    x: float
    y: float
    color: str
    radius: float = 0.0
    relative: bool = False
    written: str | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) for v in (self.x, self.y, self.radius)):
            raise HintError(f"hint {self.describe()}: coordinates and radius must be finite numbers")
        if not 0 <= self.radius <= MAX_RADIUS:
            raise HintError(
                f"hint {self.describe()}: the radius must be 0 to {MAX_RADIUS:g} pixels, got {self.radius:g}"
            )
        self.rgb()  # a bad color fails here, when the hint is made

    def describe(self) -> str:
        if self.written is not None:
            return self.written
        radius = f",{self.radius:g}" if self.radius else ""
        return f"{self.x:g},{self.y:g}{radius}={self.color}"

    def rgb(self) -> tuple[int, int, int]:
        try:
            channels = ImageColor.getrgb(self.color)
        except (ValueError, AttributeError):
            raise HintError(f"hint {self.describe()}: {self.color!r} is not a color (use #rrggbb)") from None
        # PIL passes rgb(300,0,0) and an alpha through as written; neither is a color a photo can have.
        if len(channels) == 4 and channels[3] != 255:
            raise HintError(
                f"hint {self.describe()}: {self.color!r} is transparent; a hint is an opaque color"
            )
        if not all(0 <= c <= 255 for c in channels[:3]):
            raise HintError(f"hint {self.describe()}: {self.color!r} has a channel outside 0..255")
        red, green, blue = channels[:3]
        return red, green, blue

    def point(self, width: int, height: int) -> tuple[float, float]:
        """The point in pixels of a ``width`` x ``height`` photo; outside it is a :class:`HintError`."""
        x, y = (self.x * width, self.y * height) if self.relative else (self.x, self.y)
        if not (0 <= x <= width and 0 <= y <= height) or (not self.relative and (x == width or y == height)):
            raise HintError(f"hint {self.describe()}: outside the {width}x{height} photo")
        return min(x, width - 0.5), min(y, height - 0.5)


def parse_hint(text: str) -> Hint:
    """``X,Y=COLOR`` or ``X,Y,RADIUS=COLOR``: pixels, or fractions of width and height when both coordinates
    are written with a decimal point and lie in 0..1 (``0.5,0.9=#3a5f0b``); one of each is refused."""
    where, sep, color = text.partition("=")
    parts = [p.strip() for p in where.split(",")]
    if not sep or len(parts) not in (2, 3) or not color.strip():
        raise HintError(f"hint {text!r}: write it as X,Y=#rrggbb or X,Y,RADIUS=#rrggbb")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise HintError(f"hint {text!r}: X, Y and RADIUS must be numbers") from None
    fractions = ["." in p and 0 <= v <= 1 for p, v in zip(parts[:2], values[:2], strict=True)]
    relative = _relative(fractions, parts[:2], f"hint {text!r}")
    radius = values[2] if len(values) == 3 else 0.0
    return Hint(values[0], values[1], color.strip(), radius, relative, written=text)


def _relative(fractions: list[bool], written: list[str], where: str) -> bool:
    """Whether X and Y are fractions of the width and height; one fraction beside one pixel count ("0,0.5",
    "1.01,0.5") is surely a slip, and the message says which is which."""
    if fractions[0] == fractions[1]:
        return fractions[0]
    fraction, pixels = (written[0], written[1]) if fractions[0] else (written[1], written[0])
    raise HintError(
        f"{where}: {fraction} reads as a fraction of the photo but {pixels} as pixels; write X and Y both as "
        "fractions within 0..1 with a decimal point (0.0,0.5) or both as pixels"
    )


def as_hints(hints: Hint | str | Iterable[Hint | str]) -> list[Hint]:
    """Hints as the Python API takes them: :class:`Hint` objects or the command line's ``X,Y=COLOR``
    strings, one or a list; anything else is a one-line :class:`TypeError`."""
    if isinstance(hints, Hint | str):
        hints = [hints]
    wanted = "hints must be Hint objects or strings such as '120,80=#b22222'"
    try:
        items = list(hints)
    except TypeError:
        raise TypeError(f"{wanted}, got {type(hints).__name__}") from None
    for item in items:
        if not isinstance(item, Hint | str):
            raise TypeError(f"{wanted}, got {type(item).__name__}")
    return [parse_hint(item) if isinstance(item, str) else item for item in items]


def load_hints(path: str | Path) -> list[Hint]:
    """Hints from a JSON file: a list of ``{"x": ..., "y": ..., "color": "#rrggbb", "radius": ...}``
    (radius optional); coordinates are fractions when both are written as decimals in 0..1."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise HintError(f"{path}: cannot read ({err.strerror or err})") from None
    except UnicodeDecodeError as err:
        raise HintError(f"{path}: not a JSON list of hints ({err})") from None
    return parse_hints_json(text, str(path))


def parse_hints_json(text: str, source: str = "hints") -> list[Hint]:
    """Hints from JSON text in the form :func:`load_hints` reads; errors name ``source``."""
    try:
        items = json.loads(text)
    except json.JSONDecodeError as err:
        raise HintError(f"{source}: not a JSON list of hints ({err})") from None
    if not isinstance(items, list):
        raise HintError(f"{source}: not a JSON list of hints")
    return [_hint_from_json(item, source, i) for i, item in enumerate(items)]


def _hint_from_json(item: Any, source: str, index: int) -> Hint:
    where = f"{source}: hint {index + 1}"
    if not isinstance(item, dict) or not {"x", "y", "color"} <= item.keys():
        raise HintError(f'{where}: needs "x", "y" and "color"')
    unknown = item.keys() - {"x", "y", "color", "radius"}
    if unknown:
        raise HintError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    x, y, radius = item["x"], item["y"], item.get("radius", 0)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (x, y, radius)):
        raise HintError(f'{where}: "x", "y" and "radius" must be numbers')
    if not isinstance(item["color"], str):
        raise HintError(f'{where}: "color" must be a string such as "#b22222"')
    relative = _relative(
        [isinstance(v, float) and 0 <= v <= 1 for v in (x, y)], [json.dumps(x), json.dumps(y)], where
    )
    try:
        return Hint(float(x), float(y), item["color"], float(radius), relative)
    except HintError as err:
        raise HintError(f"{source}: {err}") from None


def hint_ab(hints: list[Hint]) -> np.ndarray:
    """The a and b of each hint's color, ``(N, 2)`` (its lightness is the photo's own)."""
    return rgb_to_lab(np.array([h.rgb() for h in hints], np.float64) / 255)[:, 1:]


def spread_hints(
    ab: np.ndarray,
    lightness: np.ndarray,
    covered: tuple[float, float],
    hints: list[Hint],
    height: int,
    width: int,
) -> np.ndarray:
    """One photo's ab ``(2, h, w)`` (at the network's output grid, of which the photo spans ``covered``
    cells) with ``hints`` spread along the lightness the network saw (``(rh, rw)``), for a photo of
    ``height`` x ``width``."""
    if not hints:
        return ab
    covered_h, covered_w = covered
    placed = [
        GridHint(
            row=y / height * covered_h - 0.5,
            col=x / width * covered_w - 0.5,
            radius=hint.radius / width * covered_w,
            a=float(a),
            b=float(b),
        )
        for hint, (a, b), (x, y) in zip(
            hints, hint_ab(hints), (h.point(width, height) for h in hints), strict=True
        )
    ]
    # The lightness the network saw, brought to the ab grid as the merge brings ab to the photo.
    return propagate_hints(area_resize(lightness.astype(np.float32), ab.shape[-2:]), ab, placed)


# How far in (render pixels) a hint is placed on a hint network's input at least.
NETWORK_EDGE = 6


def hint_squares(
    hints: list[Hint], height: int, width: int, render_height: int, render_width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where ``hints`` of a ``height`` x ``width`` photo fall on the network's input at the render size
    (``render_height`` x ``render_width``): each a square around the render pixel of its point, of side
    1 + 2 x its radius in render pixels (one pixel for a point, the size training's smallest hints have).
    Returns int64 ``top``, ``left``, ``size`` ``(N,)`` (a square may reach past an edge) and ab ``(N, 2)``."""
    points = np.array([h.point(width, height) for h in hints], np.float64).reshape(-1, 2)
    scale_x, scale_y = render_width / width, render_height / height
    half = np.rint(np.array([h.radius for h in hints], np.float64) * scale_x).astype(np.int64)
    cols = _inside(np.floor(points[:, 0] * scale_x).astype(np.int64), render_width)
    rows = _inside(np.floor(points[:, 1] * scale_y).astype(np.int64), render_height)
    ab = hint_ab(hints) if hints else np.zeros((0, 2))
    return rows - half, cols - half, 1 + 2 * half, ab


def _inside(index: np.ndarray, length: int) -> np.ndarray:
    """Render pixels at least :data:`NETWORK_EDGE` from both ends of a side of ``length`` (where it allows):
    the built-in hint network ignores a hint in its outer rows and columns (the last 3 rows, the first 2
    columns, more at the lower corners: BENCHMARKS section 14), so a hint there is moved the few pixels in
    that it takes to be seen."""
    margin = min(NETWORK_EDGE, (length - 1) // 2)
    return np.clip(index, margin, length - 1 - margin)


def render_hint_map(
    hints: list[Hint], height: int, width: int, render_height: int, render_width: int
) -> np.ndarray:
    """The hint map ``(3, render_height, render_width)`` float32 that a model taking hints is given for a
    ``height`` x ``width`` photo seen at the render size: :func:`hint_squares` painted with the hints' a and b
    (:mod:`polychrome.color.hint_map`), the same on both backends."""
    top, left, size, ab = hint_squares(hints, height, width, render_height, render_width)
    return paint_hints(render_height, render_width, top, left, size, ab)
