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
from polychrome.evaluate.candidates import NetworkCandidate
from polychrome.evaluate.protocol import get_protocol, tensor_batches
from polychrome.evaluate.scoring import score_colorizers

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
    # Measured when the model shipped: gains of 3.33, 3.95 and 3.95 dB; colorfulness 14.5,
    # 48.5 and 43.7 against the truth's 37.8, 76.2 and 72.0 (the cat comes out muted).
    native = get_protocol("native")
    photos = tensor_batches(torch.from_numpy(_photo(name).copy()[None]), native)
    rows = score_colorizers([NetworkCandidate("model", colorizer)], photos, native).summary()
    model, gray, truth = rows["model"], rows["gray"], rows["truth"]
    assert model["psnr_gain"] > 0.5
    assert model["colorfulness"] > 6.0  # a gray output scores 0, broken colors far more than the truth
    assert model["colorfulness"] < truth["colorfulness"]
    assert model["ssim"] > gray["ssim"]


def test_output_keeps_the_photos_lightness(colorizer: Colorizer) -> None:
    gray = np.repeat(np.asarray(Image.fromarray(_photo("coffee")).convert("L"))[..., None], 3, axis=2)
    out = np.asarray(colorizer(gray).images[0])
    lightness = [
        rgb_to_lab(torch.from_numpy(np.array(x)).permute(2, 0, 1).float() / 255)[0] for x in (gray, out)
    ]
    assert (lightness[0] - lightness[1]).abs().max() < 0.6  # 8-bit rounding of the output only


def test_a_small_slice_of_output_is_unchanged(colorizer: Colorizer) -> None:
    """Guards the shipped weights and the whole pipeline against silent changes."""
    gray = Image.fromarray(data.chelsea()).convert("L").convert("RGB").resize((64, 48))
    out = colorizer(np.asarray(gray), output_type="np").images[0]
    expected_row = [[0.4235, 0.3864, 0.3486], [0.6433, 0.6071, 0.5591], [0.6532, 0.6102, 0.5500]]
    np.testing.assert_allclose(out[20, 30:33], expected_row, atol=5e-3)
    np.testing.assert_allclose(out[40, 10], [0.6258, 0.6135, 0.6069], atol=5e-3)


def test_the_shipped_calibration_is_read_with_the_model(colorizer: Colorizer) -> None:
    # Chosen on the own split for photos at their own scale (Imagenette, enlarged 8/7) and for 64 px photos
    # enlarged 4x (Tiny-ImageNet); the network's own chroma_gain is 1.0.
    assert colorizer.model.chroma_gain == 1.0
    assert colorizer.render.enlarge == "bilinear"
    assert colorizer.render.chroma_factor(0.5) == pytest.approx(1.15)
    assert colorizer.render.chroma_factor(4.0) == pytest.approx(1.05)
