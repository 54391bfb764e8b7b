"""The Colorizer pipeline with a tiny seeded model: shapes, lightness kept, controls, inputs, outputs and
loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.color import rgb2lab

from polychrome.images import to_uint8
from polychrome.models import create_model, save_pretrained
from polychrome.pipelines.image import Colorizer, ColorizerOutput, DecodeOptions


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


def _colorize(colorizer: Colorizer, rgb: np.ndarray, **options) -> np.ndarray:
    """One photo through the pipeline, as a float32 (H, W, 3) array."""
    return colorizer(rgb, output_type="np", **options).images[0]


@pytest.mark.parametrize("size", [(37, 53), (64, 64), (300, 20), (20, 300), (17, 16)])
@pytest.mark.parametrize("gray", [True, False])
def test_colorize_keeps_shape_and_lightness(colorizer: Colorizer, size: tuple[int, int], gray: bool) -> None:
    rgb = _photo(*size, gray=gray)

    out = _colorize(colorizer, rgb)

    assert out.shape == (*size, 3) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert np.abs(_lightness(out) - _lightness(rgb)).max() < 0.05
    assert np.abs(_lightness(to_uint8(out)) - _lightness(rgb)).max() < 0.6
    assert np.abs(rgb2lab(out)[..., 1:]).mean() > 0.5  # colors were added


def test_colorize_render_size_changes_the_view_not_the_size(colorizer: Colorizer) -> None:
    rgb = _photo(96, 128)

    small = _colorize(colorizer, rgb, render_size=32)
    full = _colorize(colorizer, rgb, render_size=96)

    assert small.shape == full.shape == rgb.shape
    assert np.abs(_lightness(small) - _lightness(rgb)).max() < 0.05
    assert not np.allclose(small, full)


def test_colorize_is_deterministic(colorizer: Colorizer) -> None:
    rgb = _photo(40, 70)

    np.testing.assert_array_equal(_colorize(colorizer, rgb), _colorize(colorizer, rgb))


def test_saturation_zero_gives_gray(colorizer: Colorizer) -> None:
    rgb = _photo(48, 64)

    out = _colorize(colorizer, rgb, saturation=0.0)

    assert np.abs(rgb2lab(out)[..., 1:]).max() < 0.05
    assert np.abs(_lightness(out) - _lightness(rgb)).max() < 0.05


def test_saturation_scales_chroma(colorizer: Colorizer) -> None:
    rgb = _photo(48, 64)
    chroma = [
        np.hypot(*np.moveaxis(rgb2lab(_colorize(colorizer, rgb, saturation=s))[..., 1:], -1, 0)).mean()
        for s in (0.5, 1.0)
    ]

    assert chroma[0] == pytest.approx(chroma[1] / 2, rel=0.05)


def test_warm_temperature_raises_b(colorizer: Colorizer) -> None:
    rgb = _photo(48, 64)

    neutral = rgb2lab(_colorize(colorizer, rgb, temperature=0.0))[..., 2].mean()
    warm = rgb2lab(_colorize(colorizer, rgb, temperature=0.8))[..., 2].mean()
    cool = rgb2lab(_colorize(colorizer, rgb, temperature=-0.8))[..., 2].mean()

    assert warm > neutral + 1.0
    assert cool < neutral - 1.0


def test_decoding_options_reach_the_model(colorizer: Colorizer) -> None:
    rgb = _photo(32, 32)

    sharp = _colorize(colorizer, rgb, decode=DecodeOptions(temperature=0.1))
    mean = _colorize(colorizer, rgb, decode=DecodeOptions(method="annealed_mean", temperature=1.0))
    default = _colorize(colorizer, rgb, decode=DecodeOptions())

    assert not np.allclose(sharp, mean)
    np.testing.assert_array_equal(default, _colorize(colorizer, rgb))


@pytest.mark.parametrize(
    ("options", "message"),
    [({"method": "median"}, "decode method"), ({"temperature": 0.0}, "temperature"), ({"k": 0}, "k")],
)
def test_bad_decoding_options_are_refused(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DecodeOptions(**options)


@pytest.mark.parametrize("render_size", [48, 64])
@pytest.mark.parametrize("controls", [{}, {"saturation": 1.6, "temperature": -0.5}])
def test_a_batch_tensor_colors_each_photo_as_alone(
    colorizer: Colorizer, render_size: int, controls: dict[str, float]
) -> None:
    photos = [_photo(48, 72, seed=seed) for seed in range(3)]
    rgb = torch.from_numpy(np.stack(photos)).permute(0, 3, 1, 2)
    batched = colorizer(rgb, render_size=render_size, output_type="pt", **controls)
    assert batched.images.shape == (3, 3, 48, 72) and batched.images.dtype == torch.float32
    assert batched.ab.shape == (3, 2, render_size // 2, render_size * 3 // 4)  # stride 2, aspect kept
    if controls:  # the controls did something
        plain = colorizer(rgb, render_size=render_size, output_type="pt").images
        assert not torch.allclose(batched.images, plain)
    for photo, out in zip(photos, batched.images, strict=True):
        single = _colorize(colorizer, photo, render_size=render_size, **controls)
        # The same computation, up to round-off of batched convolutions: far below one 8-bit level.
        np.testing.assert_allclose(out.permute(1, 2, 0).numpy(), single, atol=5e-4)


def test_photos_of_one_size_in_a_list_go_through_the_network_together(
    colorizer: Colorizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = []
    predict = colorizer.model.predict_ab

    def counting(lightness: torch.Tensor, **options) -> torch.Tensor:
        batches.append(lightness.shape[0])
        return predict(lightness, **options)

    monkeypatch.setattr(colorizer.model, "predict_ab", counting)
    photos = [_photo(40, 40, seed=0), _photo(40, 40, seed=1), _photo(40, 40, seed=2), _photo(30, 40)]
    out = colorizer(photos, output_type="np", batch_size=2)

    assert batches == [2, 1, 1]  # two of one size, the third alone (batch_size), then the other size
    assert [o.shape for o in out.images] == [(40, 40, 3)] * 3 + [(30, 40, 3)]
    alone = [_colorize(colorizer, p) for p in photos]
    for together, single in zip(out.images, alone, strict=True):
        np.testing.assert_allclose(together, single, atol=5e-4)


def test_the_output_says_what_was_predicted_and_how_long_it_took(colorizer: Colorizer) -> None:
    out = colorizer(_photo(48, 64), render_size=64, saturation=0.5)

    assert isinstance(out, ColorizerOutput) and isinstance(out.images[0], Image.Image)
    assert out.ab[0].shape == (32, 43, 2) and out.ab[0].dtype == np.float32  # 64x85 rendered, stride 2
    full = colorizer(_photo(48, 64), render_size=64).ab[0]
    np.testing.assert_allclose(out.ab[0], full * 0.5, atol=1e-5)  # after the saturation control
    assert set(out.timings) == {"read", "network", "merge"}
    assert all(seconds >= 0 for seconds in out.timings.values()) and out.timings["network"] > 0


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (torch.zeros(2, 1, 8, 8), r"\(3, H, W\)"),
        (torch.zeros(8, 8), r"\(3, H, W\)"),
        (torch.zeros(3, 8, 8, dtype=torch.uint8), "float"),
    ],
)
def test_bad_tensors_are_refused(colorizer: Colorizer, bad: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        colorizer(bad)


def test_bad_options_are_refused_before_any_photo_is_read(colorizer: Colorizer, tmp_path: Path) -> None:
    missing = tmp_path / "missing.png"  # reading it would raise ImageReadError, not ValueError
    for options, message in [
        ({"output_type": "tiff"}, "output_type"),
        ({"render_size": 8}, "render size"),
        ({"saturation": -1.0}, "saturation"),
        ({"temperature": 2.0}, "temperature"),
        ({"batch_size": 0}, "batch_size"),
    ]:
        with pytest.raises(ValueError, match=message):
            colorizer(missing, **options)
    with pytest.raises(ValueError, match="one size"):
        colorizer([torch.rand(3, 8, 8), torch.rand(3, 9, 8)], output_type="pt")


def test_arrays_of_unsupported_shapes_are_refused(colorizer: Colorizer) -> None:
    with pytest.raises(ValueError, match="HxW, HxWx3 or HxWx4"):
        colorizer(np.zeros((8, 8, 2), np.float32))
    with pytest.raises(ValueError, match="HxW, HxWx3 or HxWx4"):
        colorizer(np.zeros((2, 8, 8, 3), np.float32))


def test_bf16_autocast_colors_almost_as_fp32_and_keeps_lightness(model: torch.nn.Module) -> None:
    # The GPU path's autocast, run on the CPU with the same code.
    rgb = _photo(40, 56)
    fp32 = _colorize(Colorizer(model), rgb)
    bf16 = _colorize(Colorizer(model, precision="bf16-mixed"), rgb)
    moved = _colorize(Colorizer(model).to(dtype=torch.bfloat16), rgb)

    assert not np.array_equal(fp32, bf16)  # the network really ran in bf16
    assert np.abs(fp32 - bf16).mean() < 0.01  # bf16's 8-bit mantissa, not another computation
    assert np.abs(_lightness(bf16) - _lightness(rgb)).max() < 0.05
    np.testing.assert_array_equal(moved, bf16)  # .to(dtype=...) is the same precision by its torch name


def test_precision_names_are_trainings(model: torch.nn.Module) -> None:
    assert Colorizer(model).precision == "fp32"
    assert Colorizer(model, precision=torch.float16).precision == "fp16-mixed"
    assert Colorizer(model).to("cpu", "bf16-mixed").precision == "bf16-mixed"
    for bad in ("int8", "bf16", torch.int8):
        with pytest.raises(ValueError, match="precision"):
            Colorizer(model, precision=bad)


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_a_precision_no_backend_takes_lists_the_precisions(backend: str) -> None:
    # Not "the ONNX backend runs in fp32, not 'int4'; use backend='torch'": int4 is valid nowhere.
    with pytest.raises(ValueError) as refused:
        Colorizer.from_pretrained(precision="int4", backend=backend)
    assert (
        str(refused.value) == "precision 'int4': not a precision; choose fp32, bf16-mixed, fp16-mixed or int8"
    )


# --- __call__ -----------------------------------------------------------------------------------------


def _uint8_gray(height: int = 40, width: int = 56) -> np.ndarray:
    return to_uint8(_photo(height, width)[:, :, 0])


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "P", "CMYK"])
def test_call_accepts_every_pil_mode(colorizer: Colorizer, mode: str) -> None:
    image = Image.fromarray(_uint8_gray()).convert(mode)

    out = colorizer(image).images[0]

    assert isinstance(out, Image.Image)
    assert out.size == image.size
    assert out.mode == ("RGBA" if mode in ("LA", "RGBA") else "RGB")


def test_call_keeps_alpha_exactly(colorizer: Colorizer) -> None:
    gray = _uint8_gray()
    alpha = np.random.default_rng(0).integers(0, 256, gray.shape, dtype=np.uint8)
    image = Image.fromarray(np.dstack([gray, gray, gray, alpha]), "RGBA")

    out = colorizer(image).images[0]
    as_array = colorizer(np.dstack([gray, gray, gray, alpha]), output_type="np").images[0]

    assert out.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(out)[:, :, 3], alpha)
    assert as_array.shape == (*gray.shape, 4)
    np.testing.assert_array_equal(to_uint8(as_array[:, :, 3]), alpha)


def test_call_on_a_path_an_array_and_a_list(colorizer: Colorizer, tmp_path: Path) -> None:
    gray = _uint8_gray()
    path = tmp_path / "photo.png"
    Image.fromarray(gray).save(path)

    from_path = colorizer(path).images[0]
    from_str = colorizer(str(path)).images[0]
    from_array = colorizer(gray).images[0]
    from_list = colorizer([path, gray, Image.fromarray(gray)]).images

    assert isinstance(from_list, list) and len(from_list) == 3
    expected = np.asarray(from_path)
    assert expected.shape == (*gray.shape, 3)
    for out in [from_str, from_array, *from_list]:
        assert isinstance(out, Image.Image) and out.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(out), expected)
    expected_l = _lightness(gray.astype(np.float32)[:, :, None].repeat(3, axis=2) / 255)
    assert np.abs(_lightness(expected) - expected_l).max() < 0.6


def test_call_passes_options(colorizer: Colorizer) -> None:
    out = colorizer(_uint8_gray(), saturation=0.0).images[0]

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
    np.testing.assert_array_equal(_colorize(loaded, rgb), _colorize(colorizer, rgb))
    np.testing.assert_array_equal(_colorize(loaded_str, rgb), _colorize(colorizer, rgb))


def test_a_training_run_folder_points_to_its_model(model: torch.nn.Module, tmp_path: Path) -> None:
    save_pretrained(model, tmp_path / "run" / "model")
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'run'} is a training run; its model is"):
        Colorizer.from_pretrained(tmp_path / "run")
    assert Colorizer.from_pretrained(tmp_path / "run" / "model").model is not None


def test_from_pretrained_unknown_name_raises() -> None:
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        Colorizer.from_pretrained("no-such-model")
