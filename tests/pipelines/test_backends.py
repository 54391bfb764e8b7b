"""Which backend colors: ``auto`` takes ONNX Runtime wherever it gives what was asked, PyTorch only where it
is needed (a GPU, a precision other than fp32, decoding options, a model without model.onnx); an explicit
choice is kept. The two agree within one 8-bit level (tests/export/test_onnx.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import polychrome.pipelines.backends as backends
from polychrome import Colorizer, DecodeOptions
from polychrome._model_files import INT8_ONNX_NAME, ONNX_NAME, read_config
from polychrome.export import export_onnx
from polychrome.models import create_model, save_pretrained
from polychrome.pipelines.backends import choose_backend, torch_needed


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny saved models: a regression and a classification one with model.onnx beside their weights, and a
    regression one without."""
    made = {}
    for name, export in (("effunet_tiny_reg", True), ("effunet_tiny_cls", True), ("unet_tiny_reg", False)):
        torch.manual_seed(0)
        model = create_model(name)
        folder = save_pretrained(model, tmp_path_factory.mktemp(name))
        if export:
            export_onnx(model, folder / ONNX_NAME, read_config(folder))
        made[name] = folder
    return made


def _auto(has_weights: bool = True, has_onnx: bool = True, **asked: object) -> str:
    return choose_backend("auto", Path("model"), has_weights=has_weights, has_onnx=has_onnx, **asked)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ({}, "onnx"),  # the CPU in fp32: ONNX Runtime, the faster there
        ({"device": "cpu", "precision": "torch.float32"}, "onnx"),
        ({"device": "cuda"}, "torch"),
        ({"device": "cuda:1"}, "torch"),
        ({"device": "mps"}, "torch"),
        ({"precision": "bf16-mixed"}, "torch"),
        ({"precision": "fp16-mixed"}, "torch"),
        ({"precision": "torch.bfloat16"}, "torch"),
        ({"decoding": True}, "torch"),
        ({"has_onnx": False}, "torch"),  # a training run's folder, say
        (
            {"has_onnx": True, "has_weights": False, "device": "cuda"},
            "onnx",
        ),  # only the ONNX file: refused there
        ({"precision": "int8"}, "onnx"),
    ],
)
def test_auto_takes_onnx_where_it_can_and_torch_where_it_is_needed(asked: dict, expected: str) -> None:
    assert _auto(**asked) == expected


def test_device_auto_takes_torch_only_where_it_finds_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _auto(device="auto") == "onnx" and torch_needed("auto") is None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert _auto(device="auto") == "torch" and torch_needed("auto") == "device 'auto' found a GPU"


def test_an_explicit_backend_is_kept() -> None:
    folder = Path("model")
    assert choose_backend("torch", folder, has_weights=True, has_onnx=True) == "torch"
    assert choose_backend("onnx", folder, has_weights=True, has_onnx=True, device="cuda") == "onnx"


def test_without_torch_auto_takes_onnx_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "torch_installed", lambda: False)
    assert _auto() == "onnx"
    assert _auto(precision="bf16-mixed") == "onnx"  # the ONNX backend then refuses it in its own words
    with pytest.raises(FileNotFoundError, match="no model.onnx for ONNX Runtime"):
        _auto(has_onnx=False)
    with pytest.raises(ValueError, match="pip install 'polychrome\\[torch\\]'"):
        choose_backend("torch", Path("model"), has_weights=True, has_onnx=True)


def test_from_pretrained_follows_the_rule(folders: dict[str, Path]) -> None:
    with_onnx, without_onnx = folders["effunet_tiny_reg"], folders["unet_tiny_reg"]
    assert Colorizer.from_pretrained(with_onnx).backend == "onnx"
    assert Colorizer.from_pretrained(with_onnx, device=torch.device("cpu")).backend == "onnx"
    assert Colorizer.from_pretrained(with_onnx, backend="torch").backend == "torch"
    assert Colorizer.from_pretrained(with_onnx, precision="bf16-mixed").backend == "torch"
    assert Colorizer.from_pretrained(without_onnx).backend == "torch"
    assert Colorizer.from_pretrained().backend == "onnx"  # the built-in model ships its model.onnx
    if not torch.cuda.is_available():  # PyTorch's own refusal: it was PyTorch that was chosen
        with pytest.raises(ValueError, match="sees no CUDA GPU"):
            Colorizer.from_pretrained(with_onnx, device="cuda")


def test_an_auto_colorizer_moves_to_torch_when_asked_for_a_precision_only_torch_runs(
    folders: dict[str, Path],
) -> None:
    photo = np.random.default_rng(0).integers(0, 256, (24, 40), dtype=np.uint8)
    colorizer = Colorizer.from_pretrained(folders["effunet_tiny_reg"])
    assert colorizer.to("cpu").backend == "onnx"

    colorizer.to(dtype="bf16-mixed")

    assert (colorizer.backend, colorizer.precision) == ("torch", "bf16-mixed")
    expected = Colorizer.from_pretrained(folders["effunet_tiny_reg"], backend="torch").to(dtype="bf16-mixed")
    np.testing.assert_array_equal(
        colorizer(photo, output_type="np").images[0], expected(photo, output_type="np").images[0]
    )
    explicit = Colorizer.from_pretrained(folders["effunet_tiny_reg"], backend="onnx")
    with pytest.raises(ValueError, match="runs in fp32"):
        explicit.to(dtype="bf16-mixed")


def test_an_auto_colorizer_moves_to_torch_for_decoding_options(folders: dict[str, Path]) -> None:
    photo = np.random.default_rng(0).integers(0, 256, (24, 40), dtype=np.uint8)
    decode = DecodeOptions(method="mode")
    colorizer = Colorizer.from_pretrained(folders["effunet_tiny_cls"])
    assert colorizer.backend == "onnx"
    colorizer(photo)  # the model's own decoding: still ONNX Runtime
    assert colorizer.backend == "onnx"

    decoded = colorizer(photo, output_type="np", decode=decode).images[0]

    assert colorizer.backend == "torch"
    on_torch = Colorizer.from_pretrained(folders["effunet_tiny_cls"], backend="torch")
    np.testing.assert_array_equal(decoded, on_torch(photo, output_type="np", decode=decode).images[0])
    explicit = Colorizer.from_pretrained(folders["effunet_tiny_cls"], backend="onnx")
    with pytest.raises(ValueError, match="decode options need backend='torch'"):
        explicit(photo, decode=decode)


def test_saving_weights_again_removes_the_onnx_files_made_from_the_old_ones(tmp_path: Path) -> None:
    model = create_model("effunet_tiny_reg")
    folder = save_pretrained(model, tmp_path / "model")
    export_onnx(model, folder / ONNX_NAME, read_config(folder))
    (folder / INT8_ONNX_NAME).write_bytes((folder / ONNX_NAME).read_bytes())
    assert Colorizer.from_pretrained(folder).backend == "onnx"

    save_pretrained(create_model("effunet_tiny_reg"), folder)  # training went on

    assert not (folder / ONNX_NAME).exists() and not (folder / INT8_ONNX_NAME).exists()
    assert Colorizer.from_pretrained(folder).backend == "torch"  # the new weights, not a stale export
