"""The Colorizer pipeline with a tiny seeded model: shapes, lightness kept, controls, inputs and loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.color import rgb2lab

from polychrome.color.lab import rgb_to_lightness
from polychrome.images import to_uint8
from polychrome.models import create_model, save_pretrained
from polychrome.pipelines.image import Colorizer


def _photo(height: int, width: int, seed: int = 0, gray: bool = True) -> np.ndarray:
    """A smooth test photo as float32 (H, W, 3) in 0..1; gray (R = G = B) unless asked otherwise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    channels = [
        np.sin(2 * np.pi * (rng.uniform(-2, 2) * x + rng.uniform(-2, 2) * y) + rng.uniform(0, 6.3))
        for _ in range(3)
    ]
    rgb = np.clip(0.5 + 0.4 * np.stack(channels, axis=-1), 0, 1).astype(np.float32)
    return np.repeat(rgb[:, :, :1], 3, axis=2) if gray else rgb


def _lightness(rgb: np.ndarray) -> np.ndarray:
    return rgb2lab(rgb)[..., 0]


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("effunet_tiny_cls").eval()


@pytest.fixture(scope="module")
def colorizer(model: torch.nn.Module) -> Colorizer:
    return Colorizer(model)


@pytest.mark.parametrize("size", [(37, 53), (64, 64), (300, 20), (20, 300), (17, 16)])
@pytest.mark.parametrize("gray", [True, False])
def test_colorize_array_keeps_shape_and_lightness(
    colorizer: Colorizer, size: tuple[int, int], gray: bool
) -> None:
    rgb = _photo(*size, gray=gray)

    out = colorizer.colorize_array(rgb)

    assert out.shape == (*size, 3) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert np.abs(_lightness(out) - _lightness(rgb)).max() < 0.05
    assert np.abs(_lightness(to_uint8(out)) - _lightness(rgb)).max() < 0.6
    assert np.abs(rgb2lab(out)[..., 1:]).mean() > 0.5  # colors were added


def test_colorize_array_render_size_changes_the_view_not_the_size(colorizer: Colorizer) -> None:
    rgb = _photo(96, 128)

    small = colorizer.colorize_array(rgb, render_size=32)
    full = colorizer.colorize_array(rgb, render_size=96)

    assert small.shape == full.shape == rgb.shape
    assert np.abs(_lightness(small) - _lightness(rgb)).max() < 0.05
    assert not np.allclose(small, full)


def test_colorize_array_is_deterministic(colorizer: Colorizer) -> None:
    rgb = _photo(40, 70)

    np.testing.assert_array_equal(colorizer.colorize_array(rgb), colorizer.colorize_array(rgb))


def test_saturation_zero_gives_gray(colorizer: Colorizer) -> None:
    rgb = _photo(48, 64)

    out = colorizer.colorize_array(rgb, saturation=0.0)

    assert np.abs(rgb2lab(out)[..., 1:]).max() < 0.05
    assert np.abs(_lightness(out) - _lightness(rgb)).max() < 0.05


def test_saturation_scales_chroma(colorizer: Colorizer) -> None:
    rgb = _photo(48, 64)
    chroma = [
        np.hypot(*np.moveaxis(rgb2lab(colorizer.colorize_array(rgb, saturation=s))[..., 1:], -1, 0)).mean()
        for s in (0.5, 1.0)
    ]

    assert chroma[0] == pytest.approx(chroma[1] / 2, rel=0.05)


def test_warm_temperature_raises_b(colorizer: Colorizer) -> None:
    rgb = _photo(48, 64)

    neutral = rgb2lab(colorizer.colorize_array(rgb, temperature=0.0))[..., 2].mean()
    warm = rgb2lab(colorizer.colorize_array(rgb, temperature=0.8))[..., 2].mean()
    cool = rgb2lab(colorizer.colorize_array(rgb, temperature=-0.8))[..., 2].mean()

    assert warm > neutral + 1.0
    assert cool < neutral - 1.0


def test_decoding_options_reach_the_model(colorizer: Colorizer) -> None:
    rgb = _photo(32, 32)

    sharp = colorizer.colorize_array(rgb, decode_temperature=0.1)
    mean = colorizer.colorize_array(rgb, method="annealed_mean", decode_temperature=1.0)

    assert not np.allclose(sharp, mean)


@pytest.mark.parametrize("render_size", [48, 64])
@pytest.mark.parametrize("controls", [{}, {"saturation": 1.6, "temperature": -0.5}])
def test_colorize_lightness_is_colorize_array_in_batches(
    colorizer: Colorizer, render_size: int, controls: dict[str, float]
) -> None:
    photos = [_photo(48, 72, seed=seed) for seed in range(3)]
    rgb = torch.from_numpy(np.stack(photos)).permute(0, 3, 1, 2)
    batched = colorizer.colorize_lightness(rgb_to_lightness(rgb), render_size=render_size, **controls)
    assert batched.shape == (3, 3, 48, 72) and batched.dtype == torch.float32
    if controls:  # the controls did something
        assert not torch.allclose(batched, colorizer.colorize_lightness(rgb_to_lightness(rgb), render_size))
    for photo, out in zip(photos, batched, strict=True):
        single = colorizer.colorize_array(photo, render_size=render_size, **controls)
        # The same computation, up to round-off (batched convolutions, the gray RGB <-> L round trip, the
        # gamut pull at its border): far below one 8-bit level.
        np.testing.assert_allclose(out.permute(1, 2, 0).numpy(), single, atol=5e-4)
    with pytest.raises(ValueError, match="lightness"):
        colorizer.colorize_lightness(torch.zeros(1, 3, 8, 8))


def test_colorize_array_rejects_bad_shapes(colorizer: Colorizer) -> None:
    with pytest.raises(ValueError, match="H, W, 3"):
        colorizer.colorize_array(np.zeros((8, 8), np.float32))
    with pytest.raises(ValueError, match="H, W, 3"):
        colorizer.colorize_array(np.zeros((8, 8, 4), np.float32))


def test_bf16_autocast_colors_almost_as_fp32_and_keeps_lightness(model: torch.nn.Module) -> None:
    # The GPU path's autocast, run on the CPU with the same code.
    rgb = _photo(40, 56)
    fp32 = Colorizer(model).colorize_array(rgb)
    bf16 = Colorizer(model, precision="bf16").colorize_array(rgb)

    assert not np.array_equal(fp32, bf16)  # the network really ran in bf16
    assert np.abs(fp32 - bf16).mean() < 0.01  # bf16's 8-bit mantissa, not another computation
    assert np.abs(_lightness(bf16) - _lightness(rgb)).max() < 0.05


def test_bad_precision_raises(model: torch.nn.Module) -> None:
    with pytest.raises(ValueError, match="precision"):
        Colorizer(model, precision="int8")


# --- __call__ -----------------------------------------------------------------------------------------


def _uint8_gray(height: int = 40, width: int = 56) -> np.ndarray:
    return to_uint8(_photo(height, width)[:, :, 0])


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "P", "CMYK"])
def test_call_accepts_every_pil_mode(colorizer: Colorizer, mode: str) -> None:
    image = Image.fromarray(_uint8_gray()).convert(mode)

    out = colorizer(image)

    assert isinstance(out, Image.Image)
    assert out.size == image.size
    assert out.mode == ("RGBA" if mode in ("LA", "RGBA") else "RGB")


def test_call_keeps_alpha_exactly(colorizer: Colorizer) -> None:
    gray = _uint8_gray()
    alpha = np.random.default_rng(0).integers(0, 256, gray.shape, dtype=np.uint8)
    image = Image.fromarray(np.dstack([gray, gray, gray, alpha]), "RGBA")

    out = colorizer(image)

    assert out.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(out)[:, :, 3], alpha)


def test_call_on_a_path_an_array_and_a_list(colorizer: Colorizer, tmp_path: Path) -> None:
    gray = _uint8_gray()
    path = tmp_path / "photo.png"
    Image.fromarray(gray).save(path)

    from_path = colorizer(path)
    from_str = colorizer(str(path))
    from_array = colorizer(gray)
    from_list = colorizer([path, gray, Image.fromarray(gray)])

    assert isinstance(from_list, list) and len(from_list) == 3
    expected = np.asarray(from_path)
    assert expected.shape == (*gray.shape, 3)
    for out in [from_str, from_array, *from_list]:
        assert isinstance(out, Image.Image) and out.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(out), expected)
    expected_l = _lightness(gray.astype(np.float32)[:, :, None].repeat(3, axis=2) / 255)
    assert np.abs(_lightness(expected) - expected_l).max() < 0.6


def test_call_passes_options(colorizer: Colorizer) -> None:
    out = colorizer(_uint8_gray(), saturation=0.0)

    rgb = np.asarray(out).astype(int)
    assert np.abs(rgb[:, :, 0] - rgb[:, :, 1]).max() <= 1 and np.abs(rgb[:, :, 1] - rgb[:, :, 2]).max() <= 1


# --- loading ------------------------------------------------------------------------------------------


def test_from_pretrained_folder_gives_the_same_output(
    model: torch.nn.Module, colorizer: Colorizer, tmp_path: Path
) -> None:
    save_pretrained(model, tmp_path / "tiny")
    rgb = _photo(37, 53)

    loaded = Colorizer.from_pretrained(tmp_path / "tiny")
    loaded_str = Colorizer.from_pretrained(str(tmp_path / "tiny"))

    assert loaded.device == torch.device("cpu") and not loaded.model.training
    np.testing.assert_array_equal(loaded.colorize_array(rgb), colorizer.colorize_array(rgb))
    np.testing.assert_array_equal(loaded_str.colorize_array(rgb), colorizer.colorize_array(rgb))


def test_a_training_run_folder_points_to_its_model(model: torch.nn.Module, tmp_path: Path) -> None:
    save_pretrained(model, tmp_path / "run" / "model")
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'run'} is a training run; its model is"):
        Colorizer.from_pretrained(tmp_path / "run")
    assert Colorizer.from_pretrained(tmp_path / "run" / "model").model is not None


def test_from_pretrained_unknown_name_raises() -> None:
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        Colorizer.from_pretrained("no-such-model")
