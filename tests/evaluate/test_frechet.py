"""Fréchet distance: closed form, scipy's sqrtm, streaming statistics and the feature extractors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from skimage import data

from polychrome.evaluate.frechet import (
    EfficientNetLite0Features,
    FeatureStatistics,
    SavedNetworkFeatures,
    feature_distance,
    frechet_distance,
)


def _scipy_fd(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """pytorch-fid's formula with scipy's general matrix square root."""
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_diagonal_gaussians_closed_form() -> None:
    # For diagonal covariances (S1 S2)^½ = diag(sqrt(v1 v2)), so FD = Σ (m1 - m2)² + Σ (sqrt v1 - sqrt v2)².
    rng = np.random.default_rng(0)
    m1, m2 = rng.normal(size=6), rng.normal(size=6)
    v1, v2 = rng.uniform(0.1, 3, 6), rng.uniform(0.1, 3, 6)
    expected = ((m1 - m2) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()
    got = frechet_distance(*(torch.from_numpy(x) for x in (m1, np.diag(v1), m2, np.diag(v2))))
    assert got == pytest.approx(expected, rel=1e-10)
    assert frechet_distance(torch.zeros(2), torch.eye(2), torch.ones(2), 4 * torch.eye(2)) == 4.0


def test_full_covariances_match_scipy_sqrtm() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 40, 8))
    s1, s2 = np.cov(a, rowvar=False), np.cov(b @ rng.normal(size=(8, 8)), rowvar=False)
    m1, m2 = a.mean(0), b.mean(0) + 1
    got = frechet_distance(*(torch.from_numpy(x) for x in (m1, s1, m2, s2)))
    assert got == pytest.approx(_scipy_fd(m1, s1, m2, s2), rel=1e-8)


def test_streaming_statistics_match_numpy_and_identical_sets_give_zero() -> None:
    rng = np.random.default_rng(2)
    features = rng.normal(size=(50, 6)) * [1, 2, 3, 4, 5, 6] + 1e4  # a large offset, to test the shift
    stats = FeatureStatistics()
    for chunk in np.array_split(features, [7, 30]):
        stats.update(torch.from_numpy(chunk).float())
    reference = features.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(stats.mean.numpy(), reference.mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats.covariance.numpy(), np.cov(reference, rowvar=False), rtol=1e-9)
    assert stats.count == 50
    assert feature_distance(stats, stats) == pytest.approx(0.0, abs=1e-8)


def test_fewer_images_than_dimensions_is_finite_and_symmetric() -> None:
    gen = torch.Generator().manual_seed(3)
    a, b = FeatureStatistics(), FeatureStatistics()
    a.update(torch.randn(5, 32, generator=gen))
    b.update(torch.randn(5, 32, generator=gen) + 0.5)
    ab, ba = feature_distance(a, b), feature_distance(b, a)
    assert np.isfinite(ab) and ab > 0
    assert ab == pytest.approx(ba, rel=1e-9)
    s1, s2 = a.covariance.numpy(), b.covariance.numpy()
    assert ab == pytest.approx(_scipy_fd(a.mean.numpy(), s1, b.mean.numpy(), s2), rel=1e-4)


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="covariances"):
        frechet_distance(torch.zeros(2), torch.eye(3), torch.zeros(2), torch.eye(3))
    stats = FeatureStatistics()
    with pytest.raises(ValueError, match="no features"):
        _ = stats.mean
    stats.update(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="at least 2"):
        _ = stats.covariance


class _MeanColor(torch.nn.Module):
    """A stand-in feature network with the Inception file's calling convention."""

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        pooled = x.mean(dim=(2, 3))
        return pooled if return_features else pooled.sum(dim=1, keepdim=True)


class _Plain(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=(2, 3))


# Scripting is deprecated in torch 2.13, but FID's Inception network exists only as a TorchScript file.
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_torchscript_extractor(tmp_path: Path) -> None:
    path = tmp_path / "inception-2015-12-05.pt"
    torch.jit.script(_MeanColor()).save(str(path))
    rgb = torch.rand(3, 3, 8, 8)
    extractor = SavedNetworkFeatures(path)  # return_features=True and 0..255 input
    assert extractor.name == "fd_inception_2015_12_05"
    torch.testing.assert_close(extractor(rgb), rgb.mean(dim=(2, 3)) * 255)

    plain = tmp_path / "plain.pt"
    torch.jit.script(_Plain()).save(str(plain))
    torch.testing.assert_close(SavedNetworkFeatures(plain, input_range=1.0)(rgb), rgb.amax(dim=(2, 3)))


def test_exported_program_extractor(tmp_path: Path) -> None:
    batch = torch.export.Dim("batch")
    program = torch.export.export(_Plain(), (torch.rand(2, 3, 8, 8),), dynamic_shapes=({0: batch},))
    path = tmp_path / "plain.pt2"
    torch.export.save(program, str(path))
    rgb = torch.rand(3, 3, 8, 8)
    extractor = SavedNetworkFeatures(path, input_range=1.0)
    assert extractor.name == "fd_plain" and extractor.options == {}
    torch.testing.assert_close(extractor(rgb), rgb.amax(dim=(2, 3)))


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_torchscript_extractor_bad_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such feature extractor"):
        SavedNetworkFeatures(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a module")
    with pytest.raises(ValueError, match="not a TorchScript file"):
        SavedNetworkFeatures(junk)
    junk_program = tmp_path / "junk.pt2"
    junk_program.write_bytes(b"not a program")
    with pytest.raises(ValueError, match=r"not an exported program \(.pt2\)"):
        SavedNetworkFeatures(junk_program)
    wrong = tmp_path / "wrong.pt"
    torch.jit.script(torch.nn.Identity()).save(str(wrong))
    with pytest.raises(ValueError, match=r"not \(B, D\)"):
        SavedNetworkFeatures(wrong)(torch.rand(2, 3, 8, 8))


def test_effnet_features_see_color() -> None:
    extractor = EfficientNetLite0Features()
    assert extractor.name == "fd_effnet_lite0"
    photo = torch.from_numpy(data.astronaut()[::2, ::2].copy()).permute(2, 0, 1).float()[None] / 255
    gray = photo.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
    features = extractor(torch.cat((photo, photo, gray)))
    assert features.shape == (3, 1280) and features.dtype == torch.float32
    torch.testing.assert_close(features[0], features[1])  # deterministic, each image on its own
    assert float((features[0] - features[2]).norm() / features[0].norm()) > 0.1  # color changes features
