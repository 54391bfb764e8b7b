"""Exports whose weights are stored in 16 bits: half the file, the float32 file's colors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from polychrome._model_files import ONNX_NAME, read_config
from polychrome.cli import app
from polychrome.export import export_onnx
from polychrome.export.half_weights import WEIGHTS_KEY, store_weights_half
from polychrome.models import create_model, save_pretrained
from polychrome.pipelines.onnx_network import OnnxNetwork


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = create_model("effunet_tiny_reg")
    saved = save_pretrained(model, tmp_path_factory.mktemp("tiny"))
    export_onnx(model, saved / ONNX_NAME, read_config(saved))
    return saved


def _lightness() -> np.ndarray:
    return (np.random.default_rng(0).random((2, 1, 64, 96)) * 100).astype(np.float32)


def _assert_rounding_apart(half_ab: np.ndarray, float_ab: np.ndarray) -> None:
    """Weights rounded to 11 significant bits move this untrained network's ab (tens of Lab units) by
    about 0.05 on average, tenths at most; a lost or misplaced weight moves it by whole units."""
    difference = np.abs(half_ab - float_ab)
    assert 0 < difference.mean() < 0.15 and difference.max() < 0.01 * np.abs(float_ab).max(), (
        difference.mean(),
        difference.max(),
    )


def test_half_weights_take_half_the_space_and_give_the_float_files_ab(folder: Path, tmp_path: Path) -> None:
    source = folder / ONNX_NAME
    half = store_weights_half(source, tmp_path / "half.onnx")

    assert half.stat().st_size < 0.6 * source.stat().st_size
    stored = {t.data_type for t in onnx.load(str(half)).graph.initializer if np.prod(t.dims) >= 16}
    assert stored == {onnx.TensorProto.FLOAT16}
    float_ab = OnnxNetwork(source).predict_ab(_lightness())
    half_ab = OnnxNetwork(half).predict_ab(_lightness())
    _assert_rounding_apart(half_ab, float_ab)
    network = OnnxNetwork(half)
    assert network.config == read_config(folder) and network.precision == "fp32"


def test_weights_are_halved_once_and_int8_files_are_refused(folder: Path, tmp_path: Path) -> None:
    half = store_weights_half(folder / ONNX_NAME, tmp_path / "half.onnx")
    meta = {e.key: e.value for e in onnx.load(str(half)).metadata_props}
    assert meta[WEIGHTS_KEY] == "float16"

    with pytest.raises(ValueError, match="already stores its weights in float16"):
        store_weights_half(half, tmp_path / "again.onnx")
    proto = onnx.load(str(folder / ONNX_NAME))
    entry = proto.metadata_props.add()
    entry.key, entry.value = "precision", "int8"
    onnx.save(proto, str(tmp_path / "int8.onnx"))
    with pytest.raises(ValueError, match="int8 weights"):
        store_weights_half(tmp_path / "int8.onnx", tmp_path / "out.onnx")
    assert not (tmp_path / "again.onnx").exists() and not (tmp_path / "out.onnx").exists()


def test_export_writes_half_weights_on_request_and_refuses_them_with_int8(
    folder: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["export", str(folder), "-o", str(tmp_path / "m.onnx"), "--fp16-weights"])
    assert result.exit_code == 0, result.output
    _assert_rounding_apart(
        OnnxNetwork(tmp_path / "m.onnx").predict_ab(_lightness()),
        OnnxNetwork(folder / ONNX_NAME).predict_ab(_lightness()),
    )

    both = ["export", str(folder), "-o", str(tmp_path / "q.onnx"), "--fp16-weights", "--int8", str(tmp_path)]
    result = runner.invoke(app, both)
    assert result.exit_code == 2
    assert "--int8 and --fp16-weights" in result.output and not (tmp_path / "q.onnx").exists()
