"""The numpy path's resampling against the PyTorch path's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from polychrome.pipelines import render
from polychrome.pipelines.resample_np import area_resize, bilinear_taps, is_gray_view, resize_for_render
from polychrome.resize import resize_for_render as torch_resize


def _photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((height, width, 3)) * 255).astype(np.uint8)


def _torch_resized(photo: np.ndarray, size: tuple[int, int], enlarge: str) -> np.ndarray:
    rgb = torch.from_numpy(photo.astype(np.float32) / 255).permute(2, 0, 1)[None]
    return torch_resize(rgb, size, enlarge)[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("enlarge", ["bilinear", "bicubic"])
@pytest.mark.parametrize(
    ("shape", "size"),
    [((300, 451), (64, 96)), ((37, 53), (256, 367)), ((40, 40), (40, 40)), ((512, 100), (103, 20))],
)
def test_resize_for_render_agrees_with_torch(shape: tuple[int, int], size: tuple[int, int], enlarge: str):
    photo = _photo(*shape)

    expected = _torch_resized(photo, size, enlarge)

    np.testing.assert_allclose(
        resize_for_render(photo, size, enlarge), expected, atol=1e-5
    )  # float32 weights differ
    floats = photo.astype(np.float32) / 255
    np.testing.assert_allclose(
        resize_for_render(floats, size, enlarge), expected, atol=1e-5
    )  # float32 weights differ


def test_a_gray_view_is_resized_once_and_stays_gray() -> None:
    gray = _photo(120, 90)[:, :, 0]
    view = np.broadcast_to(gray[:, :, None], (*gray.shape, 3))
    assert is_gray_view(view) and not is_gray_view(np.repeat(gray[:, :, None], 3, axis=2))

    small = resize_for_render(view, (40, 30))

    assert is_gray_view(small)
    np.testing.assert_allclose(
        small, _torch_resized(np.ascontiguousarray(view), (40, 30), "bilinear"), atol=2e-6
    )


def test_resize_refuses_an_unknown_filter() -> None:
    with pytest.raises(ValueError, match="enlarge must be one of"):
        resize_for_render(_photo(8, 8), (16, 16), "lanczos")


@pytest.mark.parametrize(("n_out", "n_in", "covered"), [(100, 13, 12.5), (7, 7, 7.0), (1000, 64, 63.2)])
def test_bilinear_taps_agree_with_torch(n_out: int, n_in: int, covered: float) -> None:
    expected = render._bilinear_taps(n_out, n_in, covered / n_out)

    for mine, theirs in zip(bilinear_taps(n_out, n_in, covered / n_out), expected, strict=True):
        np.testing.assert_allclose(mine, theirs.numpy(), atol=1e-7)


@pytest.mark.parametrize(
    ("shape", "size"), [((256, 341), (128, 171)), ((64, 48), (17, 13)), ((9, 9), (9, 9))]
)
def test_area_resize_agrees_with_torch(shape: tuple[int, int], size: tuple[int, int]) -> None:
    image = np.random.default_rng(2).random(shape).astype(np.float32) * 100

    expected = F.interpolate(torch.from_numpy(image)[None, None], size=size, mode="area")[0, 0].numpy()

    np.testing.assert_allclose(area_resize(image, size), expected, atol=1e-4)
