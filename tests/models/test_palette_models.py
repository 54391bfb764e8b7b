"""Classification models over the colors of a K-means palette instead of the ab grid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from polychrome.color.palette import save_palette
from polychrome.models import create_model, load_pretrained, save_pretrained

CLASSIFIERS = ["effunet_tiny_cls", "zhang2016_tiny_cls"]
PALETTE = torch.tensor(
    [[-40.5, 30.25], [20.0, -50.0], [45.5, 50.0], [0.125, 0.0], [-10.0, -30.0], [60.0, 5.0]]
)


@pytest.fixture
def palette_file(tmp_path: Path) -> Path:
    return save_palette(tmp_path / "palette.json", PALETTE, seed=0)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_a_palette_file_sets_the_classes(name: str, palette_file: Path) -> None:
    model = create_model(name, palette=palette_file).eval()
    with torch.no_grad():
        logits = model(torch.rand(1, 1, 32, 32) * 100)

    assert torch.equal(model.ab_centers, PALETTE)
    assert logits.shape[1] == 6 and model.init_args["num_bins"] == 6
    assert model.init_args["palette"] == PALETTE.tolist()  # the pairs, not the path: the file may go away


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_a_palette_model_saves_and_loads_without_its_file(
    name: str, palette_file: Path, tmp_path: Path
) -> None:
    torch.manual_seed(2)
    model = create_model(name, palette=palette_file).eval()
    lightness = torch.rand(2, 1, 64, 32, generator=torch.Generator().manual_seed(3)) * 100
    with torch.no_grad():
        expected = model.predict_ab(lightness)

    directory = save_pretrained(model, tmp_path / "saved")
    palette_file.unlink()
    loaded = load_pretrained(directory)
    with torch.no_grad():
        actual = loaded.predict_ab(lightness)

    assert json.loads((directory / "config.json").read_text())["init_args"]["palette"] == PALETTE.tolist()
    assert torch.equal(loaded.ab_centers, PALETTE)
    assert torch.equal(actual, expected)


def test_palette_arguments_that_cannot_work_raise() -> None:
    with pytest.raises(ValueError, match="classification head"):
        create_model("effunet_tiny_reg", palette=PALETTE.tolist())
    with pytest.raises(ValueError, match="num_bins is 5 but the palette has 6"):
        create_model("zhang2016_tiny_cls", palette=PALETTE.tolist(), num_bins=5)
    with pytest.raises(FileNotFoundError, match="polychrome palette"):
        create_model("zhang2016_tiny_cls", palette="no_such_palette.json")
