"""The colorizer's two halves on a batch of film frames, on either backend: the network's ab for the
stabiliser, then the steadied ab merged onto the frames' own lightness.

The film pipeline (:mod:`polychrome.video.pipeline`) is one code for both backends; what differs is here.
PyTorch goes through :meth:`~polychrome.pipelines.image.Colorizer.predict_ab` and
:meth:`~polychrome.pipelines.image.Colorizer.merge` on the colorizer's device; ONNX Runtime through the numpy
path's halves (:func:`polychrome.pipelines.numpy_path.predict_ab`,
:func:`polychrome.pipelines.merge_np.merge_full_resolution`) on the CPU, with 8-bit frames kept as bytes.
Both hand the pipeline numpy arrays: L and ab at the network's output resolution, and merged frames.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from polychrome.images import to_float01, to_uint8, to_uint16

if TYPE_CHECKING:
    from polychrome.pipelines.image import Colorizer


@dataclass
class FramePrediction:
    """The network's view of a batch of frames.

    Attributes:
        lightness: ``(B, h, w)`` float32 L (0..100) at the ab's resolution (area-averaged), the stabiliser's
            motion is found on it.
        ab: ``(B, 2, h, w)`` float32 ab in Lab units, on the CPU; the stabiliser replaces it.
        covered: how many ab pixels the frames span vertically and horizontally (the rest is padding).
        native: what the backend keeps for its merge.
    """

    lightness: np.ndarray
    ab: np.ndarray
    covered: tuple[float, float]
    native: Any = None


class FrameSteps(Protocol):
    """What the film pipeline asks of a backend. ``frames`` are ``(H, W, 3)`` arrays of one size (uint8,
    uint16 or float in 0..1); ``deep`` asks for uint16 output (a 10-bit film) instead of uint8."""

    def prepare(self, frames: list[np.ndarray]) -> Any:
        """The frames in the backend's units (run on the decoding thread)."""
        ...

    def predict(self, pixels: Any) -> FramePrediction: ...

    def merge(self, pixels: Any, prediction: FramePrediction, deep: bool) -> np.ndarray:
        """``(B, H, W, 3)`` frames of ``prediction.ab`` on the frames' own lightness."""
        ...

    def gray(self, pixels: Any, deep: bool) -> np.ndarray:
        """``(B, H, W, 3)`` the frames' lightness alone (a = b = 0), for side by side."""
        ...

    def fingerprint(self) -> str:
        """A digest of the model's weights: a resumed film must come from the same model."""
        ...


def _levels(rgb: np.ndarray, deep: bool) -> np.ndarray:
    return to_uint16(rgb) if deep else to_uint8(rgb)


@dataclass(frozen=True)
class _Controls:
    render_size: int
    saturation: float
    temperature: float


class TorchSteps:
    """PyTorch: the network and the merge on the colorizer's device, frames as ``(B, 3, H, W)`` float."""

    def __init__(self, colorizer: Colorizer, controls: _Controls) -> None:
        self.colorizer = colorizer
        self.controls = controls

    def prepare(self, frames: list[np.ndarray]) -> Any:
        import torch

        return torch.from_numpy(np.stack([to_float01(f) for f in frames])).permute(0, 3, 1, 2)

    def predict(self, pixels: Any) -> FramePrediction:
        import torch
        import torch.nn.functional as F

        c = self.controls
        prediction = self.colorizer.predict_ab(pixels, c.render_size, c.saturation, c.temperature)
        with torch.inference_mode():
            ab = prediction.ab.float().cpu()
            lightness = F.interpolate(prediction.lightness.float().cpu(), size=ab.shape[-2:], mode="area")
        return FramePrediction(lightness[:, 0].numpy(), ab.numpy(), prediction.covered, prediction)

    def merge(self, pixels: Any, prediction: FramePrediction, deep: bool) -> np.ndarray:
        import torch

        # Merged where the network ran: on a GPU the per-pixel Lab work of a 1080p frame is the film's
        # slowest stage on the CPU (BENCHMARKS section 11).
        device = self.colorizer.device
        steady = replace(prediction.native, ab=torch.from_numpy(prediction.ab).to(device))
        colored = self.colorizer.merge(pixels.to(device), steady)
        return _levels(colored.permute(0, 2, 3, 1).cpu().numpy(), deep)

    def gray(self, pixels: Any, deep: bool) -> np.ndarray:
        import torch

        from polychrome.color.lab import gray_rgb, rgb_to_lightness

        with torch.inference_mode():
            gray = gray_rgb(rgb_to_lightness(pixels.to(self.colorizer.device)))
        return _levels(gray.permute(0, 2, 3, 1).cpu().numpy(), deep)

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for name, tensor in self.colorizer.model.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()


class OnnxSteps:
    """ONNX Runtime: the network and the numpy merge on the CPU, frames as a list of ``(H, W, 3)`` arrays
    (8-bit ones as they are, deeper ones as float32 in 0..1)."""

    def __init__(self, colorizer: Colorizer, controls: _Controls) -> None:
        self.colorizer = colorizer
        self.controls = controls

    def prepare(self, frames: list[np.ndarray]) -> Any:
        return [frame if frame.dtype == np.uint8 else to_float01(frame) for frame in frames]

    def predict(self, pixels: Any) -> FramePrediction:
        from polychrome.pipelines.numpy_path import predict_ab
        from polychrome.pipelines.resample_np import area_resize

        c = self.controls
        lightness, ab, covered = predict_ab(
            self.colorizer.model,
            self.colorizer.render,
            pixels,
            render_size=c.render_size,
            saturation=c.saturation,
            temperature=c.temperature,
        )
        size = ab[0].shape[:2]
        low = np.stack([area_resize(frame, size) for frame in lightness]).astype(np.float32)
        return FramePrediction(low, np.stack(ab).transpose(0, 3, 1, 2).astype(np.float32), covered)

    def merge(self, pixels: Any, prediction: FramePrediction, deep: bool) -> np.ndarray:
        return self._merge(pixels, prediction.ab.transpose(0, 2, 3, 1), prediction.covered, deep)

    def gray(self, pixels: Any, deep: bool) -> np.ndarray:
        # The merge with no color is the frames' lightness in gray, by the same color science.
        no_color = np.zeros((len(pixels), 1, 1, 2), np.float32)
        return self._merge(pixels, no_color, (1.0, 1.0), deep)

    def _merge(
        self, pixels: list[np.ndarray], ab: np.ndarray, covered: tuple[float, float], deep: bool
    ) -> np.ndarray:
        from polychrome.pipelines.merge_np import merge_full_resolution

        height, width = pixels[0].shape[:2]
        # An 8-bit film is encoded to bytes straight from linear light by table; a deep one goes by float.
        out = np.empty((len(pixels), height, width, 3), np.float32 if deep else np.uint8)
        for frame, frame_ab, frame_out in zip(pixels, ab, out, strict=True):
            merge_full_resolution(frame, frame_ab, covered, out=frame_out)
        return to_uint16(out) if deep else out

    def fingerprint(self) -> str:
        with open(self.colorizer.model.path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()


def frame_steps(colorizer: Colorizer, render_size: int, saturation: float, temperature: float) -> FrameSteps:
    """The halves for ``colorizer``'s backend, with the photo controls that films share."""
    controls = _Controls(render_size, saturation, temperature)
    return TorchSteps(colorizer, controls) if colorizer.backend == "torch" else OnnxSteps(colorizer, controls)
