"""The evaluation protocol: a colorizer's output is cropped exactly as the truth is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from polychrome.data.prepare import prepare_images
from polychrome.data.sources import iter_records
from polychrome.evaluate.protocol import protocol_crop, protocol_options, same_aspect


def test_protocol_crop_of_an_output_is_the_crop_of_the_truth(tmp_path: Path) -> None:
    photo = data.astronaut()[40:340, :]  # 300 x 512, landscape
    Image.fromarray(photo).save(tmp_path / "photo.png")
    prepared = prepare_images(iter_records([str(tmp_path)]), protocol_options(64), workers=1)
    assert prepared.images.shape == (1, 64, 64, 3)
    np.testing.assert_array_equal(protocol_crop(photo, 64), prepared.images[0])
    # Centre crop by hand: the resize keeps the aspect (300 x 512 -> 64 x 109), the crop the middle 64.
    resized = np.asarray(Image.fromarray(photo).resize((109, 64), Image.Resampling.LANCZOS, reducing_gap=3.0))
    np.testing.assert_array_equal(protocol_crop(photo, 64), resized[:, 22:86])


def test_gray_photos_are_left_out_unless_asked(tmp_path: Path) -> None:
    Image.fromarray(data.camera()[:100, :100]).convert("RGB").save(tmp_path / "gray.png")
    Image.fromarray(data.astronaut()[:100, :100]).save(tmp_path / "color.png")
    default = prepare_images(iter_records([str(tmp_path)]), protocol_options(32), workers=1)
    assert [Path(n).name for n in default.names] == ["color.png"] and default.dropped["grayscale"] == 1
    kept = prepare_images(iter_records([str(tmp_path)]), protocol_options(32, keep_gray=True), workers=1)
    assert sorted(Path(n).name for n in kept.names) == ["color.png", "gray.png"]


def test_same_aspect() -> None:
    assert same_aspect((512, 768), (256, 384))
    assert same_aspect((512, 768), (256, 385))  # rounding of a resize
    assert not same_aspect((512, 768), (256, 256))
    assert not same_aspect((512, 768), (768, 512))


def test_too_small_size_raises() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        protocol_options(8)
