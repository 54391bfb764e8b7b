"""A hint-conditioned model in the colorizer and the CLI: the network takes the hints (no spreading), the
hint map lands where the hint points at the render size, and the ONNX export refuses such a model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import polychrome.pipelines.image as image_pipeline
from polychrome.cli import app
from polychrome.export import export_onnx
from polychrome.models import create_model, save_pretrained
from polychrome.pipelines.hints import Hint, hint_ab
from polychrome.pipelines.image import Colorizer


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


def test_colorize_hint_works_with_a_hint_model_folder_and_export_refuses_it(tmp_path: Path) -> None:
    folder = save_pretrained(_hint_model(branch=0.2), tmp_path / "hint-model")
    photo = tmp_path / "photo.png"
    Image.fromarray((_photo() * 255).astype(np.uint8)).save(photo)
    runner = CliRunner()

    done = runner.invoke(
        app,
        [
            "colorize",
            str(photo),
            "-o",
            str(tmp_path / "out.png"),
            "--model",
            str(folder),
            "--hint",
            "10,20=#c01010",
        ],
    )
    assert done.exit_code == 0, done.output
    assert Image.open(tmp_path / "out.png").size == (80, 48)

    refused = runner.invoke(app, ["export", str(folder), "-o", str(tmp_path / "model.onnx")])
    assert refused.exit_code == 1 and "takes color hints" in refused.output
    assert len(refused.output.strip().splitlines()) == 1 and not (tmp_path / "model.onnx").exists()
    with pytest.raises(ValueError, match="takes color hints"):
        export_onnx(_hint_model(), tmp_path / "other.onnx", {})
