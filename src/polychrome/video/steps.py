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

from polychrome.images import tensor_to_uint8, to_float01, to_uint16

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


@dataclass(frozen=True)
class _Controls:
    render_size: int
    saturation: float
    temperature: float


class TorchSteps:
    """PyTorch: the network and the merge on the colorizer's device. Frames travel as a ``(B, H, W, 3)``
    tensor of bytes (8-bit films; float32 in 0..1 for deeper ones), in pinned memory where the device is a
    GPU; they become float only there, and merged frames come back as bytes: on a GPU the float copies, their
    transfers and numpy's rounding of them made the merge the slowest stage of a film (BENCHMARKS section 11).
    """

    def __init__(self, colorizer: Colorizer, controls: _Controls) -> None:
        self.colorizer = colorizer
        self.controls = controls

    def prepare(self, frames: list[np.ndarray]) -> Any:
        import torch

        dtype = np.uint8 if frames[0].dtype == np.uint8 else np.float32
        batch = torch.empty(
            (len(frames), *frames[0].shape),
            dtype=torch.uint8 if dtype == np.uint8 else torch.float32,
            pin_memory=torch.device(self.colorizer.device).type == "cuda",  # so the copy to a GPU overlaps
        )
        np.stack([f if dtype == np.uint8 else to_float01(f) for f in frames], out=batch.numpy())
        return batch

    def predict(self, pixels: Any) -> FramePrediction:
        import torch
        import torch.nn.functional as F

        c = self.controls
        frames = pixels.to(self.colorizer.device, non_blocking=True)
        planar = _float01(frames.permute(0, 3, 1, 2))
        prediction = self.colorizer.predict_ab(planar, c.render_size, c.saturation, c.temperature)
        del planar  # the merge makes its own floats, a strip at a time
        with torch.inference_mode():
            ab = prediction.ab.float().cpu()
            lightness = F.interpolate(prediction.lightness.float().cpu(), size=ab.shape[-2:], mode="area")
        return FramePrediction(lightness[:, 0].numpy(), ab.numpy(), prediction.covered, (prediction, frames))

    def merge(self, pixels: Any, prediction: FramePrediction, deep: bool) -> np.ndarray:
        import torch

        # Merged where the network ran, on the frames it already holds there.
        predicted, frames = prediction.native
        steady = replace(predicted, ab=torch.from_numpy(prediction.ab).to(frames.device))
        out = torch.empty(frames.shape, dtype=torch.float32 if deep else torch.uint8, device=frames.device)
        self.colorizer.merge(frames.permute(0, 3, 1, 2), steady, out=out.permute(0, 3, 1, 2))
        colored = _to_host(out).numpy()
        return to_uint16(colored) if deep else colored

    def gray(self, pixels: Any, deep: bool) -> np.ndarray:
        import torch

        from polychrome.color.lab import gray_rgb, rgb_to_lightness

        with torch.inference_mode():
            frames = pixels.to(self.colorizer.device, non_blocking=True).permute(0, 3, 1, 2)
            gray = gray_rgb(rgb_to_lightness(_float01(frames))).permute(0, 2, 3, 1)
            colored = _to_host(gray if deep else tensor_to_uint8(gray)).numpy()
        return to_uint16(colored) if deep else colored

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for name, tensor in self.colorizer.model.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()


def _float01(frames: Any) -> Any:
    """Frames as float in 0..1 where they are: bytes divided by 255 as :func:`to_float01` does."""
    import torch

    return frames.div(255.0) if frames.dtype == torch.uint8 else frames


def _to_host(tensor: Any) -> Any:
    """A tensor in host memory, contiguous, for numpy to view: from a GPU through pinned memory (faster than
    a pageable copy), waiting for that copy alone, not for the other stages' work queued behind it."""
    import torch

    if tensor.device.type != "cuda":
        return tensor.cpu().contiguous()
    host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
    host.copy_(tensor, non_blocking=True)
    landed = torch.cuda.Event()
    landed.record(torch.cuda.current_stream(tensor.device))
    landed.synchronize()
    return host


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
