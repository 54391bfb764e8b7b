"""Tests for polychrome.images: every PIL mode, damaged files, the pixel limit and atomic saving."""

import logging
import pickle
import struct
import tracemalloc
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage.color import lab2rgb

from polychrome.images import (
    SUPPORTED_EXTENSIONS,
    ImageReadError,
    LoadedImage,
    PhotoMetadata,
    load_image,
    save_image,
    tensor_to_uint8,
    to_uint8,
    to_uint16,
)

U8 = np.float32(255.0)
U16 = np.float32(65535.0)


def _palette_image(transparency: int | None) -> Image.Image:
    img = Image.new("P", (3, 1))
    img.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0])
    img.putdata([0, 1, 2])
    if transparency is not None:
        img.info["transparency"] = transparency
    return img


def _cmyk_expected(c: int, m: int, y: int, k: int) -> list[float]:
    # Naive (profile-free) CMYK: each channel is (1 - ink) * (1 - black).
    return [(1 - c / 255) * (1 - k / 255) for c in (c, m, y)]


def _ycbcr_expected(y: float, cb: float, cr: float) -> list[float]:
    # JFIF full-range YCbCr -> RGB, written out independently of PIL.
    r = y + 1.402 * (cr - 128)
    g = y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128)
    b = y + 1.772 * (cb - 128)
    return [r / 255, g / 255, b / 255]


def _write_png_with_size(path: Path, width: int, height: int) -> None:
    """A valid 1x1 PNG whose IHDR is patched (with a correct CRC) to claim width x height."""
    Image.new("RGB", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))


# --- modes -------------------------------------------------------------------------------------------


def test_mode_1():
    img = Image.new("1", (2, 1))
    img.putdata([0, 255])
    out = load_image(img)
    np.testing.assert_array_equal(out.rgb[0, :, 0], [0.0, 1.0])
    assert out.mode == "1" and out.bit_depth == 8 and out.alpha is None


def test_mode_L_replicates_gray():
    img = Image.new("L", (3, 1))
    img.putdata([0, 128, 255])
    out = load_image(img)
    assert out.rgb.shape == (1, 3, 3) and out.rgb.dtype == np.float32
    np.testing.assert_array_equal(out.rgb[0], np.repeat(np.array([[0, 128, 255]], np.float32).T / U8, 3, 1))


def test_mode_LA_keeps_alpha():
    out = load_image(Image.new("LA", (2, 2), (10, 200)))
    np.testing.assert_allclose(out.rgb, 10 / 255, atol=1e-7)
    np.testing.assert_allclose(out.alpha, 200 / 255, atol=1e-7)
    assert out.alpha.shape == (2, 2) and out.alpha.dtype == np.float32


def test_mode_P_without_transparency():
    out = load_image(_palette_image(None))
    np.testing.assert_array_equal(out.rgb[0], [[0, 0, 0], [1, 0, 0], [0, 1, 0]])
    assert out.alpha is None and out.mode == "P"


def test_mode_P_with_transparency_yields_alpha(tmp_path):
    path = tmp_path / "pal.png"
    _palette_image(transparency=0).save(path)
    for source in (_palette_image(transparency=0), path):
        out = load_image(source)
        np.testing.assert_array_equal(out.alpha[0], [0.0, 1.0, 1.0])
        np.testing.assert_array_equal(out.rgb[0, 1], [1, 0, 0])


def test_mode_RGB_and_RGBA():
    out = load_image(Image.new("RGB", (2, 1), (255, 51, 0)))
    np.testing.assert_allclose(out.rgb[0, 0], [1.0, 0.2, 0.0], atol=1e-7)
    out = load_image(Image.new("RGBA", (2, 1), (0, 0, 255, 51)))
    np.testing.assert_allclose(out.rgb[0, 0], [0, 0, 1], atol=1e-7)
    np.testing.assert_allclose(out.alpha, 0.2, atol=1e-7)


@pytest.mark.parametrize("cmyk", [(0, 255, 255, 0), (51, 102, 153, 64), (0, 0, 0, 255), (0, 0, 0, 0)])
def test_mode_CMYK(tmp_path, cmyk):
    path = tmp_path / "cmyk.tif"
    Image.new("CMYK", (2, 2), cmyk).save(path)
    out = load_image(path)
    assert out.mode == "CMYK"
    np.testing.assert_allclose(out.rgb[0, 0], _cmyk_expected(*cmyk), atol=1 / 255)


@pytest.mark.parametrize("mode", ["I;16", "I;16B"])
def test_16bit_gray_modes_are_not_reduced_to_8_bits(mode):
    fmt = ">HHH" if mode == "I;16B" else "<HHH"
    img = Image.frombytes(mode, (3, 1), struct.pack(fmt, 0, 1000, 65535))
    out = load_image(img)
    expected = np.array([0, 1000, 65535], np.float32) / U16
    np.testing.assert_array_equal(out.rgb[0, :, 0], expected)
    assert out.bit_depth == 16 and out.mode == mode


def test_16bit_png_keeps_exact_values(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.array([[1000, 1001, 65535]], np.uint16)).save(path)
    out = load_image(path)
    np.testing.assert_array_equal(out.rgb[0, :, 1], np.array([1000, 1001, 65535], np.float32) / U16)
    assert out.rgb[0, 0, 0] != out.rgb[0, 1, 0]  # one 16-bit level apart: lost if reduced to 8 bits
    assert out.bit_depth == 16


def _color_gradient16() -> np.ndarray:
    """(3, 4, 3) uint16 RGB whose neighbours differ by 257 levels (one 8-bit level) and by 1 level."""
    base = np.array([[0, 257, 514, 65535], [1000, 1001, 1002, 40000], [7, 264, 521, 65279]], np.uint16)
    return np.stack([base, base[::-1], 65535 - base], axis=-1)


def _write16(path: Path, rgb: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., [2, 1, 0, 3][: rgb.shape[2]]]))  # BGR(A)
    return path


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_color_files_keep_every_level(tmp_path, suffix):
    rgb = _color_gradient16()
    out = load_image(_write16(tmp_path / f"deep{suffix}", rgb))
    np.testing.assert_array_equal(out.rgb, rgb.astype(np.float32) / U16)
    assert out.rgb[1, 0, 0] != out.rgb[1, 1, 0]  # 1000 and 1001: one 16-bit level, lost at 8 bits
    assert out.rgb[0, 1, 0] - out.rgb[0, 0, 0] == pytest.approx(1 / 255, rel=1e-6)
    assert out.bit_depth == 16 and out.mode == "RGB" and out.alpha is None


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_rgba_files_keep_their_alpha(tmp_path, suffix):
    rgba = np.dstack([_color_gradient16(), _color_gradient16()[..., :1][::-1]])
    out = load_image(_write16(tmp_path / f"deep{suffix}", rgba))
    np.testing.assert_array_equal(out.rgb, rgba[..., :3].astype(np.float32) / U16)
    np.testing.assert_array_equal(out.alpha, rgba[..., 3].astype(np.float32) / U16)
    assert out.bit_depth == 16 and out.mode == "RGBA"


def _with_orientation(png: bytes, orientation: int) -> bytes:
    """``png`` with an eXIf chunk after its IHDR that gives this EXIF orientation."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = exif.tobytes()[len(b"Exif\0\0") :]  # the chunk holds the TIFF block without that marker
    chunk = struct.pack(">I", len(data)) + b"eXIf" + data + struct.pack(">I", zlib.crc32(b"eXIf" + data))
    return png[:33] + chunk + png[33:]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_16bit_color_png_is_turned_upright_as_pil_turns_8_bit_ones(tmp_path, orientation):
    rng = np.random.default_rng(orientation)
    eight = rng.integers(0, 256, (3, 5, 3), dtype=np.uint8)
    wide = _write16(tmp_path / "deep.png", eight.astype(np.uint16) * 257)
    wide.write_bytes(_with_orientation(wide.read_bytes(), orientation))
    narrow = tmp_path / "narrow.png"
    Image.fromarray(eight).save(narrow, exif=_with_orientation_exif(orientation))

    deep, shallow = load_image(wide), load_image(narrow)

    assert deep.bit_depth == 16 and shallow.bit_depth == 8
    np.testing.assert_allclose(deep.rgb, shallow.rgb, atol=1e-7)
    assert deep.metadata is not None and deep.metadata.exif is not None  # kept, orientation reset


def _with_orientation_exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def test_a_truncated_16bit_color_png_is_a_read_error(tmp_path):
    path = _write16(tmp_path / "deep.png", np.tile(_color_gradient16(), (20, 20, 1)))
    path.write_bytes(path.read_bytes()[:-40])
    _assert_read_error(path, "truncated or corrupt image data")


def test_mode_I_uses_16bit_range_and_clips(caplog):
    with caplog.at_level(logging.WARNING, logger="polychrome.images"):
        out = load_image(Image.fromarray(np.array([[1000, 70000, -5]], np.int32)))
    assert out.mode == "I"
    np.testing.assert_array_equal(out.rgb[0, :, 0], np.array([1000, 65535, 0], np.float32) / U16)
    assert "outside 0..65535 (16-bit levels) were clipped" in caplog.text


_LEVELS = np.array([[0, 40, 128, 255], [1, 2, 200, 254]], np.uint8)


def test_a_32bit_tiff_of_8bit_levels_is_read_as_8bit_with_a_warning(tmp_path, caplog):
    # PIL's convert('I') keeps 0..255: read as 0..65535 the photo came out almost black, without a word.
    path = tmp_path / "scan.tif"
    Image.fromarray(_LEVELS).convert("I").save(path)
    assert Image.open(path).mode == "I"
    with caplog.at_level(logging.WARNING, logger="polychrome.images"):
        out = load_image(path)
        as_bytes = load_image(path, keep_8bit=True)
    np.testing.assert_array_equal(out.rgb[:, :, 1], _LEVELS / np.float32(255))
    np.testing.assert_array_equal(as_bytes.rgb[:, :, 1], _LEVELS)
    assert out.bit_depth == 8 and out.mode == "I"
    assert (
        caplog.messages
        == [f"{path}: 32-bit integer image with values in 0..255 only; read as 8-bit levels, not 16-bit"] * 2
    )


def test_a_32bit_tiff_of_16bit_levels_keeps_the_16bit_range_quietly(tmp_path, caplog):
    path = tmp_path / "deep.tif"
    levels = np.array([[0, 256, 40000, 65535]], np.int32)
    Image.fromarray(levels).save(path)
    with caplog.at_level(logging.WARNING, logger="polychrome.images"):
        out = load_image(path)
    np.testing.assert_array_equal(out.rgb[0, :, 0], levels[0].astype(np.float32) / U16)
    assert out.bit_depth == 16 and caplog.messages == []


def test_a_float_tiff_of_8bit_levels_is_divided_by_255_with_a_warning(tmp_path, caplog):
    # Clipped to 0..1 instead, every level but black came out white.
    path = tmp_path / "scan.tif"
    Image.fromarray(_LEVELS).convert("F").save(path)
    with caplog.at_level(logging.WARNING, logger="polychrome.images"):
        out = load_image(path)
    np.testing.assert_allclose(out.rgb[:, :, 0], _LEVELS / 255, atol=1e-7)
    assert caplog.messages == [
        f"{path}: float image values lie in 0..255, not 0..1; read as 8-bit levels (divided by 255)"
    ]


@pytest.mark.parametrize("values", [[0.0, 300.0], [0.5, 1.5], [-1.0, 0.5], [0.5, float("nan")]])
def test_float_values_beyond_8bit_levels_are_still_clipped_with_a_warning(values, caplog):
    with caplog.at_level(logging.WARNING, logger="polychrome.images"):
        out = load_image(Image.fromarray(np.array([values], np.float32)))
    assert out.rgb.min() >= 0 and out.rgb.max() <= 1
    assert "float image values outside [0, 1] were clipped" in caplog.text


def test_mode_F():
    out = load_image(Image.fromarray(np.array([[0.25, 0.75]], np.float32)))
    np.testing.assert_array_equal(out.rgb[0, :, 2], [0.25, 0.75])
    assert out.mode == "F" and out.bit_depth == 16


def test_mode_YCbCr():
    out = load_image(Image.new("YCbCr", (1, 1), (100, 150, 90)))
    np.testing.assert_allclose(out.rgb[0, 0], _ycbcr_expected(100, 150, 90), atol=1.5 / 255)


def test_mode_LAB_matches_skimage():
    # PIL's LAB stores L* scaled to 0..255 and a*, b* offset by 128.
    out = load_image(Image.new("LAB", (1, 1), (128, 148, 108)))
    expected = lab2rgb(np.array([[[128 / 255 * 100, 20.0, -20.0]]]))[0, 0]
    np.testing.assert_allclose(out.rgb[0, 0], expected, atol=3 / 255)


def test_exif_rotated_jpeg_comes_back_upright(tmp_path):
    pixels = np.zeros((16, 32, 3), np.uint8)
    pixels[:, :16] = (255, 0, 0)  # left half red, right half blue
    pixels[:, 16:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": the left edge becomes the top
    path = tmp_path / "rotated.jpg"
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    out = load_image(path)
    assert out.size == (16, 32) and out.rgb.shape == (32, 16, 3)
    np.testing.assert_allclose(out.rgb[4, 8], [1, 0, 0], atol=0.05)
    np.testing.assert_allclose(out.rgb[28, 8], [0, 0, 1], atol=0.05)
    assert out.source == str(path)


# --- numpy inputs ------------------------------------------------------------------------------------


def test_numpy_inputs_follow_dtype_rules():
    out = load_image(np.array([[0, 255]], np.uint8))
    assert out.mode == "L" and out.bit_depth == 8 and out.source is None
    np.testing.assert_array_equal(out.rgb[0, 1], [1, 1, 1])

    rgb16 = np.full((2, 2, 3), 1000, np.uint16)
    out = load_image(rgb16)
    assert out.bit_depth == 16
    np.testing.assert_array_equal(out.rgb, np.float32(1000) / U16)

    rgba = np.random.default_rng(0).random((3, 4, 4))
    out = load_image(rgba)
    assert out.size == (4, 3) and out.mode == "RGBA" and out.rgb.dtype == np.float32
    np.testing.assert_allclose(out.alpha, rgba[..., 3], rtol=1e-6)


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((4, 4), np.int32),
        np.zeros((4, 4, 2), np.uint8),
        np.zeros((4,), np.uint8),
        np.zeros((0, 4, 3), np.uint8),
        np.full((2, 2, 3), 1.5, np.float32),
        np.full((2, 2), -0.1),
        np.full((2, 2), np.nan),
    ],
)
def test_numpy_bad_inputs_raise_value_error(array):
    with pytest.raises(ValueError):
        load_image(array)


# --- damaged and hostile files -----------------------------------------------------------------------


def _assert_read_error(source, reason_fragment: str, **kwargs) -> ImageReadError:
    with pytest.raises(ImageReadError) as info:
        load_image(source, **kwargs)
    message = str(info.value)
    assert Path(source).name in message
    assert reason_fragment in message
    assert "\n" not in message
    return info.value


def test_missing_file(tmp_path):
    _assert_read_error(tmp_path / "nope.jpg", "no such file")


def test_directory(tmp_path):
    (tmp_path / "album.jpg").mkdir()
    _assert_read_error(tmp_path / "album.jpg", "directory")


def test_symlink_loop(tmp_path):
    (tmp_path / "loop.jpg").symlink_to("loop.jpg")
    _assert_read_error(tmp_path / "loop.jpg", "loop.jpg: symlink loop")


def test_zero_byte_file(tmp_path):
    (tmp_path / "x.jpg").write_bytes(b"")
    _assert_read_error(tmp_path / "x.jpg", "file is empty")


def test_text_file_named_jpg(tmp_path):
    (tmp_path / "old.jpg").write_text("this is not a photo\n")
    _assert_read_error(tmp_path / "old.jpg", "not an image (cannot identify image file)")


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_truncated_file(tmp_path, suffix):
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    path = tmp_path / f"scan{suffix}"
    Image.fromarray(noise).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _assert_read_error(path, "truncated or corrupt image data")


def test_max_pixels_limit(tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGB", (20, 10)).save(path)
    err = _assert_read_error(path, "image is 20x10 (0.0 MP), over the 0.0001 MP limit", max_pixels=100)
    assert err.reason.startswith("image is 20x10")
    assert str(pickle.loads(pickle.dumps(err))) == str(err)  # survives multiprocessing
    assert load_image(path, max_pixels=200).size == (20, 10)
    with pytest.raises(ImageReadError, match="over the"):
        load_image(Image.new("L", (20, 10)), max_pixels=100)


def test_huge_header_refused_fast_without_allocating(tmp_path):
    path = tmp_path / "big.png"
    _write_png_with_size(path, 40000, 40000)
    tracemalloc.start()
    try:
        _assert_read_error(path, "image is 40000x40000 (1600.0 MP), over the 200 MP limit")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000  # decoding would need 4.8 GB


def _photo(width: int, height: int) -> Image.Image:
    """A smooth color photo of this size (a JPEG of it decodes far from gray and without blocks)."""
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    channels = [np.sin(2 * np.pi * (f * x + g * y)) for f, g in ((1.3, 0.7), (0.6, 1.9), (2.1, 1.1))]
    return Image.fromarray((127.5 + 120 * np.stack(channels, axis=-1)).astype(np.uint8))


@pytest.mark.parametrize(("suffix", "reduction"), [(".jpg", 4), (".png", 5)])
def test_a_large_photo_for_a_small_target_is_decoded_reduced(tmp_path, suffix, reduction):
    path = tmp_path / f"big{suffix}"
    _photo(2400, 1600).save(path)

    small = load_image(path, target_shorter_side=100)  # kept at least 3 x 100 on its shorter side
    full = load_image(path)

    # A JPEG is drafted at 1/4 (1/8 would leave 200 rows); a PNG averaged over 5 x 5 blocks (1600 // 300).
    assert small.size == (2400 // reduction, 1600 // reduction) and min(small.size) >= 300
    assert small.extent == pytest.approx((2400 / reduction, 1600 / reduction))
    assert full.size == (2400, 1600) and full.extent is None
    assert load_image(path, target_shorter_side=600).extent is None  # not large for this target


def test_a_reduced_decode_never_holds_the_photo_as_full_size_floats(tmp_path):
    path = tmp_path / "big.jpg"
    _photo(2400, 1600).save(path, quality=90)
    full_size_floats = 2400 * 1600 * 3 * 4
    tracemalloc.start()
    try:
        load_image(path, target_shorter_side=64)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < full_size_floats / 10


def test_a_reduced_decode_keeps_orientation_alpha_and_the_files_extent(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # turned a quarter: the upright photo is 1601 x 2401
    _photo(2401, 1601).save(tmp_path / "turned.jpg", exif=exif)
    rgba = _photo(2401, 1601).convert("RGBA")
    rgba.putalpha(128)
    rgba.save(tmp_path / "clear.png")

    turned = load_image(tmp_path / "turned.jpg", target_shorter_side=100)
    clear = load_image(tmp_path / "clear.png", target_shorter_side=100)

    assert turned.size == (401, 601) and turned.extent == pytest.approx((1601 / 4, 2401 / 4))
    assert clear.size == (481, 321) and clear.extent == pytest.approx((2401 / 5, 1601 / 5))
    np.testing.assert_allclose(clear.alpha, 128 / 255, atol=1e-6)


def test_our_limit_replaces_pils_and_pils_is_restored(tmp_path, monkeypatch):
    path = tmp_path / "medium.png"
    Image.new("L", (30, 30)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # PIL alone would call 900 px a bomb
    assert load_image(path).size == (30, 30)
    assert Image.MAX_IMAGE_PIXELS == 100


# --- saving ------------------------------------------------------------------------------------------


def test_to_uint8_rounds_and_clips():
    x = np.array([0.0, 0.4 / 255, 0.6 / 255, 1.0, 1.2, -0.1, np.nan], np.float32)
    np.testing.assert_array_equal(to_uint8(x), [0, 0, 1, 255, 255, 0, 0])
    same = np.array([3, 200], np.uint8)
    assert to_uint8(same) is same
    with pytest.raises(ValueError):
        to_uint8(np.array([1], np.int64))


def test_tensor_to_uint8_makes_the_bytes_to_uint8_makes():
    import torch

    rng = np.random.default_rng(3)
    halves = (np.arange(256, dtype=np.float32) + 0.5) / U8  # on (or a float32 step from) a rounding edge
    edges = np.array([0.0, 1.0, 1.2, -0.1, np.nan, np.inf, -np.inf], np.float32)
    x = np.concatenate([rng.random(9_937, dtype=np.float32), halves, edges]).reshape(-1, 5, 3)
    np.testing.assert_array_equal(tensor_to_uint8(torch.from_numpy(x)).numpy(), to_uint8(x))
    planar = torch.from_numpy(x).permute(2, 0, 1)  # a (C, H, W) view of (H, W, C) frames keeps its layout
    assert tensor_to_uint8(planar).permute(1, 2, 0).is_contiguous()
    with pytest.raises(ValueError, match="float tensor"):
        tensor_to_uint8(torch.zeros(3, dtype=torch.uint8))


def test_to_uint16_rounds_and_clips():
    x = np.array([0.0, 0.4 / 65535, 0.6 / 65535, 1.0, 1.2, -0.1, np.nan], np.float32)
    np.testing.assert_array_equal(to_uint16(x), [0, 0, 1, 65535, 65535, 0, 0])
    same = np.array([3, 60000], np.uint16)
    assert to_uint16(same) is same
    with pytest.raises(ValueError):
        to_uint16(np.array([1], np.uint8))


@pytest.mark.parametrize("suffix", [".png", ".webp", ".tif", ".tiff"])
def test_save_keeps_alpha_where_supported(tmp_path, suffix):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    alpha = rng.random((5, 7)).astype(np.float32)
    path = tmp_path / f"out{suffix}"
    save_image(path, rgb, alpha)
    out = load_image(path)
    np.testing.assert_array_equal(to_uint8(out.alpha), to_uint8(alpha))
    if suffix != ".webp":  # the others are lossless
        np.testing.assert_array_equal(to_uint8(out.rgb), rgb)


@pytest.mark.parametrize("suffix", [".jpg", ".JPEG", ".bmp"])
def test_save_drops_alpha_with_warning(tmp_path, suffix, caplog):
    rgb = np.full((8, 8, 3), [0.2, 0.5, 0.8], np.float32)
    path = tmp_path / f"out{suffix}"
    with caplog.at_level(logging.WARNING, logger="polychrome.images"):
        save_image(path, rgb, np.ones((8, 8), np.float32))
    assert "alpha" in caplog.text
    out = load_image(path)
    assert out.alpha is None
    np.testing.assert_allclose(out.rgb, rgb, atol=3 / 255)


def test_save_float_png_round_trip_is_exact_to_one_level(tmp_path):
    rgb = np.random.default_rng(2).random((6, 4, 3)).astype(np.float32)
    path = tmp_path / "nested" / "dirs" / "out.png"
    save_image(path, rgb)
    out = load_image(path)
    np.testing.assert_allclose(out.rgb, rgb, atol=0.5 / 255 + 1e-6)
    assert out.alpha is None


def test_save_unknown_extension(tmp_path):
    with pytest.raises(ValueError, match=r"\.xyz"):
        save_image(tmp_path / "out.xyz", np.zeros((2, 2, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        save_image(tmp_path / "out.png", np.zeros((2, 2), np.float32))


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "photo.png"
    save_image(path, np.zeros((4, 4, 3), np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]
    save_image(path, np.ones((4, 4, 3), np.float32))  # success replaces
    np.testing.assert_array_equal(load_image(path).rgb, 1.0)
    before = path.read_bytes()

    def failing_save(self, fp, *args, **kwargs):
        fp.write(b"half a png")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        save_image(path, np.zeros((4, 4, 3), np.float32))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_supported_extensions_and_loaded_image_size():
    assert {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"} == set(SUPPORTED_EXTENSIONS)
    img = LoadedImage(np.zeros((3, 5, 3), np.float32), None, "RGB", 8, None)
    assert img.size == (5, 3)


@pytest.mark.parametrize(
    ("name", "shown"), [("new\nline.jpg", "new\\nline.jpg"), ("caf\udce9.jpg", "caf\\xe9.jpg")]
)
def test_a_name_with_a_newline_or_undecodable_bytes_is_escaped_in_one_line(tmp_path, name, shown):
    (tmp_path / name).write_text("not a photo")
    with pytest.raises(ImageReadError) as info:
        load_image(tmp_path / name)
    assert str(info.value) == f"{tmp_path}/{shown}: not an image (cannot identify image file)"
    assert info.value.source == str(tmp_path / name)  # the path itself, to act on


def test_an_exif_block_too_long_for_jpeg_is_dropped_with_a_warning_naming_the_file(tmp_path, caplog):
    exif = Image.Exif()
    exif[0x010E] = "a caption " * 7000  # ImageDescription: 70 kB, over the 65,533 bytes of JPEG's APP1
    metadata = PhotoMetadata(exif.tobytes(), (300.0, 300.0))
    rgb = np.full((4, 4, 3), 0.5, np.float32)

    with caplog.at_level(logging.WARNING, logger="polychrome.images"):
        save_image(tmp_path / "long.jpg", rgb, metadata=metadata)
        save_image(tmp_path / "long.png", rgb, metadata=metadata)

    assert caplog.messages == [
        f"{tmp_path / 'long.jpg'}: EXIF block of {len(metadata.exif)} bytes is over JPEG's limit of 65533; "
        "saved without EXIF"
    ]
    assert load_image(tmp_path / "long.jpg").metadata == PhotoMetadata(None, (300.0, 300.0))
    assert load_image(tmp_path / "long.png").metadata.exif is not None  # PNG has room for it


def _jpeg_with_corrupt_exif(path: Path) -> Path:
    """A JPEG whose EXIF block is cut short, so PIL warns 'Tag data larger than file' when reading it."""
    exif = Image.Exif()
    exif[0x010E] = "a caption" * 10
    Image.new("RGB", (8, 8), (200, 10, 10)).save(path, exif=exif.tobytes()[:-60])
    return path


def test_warnings_while_reading_name_the_file_once_and_do_not_escape(tmp_path, caplog):
    path = _jpeg_with_corrupt_exif(tmp_path / "corrupt.jpg")

    with warnings.catch_warnings(record=True) as escaped, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        for _ in range(2):
            load_image(path)

    assert escaped == []
    assert caplog.messages == [f"{path}: Tag data larger than file. Skipping tag 270"] * 2  # once per read


def test_float_values_clipped_are_logged_naming_the_file(tmp_path, caplog):
    path = tmp_path / "bright.tif"
    Image.fromarray(np.array([[0.5, 1.5]], np.float32), mode="F").save(path)
    with caplog.at_level(logging.WARNING, logger="polychrome.images"):
        load_image(path)
    assert caplog.messages == [f"{path}: float image values outside [0, 1] were clipped"]


def test_warnings_of_threads_reading_at_once_each_name_their_own_file(tmp_path, caplog):
    paths = [_jpeg_with_corrupt_exif(tmp_path / f"corrupt{i}.jpg") for i in range(8)]
    filters, shown = list(warnings.filters), warnings.showwarning

    with caplog.at_level(logging.WARNING), ThreadPoolExecutor(4) as pool:
        list(pool.map(load_image, paths * 4))

    assert sorted(caplog.messages) == sorted(
        f"{p}: Tag data larger than file. Skipping tag 270" for p in paths * 4
    )
    assert warnings.filters == filters and warnings.showwarning is shown  # restored when the last one ends


def test_warnings_while_saving_name_the_file(tmp_path, caplog, monkeypatch):
    real_save = Image.Image.save

    def save(image, fp, *args, **kwargs):
        warnings.warn("encoder hiccup", UserWarning, stacklevel=2)  # a plugin warning while encoding
        real_save(image, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save)
    with caplog.at_level(logging.WARNING, logger="polychrome.images"):
        save_image(tmp_path / "out.png", np.zeros((2, 2, 3), np.float32))
    assert caplog.messages == [f"{tmp_path / 'out.png'}: encoder hiccup"]


def test_keep_8bit_gives_bytes_and_gray_as_one_channel(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    gray = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    color = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
    Image.fromarray(gray, "L").save(tmp_path / "gray.png")
    Image.fromarray(color, "RGBA").save(tmp_path / "color.png")

    kept_gray = load_image(tmp_path / "gray.png", keep_8bit=True)
    kept_color = load_image(tmp_path / "color.png", keep_8bit=True)

    assert kept_gray.rgb.dtype == np.uint8 and kept_gray.rgb.strides[2] == 0
    np.testing.assert_array_equal(kept_gray.rgb, np.repeat(gray[:, :, None], 3, axis=2))
    np.testing.assert_array_equal(kept_color.rgb, color[:, :, :3])
    np.testing.assert_array_equal(kept_color.alpha, load_image(tmp_path / "color.png").alpha)
    assert load_image(gray, keep_8bit=True).rgb.strides[2] == 0
    assert load_image(gray.astype(np.uint16) * 257, keep_8bit=True).rgb.dtype == np.float32


def test_save_image_takes_a_pil_image_and_adds_alpha(tmp_path: Path) -> None:
    rgb = Image.fromarray(np.random.default_rng(6).integers(0, 256, (8, 9, 3), dtype=np.uint8), "RGB")
    alpha = np.linspace(0, 1, 72, dtype=np.float32).reshape(8, 9)

    save_image(tmp_path / "out.png", rgb, alpha)

    saved = np.asarray(Image.open(tmp_path / "out.png"))
    np.testing.assert_array_equal(saved[:, :, :3], np.asarray(rgb))
    np.testing.assert_array_equal(saved[:, :, 3], to_uint8(alpha))
