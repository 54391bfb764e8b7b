"""The evaluation protocols: named, applied alike to truths and outputs, streamed in batches of one size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from polychrome.data.prepare import prepare_images
from polychrome.data.sources import iter_records
from polychrome.evaluate.protocol import PROTOCOLS, PhotoStream, get_protocol, same_aspect, tensor_batches


def test_named_protocols() -> None:
    assert get_protocol("val5k").size == 256 and get_protocol("native").size is None
    assert get_protocol("224") == get_protocol(224) and get_protocol(224).size == 224
    assert get_protocol(PROTOCOLS["val5k"]) is PROTOCOLS["val5k"]
    assert "centre crop 256x256" in get_protocol("val5k").describe()
    assert "own size" in get_protocol("native").describe()
    with pytest.raises(ValueError, match="unknown protocol 'val10k'"):
        get_protocol("val10k")
    with pytest.raises(ValueError, match="at least 16"):
        get_protocol(8)


def test_the_crop_of_an_output_is_the_crop_of_the_truth(tmp_path: Path) -> None:
    photo = data.astronaut()[40:340, :]  # 300 x 512, landscape
    Image.fromarray(photo).save(tmp_path / "photo.png")
    protocol = get_protocol(64)
    prepared = prepare_images(iter_records([str(tmp_path)]), protocol.prepare_options(), workers=1)
    assert prepared.images.shape == (1, 64, 64, 3)
    np.testing.assert_array_equal(protocol.crop(photo), prepared.images[0])
    # Centre crop by hand: the resize keeps the aspect (300 x 512 -> 64 x 109), the crop the middle 64.
    resized = np.asarray(Image.fromarray(photo).resize((109, 64), Image.Resampling.LANCZOS, reducing_gap=3.0))
    np.testing.assert_array_equal(protocol.crop(photo), resized[:, 22:86])
    np.testing.assert_array_equal(get_protocol("native").crop(photo), photo)


def test_gray_photos_are_left_out_unless_asked(tmp_path: Path) -> None:
    Image.fromarray(data.camera()[:100, :100]).convert("RGB").save(tmp_path / "gray.png")
    Image.fromarray(data.astronaut()[:100, :100]).save(tmp_path / "color.png")
    protocol = get_protocol(32)
    default = prepare_images(iter_records([str(tmp_path)]), protocol.prepare_options(), workers=1)
    assert [Path(n).name for n in default.names] == ["color.png"] and default.dropped["grayscale"] == 1
    with_gray = protocol.prepare_options(keep_gray=True)
    kept = prepare_images(iter_records([str(tmp_path)]), with_gray, workers=1)
    assert sorted(Path(n).name for n in kept.names) == ["color.png", "gray.png"]


def test_native_streams_each_photo_at_its_own_size_in_batches_of_one_size(tmp_path: Path) -> None:
    sizes = {"a": (40, 60), "b": (50, 50), "c": (40, 60), "d": (40, 60), "e": (50, 50)}
    photo = data.astronaut()
    for name, (h, w) in sizes.items():
        Image.fromarray(photo[:h, :w]).save(tmp_path / f"{name}.png")
    (tmp_path / "f.png").write_bytes(b"not a png")

    stream = PhotoStream([str(tmp_path)], get_protocol("native"), batch_size=2, workers=1)
    batches = list(stream)

    shapes = [(tuple(b.truth.shape), [Path(n).stem for n in b.names]) for b in batches]
    # a and c fill a batch as soon as c is read; b and e then; d, alone of its size, comes at the end.
    assert shapes == [((2, 3, 40, 60), ["a", "c"]), ((2, 3, 50, 50), ["b", "e"]), ((1, 3, 40, 60), ["d"])]
    for batch in batches:
        for name, truth, lightness in zip(batch.names, batch.truth, batch.lightness, strict=True):
            h, w = sizes[Path(name).stem]
            np.testing.assert_array_equal(
                (truth * 255).round().byte().permute(1, 2, 0).numpy(), photo[:h, :w]
            )
            assert lightness.shape == (1, h, w)
        assert [r.name for r in batch.records] == batch.names
    assert stream.dropped["unreadable"] == 1 and "f.png" in stream.failures[0][0]
    assert [
        Path(n).stem
        for b in PhotoStream([str(tmp_path)], get_protocol("native"), limit=2, workers=1)
        for n in b.names
    ] == ["a", "b"]


def test_tensor_batches_bring_square_photos_to_the_protocol_size() -> None:
    photos = torch.from_numpy(np.stack([data.astronaut()[:64, :64], data.coffee()[:64, :64]]))

    native = list(tensor_batches(photos, get_protocol("native"), batch_size=1))
    smaller = list(tensor_batches(photos, get_protocol(32), batch_size=4))

    assert [b.truth.shape for b in native] == [(1, 3, 64, 64)] * 2 and native[1].names == ["photo1"]
    torch.testing.assert_close(native[0].truth[0], photos[0].permute(2, 0, 1).float() / 255)
    assert smaller[0].truth.shape == (2, 3, 32, 32) and smaller[0].records is None
    expected = torch.nn.functional.avg_pool2d(photos.permute(0, 3, 1, 2).float() / 255, 2)
    torch.testing.assert_close(smaller[0].truth, expected)


def test_same_aspect() -> None:
    assert same_aspect((512, 768), (256, 384))
    assert same_aspect((512, 768), (256, 385))  # rounding of a resize
    assert not same_aspect((512, 768), (256, 256))
    assert not same_aspect((512, 768), (768, 512))
