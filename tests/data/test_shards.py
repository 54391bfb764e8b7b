"""`polychrome prepare --shards`: compact JPEG shards with a manifest, and excluded photos counted."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from polychrome.cli import app
from polychrome.data.hashing import difference_hash
from polychrome.data.sources import iter_records
from tests.data.synthetic import smooth_photo


@pytest.fixture
def two_sources(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for i in range(6):
        Image.fromarray(smooth_photo(i, 300 + 20 * i, 400, 3.0)).save(a / f"big{i}.jpg", quality=95)
    Image.fromarray(smooth_photo(50, 90, 120, 3.0)).save(a / "small.png")
    Image.fromarray(np.full((100, 100, 3), 128, np.uint8)).save(a / "gray.png")
    (a / "broken.jpg").write_bytes(b"not a jpeg")
    # b holds a copy of one of a's photos at another size, and two photos of its own
    Image.open(a / "big2.jpg").resize((200, 170)).save(b / "copy.jpg", quality=90)
    for i in (7, 8):
        Image.fromarray(smooth_photo(i, 160, 160, 3.0)).save(b / f"own{i}.png")
    return a, b


def _prepare(*args: str | Path):
    return CliRunner().invoke(app, ["prepare", *map(str, args), "--workers", "1"])


def test_shards_hold_shrunk_whole_photos_and_a_manifest_by_source(two_sources, tmp_path: Path) -> None:
    a, b = two_sources
    out = tmp_path / "shards"

    result = _prepare(a, b, "-o", out, "--shards", "--size", "128", "--min-size", "64", "--shard-mb", "0.02")

    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["by_source"][str(a)] == {
        "inputs": 9,
        "kept": 7,
        "kept_shorter_side_at_least_150": 0,
        "dropped": {"grayscale": 1, "unreadable": 1},
    }
    assert manifest["by_source"][str(b)]["dropped"] == {"duplicate": 1} and manifest["kept"] == 9
    shards = sorted(out.glob("shard-*.tar"))
    assert len(shards) >= 2 and [s["file"] for s in manifest["shards"]] == [s.name for s in shards]
    records = list(iter_records([str(out / "shard-*.tar")]))
    assert len(records) == 9 and all(r.name.endswith(".jpg") for r in records)
    sizes = {Path(r.name).stem: Image.open(__import__("io").BytesIO(r.data)).size for r in records}
    assert sizes["big0"] == (171, 128)  # shorter side brought down to 128, aspect kept, not cropped
    assert sizes["small"] == (120, 90)  # never enlarged
    assert result.output.strip().endswith(f"shards: {out}")


def test_excluded_photos_are_counted_and_a_reserved_names_list_works(two_sources, tmp_path: Path) -> None:
    a, _ = two_sources
    reserved = tmp_path / "reserved.txt"
    big1 = np.asarray(Image.open(a / "big1.jpg"))
    reserved.write_text(f"{difference_hash(big1):016x}\n")
    names = tmp_path / "names.txt"
    names.write_text("a/big3.jpg\n")
    like = tmp_path / "like"
    like.mkdir()
    Image.open(a / "big4.jpg").resize((150, 113)).save(like / "held-out.png")
    out = tmp_path / "cache.h5"

    result = _prepare(
        a,
        "-o",
        out,
        "--size",
        "64",
        "--exclude-hashes",
        reserved,
        "--exclude-names",
        names,
        "--exclude-like",
        like,
    )

    assert result.exit_code == 0, result.output
    from polychrome.data.cache import read_cache

    cache = read_cache(out)
    assert cache.manifest["dropped"]["excluded"] == 3
    assert not {"a/big1.jpg", "a/big3.jpg", "a/big4.jpg"} & set(cache.names)
    assert cache.manifest["exclusion"]["hashes"] == 3 and cache.manifest["exclusion"]["names"] == 1


def test_shard_output_refusals(two_sources, tmp_path: Path) -> None:
    a, _ = two_sources
    out = tmp_path / "shards"
    assert _prepare(a, "-o", out, "--shards", "--size", "128").exit_code == 0
    again = _prepare(a, "-o", out, "--shards", "--size", "128")
    assert again.exit_code == 1 and "holds shards already; pass --overwrite" in again.stderr
    replaced = _prepare(a, "-o", out, "--shards", "--size", "128", "--overwrite")
    assert replaced.exit_code == 0
    assert _prepare(a, "-o", tmp_path / "s2", "--shards", "--bins").exit_code == 1
    bad = _prepare(a, "-o", tmp_path / "c.h5", "--exclude-hashes", tmp_path / "none.txt")
    assert bad.exit_code == 1 and bad.stderr.count("\n") == 1 and "none.txt" in bad.stderr
    with tarfile.open(sorted(out.glob("shard-*.tar"))[0]) as archive:
        assert all(m.mtime == 0 for m in archive.getmembers())  # nothing time-dependent in a shard
