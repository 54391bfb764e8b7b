"""`polychrome colorize` end to end with a real (tiny, untrained) saved model, over every input mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from polychrome.cli import app
from polychrome.color.lab import rgb_to_lab
from polychrome.models import create_model, save_pretrained


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return save_pretrained(create_model("effunet_tiny_cls").eval(), tmp_path_factory.mktemp("model"))


def _gradient(h: int = 24, w: int = 40) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return (40 + 170 * (x / w) * (0.5 + 0.5 * y / h)).astype(np.uint8)


def _lightness(rgb_uint8: np.ndarray) -> np.ndarray:
    t = torch.from_numpy(np.array(rgb_uint8)).permute(2, 0, 1).float() / 255
    return rgb_to_lab(t)[0].numpy()


def _write_inputs(folder: Path) -> dict[str, np.ndarray]:
    """Files in many modes; returns the expected gray level (as 0..255 RGB) of each output."""
    folder.mkdir()
    g = _gradient()
    expected = {}
    Image.fromarray(g, "L").save(folder / "gray.png")
    expected["gray.png"] = g
    Image.fromarray(np.dstack([g, np.full_like(g, 128)]), "LA").save(folder / "gray_alpha.png")
    expected["gray_alpha.png"] = g
    rgba = np.dstack([g, g, g, np.linspace(0, 255, g.size).reshape(g.shape).astype(np.uint8)])
    Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    expected["rgba.png"] = g
    palette = Image.fromarray(g, "L").convert("P")
    palette.info["transparency"] = int(np.asarray(palette)[0, 0])
    palette.save(folder / "palette.png")
    expected["palette.png"] = None  # palette quantises gray levels; checked for shape and alpha only
    Image.fromarray(g, "L").convert("CMYK").save(folder / "cmyk.jpg", quality=100)
    expected["cmyk.jpg"] = None
    Image.fromarray(g.astype(np.uint16) * 257).save(folder / "sixteen.png")  # mode I;16
    expected["sixteen.png"] = g
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    Image.fromarray(g, "L").save(folder / "rotated.jpg", exif=exif, quality=100)
    expected["rotated.jpg"] = np.rot90(g, k=-1)
    return expected


def test_every_mode_is_colorized_at_full_size_keeping_alpha_and_lightness(
    model_dir: Path, tmp_path: Path
) -> None:
    expected = _write_inputs(tmp_path / "in")
    result = CliRunner().invoke(
        app, ["colorize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--model", str(model_dir)]
    )
    assert result.exit_code == 0, result.output
    assert f"colorized {len(expected)}, skipped 0, failed 0" in result.stdout

    for name, gray in expected.items():
        out = Image.open(tmp_path / "out" / name)
        source = Image.open(tmp_path / "in" / name)
        assert out.size == (24, 40) if name == "rotated.jpg" else out.size == source.size, name
        has_alpha = name in ("gray_alpha.png", "rgba.png", "palette.png")
        assert (out.mode == "RGBA") == has_alpha, name
        if name == "rgba.png":
            assert np.array_equal(np.asarray(out)[..., 3], np.asarray(source)[..., 3])
        if gray is not None:
            rgb = np.asarray(out.convert("RGB"))
            want = _lightness(np.repeat(gray[..., None], 3, axis=2))
            tolerance = 1.5 if name.endswith(".jpg") else 0.6  # JPEG re-encoding of the output
            assert np.abs(_lightness(rgb) - want).max() < tolerance, name


@pytest.mark.parametrize(
    ("args", "backend"),
    [
        ([], "onnx"),  # the CPU in fp32 and a model.onnx: ONNX Runtime, though PyTorch is installed
        (["--backend", "torch"], "torch"),
        (["--precision", "bf16-mixed"], "torch"),
        (["--backend", "onnx"], "onnx"),
    ],
)
def test_the_command_colors_on_the_backend_the_rule_picks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], backend: str
) -> None:
    import polychrome.cli.colorize as colorize_cli
    from polychrome._model_files import ONNX_NAME, read_config
    from polychrome.export import export_onnx

    torch.manual_seed(0)
    model = create_model("effunet_tiny_reg").eval()
    folder = save_pretrained(model, tmp_path / "model")
    export_onnx(model, folder / ONNX_NAME, read_config(folder))
    Image.fromarray(_gradient(), "L").save(tmp_path / "gray.png")
    loaded = []
    real_load = colorize_cli.load_colorizer
    monkeypatch.setattr(colorize_cli, "load_colorizer", lambda *a: loaded.append(real_load(*a)) or loaded[-1])

    result = CliRunner().invoke(
        app,
        ["colorize", str(tmp_path / "gray.png"), "-o", str(tmp_path / "out"), "--model", str(folder), *args],
    )

    assert result.exit_code == 0, result.output
    assert [c.backend for c in loaded] == [backend]
