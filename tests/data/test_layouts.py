"""Named layouts, each built as a tiny fake copy, read with their official splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat
from typer.testing import CliRunner

from polychrome.cli import app
from polychrome.data.cache import read_cache
from polychrome.data.layouts import detect_layout, mirflickr_categories, read_layout


def _photo(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(path, quality=95)


def _flowers(root: Path) -> Path:
    for i in range(1, 7):
        _photo(root / "jpg" / f"image_{i:05d}.jpg", i)
    savemat(
        root / "setid.mat",
        {"trnid": np.array([[1, 2, 3]]), "valid": np.array([[4]]), "tstid": np.array([[5, 6]])},
    )
    savemat(root / "imagelabels.mat", {"labels": np.array([[1, 1, 2, 2, 3, 3]])})
    return root


def _celeba(root: Path) -> Path:
    lines = []
    for i, part in enumerate([0, 0, 0, 1, 2], 1):
        _photo(root / "img_align_celeba" / f"{i:06d}.jpg", i)
        lines.append(f"{i:06d}.jpg {part}")
    (root / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return root


def _mirflickr(root: Path) -> Path:
    for i in range(1, 7):
        _photo(root / f"im{i}.jpg", i)
    (root / "annotations").mkdir()
    (root / "annotations" / "flower.txt").write_text("2\n5\n")
    (root / "annotations" / "animals.txt").write_text("1\n5\n6\n")
    (root / "annotations" / "README.txt").write_text("about the annotations")
    return root


def _imagenet(root: Path) -> Path:
    for split, n in (("train", 4), ("val", 2)):
        for i in range(n):
            _photo(
                root / split / ("n01" if i % 2 else "n02") / f"{split}_{i}.JPEG",
                i + (10 if split == "val" else 0),
            )
    return root


@pytest.mark.parametrize(
    ("make", "name", "expected"),
    [
        (_flowers, "flowers102", {"train": 3, "val": 1, "test": 2}),
        (_celeba, "celeba", {"train": 3, "val": 1, "test": 1}),
        (_imagenet, "imagenet", {"train": 4, "val": 2}),
    ],
)
def test_layouts_with_official_splits(tmp_path: Path, make, name: str, expected: dict[str, int]) -> None:
    root = make(tmp_path / name)
    assert detect_layout(root) == name
    layout = read_layout(root)
    assert layout.name == name
    counts: dict[str, int] = {}
    for record in layout.records:
        counts[layout.splits[record.name]] = counts.get(layout.splits[record.name], 0) + 1
    assert counts == expected


def test_flowers_split_follows_setid(tmp_path: Path) -> None:
    layout = read_layout(_flowers(tmp_path / "f"))
    assert {Path(n).name: s for n, s in layout.splits.items()}["image_00004.jpg"] == "val"


def test_mirflickr_categories_select_subsets(tmp_path: Path) -> None:
    root = _mirflickr(tmp_path / "mir")
    assert detect_layout(root) == "mirflickr"
    assert mirflickr_categories(root) == ["animals", "flower"]
    assert len(read_layout(root).records) == 6 and read_layout(root).splits is None
    chosen = read_layout(root, categories=["flower", "animals"])
    assert [Path(r.name).name for r in chosen.records] == ["im1.jpg", "im2.jpg", "im5.jpg", "im6.jpg"]
    with pytest.raises(ValueError, match="no MIR-Flickr category 'cars'"):
        read_layout(root, categories=["cars"])


def test_plain_folders_and_broken_layouts(tmp_path: Path) -> None:
    _photo(tmp_path / "plain" / "a.jpg", 0)
    assert detect_layout(tmp_path / "plain") is None
    with pytest.raises(ValueError, match="not a known layout"):
        read_layout(tmp_path / "plain")
    root = _celeba(tmp_path / "c")
    (root / "list_eval_partition.txt").write_text("000001.jpg 7\n")
    with pytest.raises(ValueError, match="expected 'NAME 0\\|1\\|2'"):
        read_layout(root)


def test_prepare_uses_the_official_split(tmp_path: Path) -> None:
    root = _celeba(tmp_path / "celeba")
    out = tmp_path / "c.h5"
    args = [
        "prepare",
        str(root),
        "-o",
        str(out),
        "--size",
        "64",
        "--min-size",
        "16",
        "--workers",
        "1",
        "--no-dedup",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "layout celeba: official split" in result.stdout
    cache = read_cache(out)
    assert {k: len(v) for k, v in cache.splits.items()} == {"train": 3, "val": 1, "test": 1}
    assert cache.manifest["layout"] == "celeba" and cache.manifest["split_source"] == "official"
    val_name = cache.names[int(cache.splits["val"][0])]
    assert val_name.endswith("000004.jpg")


def test_category_needs_a_mirflickr_folder(tmp_path: Path) -> None:
    _photo(tmp_path / "plain" / "a.jpg", 0)
    result = CliRunner().invoke(
        app, ["prepare", str(tmp_path / "plain"), "-o", str(tmp_path / "x.h5"), "--category", "x"]
    )
    assert result.exit_code == 1 and "--category" in result.stderr


def test_choose_layout(tmp_path: Path) -> None:
    from polychrome.data.layouts import choose_layout

    root = _celeba(tmp_path / "celeba")
    assert choose_layout([str(root)]).name == "celeba"
    assert choose_layout([str(root)], "none") is None
    assert choose_layout([str(root), str(root)]) is None  # several sources are read as plain sources
    with pytest.raises(ValueError, match="reads one folder, got 2 sources"):
        choose_layout([str(root), str(root)], "celeba")
    with pytest.raises(ValueError, match="MIR-Flickr"):
        choose_layout([str(root)], "none", ["flower"])


def test_prepare_records_the_chosen_mirflickr_categories(tmp_path: Path) -> None:
    root = _mirflickr(tmp_path / "mir")
    out = tmp_path / "m.h5"
    args = ["prepare", str(root), "-o", str(out), "--size", "64", "--min-size", "16", "--workers", "1"]
    result = CliRunner().invoke(app, [*args, "--no-dedup", "--category", "flower", "--category", "animals"])
    assert result.exit_code == 0, result.output
    manifest = read_cache(out).manifest
    assert manifest["layout"] == "mirflickr" and manifest["categories"] == ["flower", "animals"]
    assert manifest["inputs"] == 4 and manifest["split_source"] == "seeded"
