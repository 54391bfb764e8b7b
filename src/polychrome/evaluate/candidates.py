"""What `polychrome evaluate` judges: a network, a folder of another colorizer's outputs, or a reference.

Every candidate turns a :class:`~polychrome.evaluate.protocol.Batch` of truths into ``(B, 3, H, W)`` sRGB in
0..1 on the batch's device, or says per image why it cannot (an output file that is missing or unreadable),
so that all candidates are scored on the same images:

- :class:`NetworkCandidate`: a :class:`~polychrome.pipelines.image.Colorizer` (a built-in model, a saved
  model folder, an exported ``.onnx`` file on ONNX Runtime, or the model a training run is training), run on
  the gray truths in batches, exactly as `polychrome colorize` colors a photo.
- :class:`OutputsCandidate`: a folder of colorized photos made by anything; each data image is matched by its
  relative path without extension, else by its file name when that is unique in the folder, and the output
  goes through the protocol as the truth does (:mod:`polychrome.evaluate.protocol`).
- :class:`GrayCandidate` (ab = 0, what doing nothing scores) and :class:`TruthCandidate` (the ceiling), which
  give every other number its meaning.
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from polychrome._messages import printable_name
from polychrome.color.lab import gray_rgb
from polychrome.data.sources import Record, iter_records
from polychrome.evaluate.protocol import MIN_SIZE, Batch, Protocol, same_aspect
from polychrome.images import ImageReadError, load_image, to_uint8

if TYPE_CHECKING:
    from polychrome.pipelines.image import Colorizer

GRAY = "gray"
TRUTH = "truth"
REFERENCES = (GRAY, TRUTH)


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
    """A colorizer run on the gray truths (the truth's L, a = b = 0), a batch at a time, at ``render_size``
    and ``saturation``."""

    kind = "model"

    def __init__(
        self,
        label: str,
        colorizer: Colorizer,
        render_size: int = 256,
        saturation: float = 1.0,
        source: str = "",
    ) -> None:
        self.label = label
        self.source = source or label
        self.colorizer = colorizer
        self.render_size = render_size
        self.saturation = saturation

    @classmethod
    def load(cls, label: str, path: Path, device: torch.device, render_size: int = 256) -> NetworkCandidate:
        """A saved model folder (or built-in model's), on ``device``; an ``.onnx`` file, on ONNX Runtime on
        the CPU (its outputs are moved to the batches' device)."""
        from polychrome.pipelines.image import Colorizer

        if path.is_file():
            colorizer = Colorizer.from_pretrained(path, backend="onnx")
        else:
            colorizer = Colorizer.from_pretrained(path, device=device)
        return cls(label, colorizer, render_size, source=str(path))

    def colorize(self, batch: Batch) -> CandidateOutput:
        output = self.colorizer(
            gray_rgb(batch.lightness),
            render_size=self.render_size,
            saturation=self.saturation,
            output_type="pt",
        )
        return CandidateOutput(output.images.to(batch.truth.device), {})


def source_shape(record: Record) -> tuple[int, int]:
    """A photo's upright ``(H, W)`` from its header (EXIF orientation applied), without decoding it."""
    with Image.open(io.BytesIO(record.data) if record.data is not None else record.path) as image:
        width, height = image.size
        orientation = image.getexif().get(0x0112, 1)
    return (width, height) if orientation in (5, 6, 7, 8) else (height, width)


def image_files(folder: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Image files below ``folder``, recursively, hidden files and folders left out; and the entries that
    could not be read (a folder that cannot be listed, a symlink loop) with why."""
    files, unreadable = [], []
    for record in iter_records([str(folder)]):
        if record.problem is not None:
            unreadable.append((printable_name(record.path or record.name), record.problem))
        elif record.path is not None:
            files.append(Path(record.path))
    return files, unreadable


class OutputsCandidate:
    """Another colorizer's outputs, one file per data image, in a folder (see the module docstring)."""

    kind = "outputs"

    def __init__(self, label: str, folder: Path, protocol: Protocol, workers: int | None = None) -> None:
        self.label = label
        self.folder = folder
        self.source = str(folder)
        self.protocol = protocol
        self.workers = workers or os.cpu_count() or 1
        files, self.unreadable = image_files(folder)
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

    def _load(self, name: str, record: Record, truth_shape: tuple[int, int]) -> np.ndarray:
        path = self.match(name)
        # Decoded as the truth is (a large photo reduced first), so identical files score identically.
        size = self.protocol.size
        loaded = load_image(path, target_shorter_side=None if size is None else max(size, MIN_SIZE))
        rgb = to_uint8(loaded.rgb)
        expected = source_shape(record)
        if not same_aspect(rgb.shape[:2], expected):
            raise ValueError(
                f"{path}: {rgb.shape[1]}x{rgb.shape[0]} does not have the shape of the photo "
                f"({expected[1]}x{expected[0]}); outputs must keep the aspect ratio"
            )
        if self.protocol.size is None and rgb.shape[:2] != truth_shape:  # judged at the photo's own size
            size = (truth_shape[1], truth_shape[0])
            return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS), dtype=np.uint8)
        return self.protocol.crop(rgb, loaded.extent)

    def colorize(self, batch: Batch) -> CandidateOutput:
        if batch.records is None:
            raise ValueError(f"{self.label}: a folder of outputs is matched to photos read from files")
        truth_shape = tuple(batch.truth.shape[-2:])

        def load(i: int) -> np.ndarray | str:
            try:
                return self._load(batch.names[i], batch.records[i], truth_shape)
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
    spec: str, protocol: Protocol, device: torch.device, render_size: int = 256, workers: int | None = None
) -> NetworkCandidate | OutputsCandidate:
    """A ``--model`` value: a built-in model name, a saved model folder, an ``.onnx`` file that ``polychrome
    export`` wrote (or a quantised copy of one), or a folder of colorized outputs.

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
            return NetworkCandidate.load(spec, path, device, render_size)
        return OutputsCandidate(spec, path, protocol, workers)
    if path.is_file() and path.suffix.lower() == ".onnx":
        return NetworkCandidate.load(spec, path, device, render_size)
    if path.exists():
        raise ValueError(
            f"{spec}: a file; a model is a built-in name, a model folder, an .onnx file or a folder of "
            "outputs"
        )
    if spec in builtin_models():
        return NetworkCandidate.load(spec, resolve_model_path(spec), device, render_size)
    known = ", ".join(builtin_models()) or "none"
    raise FileNotFoundError(
        f"{spec}: no such model folder, outputs folder or built-in model (built-in: {known})"
    )
