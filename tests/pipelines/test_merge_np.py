"""The numpy merge against the PyTorch one, for float, 8-bit RGB and 8-bit gray photos."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from polychrome.images import to_uint8
from polychrome.pipelines.merge_np import merge_full_resolution
from polychrome.pipelines.render import merge_full_resolution as torch_merge


def _photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    channels = [np.sin(2 * np.pi * (rng.uniform(-3, 3) * x + rng.uniform(-3, 3) * y)) for _ in range(3)]
    smooth = 0.5 + 0.45 * np.stack(channels, axis=-1)
    return (np.clip(smooth + rng.normal(0, 0.05, smooth.shape), 0, 1) * 255).astype(np.uint8)


def _ab(height: int, width: int, seed: int = 1) -> np.ndarray:
    return ((np.random.default_rng(seed).random((height, width, 2)) * 2 - 1) * 90).astype(np.float32)


def _torch_merged(photo: np.ndarray, ab: np.ndarray, covered: tuple[float, float]) -> np.ndarray:
    rgb = torch.from_numpy(photo.astype(np.float32) / 255).permute(2, 0, 1)[None]
    ab_low = torch.from_numpy(ab).permute(2, 0, 1)[None]
    return torch_merge(rgb, ab_low, covered)[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("kind", ["float", "rgb8", "gray8"])
def test_the_merge_agrees_with_torch(kind: str) -> None:
    photo = _photo(97, 131)
    if kind == "gray8":
        photo = np.broadcast_to(photo[:, :, :1], photo.shape)
    ab = _ab(25, 33)  # strong colors: many out of gamut
    covered = (97 / 4, 131 / 4)

    expected = _torch_merged(np.ascontiguousarray(photo), ab, covered)
    given = photo.astype(np.float32) / 255 if kind == "float" else photo
    floats = merge_full_resolution(given, ab, covered)
    codes = merge_full_resolution(given, ab, covered, out=np.empty(photo.shape, np.uint8))

    assert floats.dtype == np.float32 and floats.shape == photo.shape
    error = np.abs(floats - expected)
    assert np.quantile(error, 0.999) < 1e-4  # float32 bisections may part on the gamut's edge
    assert error.max() < 2e-3
    difference = np.abs(codes.astype(int) - to_uint8(expected))
    assert difference.max() <= 1 and (difference == 0).mean() > 0.999


def test_strips_and_threads_change_nothing() -> None:
    photo, ab = _photo(61, 77, seed=3), _ab(16, 20, seed=4)
    covered = (61 / 4, 77 / 4)

    whole = merge_full_resolution(photo, ab, covered, strip_pixels=1 << 30, workers=1)

    for strip_pixels, workers in ((1, 1), (100, 3), (1000, 2)):
        np.testing.assert_array_equal(
            merge_full_resolution(photo, ab, covered, strip_pixels=strip_pixels, workers=workers), whole
        )


def test_zero_ab_gives_the_photos_gray() -> None:
    photo = _photo(20, 30)
    gray = np.broadcast_to(photo[:, :, :1], photo.shape)

    out = merge_full_resolution(gray, np.zeros((5, 8, 2), np.float32), (5, 7.5), out=np.empty_like(photo))

    np.testing.assert_array_equal(out, np.ascontiguousarray(gray))


def test_a_bad_output_array_is_refused() -> None:
    with pytest.raises(ValueError, match="uint8 or float32 array of shape"):
        merge_full_resolution(_photo(8, 8), _ab(2, 2), (2, 2), out=np.empty((8, 8, 3), np.float64))
