"""int8 copies of exported models: written by `polychrome export --int8`, chosen by ``precision="int8"``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data
from typer.testing import CliRunner

from polychrome import Colorizer
from polychrome._model_files import INT8_ONNX_NAME, ONNX_NAME, read_config
from polychrome.cli import app
from polychrome.export import export_onnx
from polychrome.export.quantize import calibration_lightness, quantize_onnx
from polychrome.models import create_model, save_pretrained
from polychrome.pipelines.onnx_network import OnnxNetwork

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def _gray(name: str) -> np.ndarray:
    return np.asarray(Image.fromarray(getattr(data, name)()).convert("L"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model's folder with model.onnx and model-int8.onnx (calibrated on four sample photos)."""
    torch.manual_seed(0)
    model = create_model("effunet_tiny_reg")
    folder = save_pretrained(model, tmp_path_factory.mktemp("model"))
    export_onnx(model, folder / ONNX_NAME, read_config(folder), as_written=True)  # what --int8 quantizes
    photos = [getattr(data, name)() for name in PHOTOS]
    quantize_onnx(folder / ONNX_NAME, folder / INT8_ONNX_NAME, list(calibration_lightness(photos, 64)))
    return folder


def test_calibration_inputs_are_rendered_square_and_long_panoramas_passed_over() -> None:
    panorama = np.zeros((20, 400, 3), np.uint8)  # rendered 64 tall it would be 1280 wide: over 8 : 1
    gray = np.repeat(_gray("camera")[:, :300, None], 3, axis=2)
    inputs = list(calibration_lightness([data.astronaut(), panorama, gray], 64))

    assert [x.shape for x in inputs] == [(1, 1, 64, 64), (1, 1, 64, 64)]
    assert all(x.dtype == np.float32 and x.min() >= 0 and x.max() <= 100 for x in inputs)


def test_the_int8_copy_keeps_the_metadata_and_colors_close_to_the_float_model(folder: Path) -> None:
    fp32, int8 = OnnxNetwork(folder / ONNX_NAME), OnnxNetwork(folder / INT8_ONNX_NAME)
    # Photos it was not calibrated on.
    photos = [np.repeat(_gray(name)[..., None], 3, axis=2) for name in ("camera", "moon")]
    lightness = np.concatenate(list(calibration_lightness(photos, 96)))

    expected, got = fp32.predict_ab(lightness), int8.predict_ab(lightness)

    assert (fp32.precision, int8.precision) == ("fp32", "int8")
    assert int8.config == fp32.config and int8.architecture == fp32.architecture
    assert got.shape == expected.shape
    # An untrained tiny network quantises coarsely (the shipped model's agreement is tested below): the int8
    # output follows the float one, not more.
    assert np.corrcoef(got.ravel(), expected.ravel())[0, 1] > 0.8
    assert np.abs(got - expected).max() > 0  # integer kernels ran: not the float graph


def test_precision_int8_colors_with_the_folders_int8_file(folder: Path) -> None:
    colorizer = Colorizer.from_pretrained(folder, precision="int8")
    float_colorizer = Colorizer.from_pretrained(folder, backend="onnx")
    photo = _gray("camera")[::4, ::4]

    out = colorizer(photo, output_type="np").images[0]
    reference = float_colorizer(photo, output_type="np").images[0]

    assert colorizer.backend == "onnx" and colorizer.precision == "int8"
    assert colorizer.model.path.name == INT8_ONNX_NAME
    assert out.shape == reference.shape and np.abs(out - reference).mean() < 0.1  # an untrained network
    assert Colorizer.from_pretrained(folder / INT8_ONNX_NAME).precision == "int8"  # the file says so


def test_int8_that_cannot_be_had_is_refused_in_one_line(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="precision int8 runs on ONNX Runtime"):
        Colorizer.from_pretrained(folder, precision="int8", backend="torch")
    bare = save_pretrained(create_model("effunet_tiny_reg"), tmp_path / "bare")
    with pytest.raises(FileNotFoundError, match=r"no model-int8\.onnx; make one with `polychrome expo") as e:
        Colorizer.from_pretrained(bare, precision="int8")
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="runs in fp32, not 'int8'; load the model's model-int8.onnx"):
        Colorizer.from_pretrained(folder / ONNX_NAME, precision="int8")
    with pytest.raises(ValueError, match="quantising needs calibration photos"):
        quantize_onnx(folder / ONNX_NAME, tmp_path / "x.onnx", [])


def test_the_export_command_writes_an_int8_file(folder: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in PHOTOS[:2]:
        Image.fromarray(getattr(data, name)()).save(photos / f"{name}.png")
    (photos / "broken.jpg").write_bytes(b"not a photo")  # one fewer to calibrate with, no more
    empty = tmp_path / "empty"
    empty.mkdir()
    runner = CliRunner()

    export = ["export", str(folder), "--int8"]
    done = runner.invoke(app, [*export, str(photos), "-o", str(tmp_path / "q.onnx")])
    refused = runner.invoke(app, [*export, str(empty), "-o", str(tmp_path / "r.onnx")])

    assert done.exit_code == 0, done.output
    assert "calibrated on 2 photos of the 100 asked" in done.output
    assert OnnxNetwork(tmp_path / "q.onnx").precision == "int8"
    assert refused.exit_code == 1 and "no readable photos to calibrate with" in refused.output
    assert not (tmp_path / "r.onnx").exists()


def test_int8_refuses_a_model_that_takes_hints_before_reading_any_photo(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("effunet_tiny_hint_reg")
    folder = save_pretrained(model, tmp_path / "hint-model")
    export_onnx(model, folder / ONNX_NAME, read_config(folder), as_written=True)
    calibration = [np.zeros((1, 1, 64, 64), np.float32)]

    # No such photos: the refusal comes first, so it is the one the user reads.
    refused = CliRunner().invoke(
        app, ["export", str(folder), "--int8", str(tmp_path / "no-photos"), "-o", str(tmp_path / "q.onnx")]
    )

    assert refused.exit_code == 1 and "effunet_tiny_hint_reg takes color hints" in refused.output
    assert "without --int8" in refused.output and len(refused.output.strip().splitlines()) == 1
    assert not (tmp_path / "q.onnx").exists()
    with pytest.raises(ValueError, match="takes color hints, which int8 calibration does not cover"):
        quantize_onnx(folder / ONNX_NAME, tmp_path / "q.onnx", calibration)


@pytest.mark.builtin_weights
@pytest.mark.parametrize("name", ["chelsea", "coffee", "astronaut", "rocket", "camera"])
def test_the_shipped_int8_file_colors_close_to_the_float_one(name: str) -> None:
    # Close, not equal: on the development set it scored +0.005 dB PSNR against fp32 (BENCHMARKS section 12).
    colorizers = {p: Colorizer.from_pretrained(precision=p, backend="onnx") for p in ("fp32", "int8")}
    photo = _gray(name)

    out = {p: c(photo, output_type="np") for p, c in colorizers.items()}

    assert colorizers["int8"].model.config == colorizers["fp32"].model.config
    assert np.abs(out["int8"].ab[0] - out["fp32"].ab[0]).mean() < 3.0  # Lab units; 0.9..1.9 measured
    assert np.abs(out["int8"].images[0] - out["fp32"].images[0]).mean() < 4 / 255  # 1.1..2.5 measured
