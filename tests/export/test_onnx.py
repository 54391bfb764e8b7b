"""Exported models and the ONNX backend against the PyTorch path they mirror."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data
from typer.testing import CliRunner

from polychrome import Colorizer, DecodeOptions
from polychrome._model_files import ONNX_NAME, read_config
from polychrome.cli import app
from polychrome.export import export_onnx
from polychrome.export.onnx import runtime_equivalent
from polychrome.models import create_model, save_pretrained
from polychrome.pipelines.calibration import RenderCalibration
from polychrome.pipelines.image import resolve_model_path
from polychrome.pipelines.onnx_network import OnnxNetwork

FAMILIES = ["effunet_tiny_cls", "effunet_tiny_reg", "zhang2016_tiny_cls", "unet_tiny_reg"]


def _gray(name: str) -> np.ndarray:
    return np.asarray(Image.fromarray(getattr(data, name)()).convert("L"))


def _agreement(a: Image.Image | np.ndarray, b: Image.Image | np.ndarray) -> tuple[int, float]:
    """(largest difference in 8-bit levels, share of pixels within one level)."""
    difference = np.abs(np.asarray(a).astype(int) - np.asarray(b).astype(int))
    return int(difference.max()), float((difference <= 1).all(axis=-1).mean())


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A saved folder with model.onnx beside the weights, for each family's tiny variant."""
    folders = {}
    for name in FAMILIES:
        torch.manual_seed(0)
        model = create_model(name)
        folder = save_pretrained(model, tmp_path_factory.mktemp(name))
        export_onnx(model, folder / ONNX_NAME, read_config(folder))
        folders[name] = folder
    return folders


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("shape", [(1, 1, 64, 96), (3, 1, 96, 32), (2, 1, 37, 50)])
def test_every_family_exports_with_dynamic_batch_height_and_width(
    exported: dict[str, Path], name: str, shape: tuple[int, ...]
) -> None:
    model = create_model(name, **read_config(exported[name])["init_args"])
    model.load_state_dict(_weights(exported[name]))
    network = OnnxNetwork(exported[name] / ONNX_NAME)
    lightness = torch.rand(*shape, generator=torch.Generator().manual_seed(1)) * 100

    from polychrome.pipelines.render import predict_ab_lowres

    with torch.no_grad():
        expected = predict_ab_lowres(model.eval(), lightness).numpy()
    ab = network.predict_ab(lightness.numpy())

    assert network.architecture == name and network.head_type == model.head_type
    assert ab.shape == expected.shape
    np.testing.assert_allclose(ab, expected, atol=2e-3)  # Lab units; float32 in two runtimes


@pytest.mark.parametrize("name", [*FAMILIES, "effunet_tiny_reg:batch"])
def test_the_graph_that_is_exported_computes_what_the_model_computes(name: str) -> None:
    name, _, norm = name.partition(":")
    torch.manual_seed(0)
    model = create_model(name, **({"norm": norm} if norm else {})).eval()
    for norm in model.modules():  # scales and shifts away from 1 and 0, as after training
        if isinstance(norm, torch.nn.GroupNorm | torch.nn.BatchNorm2d):
            norm.weight.data.uniform_(0.5, 1.5)
            norm.bias.data.uniform_(-0.5, 0.5)
    lightness = torch.rand(2, 1, 64, 96, generator=torch.Generator().manual_seed(1)) * 100

    with torch.no_grad():
        expected, got = model.predict_ab(lightness), runtime_equivalent(model).predict_ab(lightness)

    torch.testing.assert_close(got, expected, atol=2e-3, rtol=0)  # Lab units: float rounding


@pytest.fixture(scope="module")
def hint_model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in hint family untrained, its hint branch given weights (as training gives it) so that hints
    change the output, saved with model.onnx beside its weights."""
    torch.manual_seed(0)
    model = create_model("effunet_lite0_hint_reg", pretrained_encoder=False).eval()
    with torch.no_grad():
        model.hint_stem.weight.normal_(0, 0.2)
    folder = save_pretrained(model, tmp_path_factory.mktemp("hint-model"))
    export_onnx(model, folder / ONNX_NAME, read_config(folder))
    return folder


def _painted_hint_map(batch: int, height: int, width: int) -> np.ndarray:
    """A hint map ``(B, 3, H, W)`` with two squares in the first photo and one in the others."""
    hint_map = np.zeros((batch, 3, height, width), np.float32)
    hint_map[:, :, 5:10, 8:13] = np.array([45.0, 30.0, 1.0], np.float32)[:, None, None]
    hint_map[0, :, 20, 30] = (-20.0, 50.0, 1.0)  # a point hint
    return hint_map


@pytest.mark.parametrize("shape", [(1, 1, 64, 96), (2, 1, 37, 50)])
def test_a_hint_model_exports_with_its_hint_map_as_a_second_input(
    hint_model_folder: Path, shape: tuple[int, ...]
) -> None:
    from polychrome.pipelines.render import predict_ab_lowres

    model = create_model("effunet_lite0_hint_reg", **read_config(hint_model_folder)["init_args"])
    model.load_state_dict(_weights(hint_model_folder))
    network = OnnxNetwork(hint_model_folder / ONNX_NAME)
    lightness = torch.rand(*shape, generator=torch.Generator().manual_seed(1)) * 100
    hint_map = _painted_hint_map(shape[0], *shape[-2:])

    with torch.no_grad():
        plain = predict_ab_lowres(model.eval(), lightness).numpy()
        hinted = predict_ab_lowres(model, lightness, hint_map=torch.from_numpy(hint_map)).numpy()

    assert network.takes_hints and [i.name for i in network.session.get_inputs()] == ["lightness", "hints"]
    assert np.abs(hinted - plain).max() > 1.0  # the hints change the colors: the test can tell
    np.testing.assert_allclose(network.predict_ab(lightness.numpy(), hint_map), hinted, atol=2e-3)
    np.testing.assert_allclose(network.predict_ab(lightness.numpy()), plain, atol=2e-3)  # the all-zero map
    with pytest.raises(ValueError, match=r"a hint map must be \(B, 3, H, W\) like L"):
        network.predict_ab(lightness.numpy(), hint_map[..., 1:])


def test_a_graph_without_a_hint_input_refuses_a_hint_map(exported: dict[str, Path]) -> None:
    network = OnnxNetwork(exported["effunet_tiny_reg"] / ONNX_NAME)
    lightness = np.zeros((1, 1, 32, 32), np.float32)

    assert not network.takes_hints
    with pytest.raises(ValueError, match="effunet_tiny_reg takes no hint map"):
        network.predict_ab(lightness, np.zeros((1, 3, 32, 32), np.float32))


def test_the_efficientnet_decoder_exports_in_operators_onnx_runtime_keeps_blocked(tmp_path: Path) -> None:
    import onnx

    torch.manual_seed(0)
    path = export_onnx(create_model("effunet_tiny_reg"), tmp_path / "model.onnx", {})
    graph = onnx.load(str(path)).graph
    constants = {i.name for i in graph.initializer} | {
        o for n in graph.node if n.op_type == "Constant" for o in n.output
    }
    resizes = [n for n in graph.node if n.op_type == "Resize"]
    attributes = {n.name: {a.name: list(a.ints) or a.i for a in n.attribute} for n in graph.node}
    depthwise_1x1 = [
        n
        for n in graph.node
        if n.op_type == "Conv"
        and attributes[n.name].get("group", 1) > 1
        and attributes[n.name]["kernel_shape"] == [1, 1]
    ]

    # Upsampling by a fixed factor (not to the skip's size), no Concat, GroupNorm's affine a depthwise Conv.
    assert len(resizes) == 4 and all(n.input[2] in constants and not n.input[3:] for n in resizes)
    assert not [n for n in graph.node if n.op_type == "Concat"]
    assert len(depthwise_1x1) == sum(n.op_type == "InstanceNormalization" for n in graph.node) == 9


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")


@pytest.mark.parametrize("name", FAMILIES)
def test_both_backends_color_alike_with_every_family_and_control(
    exported: dict[str, Path], name: str
) -> None:
    photo = _gray("camera")[::4, ::4]
    backends = {b: Colorizer.from_pretrained(exported[name], backend=b) for b in ("torch", "onnx")}
    assert backends["onnx"].backend == "onnx" and backends["torch"].backend == "torch"

    for options in ({}, {"saturation": 1.6, "temperature": 0.7}, {"saturation": 0.3, "temperature": -1.0}):
        out = {b: c(photo, render_size=64, **options) for b, c in backends.items()}
        largest, within = _agreement(out["torch"].images[0], out["onnx"].images[0])
        assert largest <= 3 and within > 0.999, (options, largest, within)
        np.testing.assert_allclose(out["onnx"].ab[0], out["torch"].ab[0], atol=0.05)


def test_the_render_calibration_acts_alike_in_both_backends(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("effunet_tiny_reg")
    calibration = RenderCalibration("bicubic", ((1.0, 0.5), (4.0, 2.0)))
    folder = save_pretrained(model, tmp_path / "model", {"render": calibration.to_config()})
    export_onnx(model, folder / ONNX_NAME, read_config(folder))
    small = _gray("coffee")[::10, ::10]  # enlarged 6.4x at render size 256: the factor of the last anchor

    out = {
        b: Colorizer.from_pretrained(folder, backend=b)(small, output_type="np") for b in ("torch", "onnx")
    }
    plain = Colorizer(model, render=RenderCalibration("bicubic"))(small, output_type="np")

    np.testing.assert_allclose(out["onnx"].ab[0], out["torch"].ab[0], atol=0.05)
    np.testing.assert_allclose(out["onnx"].ab[0], 2.0 * plain.ab[0], rtol=0.05, atol=0.1)
    assert OnnxNetwork(folder / ONNX_NAME).render == calibration  # the metadata carries it too


@pytest.mark.builtin_weights
@pytest.mark.parametrize("name", ["chelsea", "coffee", "astronaut", "rocket", "camera"])
def test_the_shipped_onnx_file_colors_as_the_pytorch_model_on_real_photos(name: str) -> None:
    backends = {b: Colorizer.from_pretrained(backend=b) for b in ("torch", "onnx")}
    photo = _gray(name)

    for options in ({}, {"saturation": 1.3, "temperature": 0.4}):
        out = {b: c(photo, **options).images[0] for b, c in backends.items()}
        largest, within = _agreement(out["torch"], out["onnx"])
        assert within >= 0.999 and largest <= 3, (name, options, largest, within)


@pytest.mark.builtin_weights
@pytest.mark.parametrize("size", [(256, 256), (200, 328)])
def test_the_shipped_network_gives_the_pytorch_models_ab_on_real_photos(size: tuple[int, int]) -> None:
    from skimage.color import rgb2lab
    from skimage.transform import resize

    from polychrome.models import load_pretrained
    from polychrome.pipelines.render import predict_ab_lowres

    folder = resolve_model_path(None)
    model, network = load_pretrained(folder).eval(), OnnxNetwork(folder / ONNX_NAME)
    photos = [
        resize(getattr(data, name)(), size, anti_aliasing=True) for name in ("astronaut", "coffee", "chelsea")
    ]
    lightness = np.stack([rgb2lab(photo)[None, ..., 0] for photo in photos]).astype(np.float32)

    with torch.no_grad():
        expected = predict_ab_lowres(model, torch.from_numpy(lightness)).numpy()
    got = network.predict_ab(lightness)

    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-3)  # Lab units: float rounding, nothing more


@pytest.mark.builtin_weights
def test_the_shipped_onnx_file_is_a_fresh_export_of_the_shipped_weights(tmp_path: Path) -> None:
    folder = resolve_model_path(None)
    result = CliRunner().invoke(app, ["export", "effunet-lite0", "-o", str(tmp_path / "fresh.onnx")])
    assert result.exit_code == 0, result.output
    lightness = np.linspace(0, 100, 2 * 96 * 160, dtype=np.float32).reshape(2, 1, 96, 160)

    shipped = OnnxNetwork(folder / ONNX_NAME)
    fresh = OnnxNetwork(tmp_path / "fresh.onnx")

    np.testing.assert_allclose(shipped.predict_ab(lightness), fresh.predict_ab(lightness), atol=1e-4)
    assert shipped.config == read_config(folder)


def test_export_refuses_to_overwrite_and_bad_files_get_one_line(tmp_path: Path) -> None:
    torch.manual_seed(0)
    folder = save_pretrained(create_model("unet_tiny_reg"), tmp_path / "model")
    target = tmp_path / "model.onnx"
    target.write_bytes(b"not a model")
    runner = CliRunner()

    refused = runner.invoke(app, ["export", str(folder), "-o", str(target)])
    assert refused.exit_code == 1 and "exists; pass --overwrite" in refused.output
    assert target.read_bytes() == b"not a model"
    with pytest.raises(ValueError, match="model.onnx: not a loadable ONNX model") as err:
        OnnxNetwork(target)
    assert "\n" not in str(err.value)
    done = runner.invoke(app, ["export", str(folder), "-o", str(target), "--overwrite"])
    assert done.exit_code == 0, done.output
    assert OnnxNetwork(target).architecture == "unet_tiny_reg"
    missing = runner.invoke(app, ["export", str(tmp_path / "nosuch"), "-o", str(tmp_path / "x.onnx")])
    assert missing.exit_code == 1 and "nosuch" in missing.output


def test_a_folder_without_onnx_and_options_onnx_cannot_have_are_refused(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("effunet_tiny_cls")
    folder = save_pretrained(model, tmp_path / "model")
    with pytest.raises(FileNotFoundError, match="no model.onnx for ONNX Runtime"):
        Colorizer.from_pretrained(folder, backend="onnx")
    with pytest.raises(ValueError, match="backend must be one of auto, onnx, torch"):
        Colorizer.from_pretrained(folder, backend="tensorflow")
    export_onnx(model, folder / ONNX_NAME, read_config(folder))
    colorizer = Colorizer.from_pretrained(folder / ONNX_NAME)  # a bare .onnx file: ONNX Runtime
    assert colorizer.backend == "onnx"
    with pytest.raises(ValueError, match="decode options need backend='torch'"):
        colorizer(np.zeros((16, 16), np.uint8), decode=DecodeOptions(temperature=0.1))
    with pytest.raises(ValueError, match="runs on the CPU"):
        colorizer.to("cuda")
    with pytest.raises(ValueError, match="runs in fp32"):
        colorizer.to(dtype="bf16-mixed")


def test_the_onnx_backend_takes_every_input_and_output_type(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("effunet_tiny_reg")
    folder = save_pretrained(model, tmp_path / "model")
    export_onnx(model, folder / ONNX_NAME, read_config(folder))
    colorizer = Colorizer.from_pretrained(folder, backend="onnx")
    rgba = np.random.default_rng(0).integers(0, 256, (20, 30, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    tensor = torch.rand(2, 3, 20, 30)

    pil = colorizer([tmp_path / "a.png", Image.fromarray(rgba[..., :3])]).images
    arrays = colorizer(rgba, output_type="np").images
    tensors = colorizer(tensor, output_type="pt")
    torch_out = Colorizer(model)(tensor, output_type="pt")

    assert pil[0].mode == "RGBA" and pil[1].mode == "RGB" and pil[0].size == (30, 20)
    np.testing.assert_array_equal(np.asarray(pil[0])[..., 3], rgba[..., 3])
    assert arrays[0].shape == (20, 30, 4) and arrays[0].dtype == np.float32
    assert tensors.images.shape == (2, 3, 20, 30) and tensors.ab.shape[:2] == (2, 2)
    difference = (tensors.images - torch_out.images).abs()
    assert difference.max() < 0.02 and (difference > 2e-3).float().mean() < 0.001  # the gamut's edge
