from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.train.tiny import NUM_IMAGES, colorful


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of NUM_IMAGES colorful 80 px JPEGs."""
    folder = tmp_path_factory.mktemp("photos")
    for i in range(NUM_IMAGES):
        Image.fromarray(colorful(i)).save(folder / f"{i:03d}.jpg", quality=90)
    return folder
