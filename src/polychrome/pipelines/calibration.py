"""How a trained model wants photos shown to it, kept with the model in ``config.json`` under ``"render"``.

Two settings, chosen after training on the model's own validation split (never on benchmark photos):

- ``enlarge``: the filter that brings a photo smaller than the render size up to it ("bilinear" or
  "bicubic", :func:`polychrome.resize.resize_for_render`). A model trained on small photos enlarged one way
  is best shown them enlarged the same way.
- ``chroma_by_enlargement``: a factor on the predicted chroma by how much the photo was enlarged, given as
  anchors ``(enlargement, factor)``. A regression model withholds chroma where it is unsure of the hue, and
  how much it withholds can depend on the scale: shown a 64 px photo enlarged four times, a model trained on
  such photos enlarged bicubically withholds much more than on a photo at its own scale (BENCHMARKS.md
  section 2). Between anchors the factor is interpolated linearly in log(enlargement); beyond the ends it
  stays at the end's value; with no anchors it is 1. It multiplies the model's own ``chroma_gain`` and the
  user's saturation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polychrome.resize import ENLARGE_FILTERS

CONFIG_KEY = "render"
RECORD_KEY = "render_chosen_by"


@dataclass(frozen=True)
class RenderCalibration:
    """A model's rendering settings; the defaults are how every model was shown photos before they existed."""

    enlarge: str = "bilinear"
    chroma_by_enlargement: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        if self.enlarge not in ENLARGE_FILTERS:
            raise ValueError(f"enlarge must be one of {', '.join(ENLARGE_FILTERS)}, got {self.enlarge!r}")
        anchors = tuple((float(scale), float(factor)) for scale, factor in self.chroma_by_enlargement)
        for scale, factor in anchors:
            if not (math.isfinite(scale) and scale > 0 and math.isfinite(factor) and factor >= 0):
                raise ValueError(
                    f"chroma_by_enlargement: need enlargement > 0 and factor >= 0, got {(scale, factor)}"
                )
        if any(b[0] <= a[0] for a, b in zip(anchors, anchors[1:], strict=False)):
            raise ValueError(
                f"chroma_by_enlargement: enlargements must increase, got {[a[0] for a in anchors]}"
            )
        object.__setattr__(self, "chroma_by_enlargement", anchors)

    def chroma_factor(self, enlargement: float) -> float:
        """The chroma factor for a photo whose sides were multiplied by ``enlargement`` (below 1: reduced)."""
        anchors = self.chroma_by_enlargement
        if not anchors:
            return 1.0
        if enlargement <= anchors[0][0]:
            return anchors[0][1]
        for (s0, f0), (s1, f1) in zip(anchors, anchors[1:], strict=False):
            if enlargement <= s1:
                t = math.log(enlargement / s0) / math.log(s1 / s0)
                return f0 + t * (f1 - f0)
        return anchors[-1][1]

    def to_config(self) -> dict[str, Any]:
        return {
            "enlarge": self.enlarge,
            "chroma_by_enlargement": [list(a) for a in self.chroma_by_enlargement],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], source: str = "config.json") -> RenderCalibration:
        """Read a model's ``config.json`` (as a dict); a model saved without the section gets the defaults."""
        section = config.get(CONFIG_KEY) or {}
        if not isinstance(section, dict):
            raise ValueError(f"{source}: {CONFIG_KEY!r} must be an object, got {type(section).__name__}")
        unknown = sorted(set(section) - {"enlarge", "chroma_by_enlargement"})
        if unknown:
            raise ValueError(f"{source}: unknown {CONFIG_KEY!r} setting(s): {', '.join(unknown)}")
        try:
            anchors = tuple(tuple(a) for a in section.get("chroma_by_enlargement", ()))
            if any(len(a) != 2 for a in anchors):
                raise ValueError("chroma_by_enlargement: each anchor is a pair [enlargement, factor]")
            return cls(enlarge=section.get("enlarge", "bilinear"), chroma_by_enlargement=anchors)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{source}: {CONFIG_KEY!r}: {err}") from None


def save_calibrated(
    source: str | Path, target: str | Path, calibration: RenderCalibration, record: dict[str, Any]
) -> Path:
    """Copy the saved model at ``source`` to the new folder ``target`` with ``calibration`` as its rendering
    settings; the weights stay as they are, and ``record`` (how the settings were chosen, on what photos) is
    kept in config.json under ``render_chosen_by``."""
    from polychrome.models._hub import config_extras, load_pretrained, read_config, save_pretrained

    target = Path(target)
    if target.exists():
        raise FileExistsError(f"{target} exists; choose a new folder")
    config = read_config(source)
    extra = {**config_extras(config), CONFIG_KEY: calibration.to_config(), RECORD_KEY: record}
    return save_pretrained(load_pretrained(source), target, extra)
