"""Decoding, filtering and cropping training images once, into a uint8 array."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from polychrome.data import prepare as prepare_module
from polychrome.data.prepare import (
    PrepareOptions,
    center_crop,
    mean_chroma,
    prepare_images,
    prepare_one,
    resize_shorter_side,
)
from polychrome.data.sources import Record, iter_records
from polychrome.resize import resize_for_render
from tests.test_images import _write_png_with_size


def _colorful(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth random color gradients, far from gray."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    channels = [
        np.sin(2 * np.pi * (rng.uniform(0.5, 1.5) * x + rng.uniform(0.5, 1.5) * y) + rng.uniform(0, 6.3))
        for _ in range(3)
    ]
    return np.clip(127.5 + 120 * np.stack(channels, axis=-1), 0, 255).astype(np.uint8)


def _encode(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def _uniform(color: tuple[int, int, int], size: int = 40) -> np.ndarray:
    return np.broadcast_to(np.array(color, np.uint8), (size, size, 3)).copy()


# --- resize and crop ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "target", "expected"),
    [
        ((200, 100), 50, (100, 50)),
        ((90, 300), 30, (30, 100)),
        ((64, 64), 32, (32, 32)),
        ((101, 77), 77, (101, 77)),
    ],
)
def test_resize_shorter_side_keeps_aspect_ratio(
    size: tuple[int, int], target: int, expected: tuple[int, int]
) -> None:
    resized = resize_shorter_side(Image.new("RGB", size), target)

    assert resized.size == expected
    assert min(resized.size) == target


def test_resize_shorter_side_never_squashes_an_extreme_aspect() -> None:
    resized = resize_shorter_side(Image.new("RGB", (1000, 10)), 32)

    assert resized.size == (3200, 32)


@pytest.mark.parametrize("enlarge", ["bilinear", "bicubic"])
def test_resize_shorter_side_can_enlarge_with_the_pipelines_filter(enlarge: str) -> None:
    photo = _colorful(20, 30)
    resized = resize_shorter_side(Image.fromarray(photo), 40, enlarge=enlarge)
    assert resized.size == (60, 40)
    pixels = torch.from_numpy(photo.astype(np.float32) / 255).permute(2, 0, 1)[None]
    expected = resize_for_render(pixels, (40, 60), enlarge)[0].permute(1, 2, 0).numpy() * 255
    np.testing.assert_allclose(np.asarray(resized, np.float32), expected, atol=0.5 + 1e-4)  # 8-bit rounding
    lanczos = np.asarray(resize_shorter_side(Image.fromarray(photo), 40), np.float32)
    assert np.abs(lanczos - np.asarray(resized, np.float32)).max() > 1  # the default is another filter


def test_resize_shorter_side_reduces_with_lanczos_whatever_the_enlargement() -> None:
    photo = Image.fromarray(_colorful(80, 120))
    assert np.array_equal(
        np.asarray(resize_shorter_side(photo, 40, enlarge="bicubic")),
        np.asarray(resize_shorter_side(photo, 40)),
    )


def test_prepare_options_refuse_an_unknown_enlargement() -> None:
    with pytest.raises(ValueError, match="enlarge must be lanczos, bilinear, bicubic; got 'nearest'"):
        PrepareOptions(enlarge="nearest")


def test_center_crop_takes_the_middle() -> None:
    array = np.zeros((10, 20, 3), np.uint8)
    array[3:7, 8:12] = 255
    cropped = center_crop(Image.fromarray(array), 4)

    assert cropped.size == (4, 4)
    assert np.all(np.asarray(cropped) == 255)


# --- bad input: the list, one file at a time -----------------------------------------------------


def _png16(rgb: np.ndarray) -> bytes:
    """A 16-bit RGB PNG written by hand (PIL cannot write one)."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


_BAD = {
    "truncated.jpg": (lambda: _encode(_colorful(48, 48), "JPEG")[:300], "unreadable", "cannot open"),
    "empty.jpg": (lambda: b"", "unreadable", "file is empty"),
    "text.jpg": (lambda: b"a text file, not a photo", "unreadable", "not an image"),
    "one_pixel.png": (lambda: _encode(_colorful(1, 1)), "too small", None),
    "gray16.png": (lambda: _encode(_colorful(32, 32)[..., 0].astype(np.uint16) * 257), "grayscale", None),
}


@pytest.mark.parametrize("name", sorted(_BAD))
def test_a_bad_file_is_skipped_with_its_reason(name: str, tmp_path: Path) -> None:
    make, reason, detail = _BAD[name]
    (tmp_path / name).write_bytes(make())

    prepared = prepare_images(iter_records([str(tmp_path)]), PrepareOptions(32, 16), workers=1)

    assert prepared.names == [] and dict(prepared.dropped) == {reason: 1}
    if detail is not None:
        [(failed, message)] = prepared.failures
        assert failed.endswith(name) and name in message and detail in message


def test_a_symlink_loop_is_counted_unreadable_and_named(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(_encode(_colorful(40, 40)))
    (tmp_path / "loop.jpg").symlink_to("loop.jpg")

    prepared = prepare_images(iter_records([str(tmp_path)]), PrepareOptions(32, 16), workers=1)

    assert prepared.names == [f"{tmp_path.name}/a.png"] and dict(prepared.dropped) == {"unreadable": 1}
    assert prepared.failures == [
        (f"{tmp_path.name}/loop.jpg", f"unreadable: {tmp_path}/loop.jpg: symlink loop")
    ]


def test_a_40000x40000_header_is_skipped_without_decoding(tmp_path: Path) -> None:
    _write_png_with_size(tmp_path / "huge.png", 40000, 40000)

    prepared = prepare_images(iter_records([str(tmp_path)]), PrepareOptions(32, 16), workers=1)

    assert dict(prepared.dropped) == {"unreadable": 1} and "40000x40000" in prepared.failures[0][1]


def _prepare_one_file(path: Path) -> np.ndarray:
    prepared = prepare_images([Record(path.name, path=str(path))], PrepareOptions(32, 16), workers=1)
    assert prepared.names == [path.name], prepared.summary()
    return prepared.images[0].astype(int)


def test_a_16_bit_color_png_is_kept_with_its_colors(tmp_path: Path) -> None:
    deep = _colorful(32, 32, seed=4).astype(np.uint16) * 257 + 100  # not a multiple of 257: 16 bits used
    (tmp_path / "deep.png").write_bytes(_png16(deep))

    expected = np.rint(deep / 257)
    assert np.abs(_prepare_one_file(tmp_path / "deep.png") - expected).max() <= 1


def test_a_cmyk_jpeg_is_kept_with_its_colors(tmp_path: Path) -> None:
    rgb = _colorful(32, 32, seed=5)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    assert Image.open(tmp_path / "cmyk.jpg").mode == "CMYK"

    assert np.abs(_prepare_one_file(tmp_path / "cmyk.jpg") - rgb).mean() < 1.0


def test_a_palette_png_with_transparency_is_kept_with_its_palette_colors(tmp_path: Path) -> None:
    palette = np.array([[0, 0, 0], [200, 30, 30], [30, 160, 60], [40, 60, 220]], np.uint8)
    index = (np.arange(32)[:, None] // 8 + np.arange(32)[None, :] // 8) % 4
    image = Image.fromarray(index.astype(np.uint8), mode="P")
    image.putpalette(palette.reshape(-1).tolist())
    image.save(tmp_path / "palette.png", transparency=0)
    assert Image.open(tmp_path / "palette.png").info["transparency"] == 0

    np.testing.assert_array_equal(_prepare_one_file(tmp_path / "palette.png"), palette[index])


# --- filters ------------------------------------------------------------------------------------------


def test_prepare_drops_and_counts_gray_small_and_unreadable(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        (folder / f"color{i}.png").write_bytes(_encode(_colorful(48, 60, seed=i)))
    gray = np.repeat(_colorful(48, 48)[:, :, :1], 3, axis=2)
    (folder / "gray.jpg").write_bytes(_encode(gray, "JPEG"))
    (folder / "small.png").write_bytes(_encode(_colorful(20, 60)))
    (folder / "text.jpg").write_text("definitely not a JPEG")
    jpeg = _encode(_colorful(48, 48, seed=9), "JPEG")
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])

    prepared = prepare_images(
        iter_records([str(folder)]), PrepareOptions(image_size=32, min_size=32), workers=1
    )

    assert prepared.names == ["photos/color0.png", "photos/color1.png", "photos/color2.png"]
    assert prepared.images.shape == (3, 32, 32, 3)
    assert prepared.images.dtype == np.uint8
    assert dict(prepared.dropped) == {"grayscale": 1, "too small": 1, "unreadable": 2}
    assert sorted(name for name, _ in prepared.failures) == ["photos/text.jpg", "photos/truncated.jpg"]
    for name, reason in prepared.failures:
        assert reason.startswith("unreadable") and name.rsplit("/", 1)[1] in reason
    assert prepared.summary() == "3 images kept, 1 grayscale, 1 too small, 2 unreadable"


def test_prepared_image_is_the_resized_center_crop(tmp_path: Path) -> None:
    array = _colorful(40, 80)
    expected = np.asarray(center_crop(resize_shorter_side(Image.fromarray(array), 20), 20))

    prepared = prepare_images(
        [Record("a.png", data=_encode(array))], PrepareOptions(image_size=20, min_size=16), workers=1
    )

    np.testing.assert_array_equal(prepared.images[0], expected)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_large_photo_is_prepared_from_a_reduced_decode_with_the_same_pixels(
    tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"big.{fmt.lower()}"
    path.write_bytes(_encode(_colorful(1800, 2400), fmt))
    options = PrepareOptions(image_size=64, min_size=16)
    full_size_floats = 2400 * 1800 * 3 * 4

    tracemalloc.start()
    try:
        _, prepared, reason = prepare_one(Record("big", path=str(path)), options)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert reason is None and peak < full_size_floats / 10
    full = np.asarray(center_crop(resize_shorter_side(Image.open(path).convert("RGB"), 64), 64))
    difference = np.abs(prepared.astype(int) - full.astype(int))
    assert difference.max() <= (2 if fmt == "JPEG" else 0) and difference.mean() < 0.5


def test_grayscale_threshold_keeps_faint_color_and_drops_near_gray() -> None:
    faint, near_gray = _uniform((131, 128, 125)), _uniform((130, 128, 126))
    assert 2.0 < mean_chroma(faint) < 2.3
    assert 1.0 < mean_chroma(near_gray) < 2.0
    records = [Record("faint.png", data=_encode(faint)), Record("near_gray.png", data=_encode(near_gray))]

    prepared = prepare_images(records, PrepareOptions(image_size=32, min_size=32), workers=1)

    assert prepared.names == ["faint.png"]
    assert dict(prepared.dropped) == {"grayscale": 1}
    assert prepared.failures == []  # only unreadable files are listed


def test_mean_chroma_of_gray_is_below_one() -> None:
    gray = np.repeat(_colorful(96, 96)[:, :, :1], 3, axis=2)
    gray_jpeg = np.asarray(Image.open(io.BytesIO(_encode(gray, "JPEG"))).convert("RGB"))

    assert mean_chroma(gray) < 0.01  # float32 rounding only
    assert mean_chroma(gray_jpeg) < 1.0
    assert mean_chroma(_colorful(96, 96)) > 10.0


def test_empty_input_gives_an_empty_array() -> None:
    prepared = prepare_images([], PrepareOptions(image_size=16, min_size=16), workers=1)

    assert prepared.images.shape == (0, 16, 16, 3) and prepared.names == []


def test_one_and_two_workers_give_identical_results(tmp_path: Path) -> None:
    records = [Record(f"{i:02d}.png", data=_encode(_colorful(40, 50, seed=i))) for i in range(7)]
    records.insert(3, Record("bad.jpg", data=b"garbage"))
    options = PrepareOptions(image_size=32, min_size=32)

    one = prepare_images(records, options, workers=1, chunk=3)
    two = prepare_images(records, options, workers=2, chunk=3)

    assert one.names == two.names == [f"{i:02d}.png" for i in range(7)]
    np.testing.assert_array_equal(one.images, two.images)
    assert one.dropped == two.dropped and one.failures == two.failures


class _DictStore:
    """A ChunkStore in memory that counts what it is asked for."""

    def __init__(self) -> None:
        self.chunks: dict[int, tuple[list[str], list]] = {}
        self.saved: list[int] = []

    def load(self, index: int, records: list[Record]) -> list | None:
        stored = self.chunks.get(index)
        return stored[1] if stored is not None and stored[0] == [r.name for r in records] else None

    def save(self, index: int, records: list[Record], results: list) -> None:
        self.chunks[index] = ([r.name for r in records], results)
        self.saved.append(index)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_store_keeps_every_chunk_and_stored_chunks_are_not_decoded_again(
    workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [Record(f"{i:02d}.png", data=_encode(_colorful(40, 50, seed=i))) for i in range(10)]
    records.insert(4, Record("bad.jpg", data=b"garbage"))
    options = PrepareOptions(image_size=32, min_size=32)
    store = _DictStore()

    first = prepare_images(records, options, workers=workers, chunk=3, store=store)
    assert sorted(store.saved) == [0, 1, 2, 3]

    del store.chunks[2]  # as if the run had been killed before this chunk was done
    store.saved.clear()
    calls = []

    def counted(record: Record, options: PrepareOptions) -> tuple:
        calls.append(record.name)
        return record.name, None, "x"

    monkeypatch.setattr(prepare_module, "prepare_one", counted)
    again = prepare_images(records, options, workers=1, chunk=3, store=store)

    assert store.saved == [2] and calls == [r.name for r in records[6:9]]
    assert again.names == [n for n in first.names if n not in calls]
    assert again.dropped == {"unreadable": 1, "x": 3}
