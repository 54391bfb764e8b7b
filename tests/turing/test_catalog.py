"""Matching real photos with colorized ones, and preparing both sides of a pair alike for display."""

from __future__ import annotations

import io
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from polychrome.images import load_image
from polychrome.turing import build_catalog
from polychrome.turing import catalog as catalog_module
from polychrome.turing.catalog import display_jpeg
from polychrome.turing.pairs import match_folders
from tests.turing.helpers import Photos, write_photo


def test_photos_are_matched_by_relative_path_without_suffix(photos: Photos) -> None:
    matching = match_folders(photos.real, photos.models)
    keys = sorted((pair.model, pair.photo) for pair in matching.pairs)
    assert keys == [
        ("a", "p0"),
        ("a", "p1"),
        ("a", "p2"),
        ("a", "sub/p3"),
        ("b", "p0"),
        ("b", "p1"),
        ("b", "p2"),
    ]
    pair = next(p for p in matching.pairs if p.photo == "sub/p3")
    assert pair.real == photos.real / "sub" / "p3.jpg"
    assert pair.colorized == photos.models["a"] / "sub" / "p3.png"
    assert matching.missing == {"a": [], "b": ["sub/p3"]}
    assert matching.problems == []


def test_same_photo_in_two_formats_is_reported_not_guessed(photos: Photos) -> None:
    write_photo(photos.models["a"] / "p0.jpg", seed=99)
    matching = match_folders(photos.real, photos.models)
    assert ("a", "p0") not in {(pair.model, pair.photo) for pair in matching.pairs}
    assert "p0" in matching.missing["a"]
    assert (
        len(matching.problems) == 1 and "p0.jpg" in matching.problems[0] and "p0.png" in matching.problems[0]
    )


def test_a_symlink_loop_is_a_problem_line(photos: Photos) -> None:
    (photos.real / "loop.jpg").symlink_to("loop.jpg")

    matching = match_folders(photos.real, photos.models)

    assert matching.problems == [f"{photos.real / 'loop.jpg'}: symlink loop"]
    assert len(matching.pairs) == 7


def test_only_a_few_photos_are_decoded_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(12):
        write_photo(tmp_path / "real" / f"p{i}.jpg", seed=i)
        write_photo(tmp_path / "model" / f"p{i}.png", seed=i, scale=0.5)
    at_once, most = 0, 0
    lock = threading.Lock()

    def counting_load(path: Path, **options: object) -> object:
        nonlocal at_once, most
        with lock:
            at_once += 1
            most = max(most, at_once)
        time.sleep(0.02)
        try:
            return load_image(path, **options)
        finally:
            with lock:
                at_once -= 1

    monkeypatch.setattr(catalog_module, "load_image", counting_load)
    catalog = build_catalog(tmp_path / "real", {"m": tmp_path / "model"}, display_size=32)

    assert len(catalog.pairs) == 12 and 1 < most <= catalog_module.DECODE_WORKERS


def test_a_large_photo_is_decoded_reduced_for_display(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Image.new("RGB", (3000, 2000), (200, 30, 30)).save(tmp_path / "real.jpg")
    sizes: list[tuple[int, int]] = []

    def recording_load(path: Path, **options: object) -> object:
        image = load_image(path, **options)
        sizes.append(image.size)
        return image

    monkeypatch.setattr(catalog_module, "load_image", recording_load)
    data, size = display_jpeg(tmp_path / "real.jpg", display_size=100)

    assert size == (100, 67) and Image.open(io.BytesIO(data)).size == (100, 67)
    assert sizes == [(750, 500)]  # a quarter of each side, still over 3 x 100


def test_a_missing_folder_is_a_clear_error(tmp_path: Path, photos: Photos) -> None:
    with pytest.raises(NotADirectoryError, match="nowhere: not a folder"):
        match_folders(photos.real, {"a": tmp_path / "nowhere"})


def test_both_sides_of_a_pair_are_the_same_size_jpeg_without_metadata(tmp_path: Path) -> None:
    real, model = tmp_path / "real", tmp_path / "model"
    exif = Image.Exif()
    exif[0x010F] = "RealCamera Inc."  # Make: would tell the real photo apart
    real.mkdir()
    Image.new("RGB", (400, 300), (200, 30, 30)).save(real / "x.jpg", exif=exif)
    write_photo(model / "x.png", seed=1, size=(200, 150))
    catalog = build_catalog(real, {"m": model}, display_size=100)
    (pair,) = catalog.pairs
    shown = [Image.open(io.BytesIO(catalog.images[i])) for i in (pair.real_image, pair.colorized_image)]
    assert [image.format for image in shown] == ["JPEG", "JPEG"]
    assert [image.size for image in shown] == [(100, 75), (100, 75)]
    assert all(len(image.getexif()) == 0 for image in shown)
    assert np.asarray(shown[0].convert("RGB"))[30, 50].tolist() == pytest.approx([200, 30, 30], abs=3)


def test_image_ids_do_not_give_away_which_side_is_real(photos: Photos) -> None:
    catalog = build_catalog(photos.real, photos.models, display_size=32)
    ids = list(catalog.images)
    assert len(set(ids)) == len(ids) == 4 + 4 + 3  # each real photo once, shared by its pairs
    # 128 random bits as hex: no room for a file name or a side (a urlsafe token once spelt "p0" by chance)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_unreadable_and_misshapen_images_are_reported_and_left_out(photos: Photos) -> None:
    (photos.models["a"] / "p1.png").write_bytes(b"not a png")
    write_photo(photos.models["b"] / "p2.png", seed=2, size=(30, 40))  # portrait: not the same photo
    (photos.real / "p0.jpg").write_bytes(b"")
    catalog = build_catalog(photos.real, photos.models, display_size=32)
    assert sorted((pair.model, pair.photo) for pair in catalog.pairs) == [
        ("a", "p2"),
        ("a", "sub/p3"),
        ("b", "p1"),
    ]
    assert catalog.pairs_per_model() == {"a": 2, "b": 1}
    problems = "\n".join(catalog.problems)
    assert f"{photos.real / 'p0.jpg'}: file is empty" in problems
    assert f"{photos.models['a'] / 'p1.png'}: not an image" in problems
    assert f"{photos.models['b'] / 'p2.png'}: 30x40 is not the shape of its real photo" in problems
    assert len(catalog.problems) == 3


def test_display_size_below_16_is_refused(photos: Photos) -> None:
    with pytest.raises(ValueError, match="display_size must be at least 16"):
        build_catalog(photos.real, photos.models, display_size=8)
