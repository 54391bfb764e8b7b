"""The model that ships inside the package, on photos that scikit-image ships.

These need the real trained weights; they run in CI because the weights are part of the package.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from polychrome import Colorizer, builtin_models
from polychrome.color.lab import rgb_to_lab
from polychrome.evaluate.quality import evaluate_colorizer

pytestmark = pytest.mark.builtin_weights


@pytest.fixture(scope="module")
def colorizer() -> Colorizer:
    return Colorizer.from_pretrained()


def _photo(name: str, short_side: int = 128) -> np.ndarray:
    image = Image.fromarray(getattr(data, name)()).convert("RGB")
    scale = short_side / min(image.size)
    return np.asarray(image.resize((round(image.width * scale), round(image.height * scale))))


def test_the_default_model_ships_with_the_package() -> None:
    assert "effunet-lite0" in builtin_models()


@pytest.mark.parametrize("name", ["chelsea", "coffee", "astronaut"])
def test_colorizes_real_photos_better_than_gray_and_visibly_colored(colorizer: Colorizer, name: str) -> None:
    # Measured when the model shipped: gains of 1.95, 6.0 and 0.52 dB; colorfulness 10.3, 57.6 and 24.4
    # against the truth's 37.8, 76.2 and 72.0 (the cat comes out almost gray; the cup close to the truth).
    summary = evaluate_colorizer(colorizer.colorize_array, _photo(name)[None]).summary()
    assert summary["psnr_gain_over_gray"] > 0.5
    assert summary["colorfulness"] > 6.0  # a gray output scores 0, broken colors far more than the truth
    assert summary["colorfulness"] < summary["colorfulness_truth"]
    assert summary["ssim"] > summary["ssim_gray"]


def test_output_keeps_the_photos_lightness(colorizer: Colorizer) -> None:
    gray = np.repeat(np.asarray(Image.fromarray(_photo("coffee")).convert("L"))[..., None], 3, axis=2)
    out = np.asarray(colorizer(gray))
    lightness = [
        rgb_to_lab(torch.from_numpy(np.array(x)).permute(2, 0, 1).float() / 255)[0] for x in (gray, out)
    ]
    assert (lightness[0] - lightness[1]).abs().max() < 0.6  # 8-bit rounding of the output only


def test_a_small_slice_of_output_is_unchanged(colorizer: Colorizer) -> None:
    """Guards the shipped weights and the whole pipeline against silent changes."""
    gray = Image.fromarray(data.chelsea()).convert("L").convert("RGB").resize((64, 48))
    out = colorizer.colorize_array(np.asarray(gray).astype(np.float32) / 255)
    expected_row = [[0.4211, 0.3865, 0.3569], [0.6338, 0.6087, 0.5747], [0.6382, 0.6128, 0.5747]]
    np.testing.assert_allclose(out[20, 30:33], expected_row, atol=5e-3)
    np.testing.assert_allclose(out[40, 10], [0.6230, 0.6146, 0.6047], atol=5e-3)
