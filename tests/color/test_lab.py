"""Tests for polychrome.color.lab against scikit-image's rgb2lab / lab2rgb as the independent oracle."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from skimage.color import lab2rgb, rgb2lab

from polychrome.color.lab import LabToRgb, RgbToLab, lab_to_rgb, rgb_to_lab, rgb_to_lightness

DTYPES = [torch.float32, torch.float64]


def _grid_colors() -> np.ndarray:
    """All 17^3 colors with channels on 0, 1/16, ..., 1 plus 1000 seeded random ones, as (N, 3) float64."""
    levels = np.linspace(0.0, 1.0, 17)
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    rand = np.random.default_rng(0).random((1000, 3))
    return np.concatenate([grid, rand])


COLORS = _grid_colors()


def _as_image(colors: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    """(N, 3) numpy -> (1, 3, 1, N) tensor."""
    return torch.from_numpy(colors.T.copy()).to(dtype).reshape(1, 3, 1, -1)


def _as_colors(image: torch.Tensor) -> np.ndarray:
    """(1, 3, 1, N) tensor -> (N, 3) float64 numpy."""
    return image.reshape(3, -1).T.double().numpy()


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def oracle_lab() -> np.ndarray:
    return rgb2lab(COLORS[None])[0]


class TestRgbToLab:
    def test_smoke(self):
        lab = rgb_to_lab(torch.rand(1, 3, 4, 5))
        assert isinstance(lab, torch.Tensor)
        assert torch.isfinite(lab).all()

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_skimage(self, dtype, oracle_lab):
        lab = _as_colors(rgb_to_lab(_as_image(COLORS, dtype)))
        assert np.abs(lab - oracle_lab).max() < 1e-3

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_dtype_preserved(self, dtype):
        assert rgb_to_lab(torch.rand(1, 3, 2, 2, dtype=dtype)).dtype == dtype

    @pytest.mark.parametrize("shape", [(3, 4, 5), (2, 3, 4, 5), (2, 3, 3, 4, 5), (1, 3, 1, 1)])
    def test_shapes(self, shape):
        assert rgb_to_lab(torch.rand(shape)).shape == shape

    def test_batch_dims_are_independent(self):
        rgb = torch.rand(2, 3, 3, 4, 5, dtype=torch.float64)
        batched = rgb_to_lab(rgb)
        for i in range(2):
            for j in range(3):
                torch.testing.assert_close(batched[i, j], rgb_to_lab(rgb[i, j]))

    def test_white_and_black(self):
        lab = rgb_to_lab(torch.tensor([1.0, 0.0], dtype=torch.float64).repeat_interleave(3).view(2, 3, 1, 1))
        white, black = lab[0, :, 0, 0], lab[1, :, 0, 0]
        assert white[0].item() == pytest.approx(100.0, abs=1e-3)
        assert white[1:].abs().max().item() < 1e-2
        assert black.abs().max().item() < 1e-12

    def test_gray_has_no_chroma(self):
        levels = torch.linspace(0, 1, 11, dtype=torch.float64)
        lab = rgb_to_lab(levels.view(1, 1, 1, -1).expand(1, 3, 1, -1))
        assert lab[:, 1:].abs().max() < 1e-2
        assert (lab[0, 0, 0, 1:] > lab[0, 0, 0, :-1]).all()  # L increases with gray level

    @pytest.mark.parametrize(
        "bad", [torch.rand(1, 4, 2, 2), torch.rand(1, 1, 2, 2), torch.rand(3, 4), torch.rand(3)]
    )
    def test_wrong_shape(self, bad):
        with pytest.raises(ValueError, match="shape"):
            rgb_to_lab(bad)

    def test_int_dtype(self):
        with pytest.raises(TypeError, match="floating"):
            rgb_to_lab(torch.randint(0, 255, (1, 3, 2, 2), dtype=torch.uint8))

    @pytest.mark.parametrize("bad", [np.zeros((1, 3, 2, 2)), [[[0.0]]] * 3, None])
    def test_not_a_tensor(self, bad):
        with pytest.raises(TypeError, match="torch.Tensor"):
            rgb_to_lab(bad)

    def test_gradcheck(self):
        # Away from 0 and from the sRGB linear segment (<= 0.04045): a smooth region of the map.
        rgb = (0.2 + 0.7 * torch.rand(1, 3, 2, 2, dtype=torch.float64)).requires_grad_()
        assert torch.autograd.gradcheck(rgb_to_lab, (rgb,))

    def test_module(self):
        rgb = torch.rand(2, 3, 4, 4)
        torch.testing.assert_close(RgbToLab()(rgb), rgb_to_lab(rgb))


class TestLabToRgb:
    def test_smoke(self):
        rgb = lab_to_rgb(torch.tensor([50.0, 10.0, -10.0]).view(1, 3, 1, 1))
        assert rgb.shape == (1, 3, 1, 1)
        assert torch.isfinite(rgb).all()

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_skimage(self, dtype, oracle_lab):
        rgb = _as_colors(lab_to_rgb(_as_image(oracle_lab, dtype)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # skimage warns when rounding pushes Z a hair below 0
            expected = lab2rgb(oracle_lab[None])[0]
        tol = 1e-4 if dtype == torch.float64 else 1e-3
        assert np.abs(rgb - expected).max() < tol

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_dtype_preserved(self, dtype):
        assert lab_to_rgb(torch.rand(1, 3, 2, 2, dtype=dtype) * 50).dtype == dtype

    @pytest.mark.parametrize("shape", [(3, 4, 5), (2, 3, 4, 5), (2, 3, 3, 4, 5)])
    def test_shapes(self, shape):
        assert lab_to_rgb(torch.rand(shape) * 50).shape == shape

    def test_round_trip_rgb(self):
        rgb = _as_image(COLORS, torch.float64)
        back = lab_to_rgb(rgb_to_lab(rgb))
        assert (back - rgb).abs().max() < 1e-4

    def test_round_trip_rgb_unclipped(self):
        rgb = _as_image(COLORS, torch.float64)
        back = lab_to_rgb(rgb_to_lab(rgb), clip=False)
        assert (back - rgb).abs().max() < 1e-4

    def test_round_trip_lab(self, oracle_lab):
        lab = _as_image(oracle_lab, torch.float64)
        assert (rgb_to_lab(lab_to_rgb(lab, clip=False)) - lab).abs().max() < 1e-3

    def test_clip(self):
        # Saturated Lab far outside sRGB: the unclipped result leaves 0..1, the clipped one is its clamp.
        lab = torch.tensor([[50.0, 100.0, -100.0], [90.0, -100.0, 100.0], [20.0, 0.0, -90.0]])
        lab = lab.T.reshape(1, 3, 1, 3).double()
        raw = lab_to_rgb(lab, clip=False)
        assert ((raw < 0) | (raw > 1)).any()
        torch.testing.assert_close(lab_to_rgb(lab), raw.clamp(0, 1))
        torch.testing.assert_close(lab_to_rgb(lab, clip=True), raw.clamp(0, 1))

    def test_white_and_black(self):
        lab = torch.tensor([[100.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64).view(2, 3, 1, 1)
        rgb = lab_to_rgb(lab, clip=False)
        torch.testing.assert_close(rgb[0], torch.ones(3, 1, 1, dtype=torch.float64), atol=1e-3, rtol=0)
        torch.testing.assert_close(rgb[1], torch.zeros(3, 1, 1, dtype=torch.float64), atol=1e-12, rtol=0)

    @pytest.mark.parametrize("bad", [torch.rand(1, 2, 2, 2), torch.rand(1, 4, 2, 2), torch.rand(3, 4)])
    def test_wrong_shape(self, bad):
        with pytest.raises(ValueError, match="shape"):
            lab_to_rgb(bad)

    def test_int_dtype(self):
        with pytest.raises(TypeError, match="floating"):
            lab_to_rgb(torch.zeros(1, 3, 2, 2, dtype=torch.int64))

    def test_not_a_tensor(self):
        with pytest.raises(TypeError, match="torch.Tensor"):
            lab_to_rgb(np.zeros((1, 3, 2, 2)))

    def test_gradcheck(self):
        rgb = 0.2 + 0.7 * torch.rand(1, 3, 2, 2, dtype=torch.float64)
        lab = rgb_to_lab(rgb).requires_grad_()
        assert torch.autograd.gradcheck(lambda x: lab_to_rgb(x, clip=False), (lab,))
        assert torch.autograd.gradcheck(lab_to_rgb, (lab,))  # inside 0..1 the clamp is the identity

    @pytest.mark.parametrize("clip", [True, False])
    def test_module(self, clip):
        lab = rgb_to_lab(torch.rand(2, 3, 4, 4))
        module = LabToRgb(clip=clip)
        assert module.clip is clip
        torch.testing.assert_close(module(lab), lab_to_rgb(lab, clip=clip))

    def test_module_default_clips(self):
        assert LabToRgb().clip is True


class TestRgbToLightness:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_equals_lab_l_channel(self, dtype):
        rgb = _as_image(COLORS, dtype)
        torch.testing.assert_close(rgb_to_lightness(rgb), rgb_to_lab(rgb)[..., :1, :, :])

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_skimage(self, dtype, oracle_lab):
        lightness = rgb_to_lightness(_as_image(COLORS, dtype)).reshape(-1).double().numpy()
        assert np.abs(lightness - oracle_lab[:, 0]).max() < 1e-3

    @pytest.mark.parametrize("shape", [(3, 4, 5), (2, 3, 4, 5), (2, 3, 3, 4, 5)])
    def test_shapes(self, shape):
        out = rgb_to_lightness(torch.rand(shape))
        assert out.shape == (*shape[:-3], 1, *shape[-2:])

    def test_white_and_black(self):
        rgb = torch.tensor([1.0, 0.0], dtype=torch.float64).repeat_interleave(3).view(2, 3, 1, 1)
        lightness = rgb_to_lightness(rgb).flatten()
        assert lightness[0].item() == pytest.approx(100.0, abs=1e-3)
        assert lightness[1].item() == pytest.approx(0.0, abs=1e-12)

    def test_errors(self):
        with pytest.raises(ValueError):
            rgb_to_lightness(torch.rand(1, 1, 2, 2))
        with pytest.raises(TypeError):
            rgb_to_lightness(torch.zeros(1, 3, 2, 2, dtype=torch.int32))
        with pytest.raises(TypeError):
            rgb_to_lightness(np.zeros((1, 3, 2, 2)))

    def test_gradcheck(self):
        rgb = (0.2 + 0.7 * torch.rand(1, 3, 2, 2, dtype=torch.float64)).requires_grad_()
        assert torch.autograd.gradcheck(rgb_to_lightness, (rgb,))


def test_gray_rgb_is_the_lightness_without_chroma() -> None:
    from polychrome.color.lab import gray_rgb

    rgb = torch.rand(2, 3, 5, 7, dtype=torch.float64)
    lab = rgb_to_lab(rgb)
    gray = gray_rgb(lab[:, :1])
    assert gray.shape == rgb.shape
    # R = G = B up to the sRGB matrix's rounding: its rows sum to D65 white only to ~7e-5
    torch.testing.assert_close(gray[:, 0], gray[:, 1], atol=1e-4, rtol=0)
    torch.testing.assert_close(gray[:, 1], gray[:, 2], atol=1e-4, rtol=0)
    torch.testing.assert_close(rgb_to_lab(gray)[:, 0], lab[:, 0], atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match=r"\(\*, 1, H, W\)"):
        gray_rgb(lab)
