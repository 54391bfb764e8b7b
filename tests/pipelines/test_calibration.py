"""A model's rendering settings: the enlargement filter and the chroma factor by enlargement."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage.color import rgb2lab

from polychrome.color.lab import rgb_to_lightness
from polychrome.models import create_model, save_pretrained
from polychrome.models._hub import read_config
from polychrome.pipelines.calibration import RenderCalibration, save_calibrated
from polychrome.pipelines.image import Colorizer
from polychrome.resize import resize_for_render


def _gray_photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    value = 0.5 + 0.3 * np.sin(x / 3.0) * np.cos(y / 5.0) + 0.05 * rng.standard_normal((height, width))
    return np.repeat(np.clip(value, 0, 1)[..., None], 3, axis=2).astype(np.float32)


def _colorize(colorizer: Colorizer, rgb: np.ndarray, **options) -> np.ndarray:
    return colorizer(rgb, output_type="np", **options).images[0]


def _chroma(rgb: np.ndarray) -> float:
    return float(np.hypot(*np.moveaxis(rgb2lab(rgb)[..., 1:], -1, 0)).mean())


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("effunet_tiny_reg").eval()


def test_chroma_factor_passes_through_its_anchors_and_is_flat_beyond_them() -> None:
    calibration = RenderCalibration("bicubic", ((8 / 7, 1.1), (4.0, 1.3)))

    assert calibration.chroma_factor(8 / 7) == pytest.approx(1.1)
    assert calibration.chroma_factor(4.0) == pytest.approx(1.3)
    assert calibration.chroma_factor(0.25) == pytest.approx(1.1)  # a photo reduced for the network
    assert calibration.chroma_factor(16.0) == pytest.approx(1.3)
    # Linear in log(enlargement): halfway between 8/7 and 4 on a log scale is their geometric mean.
    assert calibration.chroma_factor(math.sqrt(8 / 7 * 4)) == pytest.approx(1.2)
    assert RenderCalibration().chroma_factor(3.0) == 1.0
    assert RenderCalibration(chroma_by_enlargement=((1.0, 1.4),)).chroma_factor(5.0) == pytest.approx(1.4)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"enlarge": "nearest"}, "enlarge must be one of bilinear, bicubic"),
        ({"chroma_by_enlargement": ((4.0, 1.3), (1.0, 1.1))}, "enlargements must increase"),
        ({"chroma_by_enlargement": ((1.0, 1.1), (1.0, 1.2))}, "enlargements must increase"),
        ({"chroma_by_enlargement": ((0.0, 1.1),)}, "enlargement > 0"),
        ({"chroma_by_enlargement": ((1.0, -0.5),)}, "factor >= 0"),
        ({"chroma_by_enlargement": ((1.0, float("nan")),)}, "factor >= 0"),
    ],
)
def test_bad_settings_are_refused(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RenderCalibration(**settings)


def test_config_round_trip_and_a_model_without_the_section_gets_the_defaults() -> None:
    calibration = RenderCalibration("bicubic", ((8 / 7, 1.1), (4.0, 1.3)))
    stored = json.loads(json.dumps({"render": calibration.to_config()}))

    assert RenderCalibration.from_config(stored) == calibration
    assert RenderCalibration.from_config({"architecture": "x"}) == RenderCalibration()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"enlarge": "bicubic", "gain": 2}, "unknown 'render' setting"),
        ({"chroma_by_enlargement": [[1.0, 1.1, 3.0]]}, "a pair"),
        ({"chroma_by_enlargement": [1.0, 1.1]}, "'render'"),
        ({"enlarge": "lanczos"}, "enlarge must be one of"),
        ([1, 2], "must be an object"),
    ],
)
def test_a_bad_config_section_names_the_file(section: object, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        RenderCalibration.from_config({"render": section}, "models/x/config.json")
    assert str(caught.value).startswith("models/x/config.json: ")


def test_the_chroma_factor_is_a_saturation_chosen_by_the_enlargement(model: torch.nn.Module) -> None:
    small, large = _gray_photo(16, 24), _gray_photo(96, 144)  # enlarged 4x and 2/3x to the render size 64
    calibrated = Colorizer(model, render=RenderCalibration(chroma_by_enlargement=((1.0, 1.0), (4.0, 1.5))))
    plain = Colorizer(model)

    np.testing.assert_allclose(
        _colorize(calibrated, small, render_size=64),
        _colorize(plain, small, render_size=64, saturation=1.5),
        atol=1e-6,
    )
    np.testing.assert_array_equal(
        _colorize(calibrated, large, render_size=64), _colorize(plain, large, render_size=64)
    )
    # It multiplies the user's saturation rather than replacing it.
    assert _chroma(_colorize(calibrated, small, render_size=64, saturation=0.5)) == pytest.approx(
        _chroma(_colorize(plain, small, render_size=64, saturation=0.75)), rel=1e-3
    )


def test_the_model_sees_small_photos_enlarged_with_its_filter(
    model: torch.nn.Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo = _gray_photo(16, 16)
    seen, predict = [], model.predict_ab

    def spying(lightness: torch.Tensor, **decode: object) -> torch.Tensor:
        seen.append(lightness.clone())
        return predict(lightness, **decode)

    monkeypatch.setattr(model, "predict_ab", spying)
    for enlarge in ("bilinear", "bicubic"):
        _colorize(Colorizer(model, render=RenderCalibration(enlarge)), photo, render_size=64)

    full = torch.from_numpy(photo).permute(2, 0, 1).unsqueeze(0)
    for enlarge, lightness in zip(("bilinear", "bicubic"), seen, strict=True):
        expected = rgb_to_lightness(resize_for_render(full, (64, 64), enlarge))
        torch.testing.assert_close(lightness[..., :64, :64], expected)
    assert not torch.allclose(seen[0], seen[1])


@pytest.mark.parametrize("enlarge", ["bilinear", "bicubic"])
def test_a_batch_and_single_photos_apply_the_same_calibration(model: torch.nn.Module, enlarge: str) -> None:
    colorizer = Colorizer(model, render=RenderCalibration(enlarge, ((1.0, 0.8), (4.0, 1.6))))
    photos = [_gray_photo(16, 16, seed) for seed in range(3)]
    rgb = torch.from_numpy(np.stack(photos)).permute(0, 3, 1, 2)

    batched = colorizer(rgb, render_size=64, output_type="pt").images

    assert not torch.allclose(batched, Colorizer(model)(rgb, render_size=64, output_type="pt").images)
    for photo, out in zip(photos, batched, strict=True):
        single = _colorize(colorizer, photo, render_size=64)
        np.testing.assert_allclose(out.permute(1, 2, 0).numpy(), single, atol=5e-4)


def test_save_calibrated_keeps_the_weights_and_from_pretrained_reads_the_settings(
    model: torch.nn.Module, tmp_path: Path
) -> None:
    save_pretrained(model, tmp_path / "a", {"metrics": {"val/psnr": 20.0}})
    calibration = RenderCalibration("bicubic", ((8 / 7, 1.1), (4.0, 1.3)))

    save_calibrated(tmp_path / "a", tmp_path / "b", calibration, {"chosen_by": "a test"})

    loaded = Colorizer.from_pretrained(tmp_path / "b")
    assert loaded.render == calibration
    assert Colorizer.from_pretrained(tmp_path / "a").render == RenderCalibration()
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[name], tensor, rtol=0, atol=0)
    config = read_config(tmp_path / "b")
    assert config["render_chosen_by"] == {"chosen_by": "a test"}
    assert config["metrics"] == {"val/psnr": 20.0}  # the rest of the record is kept
    photo = _gray_photo(16, 16)
    np.testing.assert_array_equal(
        _colorize(loaded, photo, render_size=64),
        _colorize(Colorizer(model, render=calibration), photo, render_size=64),
    )
    with pytest.raises(FileExistsError, match="exists; choose a new folder"):
        save_calibrated(tmp_path / "a", tmp_path / "b", calibration, {})


def test_a_model_folder_with_a_bad_section_fails_to_load_naming_its_config(
    model: torch.nn.Module, tmp_path: Path
) -> None:
    save_pretrained(model, tmp_path / "m", {"render": {"enlarge": "sinc"}})
    with pytest.raises(ValueError, match=r"m/config\.json: 'render': enlarge must be one of"):
        Colorizer.from_pretrained(tmp_path / "m")
