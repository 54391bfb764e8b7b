"""Quality scoring of a colorizer: the per-photo and the batched scorer agree, and both mean what they say."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data

from polychrome.color.lab import gray_rgb
from polychrome.evaluate.quality import evaluate_colorizer, evaluate_colorizer_batched
from polychrome.models import create_model
from polychrome.pipelines.image import Colorizer


@pytest.fixture(scope="module")
def photos() -> np.ndarray:
    """Six 64 px crops of scikit-image's color photos."""
    crops = []
    for name in ("astronaut", "coffee", "chelsea"):
        image = getattr(data, name)()
        crops += [image[40:168:2, 100:228:2], image[160:288:2, 200:328:2]]
    return np.stack(crops)


def test_batched_scores_equal_per_photo_scores(photos: np.ndarray) -> None:
    torch.manual_seed(0)
    colorizer = Colorizer(create_model("effunet_tiny_reg").eval())

    single = evaluate_colorizer(lambda rgb: colorizer.colorize_array(rgb, saturation=1.5), photos)
    batched = evaluate_colorizer_batched(
        lambda lightness: colorizer.colorize_lightness(lightness, saturation=1.5), photos, batch_size=4
    )

    assert len(batched.psnr) == len(photos)
    # The same computations, up to round-off (the photos are scaled up 4x to the render size on both paths).
    for key in ("psnr", "colorfulness", "psnr_gray", "colorfulness_truth", "ssim"):
        np.testing.assert_allclose(getattr(batched, key), getattr(single, key), rtol=1e-4)


def test_batched_scorer_scores_truth_and_gray_for_what_they_are(photos: np.ndarray) -> None:
    truth = torch.from_numpy(photos).permute(0, 3, 1, 2).float() / 255
    batches = iter(truth.split(4))
    perfect = evaluate_colorizer_batched(lambda lightness: next(batches), photos, batch_size=4).summary()
    gray = evaluate_colorizer_batched(gray_rgb, photos, batch_size=4).summary()

    assert perfect["psnr"] == 100 and perfect["colorfulness_gap"] < 1e-4
    assert gray["psnr_gain_over_gray"] == pytest.approx(0, abs=1e-4) and gray["colorfulness"] < 0.5
    assert gray["colorfulness_gap"] > 20  # scikit-image's photos are colorful
