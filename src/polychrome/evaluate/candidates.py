"""What `polychrome evaluate` judges: a network, a folder of another colorizer's outputs, or a reference.

Every candidate turns a :class:`Batch` of truth crops into ``(B, 3, S, S)`` sRGB in 0..1 on the evaluation
device, or says per image why it cannot (an output file that is missing or unreadable), so that all
candidates are scored on the same images:

- :class:`NetworkCandidate`: a built-in model or a saved model folder, run on the gray crops in batches
  (:meth:`polychrome.pipelines.image.Colorizer.colorize_lightness`).
- :class:`OutputsCandidate`: a folder of colorized photos made by anything; each data image is matched by its
  relative path without extension, else by its file name when that is unique in the folder, and the output
  goes through the same resize and centre crop as the truth (:mod:`polychrome.evaluate.protocol`).
- :class:`GrayCandidate` (ab = 0, what doing nothing scores) and :class:`TruthCandidate` (the ceiling), which
  give every other number its meaning.
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from polychrome.color.lab import gray_rgb
from polychrome.data.sources import Record
from polychrome.evaluate.protocol import protocol_crop, same_aspect
from polychrome.images import SUPPORTED_EXTENSIONS, ImageReadError, load_image, to_uint8

GRAY = "gray"
TRUTH = "truth"
REFERENCES = (GRAY, TRUTH)


@dataclass
class Batch:
    """Truth crops and where they came from.

    Attributes:
        names: record names (``folder/sub/photo.jpg``, ``shard.tar/000123.jpg``).
        records: the records, to find the photos' original shapes.
        truth: ``(B, 3, S, S)`` sRGB in 0..1 on the evaluation device.
        lightness: ``(B, 1, S, S)`` L of the truth, 0..100.
    """

    names: list[str]
    records: list[Record]
    truth: torch.Tensor
    lightness: torch.Tensor


@dataclass
class CandidateOutput:
    """``(B, 3, S, S)`` RGB in 0..1 (rows of failed images are undefined) and ``{row: reason}`` failures."""

    rgb: torch.Tensor
    failures: dict[int, str]


class GrayCandidate:
    label = GRAY
    kind = "reference"
    source = "the truth's L with a = b = 0"

    def colorize(self, batch: Batch) -> CandidateOutput:
        return CandidateOutput(gray_rgb(batch.lightness), {})


class TruthCandidate:
    label = TRUTH
    kind = "reference"
    source = "the original photos"

    def colorize(self, batch: Batch) -> CandidateOutput:
        return CandidateOutput(batch.truth, {})


class NetworkCandidate:
    """A model run on the gray crops, in batches on the evaluation device, at ``render_size``."""

    kind = "model"

    def __init__(self, label: str, path: Path, device: torch.device, render_size: int = 256) -> None:
        from polychrome.pipelines.image import Colorizer

        self.label = label
        self.source = str(path)
        self.colorizer = Colorizer.from_pretrained(path, device=device)
        self.render_size = render_size

    def colorize(self, batch: Batch) -> CandidateOutput:
        return CandidateOutput(self.colorizer.colorize_lightness(batch.lightness, self.render_size), {})


def source_shape(record: Record) -> tuple[int, int]:
    """A photo's upright ``(H, W)`` from its header (EXIF orientation applied), without decoding it."""
    with Image.open(io.BytesIO(record.data) if record.data is not None else record.path) as image:
        width, height = image.size
        orientation = image.getexif().get(0x0112, 1)
    return (width, height) if orientation in (5, 6, 7, 8) else (height, width)


def image_files(folder: Path) -> list[Path]:
    """Readable image files below ``folder``, recursively, hidden files and folders left out."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in SUPPORTED_EXTENSIONS
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


class OutputsCandidate:
    """Another colorizer's outputs, one file per data image, in a folder (see the module docstring)."""

    kind = "outputs"

    def __init__(self, label: str, folder: Path, size: int, workers: int | None = None) -> None:
        self.label = label
        self.folder = folder
        self.source = str(folder)
        self.size = size
        self.workers = workers or os.cpu_count() or 1
        files = image_files(folder)
        if not files:
            raise ValueError(
                f"{folder}: no config.json and no images: neither a model folder nor a folder of outputs"
            )
        self.by_path: dict[str, list[Path]] = {}
        self.by_stem: dict[str, list[Path]] = {}
        for path in files:
            self.by_path.setdefault(path.relative_to(folder).with_suffix("").as_posix(), []).append(path)
            self.by_stem.setdefault(path.stem, []).append(path)

    def match(self, name: str) -> Path:
        """The output file for data image ``name``; raises LookupError with the reason when there is none."""
        parts = Path(name).with_suffix("").parts
        for start in range(len(parts)):  # the longest trailing part of the name that is an output's path
            found = self.by_path.get("/".join(parts[start:]))
            if found:
                return self._one(found, name)
        found = self.by_stem.get(parts[-1])
        if found:
            return self._one(found, name)
        raise LookupError(f"no output for {name} in {self.folder}")

    def _one(self, found: list[Path], name: str) -> Path:
        if len(found) > 1:
            listing = ", ".join(str(p.relative_to(self.folder)) for p in found)
            raise LookupError(f"several outputs could be {name} in {self.folder}: {listing}")
        return found[0]

    def _load(self, name: str, record: Record) -> np.ndarray:
        path = self.match(name)
        rgb = load_image(path).rgb
        expected = source_shape(record)
        if not same_aspect(rgb.shape[:2], expected):
            raise ValueError(
                f"{path}: {rgb.shape[1]}x{rgb.shape[0]} does not have the shape of the photo "
                f"({expected[1]}x{expected[0]}); outputs must keep the aspect ratio"
            )
        return protocol_crop(to_uint8(rgb), self.size)

    def colorize(self, batch: Batch) -> CandidateOutput:
        def load(i: int) -> np.ndarray | str:
            try:
                return self._load(batch.names[i], batch.records[i])
            except (LookupError, ImageReadError, ValueError, OSError) as err:
                return str(err)

        with ThreadPoolExecutor(max_workers=self.workers) as pool:  # PIL decodes with the GIL released
            loaded = list(pool.map(load, range(len(batch.names))))
        rgb = torch.zeros_like(batch.truth)
        failures = {}
        for i, item in enumerate(loaded):
            if isinstance(item, str):
                failures[i] = item
            else:
                rgb[i] = torch.from_numpy(item).to(rgb.device).permute(2, 0, 1).float() / 255
        return CandidateOutput(rgb, failures)


Candidate = GrayCandidate | TruthCandidate | NetworkCandidate | OutputsCandidate


def resolve_candidate(
    spec: str, size: int, device: torch.device, render_size: int = 256, workers: int | None = None
) -> NetworkCandidate | OutputsCandidate:
    """A ``--model`` value: a built-in model name, a saved model folder, or a folder of colorized outputs.

    Raises:
        FileNotFoundError, ValueError: with a one-line message naming ``spec`` and the reason.
    """
    from polychrome.models._hub import CONFIG_NAME
    from polychrome.pipelines.image import builtin_models, resolve_model_path

    if spec in REFERENCES:
        raise ValueError(f"{spec!r} is the name of a reference row; give the folder as ./{spec}")
    path = Path(spec)
    if path.is_dir():
        if (path / CONFIG_NAME).is_file():
            return NetworkCandidate(spec, path, device, render_size)
        return OutputsCandidate(spec, path, size, workers)
    if path.exists():
        raise ValueError(f"{spec}: a file; a model is a built-in name, a model folder or a folder of outputs")
    if spec in builtin_models():
        return NetworkCandidate(spec, resolve_model_path(spec), device, render_size)
    known = ", ".join(builtin_models()) or "none"
    raise FileNotFoundError(
        f"{spec}: no such model folder, outputs folder or built-in model (built-in: {known})"
    )
