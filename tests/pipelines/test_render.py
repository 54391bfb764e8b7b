"""The inference core: render size, ab upsampling and the strip-wise full-resolution merge."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.color import rgb2lab

from polychrome.images import to_float01, to_uint8
from polychrome.pipelines.render import merge_full_resolution, render_shape, upsample_ab


def _colorful(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    channels = [
        np.sin(2 * np.pi * (rng.uniform(-2, 2) * x + rng.uniform(-2, 2) * y) + rng.uniform(0, 6.3))
        for _ in range(3)
    ]
    return np.clip(0.5 + 0.45 * np.stack(channels, axis=-1), 0, 1).astype(np.float32)


def _ab_low(height: int, width: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(1, 2, height, width, generator=gen) * 2 - 1) * 60.0


def _merge(rgb: np.ndarray, ab: torch.Tensor, covered: tuple[float, float], **options) -> np.ndarray:
    """The merge of one (H, W, 3) photo, written into an (H, W, 3) array as the pipeline does."""
    out = np.empty_like(rgb)
    view = torch.from_numpy(out).permute(2, 0, 1).unsqueeze(0)
    merged = merge_full_resolution(
        torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0), ab, covered, out=view, **options
    )
    assert merged.data_ptr() == view.data_ptr()  # written in place, no copy
    return out


# --- render_shape -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "render", "expected"),
    [
        ((1000, 500), 256, (512, 256)),
        ((500, 1000), 256, (256, 512)),
        ((300, 20), 256, (2048, 137)),  # small photos are scaled up; a long side is capped at 8x
        ((100, 100), 256, (256, 256)),
        ((64, 64), 256, (256, 256)),
        ((3000, 2000), 200, (300, 200)),
        ((37, 53), 16, (16, 23)),
    ],
)
def test_render_shape(size: tuple[int, int], render: int, expected: tuple[int, int]) -> None:
    assert render_shape(*size, render) == expected


def test_render_shape_keeps_the_aspect_ratio() -> None:
    for height, width in [(1234, 567), (640, 480), (99, 601), (30, 20)]:
        rh, rw = render_shape(height, width, 64)
        assert min(rh, rw) == 64
        assert rh / rw == pytest.approx(height / width, rel=0.02)


def test_render_shape_caps_panoramas_at_eight_render_sizes() -> None:
    rh, rw = render_shape(99, 1001, 64)
    assert rw == 8 * 64 and rh == round(99 * 512 / 1001)


def test_render_shape_refuses_tiny_and_huge_render_sizes() -> None:
    with pytest.raises(ValueError, match="16 to 2048, got 8"):
        render_shape(100, 100, 8)
    assert render_shape(100, 100, 2048) == (2048, 2048)
    with pytest.raises(ValueError, match="16 to 2048, got 100000"):
        render_shape(768, 512, 100_000)  # would have asked for 180 GB


# --- upsample_ab --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("low", "size"),
    [
        ((8, 12), (16, 24)),
        ((8, 12), (32, 48)),
        ((7, 5), (23, 17)),
        ((10, 10), (31, 13)),
        ((9, 6), (9, 6)),
        ((16, 16), (5, 7)),
    ],
)
def test_upsample_ab_is_bilinear_like_interpolate(low: tuple[int, int], size: tuple[int, int]) -> None:
    ab = _ab_low(*low)

    expected = F.interpolate(ab, size=size, mode="bilinear", align_corners=False)

    torch.testing.assert_close(upsample_ab(ab, size), expected, rtol=1e-5, atol=1e-4)


def test_upsample_ab_stretches_only_the_covered_part() -> None:
    ab = _ab_low(8, 8)

    covered = upsample_ab(ab, (12, 10), covered=(6.0, 5.0))
    # 6 of 8 rows onto 12 and 5 of 8 columns onto 10 is the same scale as all 8 onto 16: its top-left part.
    expected = F.interpolate(ab, size=(16, 16), mode="bilinear", align_corners=False)[..., :12, :10]

    torch.testing.assert_close(covered, expected, rtol=1e-5, atol=1e-4)


# --- merge_full_resolution ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gray", "colored"])
def test_merge_keeps_the_photo_lightness(kind: str) -> None:
    rgb = _colorful(45, 61, seed=1)
    if kind == "gray":
        rgb = np.repeat(rgb.mean(axis=2, keepdims=True), 3, axis=2)
    ab = _ab_low(12, 16, seed=2) * 1.5  # strong colors, some out of gamut

    out = _merge(rgb, ab, covered=(45 / 4, 61 / 4))

    assert out.shape == rgb.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_allclose(rgb2lab(out)[..., 0], rgb2lab(rgb)[..., 0], atol=0.01)
    assert np.abs(rgb2lab(out)[..., 1:]).mean() > 5.0  # the ab went somewhere


def test_merge_uses_the_upsampled_ab_where_in_gamut() -> None:
    rgb = np.full((20, 30, 3), 0.5, np.float32)
    ab = _ab_low(5, 8, seed=3) * 0.3  # mild colors at mid gray: in gamut

    out = _merge(rgb, ab, covered=(5.0, 7.5))
    expected = upsample_ab(ab, (20, 30), covered=(5.0, 7.5))[0].permute(1, 2, 0).numpy()

    np.testing.assert_allclose(rgb2lab(out)[..., 1:], expected, atol=0.05)


def test_merge_with_zero_ab_is_gray() -> None:
    rgb = _colorful(16, 16)

    out = _merge(rgb, torch.zeros(1, 2, 4, 4), covered=(4.0, 4.0))

    assert np.abs(rgb2lab(out)[..., 1:]).max() < 0.05


@pytest.mark.parametrize("strip_pixels", [1, 61, 200, 1000])
def test_strips_give_the_same_result_as_one_strip(strip_pixels: int) -> None:
    rgb = _colorful(33, 61, seed=4)
    ab = _ab_low(9, 16, seed=5) * 1.5

    whole = _merge(rgb, ab, covered=(33 / 4, 61 / 4), strip_pixels=1 << 30)
    strips = _merge(rgb, ab, covered=(33 / 4, 61 / 4), strip_pixels=strip_pixels)

    np.testing.assert_allclose(strips, whole, rtol=0, atol=1e-5)  # float32 rounding only


def test_a_batch_merges_each_photo_as_alone() -> None:
    photos = [_colorful(21, 30, seed=s) for s in range(3)]
    abs_ = torch.cat([_ab_low(6, 8, seed=10 + s) for s in range(3)])
    batch = torch.from_numpy(np.stack(photos)).permute(0, 3, 1, 2)

    merged = merge_full_resolution(batch, abs_, covered=(21 / 4, 30 / 4), strip_pixels=100)

    assert merged.shape == (3, 3, 21, 30)
    for photo, ab, out in zip(photos, abs_, merged, strict=True):
        alone = _merge(photo, ab[None], covered=(21 / 4, 30 / 4))
        np.testing.assert_allclose(out.permute(1, 2, 0).numpy(), alone, atol=1e-5)  # float32 rounding


def test_bytes_in_and_bytes_out_are_the_float_merge_rounded() -> None:
    frames = (np.stack([_colorful(23, 37, seed=s) for s in range(2)]) * 255).round().astype(np.uint8)
    ab = torch.cat([_ab_low(6, 10, seed=20 + s) for s in range(2)]) * 1.5  # some out of gamut
    covered = (23 / 4, 37 / 4)
    floats = torch.from_numpy(to_float01(frames)).permute(0, 3, 1, 2)

    float_merge = merge_full_resolution(floats, ab, covered, strip_pixels=200)
    expected = to_uint8(float_merge.permute(0, 2, 3, 1).numpy())
    out = torch.empty(frames.shape, dtype=torch.uint8)  # (B, H, W, 3), as frames are encoded
    planar = torch.from_numpy(frames).permute(0, 3, 1, 2)
    merged = merge_full_resolution(planar, ab, covered, out=out.permute(0, 3, 1, 2), strip_pixels=200)

    assert merged.data_ptr() == out.data_ptr()
    np.testing.assert_array_equal(out.numpy(), expected)
    with pytest.raises(ValueError, match="uint8"):
        merge_full_resolution(planar, ab, covered, out=torch.empty(planar.shape, dtype=torch.int16))
