"""Tests for polychrome.evaluate.metrics against scikit-image and hand-written numpy oracles."""

import math

import numpy as np
import pytest
import skimage.data
import torch
from skimage.filters import gaussian
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.transform import resize

from polychrome.evaluate.metrics import colorfulness, psnr, ssim


def _to_batch(*images: np.ndarray) -> torch.Tensor:
    """HxWx3 float64 numpy images -> (B, 3, H, W) float64 tensor."""
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


def _skimage_ssim(a: np.ndarray, b: np.ndarray) -> float:
    return structural_similarity(
        a,
        b,
        channel_axis=-1,
        data_range=1.0,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )


def _numpy_colorfulness(img: np.ndarray) -> float:
    """Hasler & Süsstrunk 2003 from the paper's formula, HxWx3 in 0..1."""
    r, g, b = (img.astype(np.float64) * 255.0).transpose(2, 0, 1)
    rg = r - g
    yb = 0.5 * (r + g) - b
    return math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean())


@pytest.fixture(scope="module")
def photo_pair() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A small astronaut, a noisy copy and a blurred copy, float64 HxWx3 in 0..1."""
    clean = resize(skimage.data.astronaut(), (48, 40), anti_aliasing=True)
    rng = np.random.default_rng(0)
    noisy = np.clip(clean + rng.normal(0, 0.05, clean.shape), 0, 1)
    blurred = gaussian(clean, sigma=1.2, channel_axis=-1)
    return clean, noisy, blurred


# --- psnr --------------------------------------------------------------------------------------------


def test_psnr_matches_skimage(photo_pair):
    clean, noisy, blurred = photo_pair
    got = psnr(_to_batch(noisy, blurred), _to_batch(clean, clean))
    expected = [peak_signal_noise_ratio(clean, x, data_range=1.0) for x in (noisy, blurred)]
    assert got.shape == (2,)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)


def test_psnr_float32_and_data_range():
    rng = np.random.default_rng(1)
    a, b = rng.random((2, 12, 9, 3))
    got = psnr(_to_batch(a).float() * 255, _to_batch(b).float() * 255, data_range=255.0)
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.item(), peak_signal_noise_ratio(a, b, data_range=1.0), rtol=1e-5)


def test_psnr_identical_is_inf():
    x = torch.rand(3, 3, 5, 5)
    assert torch.isinf(psnr(x, x)).all() and (psnr(x, x) > 0).all()


# --- ssim --------------------------------------------------------------------------------------------


def test_ssim_matches_skimage_on_random_images():
    rng = np.random.default_rng(2)
    a = rng.random((4, 23, 17, 3))
    b = np.clip(a + rng.normal(0, 0.2, a.shape), 0, 1)
    b[1] = rng.random((23, 17, 3))  # an unrelated image too
    got64 = ssim(_to_batch(*a), _to_batch(*b))
    got32 = ssim(_to_batch(*a).float(), _to_batch(*b).float())
    expected = [_skimage_ssim(x, y) for x, y in zip(a, b, strict=True)]
    assert got64.shape == (4,) and got32.dtype == torch.float32
    np.testing.assert_allclose(got64.numpy(), expected, atol=1e-10)
    np.testing.assert_allclose(got32.numpy(), expected, atol=1e-4)


def test_ssim_matches_skimage_on_photos(photo_pair):
    clean, noisy, blurred = photo_pair
    pred = _to_batch(noisy, blurred, clean)
    target = _to_batch(clean, clean, clean)
    expected = [_skimage_ssim(x, clean) for x in (noisy, blurred, clean)]
    np.testing.assert_allclose(ssim(pred, target).numpy(), expected, atol=1e-10)
    np.testing.assert_allclose(ssim(pred.float(), target.float()).numpy(), expected, atol=1e-4)
    assert expected[2] == pytest.approx(1.0)


def test_ssim_smallest_valid_size_and_data_range():
    rng = np.random.default_rng(3)
    a, b = rng.random((2, 11, 11, 3))
    np.testing.assert_allclose(ssim(_to_batch(a), _to_batch(b)).item(), _skimage_ssim(a, b), atol=1e-10)
    scaled = ssim(_to_batch(a) * 255, _to_batch(b) * 255, data_range=255.0)
    np.testing.assert_allclose(scaled.item(), _skimage_ssim(a, b), atol=1e-10)


@pytest.mark.parametrize("shape", [(1, 3, 10, 32), (1, 3, 32, 8)])
def test_ssim_too_small_raises(shape):
    x = torch.rand(shape)
    with pytest.raises(ValueError, match=f"H={shape[2]}, W={shape[3]}"):
        ssim(x, x)


def test_ssim_gradcheck():
    pred = torch.rand(1, 2, 11, 12, dtype=torch.float64, requires_grad=True)
    target = torch.rand(1, 2, 11, 12, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda p: ssim(p, target), (pred,), fast_mode=True)


# --- colorfulness ------------------------------------------------------------------------------------


def test_colorfulness_two_pixel_case_by_hand():
    # Pixels: pure red (255, 0, 0) and black (0, 0, 0).
    # rg = R - G = [255, 0]           -> mean 127.5, population std 127.5
    # yb = (R + G) / 2 - B = [127.5, 0] -> mean 63.75, population std 63.75
    # sqrt(127.5² + 63.75²) = 63.75 * sqrt(5), for the stds and for the means alike, so
    # M = 63.75 * sqrt(5) * (1 + 0.3) = 82.875 * sqrt(5) = 185.3141...
    rgb = torch.tensor([[[[1.0, 0.0]], [[0.0, 0.0]], [[0.0, 0.0]]]])
    assert rgb.shape == (1, 3, 1, 2)
    assert colorfulness(rgb).item() == pytest.approx(185.3141336, abs=1e-4)


def test_colorfulness_matches_numpy(photo_pair):
    clean, noisy, _ = photo_pair
    rng = np.random.default_rng(4)
    images = [clean, noisy, rng.random((48, 40, 3))]
    got = colorfulness(_to_batch(*images))
    assert got.shape == (3,)
    np.testing.assert_allclose(got.numpy(), [_numpy_colorfulness(x) for x in images], rtol=1e-10)
    got32 = colorfulness(_to_batch(*images).float())
    np.testing.assert_allclose(got32.numpy(), [_numpy_colorfulness(x) for x in images], rtol=1e-4)


def test_colorfulness_gray_is_zero():
    gray = torch.rand(2, 1, 9, 7).expand(2, 3, 9, 7)
    assert torch.equal(colorfulness(gray), torch.zeros(2))


def test_colorfulness_needs_three_channels():
    with pytest.raises(ValueError, match="3"):
        colorfulness(torch.rand(1, 1, 8, 8))


# --- shared validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", [psnr, ssim])
def test_mismatched_shapes_raise(metric):
    with pytest.raises(ValueError, match="differ"):
        metric(torch.rand(2, 3, 16, 16), torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="differ"):
        metric(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 17))


@pytest.mark.parametrize("metric", [psnr, ssim])
def test_bad_rank_and_dtype_raise(metric):
    with pytest.raises(ValueError, match="shape"):
        metric(torch.rand(3, 16, 16), torch.rand(3, 16, 16))
    with pytest.raises(TypeError, match="floating"):
        x = torch.zeros(1, 3, 16, 16, dtype=torch.uint8)
        metric(x, x)


@pytest.mark.parametrize("metric", [psnr, ssim, colorfulness])
def test_batch_shape_and_half_precision(metric):
    x = torch.rand(5, 3, 16, 16)
    y = torch.rand(5, 3, 16, 16)
    args = (x,) if metric is colorfulness else (x, y)
    out = metric(*args)
    assert out.shape == (5,)
    half = metric(*(a.half() for a in args))
    assert half.dtype == torch.float32
    torch.testing.assert_close(half, out, rtol=1e-2, atol=1e-2)
    # Each image is scored on its own: a one-image batch gives the same number.
    single = metric(*(a[2:3] for a in args))
    torch.testing.assert_close(single, out[2:3])
