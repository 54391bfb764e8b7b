"""A hint-conditioned model in the colorizer and the CLI: the network takes the hints (no spreading), the
hint map lands where the hint points at the render size, and the model exported to ONNX colors with hints on
ONNX Runtime (without PyTorch) as on PyTorch."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner, Result

import polychrome.pipelines.image as image_pipeline
import polychrome.pipelines.numpy_path as numpy_path
from polychrome._model_files import ONNX_NAME, read_config
from polychrome.cli import app
from polychrome.export import export_onnx
from polychrome.models import create_model, save_pretrained
from polychrome.pipelines.hints import Hint, hint_ab
from polychrome.pipelines.image import Colorizer
from polychrome.pipelines.onnx_network import OnnxNetwork
from polychrome.pipelines.render_size import render_shape
from tests.blocked_imports import environment_without


def _hint_model(branch: float = 0.0) -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model("effunet_tiny_hint_reg")
    if branch:  # as a trained branch would be: hints change the output
        with torch.no_grad():
            model.hint_stem.weight.normal_(0, branch)
    return model.eval()


def _photo() -> np.ndarray:
    photo = np.full((48, 80), 0.35, np.float32)
    photo[:, 40:] = 0.8
    return photo


def test_the_hint_map_marks_the_hinted_squares_at_the_render_size() -> None:
    hints = [Hint(10, 20, "#b22222"), Hint(0.75, 0.5, "#3a5f0b", radius=4, relative=True)]

    hint_map = image_pipeline._hint_map(hints, 2, 48, 80, (96, 160), torch.device("cpu"))

    assert hint_map.shape == (2, 3, 96, 160)
    assert torch.equal(hint_map[0], hint_map[1])  # every photo of the batch gets the hints
    assert hint_map[0, 2, 40, 20] == 1 and hint_map[0, 2].sum() == 1 + 17 * 17  # 4 px = 8 render px each side
    assert hint_map[0, 2, 48 - 8 : 48 + 9, 120 - 8 : 120 + 9].all()
    expected = torch.from_numpy(hint_ab(hints)).float()
    torch.testing.assert_close(hint_map[0, :2, 40, 20], expected[0])
    torch.testing.assert_close(hint_map[0, :2, 48, 120], expected[1])


def test_a_hint_model_takes_the_hints_itself_instead_of_spreading_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_spreading(*args: object, **kwargs: object) -> None:
        raise AssertionError("a hint model's hints are not spread")

    monkeypatch.setattr(image_pipeline, "spread_hints", no_spreading)
    hints = [Hint(12, 20, "#b22222", radius=3)]
    fresh = Colorizer(_hint_model())  # hint branch at zero: the hints change nothing yet
    plain = fresh(_photo(), output_type="np").images[0]
    assert np.array_equal(fresh(_photo(), output_type="np", hints=hints).images[0], plain)

    trained = Colorizer(_hint_model(branch=0.2))
    seen: list[torch.Tensor] = []
    original = trained.model.predict_ab

    def spy(lightness: torch.Tensor, hints: torch.Tensor | None = None, **options: object) -> torch.Tensor:
        seen.append(hints)
        return original(lightness, hints, **options)

    monkeypatch.setattr(trained.model, "predict_ab", spy)
    without = trained(_photo(), output_type="np", render_size=64).images[0]
    hinted = trained(_photo(), output_type="np", render_size=64, hints=hints).images[0]

    assert seen[0] is None and seen[1].shape == (1, 3, 64, 128)  # render 64 x 106, padded to 128
    assert seen[1][0, 2, :, 106:].sum() == 0 and seen[1][0, 2].sum() == (1 + 2 * 4) ** 2
    assert np.abs(hinted - without).max() > 1 / 255


def test_colorize_hint_works_with_a_hint_model_folder_and_its_export(tmp_path: Path) -> None:
    folder = save_pretrained(_hint_model(branch=0.2), tmp_path / "hint-model")
    photo = tmp_path / "photo.png"
    Image.fromarray((_photo() * 255).astype(np.uint8)).save(photo)
    runner = CliRunner()

    def colorize(output: str, *options: str) -> Result:
        command = ["colorize", str(photo), "-o", str(tmp_path / output), "--model", str(folder)]
        return runner.invoke(app, [*command, "--hint", "10,20=#c01010", *options])

    done = colorize("out.png")  # no model.onnx yet: PyTorch
    exported = runner.invoke(app, ["export", str(folder), "-o", str(folder / ONNX_NAME)])
    on_onnx = colorize("onnx.png", "--backend", "onnx")

    assert done.exit_code == 0, done.output
    assert Image.open(tmp_path / "out.png").size == (80, 48)
    assert exported.exit_code == 0, exported.output
    assert OnnxNetwork(folder / ONNX_NAME).takes_hints
    assert on_onnx.exit_code == 0, on_onnx.output
    largest = np.abs(_pixels(tmp_path / "onnx.png") - _pixels(tmp_path / "out.png")).max()
    assert largest <= 3  # 8-bit levels: the two backends color alike


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=int)


@pytest.fixture(scope="module")
def hint_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hint model whose hints change its colors, saved with model.onnx beside its weights."""
    model = _hint_model(branch=0.2)
    folder = save_pretrained(model, tmp_path_factory.mktemp("hint-model"))
    export_onnx(model, folder / ONNX_NAME, read_config(folder))
    return folder


HINTS = [Hint(12, 20, "#b22222", radius=3), Hint(0.8, 0.3, "#2050c0", relative=True)]


def test_a_hint_model_colors_with_hints_on_onnx_runtime_as_on_pytorch(hint_folder: Path) -> None:
    photos = [_photo(), 1.0 - _photo()]  # a batch: every photo gets the same hints
    auto = Colorizer.from_pretrained(hint_folder)
    backends = {"onnx": auto, "torch": Colorizer.from_pretrained(hint_folder, backend="torch")}
    out = {
        b: c(photos, output_type="pil", render_size=64, hints=HINTS, saturation=1.3)
        for b, c in backends.items()
    }
    without = auto(photos, output_type="pil", render_size=64, saturation=1.3)

    assert auto.backend == "onnx" and auto.model.takes_hints  # auto: the hint model's model.onnx
    for onnx_image, torch_image, plain in zip(
        out["onnx"].images, out["torch"].images, without.images, strict=True
    ):
        difference = np.abs(np.asarray(onnx_image, int) - np.asarray(torch_image, int))
        assert difference.max() <= 3 and (difference <= 1).all(axis=-1).mean() > 0.999
        assert np.abs(np.asarray(onnx_image, int) - np.asarray(plain, int)).max() > 4  # the hints count
    for onnx_ab, torch_ab in zip(out["onnx"].ab, out["torch"].ab, strict=True):
        np.testing.assert_allclose(onnx_ab, torch_ab, atol=0.05)


def test_onnx_runtime_gives_a_hint_graph_the_pytorch_paths_map_and_spreads_nothing(
    hint_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_spreading(*args: object, **kwargs: object) -> None:
        raise AssertionError("a hint model's hints are not spread")

    monkeypatch.setattr(numpy_path, "spread_hints", no_spreading)
    colorizer = Colorizer.from_pretrained(hint_folder, backend="onnx")
    seen: list[np.ndarray | None] = []
    original = colorizer.model.predict_ab

    def spy(lightness: np.ndarray, hint_map: np.ndarray | None = None) -> np.ndarray:
        seen.append(hint_map)
        return original(lightness, hint_map)

    monkeypatch.setattr(colorizer.model, "predict_ab", spy)
    colorizer([_photo(), _photo()], output_type="np", render_size=64, hints=HINTS)
    colorizer(_photo(), output_type="np", render_size=64)

    expected = image_pipeline._hint_map(HINTS, 2, 48, 80, render_shape(48, 80, 64), torch.device("cpu"))
    assert seen[0] is not None and seen[0].shape == (2, 3, 64, 107)
    np.testing.assert_array_equal(seen[0], expected.numpy())
    assert seen[1] is None  # no hints: the network's own all-zero map


def test_a_hint_model_colors_with_hints_where_torch_cannot_be_imported(
    hint_folder: Path, tmp_path: Path
) -> None:
    photo = tmp_path / "photo.png"
    Image.fromarray((_photo() * 255).astype(np.uint8)).save(photo)
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        from polychrome import Colorizer
        from polychrome.pipelines.hints import Hint

        colorizer = Colorizer.from_pretrained(r"{hint_folder}")
        hints = [Hint(12, 20, "#b22222", radius=3)]
        out = colorizer(r"{photo}", output_type="np", render_size=64, hints=hints)
        np.save(r"{tmp_path / "out.npy"}", out.images[0])
        print("backend:", colorizer.backend, "torch loaded:", sys.modules.get("torch") is not None)
        """
    )

    done = subprocess.run(
        [sys.executable, "-c", script],
        env=environment_without(tmp_path / "shim", ["torch"]),
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert "backend: onnx torch loaded: False" in done.stdout
    expected = Colorizer.from_pretrained(hint_folder, backend="onnx")(
        photo, output_type="np", render_size=64, hints=HINTS[:1]
    )
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected.images[0])
