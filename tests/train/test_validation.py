"""A run's validation: scored through the one scoring path, colored as `polychrome colorize` colors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from polychrome.color.lab import gray_rgb, rgb_to_lightness
from polychrome.evaluate.metrics import colorfulness, psnr, ssim
from polychrome.models import create_model
from polychrome.pipelines.image import Colorizer
from polychrome.train import validation
from polychrome.train.data import load_collections
from polychrome.train.validation import save_grid, validate
from tests.train.tiny import tiny_config


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("effunet_tiny_reg", pretrained_encoder=False, chroma_gain=1.3).eval()


def test_validation_scores_are_those_of_the_colorizer_at_val_size(photos: Path, model) -> None:
    config = tiny_config(photos, "model.name=effunet_tiny_reg", "data.0.val_size=24")
    collections = load_collections(config, torch.device("cpu"))
    model.train()

    metrics, _ = validate(model, collections, config)

    assert model.training  # left as it was found
    # By hand: each validation photo brought down to 24 px, colored as `polychrome colorize` colors it.
    truth = F.interpolate(collections[0].val.permute(0, 3, 1, 2).float() / 255, size=(24, 24), mode="area")
    gray = gray_rgb(rgb_to_lightness(truth))
    predicted = Colorizer(model)(gray, output_type="pt").images
    expected = {
        "psnr": psnr(predicted, truth).mean(),
        "psnr_gray": psnr(gray, truth).mean(),
        "ssim": ssim(predicted, truth).mean(),
        "colorfulness": colorfulness(predicted).mean(),
        "colorfulness_truth": colorfulness(truth).mean(),
    }
    for key, value in expected.items():
        assert metrics[f"val0/{key}"] == pytest.approx(float(value), abs=1e-4), key
        assert metrics[f"val/{key}"] == metrics[f"val0/{key}"]  # one collection: its mean is itself
    as_prepared = [replace(c, config=replace(c.config, val_size=None)) for c in collections]
    native, _ = validate(model, as_prepared, config)
    assert abs(native["val0/psnr"] - metrics["val0/psnr"]) > 0.01  # the 64 px photos: another measure


def test_two_collections_are_scored_apart_and_averaged(photos: Path, model) -> None:
    config = tiny_config(photos, "model.name=effunet_tiny_reg", "val_max_images=3")
    one = load_collections(config, torch.device("cpu"))
    two = [one[0], replace(one[0], val=one[0].val.flip(1))]  # the same photos, upside down

    metrics, _ = validate(model, two, config)

    assert metrics["val0/psnr"] != pytest.approx(metrics["val1/psnr"])
    assert metrics["val/psnr"] == pytest.approx((metrics["val0/psnr"] + metrics["val1/psnr"]) / 2)


@pytest.mark.parametrize(("enlarge", "pipeline_filter"), [("lanczos", "bilinear"), ("bicubic", "bicubic")])
def test_small_photos_are_enlarged_with_the_collections_filter(
    photos: Path, model, enlarge: str, pipeline_filter: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The validation photos reach the render size as the collection's photos were enlarged for training;
    # Lanczos is no filter of the pipeline, whose default (bilinear) stands in for it.
    used = []
    make = validation.validation_colorizer

    def spying(*args: object) -> Colorizer:
        colorizer = make(*args)
        used.append(colorizer.render.enlarge)
        return colorizer

    monkeypatch.setattr(validation, "validation_colorizer", spying)
    config = tiny_config(
        photos, "model.name=effunet_tiny_reg", "data.0.val_size=24", f"data.0.prepare.enlarge={enlarge}"
    )

    validate(model, load_collections(config, torch.device("cpu")), config)

    assert used == [pipeline_filter]


def test_grid_rows_are_gray_input_prediction_and_truth(photos: Path, model, tmp_path: Path) -> None:
    config = tiny_config(photos, "model.name=effunet_tiny_reg", "grid_images=3")
    collections = load_collections(config, torch.device("cpu"))

    _, evaluation = validate(model, collections, config)
    save_grid(evaluation, tmp_path / "grid.png")

    grid = np.asarray(Image.open(tmp_path / "grid.png")).astype(int)
    assert grid.shape == (3 * 64, 3 * 64, 3)
    for i, image in enumerate(collections[0].val[:3].numpy().astype(int)):
        gray, pred, truth = (grid[64 * i : 64 * (i + 1), 64 * j : 64 * (j + 1)] for j in range(3))
        np.testing.assert_array_equal(truth, image)
        assert (
            np.abs(gray[..., 0] - gray[..., 1]).max() <= 1 and np.abs(gray[..., 1] - gray[..., 2]).max() <= 1
        )
        assert np.abs(pred - gray).max() > 2  # the model's colors, not the gray input again
        lightness = [
            rgb_to_lightness(torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255) for x in (gray, pred)
        ]
        assert float((lightness[0] - lightness[1]).abs().max()) < 1.0  # both keep the photo's lightness
