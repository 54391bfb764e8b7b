"""Tiny photos, a tiny saved model and folders of "outputs" for the evaluation tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from polychrome.color.lab import gray_rgb, rgb_to_lightness
from polychrome.images import to_uint8
from polychrome.models import create_model, save_pretrained

SIZE = 32
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def small_photo(name: str, size: int = SIZE) -> np.ndarray:
    """A skimage sample photo as uint8 (size, size, 3): the centre square, resized."""
    photo = getattr(data, name)()
    h, w = photo.shape[:2]
    side = min(h, w)
    square = photo[(h - side) // 2 : (h - side) // 2 + side, (w - side) // 2 : (w - side) // 2 + side]
    return np.array(Image.fromarray(square).resize((size, size), Image.Resampling.LANCZOS))


def gray_copy(rgb: np.ndarray) -> np.ndarray:
    """What a colorizer that adds no color outputs: the photo's L with a = b = 0, as uint8."""
    tensor = torch.from_numpy(rgb).permute(2, 0, 1).float()[None] / 255
    return to_uint8(gray_rgb(rgb_to_lightness(tensor))[0].permute(1, 2, 0).numpy())


@pytest.fixture(scope="session")
def photos_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """photos/<name>.png, already at the evaluation size, so the protocol crop changes nothing."""
    root = tmp_path_factory.mktemp("data") / "photos"
    root.mkdir()
    for name in PHOTOS:
        Image.fromarray(small_photo(name)).save(root / f"{name}.png")
    return root


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return save_pretrained(create_model("effunet_tiny_reg").eval(), tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="session")
def truth_outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A "colorizer" that returns the originals (PNG, lossless), in a flat folder."""
    root = tmp_path_factory.mktemp("truth_outputs")
    for name in PHOTOS:
        Image.fromarray(small_photo(name)).save(root / f"{name}.png")
    return root


@pytest.fixture(scope="session")
def gray_outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A "colorizer" that adds no color, its outputs mirrored under photos/ as JPEG-free PNG."""
    root = tmp_path_factory.mktemp("gray_outputs")
    (root / "photos").mkdir()
    for name in PHOTOS:
        Image.fromarray(gray_copy(small_photo(name))).save(root / "photos" / f"{name}.png")
    return root
