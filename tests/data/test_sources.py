"""Image sources: folders, globs and WebDataset-style tar shards, all yielding named records."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from polychrome.data.sources import expand_source, is_tar, iter_records


def _png_bytes(color: tuple[int, int, int] = (200, 40, 10)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _write(path: Path, data: bytes | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_png_bytes() if data is None else data)
    return path


def _shard(path: Path, count: int, mode: str = "w:gz") -> Path:
    """A WebDataset-style shard: NNNNNN.jpg + NNNNNN.cls per sample."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode) as archive:
        for i in range(count):
            for suffix, data in ((".jpg", _png_bytes((i * 40, 100, 30))), (".cls", f"{i}\n".encode())):
                info = tarfile.TarInfo(f"{i:06d}{suffix}")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return path


def _names(sources: list[str]) -> list[str]:
    return [record.name for record in iter_records(sources)]


# --- folders ------------------------------------------------------------------------------------------


def test_folder_is_recursive_sorted_and_skips_hidden_and_non_images(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    for name in ["b.jpg", "a.PNG", "sub/c.jpeg", "sub/deeper/d.webp", "z.tif"]:
        _write(root / name)
    _write(root / "notes.txt", b"not an image")
    _write(root / "labels.cls", b"3")
    _write(root / ".hidden.jpg")
    _write(root / ".cache" / "x.jpg")
    _write(root / "sub" / ".thumbs" / "y.png")

    names = _names([str(root)])

    assert names == [
        "photos/a.PNG",
        "photos/b.jpg",
        "photos/sub/c.jpeg",
        "photos/sub/deeper/d.webp",
        "photos/z.tif",
    ]


def test_folder_names_are_stable_and_records_read_the_file(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    for name in ["c.jpg", "a.jpg", "sub/b.png"]:
        _write(root / name)

    first = list(iter_records([str(root)]))
    second = list(iter_records([root]))

    assert (
        [r.name for r in first]
        == [r.name for r in second]
        == ["photos/a.jpg", "photos/c.jpg", "photos/sub/b.png"]
    )
    assert all(r.data is None and r.path is not None for r in first)  # read lazily, in the worker
    assert first[0].read() == (root / "a.jpg").read_bytes()


def test_folder_inside_a_hidden_directory_still_yields_its_images(tmp_path: Path) -> None:
    root = tmp_path / ".data" / "photos"
    _write(root / "a.jpg")

    assert _names([str(root)]) == ["photos/a.jpg"]


def test_single_image_file_is_a_source(tmp_path: Path) -> None:
    path = _write(tmp_path / "one.png")

    records = list(iter_records([str(path)]))

    assert [r.name for r in records] == ["one.png"]
    assert records[0].read() == path.read_bytes()


def test_a_symlink_loop_in_a_folder_is_a_record_that_says_so(tmp_path: Path) -> None:
    _write(tmp_path / "photos" / "a.jpg")
    (tmp_path / "photos" / "loop.jpg").symlink_to("loop.jpg")
    (tmp_path / "photos" / "dangling.jpg").symlink_to("gone.jpg")  # names nothing: left out, as ever

    records = list(iter_records([str(tmp_path / "photos")]))

    assert [(r.name, r.problem) for r in records] == [
        ("photos/a.jpg", None),
        ("photos/loop.jpg", "symlink loop"),
    ]


def test_an_unreadable_folder_is_a_record_that_says_so(
    tmp_path: Path, unreadable: Callable[[Path], Path]
) -> None:
    _write(tmp_path / "photos" / "a.jpg")
    _write(tmp_path / "photos" / "locked" / "b.jpg")
    _write(tmp_path / "photos" / "z.jpg")
    unreadable(tmp_path / "photos" / "locked")

    records = list(iter_records([str(tmp_path / "photos")]))

    assert [(r.name, r.problem) for r in records] == [
        ("photos/a.jpg", None),
        ("photos/locked", "permission denied"),
        ("photos/z.jpg", None),
    ]


def test_a_symlink_loop_named_as_a_source_says_so(tmp_path: Path) -> None:
    (tmp_path / "loop.jpg").symlink_to("loop.jpg")

    with pytest.raises(ValueError, match=r"loop\.jpg: symlink loop$"):
        expand_source(str(tmp_path / "loop.jpg"))


# --- globs --------------------------------------------------------------------------------------------


def test_glob_pattern_expands_sorted(tmp_path: Path) -> None:
    for name in ["b.jpg", "a.jpg", "c.png", "skip.txt"]:
        _write(tmp_path / name)

    assert expand_source(str(tmp_path / "*.jpg")) == [tmp_path / "a.jpg", tmp_path / "b.jpg"]
    assert _names([str(tmp_path / "*.*g")]) == ["a.jpg", "b.jpg", "c.png"]


def test_recursive_glob_over_shards(tmp_path: Path) -> None:
    _shard(tmp_path / "x" / "train-000001.tar.gz", 1)
    _shard(tmp_path / "y" / "train-000000.tar.gz", 1)

    names = _names([str(tmp_path / "**" / "train-*.tar.gz")])

    assert names == ["train-000001.tar.gz/000000.jpg", "train-000000.tar.gz/000000.jpg"]  # sorted by path


def test_pattern_matching_nothing_raises_naming_it(tmp_path: Path) -> None:
    pattern = str(tmp_path / "nothing-*.tar")
    with pytest.raises(FileNotFoundError, match="nothing-"):
        list(iter_records([pattern]))


def test_missing_path_raises(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    with pytest.raises(FileNotFoundError, match="no-such-folder"):
        list(iter_records([str(missing)]))


# --- tar shards ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "mode"), [("shard.tar", "w"), ("shard.tar.gz", "w:gz"), ("s.tgz", "w:gz")]
)
def test_tar_shard_yields_only_images_named_by_member(tmp_path: Path, filename: str, mode: str) -> None:
    path = _shard(tmp_path / filename, 3, mode)

    records = list(iter_records([str(path)]))

    assert [r.name for r in records] == [f"{filename}/{i:06d}.jpg" for i in range(3)]
    assert all(r.path is None for r in records)
    for i, record in enumerate(records):
        assert record.read() == _png_bytes((i * 40, 100, 30))
        with Image.open(io.BytesIO(record.read())) as image:
            assert image.getpixel((0, 0)) == (i * 40, 100, 30)


def test_several_sources_keep_their_order(tmp_path: Path) -> None:
    shard = _shard(tmp_path / "shard.tar.gz", 2)
    folder = tmp_path / "photos"
    _write(folder / "a.png")

    assert _names([str(shard), str(folder)]) == [
        "shard.tar.gz/000000.jpg",
        "shard.tar.gz/000001.jpg",
        "photos/a.png",
    ]


@pytest.mark.parametrize("filename", ["broken.tar", "broken.tar.gz"])
def test_corrupt_tar_raises_value_error_naming_it(tmp_path: Path, filename: str) -> None:
    path = tmp_path / filename
    path.write_bytes(b"this is not a tar archive at all" * 40)

    with pytest.raises(ValueError, match="broken.tar"):
        list(iter_records([str(path)]))


def test_truncated_tar_gz_raises_value_error(tmp_path: Path) -> None:
    good = _shard(tmp_path / "good.tar.gz", 20).read_bytes()
    path = tmp_path / "cut.tar.gz"
    path.write_bytes(good[: len(good) // 2])

    with pytest.raises(ValueError, match="cut.tar.gz"):
        list(iter_records([str(path)]))


def test_is_tar() -> None:
    assert is_tar("a/b.tar") and is_tar("B.TAR.GZ") and is_tar("x.tgz") and is_tar(Path("y.tar.xz"))
    assert not is_tar("photo.jpg") and not is_tar("tar")
