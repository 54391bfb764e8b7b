"""Difference hashes: near-duplicates found in linear time, and photos excluded as near-copies of others."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from polychrome.data.hashing import (
    DuplicateIndex,
    Exclusion,
    centre_square,
    difference_hash,
    photo_hashes,
    read_hashes,
)
from tests.data.synthetic import smooth_photo


def _resized(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.LANCZOS))


def test_the_index_finds_hashes_within_the_distance_and_no_others() -> None:
    index = DuplicateIndex(max_distance=4)
    rng = np.random.default_rng(0)
    kept = [int(x) for x in rng.integers(0, 2**63, 200, dtype=np.int64)]
    for h in kept:
        index.add(h)
    for h in kept[:50]:
        flipped = h ^ (1 << 3) ^ (1 << 40) ^ (1 << 61) ^ (1 << 17)  # four bits away
        assert index.near(flipped)
        assert not index.near(h ^ 0b11111 << 20)  # five bits away from it, far from all others


def test_an_exclusion_drops_near_copies_of_a_photo_or_of_its_centre_square(tmp_path: Path) -> None:
    photo = smooth_photo(3, 120, 200, 3.0)
    hash_file = tmp_path / "reserved.txt"
    hash_file.write_text(f"# reserved\n{difference_hash(centre_square(photo)):016x}\n\n")

    exclusion = Exclusion.from_lists([hash_file])

    assert exclusion.near(photo)  # its centre square is listed
    assert exclusion.near(_resized(photo, 100, 60))  # a smaller copy
    assert not exclusion.near(smooth_photo(4, 120, 200, 3.0))
    assert not Exclusion.from_lists([hash_file], distance=0).near(smooth_photo(4, 120, 200, 3.0))
    like = Exclusion.from_lists(like=[photo])
    assert set(like.hashes) == set(photo_hashes(photo)) and like.near(_resized(photo, 300, 180))


def test_listed_names_are_matched_by_whole_trailing_path_parts(tmp_path: Path) -> None:
    names = tmp_path / "names.txt"
    names.write_text("train/n01/images/n01_5.JPEG\n")
    exclusion = Exclusion.from_lists(name_files=[names])

    assert exclusion.named("train/n01/images/n01_5.JPEG")
    assert exclusion.named("tiny-imagenet-200/train/n01/images/n01_5.JPEG")
    assert not exclusion.named("train/n01/images/n01_55.JPEG") and not exclusion.named(
        "xtrain/n01/images/n01_5.JPEG"
    )
    assert exclusion and not Exclusion()


def test_bad_lists_are_one_line_naming_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("0123456789abcdef\nnot-a-hash\n")
    with pytest.raises(ValueError, match=rf"{bad}:2: 'not-a-hash' is not a hash of 16 hex digits"):
        read_hashes(bad)
    with pytest.raises(FileNotFoundError, match="cannot read the hash list"):
        read_hashes(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="distance"):
        Exclusion(distance=65)
