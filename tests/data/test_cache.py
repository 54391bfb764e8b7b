"""`polychrome prepare` and the HDF5 cache: filters, bad input, determinism, atomicity, training from it."""

from __future__ import annotations

import errno
import hashlib
import io
import math
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from typer.testing import CliRunner

import polychrome
from polychrome import _atomic as atomic_module
from polychrome.cli import app
from polychrome.color.lab import rgb_to_lab
from polychrome.color.quantize import AbGrid
from polychrome.data import cache as cache_module
from polychrome.data.cache import bin_maps, build_cache, difference_hash, read_cache
from polychrome.data.prepare import PrepareOptions, prepare_images, rgb_tensor
from polychrome.data.sources import iter_records
from polychrome.data.split import split_indices
from polychrome.train.config import load_config
from polychrome.train.loop import train
from tests.data.synthetic import smooth_photo
from tests.test_images import _write_png_with_size

SIZE = 32


def _colorful(seed: int, h: int = 48, w: int = 64) -> np.ndarray:
    return smooth_photo(seed, h, w, max_frequency=2)


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight good photos plus every kind of trouble a real collection has."""
    root = tmp_path_factory.mktemp("collection")
    for i in range(8):
        Image.fromarray(_colorful(i)).save(root / f"good{i}.jpg", quality=95)
    # the same photo again, smaller and recompressed: a duplicate
    Image.fromarray(_colorful(0)).resize((48, 36)).save(root / "good0_copy.jpg", quality=70)
    Image.fromarray(_colorful(9)).convert("L").save(root / "gray.png")
    Image.fromarray(_colorful(10)[:20, :20]).save(root / "small.png")
    Image.fromarray(_colorful(11)[:1, :1]).save(root / "one_pixel.png")
    data = io.BytesIO()
    Image.fromarray(_colorful(12)).save(data, "JPEG")
    (root / "truncated.jpg").write_bytes(data.getvalue()[: len(data.getvalue()) // 2])
    (root / "empty.jpg").write_bytes(b"")
    (root / "notes.jpg").write_text("not a photo")
    _write_png_with_size(root / "huge.png", 40000, 40000)
    sixteen = _colorful(13).astype(np.uint16) * 257  # a colorful 16-bit RGB PNG via a TIFF-free route: save R
    Image.fromarray(sixteen[..., 0]).save(root / "sixteen_gray.png")  # 16-bit gray: dropped as grayscale
    Image.fromarray(_colorful(14)).convert("CMYK").save(root / "cmyk.jpg", quality=95)
    palette = Image.fromarray(_colorful(15)).convert("P")
    palette.info["transparency"] = 0
    palette.save(root / "palette.png")
    return root


@pytest.fixture(scope="module")
def built(collection: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("cache") / "c.h5"
    options = PrepareOptions(image_size=SIZE, min_size=24)
    return build_cache(
        iter_records([str(collection)]),
        out,
        options,
        sources=[str(collection)],
        split=(0.5, 0.25, 0.25),
        workers=2,
    )


def test_every_reason_is_counted_and_bad_files_are_named(built: tuple[Path, dict]) -> None:
    _, manifest = built
    assert manifest["dropped"] == {"duplicate": 1, "grayscale": 2, "too small": 2, "unreadable": 4}
    failed = {Path(name).name: reason for name, reason in manifest["failures"]}
    assert set(failed) == {"truncated.jpg", "empty.jpg", "notes.jpg", "huge.png"}
    assert "40000x40000" in failed["huge.png"] and "empty" in failed["empty.jpg"]
    assert manifest["kept"] == 10  # 8 good + CMYK + palette


def test_the_manifest_records_sources_sizes_filters_counts_seed_and_code(
    built: tuple[Path, dict], collection: Path
) -> None:
    _, manifest = built
    assert manifest["sources"] == [str(collection)] and manifest["layout"] is None
    assert (manifest["image_size"], manifest["min_size"]) == (SIZE, 24)
    assert manifest["gray_chroma"] == 2.0 and manifest["duplicate_distance"] == 4
    assert manifest["inputs"] == 19 == manifest["kept"] + sum(manifest["dropped"].values())
    assert manifest["split_ratios"] == [0.5, 0.25, 0.25] and manifest["split_source"] == "seeded"
    assert manifest["split_sizes"] == {"train": 6, "val": 2, "test": 2} and manifest["seed"] == 0
    assert manifest["enlarge"] == "lanczos" and manifest["split_order"] == "permutation"
    assert manifest["code"]["polychrome"] == polychrome.__version__
    assert set(manifest["code"]) == {"polychrome", "decoder_sha256", "pillow", "numpy", "torch"}


def test_cache_reads_back_with_split_and_color_statistics(built: tuple[Path, dict]) -> None:
    path, manifest = built
    cache = read_cache(path)
    assert cache.images.shape == (10, SIZE, SIZE, 3) and cache.images.dtype == np.uint8
    assert sorted(np.concatenate(list(cache.splits.values())).tolist()) == list(range(10))
    assert {k: len(v) for k, v in cache.splits.items()} == {"train": 6, "val": 2, "test": 2}
    assert not any("good0_copy" in n for n in cache.names)
    priors, weights = cache.stats["priors"], cache.stats["rebalance_weights"]
    assert math.isclose(priors.sum(), 1.0, rel_tol=1e-6)
    assert math.isclose(float((priors * weights).sum()), 1.0, rel_tol=1e-4)
    assert cache.stats["mean_colorfulness"] > 20
    assert cache.manifest == manifest and cache.manifest["seed"] == 0


def test_preparing_the_same_input_twice_gives_identical_bytes(collection: Path, tmp_path: Path) -> None:
    digests = []
    for name in ("a.h5", "b.h5"):
        build_cache(iter_records([str(collection)]), tmp_path / name, PrepareOptions(SIZE, 24), sources=["x"])
        digests.append(hashlib.sha256((tmp_path / name).read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_an_interrupted_write_keeps_the_old_cache_and_the_decoded_images(
    built: tuple[Path, dict], collection: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "c.h5"
    target.write_bytes(built[0].read_bytes())
    before = target.read_bytes()

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(h5py.Group, "create_group", fail)
        with pytest.raises(KeyboardInterrupt):
            build_cache(iter_records([str(collection)]), target, PrepareOptions(SIZE, 24), sources=["x"])
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.h5", "c.h5.partial"]
    assert sorted(p.name for p in (tmp_path / "c.h5.partial").iterdir()) == [
        "chunk-000000.npz",
        "lock",
        "progress.json",
    ]

    build_cache(iter_records([str(collection)]), target, PrepareOptions(SIZE, 24), sources=["x"])
    build_cache(iter_records([str(collection)]), tmp_path / "d.h5", PrepareOptions(SIZE, 24), sources=["x"])
    assert target.read_bytes() == (tmp_path / "d.h5").read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.h5", "d.h5"]


def test_difference_hash_matches_resized_copies_and_separates_photos() -> None:
    photo = _colorful(3, 96, 128)
    smaller = np.asarray(Image.fromarray(photo).resize((64, 48)))
    assert difference_hash(photo) == difference_hash(smaller)
    assert difference_hash(photo) != difference_hash(_colorful(4, 96, 128))


def test_zip_archives_are_a_source(tmp_path: Path) -> None:
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for i in range(3):
            data = io.BytesIO()
            Image.fromarray(_colorful(i)).save(data, "PNG")
            z.writestr(f"album/{i}.png", data.getvalue())
        z.writestr("album/readme.txt", "skip me")
        z.writestr("__MACOSX/album/._0.png", "resource fork")
    names = [r.name for r in iter_records([str(archive)])]
    assert names == ["photos.zip/album/0.png", "photos.zip/album/1.png", "photos.zip/album/2.png"]


def test_prepare_command_reports_and_never_overwrites(collection: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.h5"
    args = ["prepare", str(collection), "-o", str(out), "--size", "64", "--min-size", "24", "--workers", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "10 photos kept" in result.stdout and "4 unreadable" in result.stdout
    assert "notes.jpg" in result.stderr
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 1 and "--overwrite" in again.stderr
    missing = CliRunner().invoke(app, ["prepare", str(tmp_path / "nope"), "-o", str(tmp_path / "d.h5")])
    assert missing.exit_code == 1 and "no such file" in missing.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.h5"]  # no d.h5, no d.h5.partial


def test_prepare_counts_and_names_an_unreadable_folder(
    tmp_path: Path, unreadable: Callable[[Path], Path]
) -> None:
    (tmp_path / "photos" / "locked").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(_colorful(i)).save(tmp_path / "photos" / f"good{i}.png")
    Image.fromarray(_colorful(3)).save(tmp_path / "photos" / "locked" / "hidden_from_us.png")
    locked = unreadable(tmp_path / "photos" / "locked")
    out = tmp_path / "c.h5"

    args = ["prepare", str(tmp_path / "photos"), "-o", str(out), "--size", "64", "--min-size", "24"]
    result = CliRunner().invoke(app, [*args, "--workers", "1"])

    assert result.exit_code == 0, result.output
    assert "3 photos kept (1 unreadable)" in result.stdout
    assert f"{locked}: permission denied" in result.stderr
    manifest = read_cache(out).manifest
    assert manifest["dropped"] == {"unreadable": 1}
    assert manifest["failures"] == [["photos/locked", f"unreadable: {locked}: permission denied"]]


@pytest.mark.parametrize(
    ("refused", "code", "reason"),
    [
        ("folder", errno.EACCES, "permission denied"),
        ("file", errno.EACCES, "permission denied"),
        ("file", errno.EROFS, "read-only file system"),
        ("file", errno.ENOSPC, "no space left on device"),
    ],
)
def test_prepare_that_cannot_write_says_so_in_one_line_and_leaves_nothing(
    collection: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused: str, code: int, reason: str
) -> None:
    # Simulated, as permission bits do not stop root: a folder the user may not write into refuses the work
    # folder; a read-only or full file system refuses the first file.
    def refuse(path: Any, *args: Any, **kwargs: Any) -> None:
        raise OSError(code, os.strerror(code), str(path))

    if refused == "folder":
        real_mkdir = os.mkdir
        monkeypatch.setattr(
            os,
            "mkdir",
            lambda path, *a, **k: (refuse if Path(path).parent == tmp_path else real_mkdir)(path, *a, **k),
        )
    else:
        monkeypatch.setattr(atomic_module, "_create_temp_beside", refuse)
    out = tmp_path / "c.h5"

    result = CliRunner().invoke(app, ["prepare", str(collection), "-o", str(out), "--workers", "1"])

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"error: cannot write {out} ({reason})"]
    assert list(tmp_path.iterdir()) == []


def test_a_disk_that_fills_while_the_cache_is_written_leaves_no_half_cache(
    collection: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(name: Any, *args: Any, **kwargs: Any) -> None:
        Path(name).write_bytes(b"half an HDF5 file")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(name))

    monkeypatch.setattr(cache_module.h5py, "File", full)
    out = tmp_path / "c.h5"
    args = ["prepare", str(collection), "-o", str(out), "--size", "64", "--min-size", "24", "--workers", "1"]

    result = CliRunner().invoke(app, args)

    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == f"error: cannot write {out} (no space left on device)"
    assert not out.exists() and not list(tmp_path.rglob("*.tmp"))
    assert list((tmp_path / "c.h5.partial").glob("chunk-*.npz"))  # decoded images kept for the next run


@pytest.mark.parametrize("split_order", ["permutation", "stable"])
def test_names_that_are_not_utf8_round_trip_through_the_cache(tmp_path: Path, split_order: str) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    names = ["caf\udce9.png", "\udcff\udcfe.jpg", "plain.png"]
    for i, name in enumerate(names):
        Image.fromarray(_colorful(i)).save(photos / name)
    (photos / "bro\udcffken.jpg").write_text("not a photo")
    out = tmp_path / "c.h5"
    args = ["--size", "64", "--min-size", "24", "--workers", "1", "--split-order", split_order]

    result = CliRunner().invoke(app, ["prepare", str(photos), "-o", str(out), *args])

    assert result.exit_code == 0, result.output
    cache = read_cache(out)
    assert sorted(cache.names) == sorted(f"photos/{name}" for name in names)
    assert cache.manifest["failures"] == [
        [
            "photos/bro\udcffken.jpg",
            f"unreadable: {photos}/bro\\xffken.jpg: not an image (cannot identify image file)",
        ]
    ]
    assert "bro\\xffken.jpg" in result.stderr  # shown escaped


def test_prepare_enlarges_and_orders_the_split_as_asked(collection: Path, tmp_path: Path) -> None:
    # The photos are 48 px on their shorter side, so --size 64 enlarges them.
    out = tmp_path / "c.h5"
    common = ["--size", "64", "--min-size", "24", "--workers", "1", "--split", "0.5", "0.25", "0.25"]
    asked = ["--split-order", "stable", "--enlarge", "bicubic"]
    result = CliRunner().invoke(app, ["prepare", str(collection), "-o", str(out), *common, *asked])
    assert result.exit_code == 0, result.output

    cache = read_cache(out)
    assert cache.manifest["enlarge"] == "bicubic" and cache.manifest["split_order"] == "stable"
    expected = split_indices(list(cache.names), (0.5, 0.25, 0.25), seed=0, order="stable")
    for part, indices in expected.items():
        assert sorted(cache.splits[part].tolist()) == sorted(indices.tolist())
    good = [i for i, name in enumerate(cache.names) if Path(name).name == "good1.jpg"][0]
    records = [r for r in iter_records([str(collection)]) if Path(r.name).name == "good1.jpg"]
    for enlarge, same in (("bicubic", True), ("lanczos", False)):
        options = PrepareOptions(image_size=64, min_size=24, enlarge=enlarge)
        alone = prepare_images(records, options, workers=1).images[0]
        assert np.array_equal(cache.images[good], alone) is same


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--split-order", "random"], "split order must be one of"),
        (["--enlarge", "nearest"], "enlarge must be"),
    ],
)
def test_prepare_refuses_an_unknown_split_order_or_filter_in_one_line(
    collection: Path, tmp_path: Path, option: list[str], message: str
) -> None:
    out = tmp_path / "c.h5"
    result = CliRunner().invoke(app, ["prepare", str(collection), "-o", str(out), *option])
    assert result.exit_code == 1 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_prepare_refuses_a_folder_as_output_before_decoding(collection: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "keep.txt").write_text("the user's")
    for extra in ([], ["--overwrite"]):
        result = CliRunner().invoke(app, ["prepare", str(collection), "-o", str(folder), *extra])
        assert result.exit_code == 1 and f"{folder} is a folder" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert [p.name for p in folder.iterdir()] == ["keep.txt"] and (
        folder / "keep.txt"
    ).read_text() == "the user's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_prepare_with_no_usable_photo_fails_and_writes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "notes.txt").write_text("not a photo")
    Image.new("RGB", (80, 80), (128, 128, 128)).save(source / "gray.png")  # dropped: grayscale
    out = tmp_path / "out.h5"
    result = CliRunner().invoke(app, ["prepare", str(source), "-o", str(out), "--workers", "1"])
    assert result.exit_code == 1
    assert "no usable photos" in result.stderr and "1 grayscale" in result.stderr.replace("_", " ")
    assert not out.exists() and not (tmp_path / "out.h5.partial").exists()


def test_prepare_names_a_source_with_a_newline_on_one_line(tmp_path: Path) -> None:
    source = tmp_path / "new\nline"
    source.mkdir()
    Image.new("RGB", (80, 80), (128, 128, 128)).save(source / "gray.png")  # dropped: grayscale

    result = CliRunner().invoke(
        app, ["prepare", str(source), "-o", str(tmp_path / "out.h5"), "--workers", "1"]
    )

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {tmp_path}/new\\nline: no usable photos (0 images kept, 1 grayscale); nothing written"
    ]


def test_training_reads_a_cache(built: tuple[Path, dict], tmp_path: Path) -> None:
    config = load_config(
        overrides=[
            "model.name=effunet_tiny_reg",
            "model.pretrained_encoder=false",
            f"data=[{{cache: '{built[0]}', crop_size: 32}}]",
            "batch_size=2",
            "steps=2",
            "workers=1",
            "device=cpu",
            "precision=fp32",
        ]
    )
    result = train(config, tmp_path / "run")
    assert result.finished and math.isfinite(result.metrics["val/psnr"])


def test_a_missing_or_foreign_cache_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="polychrome prepare"):
        read_cache(tmp_path / "none.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(ValueError, match="not a polychrome cache"):
        read_cache(tmp_path / "other.h5")
    assert cache_module.CACHE_FORMAT == 1


def test_classification_training_takes_its_priors_from_the_cache(
    built: tuple[Path, dict], tmp_path: Path
) -> None:
    from polychrome.color.quantize import AbGrid, smooth_priors
    from polychrome.train.checkpoint import load_checkpoint

    config = load_config(
        overrides=[
            "model.name=effunet_tiny_cls",
            "model.pretrained_encoder=false",
            f"data=[{{cache: '{built[0]}', crop_size: 32}}]",
            "batch_size=2",
            "steps=1",
            "workers=1",
            "device=cpu",
            "precision=fp32",
        ]
    )
    result = train(config, tmp_path / "run")
    assert result.finished
    stored = torch.from_numpy(read_cache(built[0]).stats["ab_counts"])
    expected = smooth_priors(stored, AbGrid.default().centers, config.loss.prior_sigma)
    priors = load_checkpoint(tmp_path / "run" / "checkpoints" / "last")["recipe"]["priors"]
    torch.testing.assert_close(priors, expected)


# --- bin maps -----------------------------------------------------------------------------------------


def test_bin_maps_are_the_hard_bins_of_block_averaged_ab() -> None:
    images = np.stack([_colorful(i, 16, 16) for i in range(3)])
    grid = AbGrid.default()

    maps = bin_maps(images, grid, stride=4)

    ab = F.avg_pool2d(rgb_to_lab(rgb_tensor(images))[:, 1:], 4)
    assert maps.shape == (3, 4, 4) and maps.dtype == np.uint16
    np.testing.assert_array_equal(maps, grid.encode_hard(ab).numpy())
    full = grid.encode_hard(rgb_to_lab(rgb_tensor(images))[:, 1:])
    np.testing.assert_array_equal(bin_maps(images, grid, stride=1), full.numpy())


def test_a_bin_map_cell_takes_the_mean_color_of_its_block_not_one_of_its_pixels() -> None:
    grid = AbGrid.default()
    image = np.zeros((1, 2, 2, 3), np.uint8)
    image[0, :, 0], image[0, :, 1] = (220, 40, 40), (40, 40, 220)  # red | blue: averaged ab is a purple

    cell = int(bin_maps(image, grid, stride=2)[0, 0, 0])

    ab = rgb_to_lab(rgb_tensor(image))[0, 1:].reshape(2, -1)
    alone = set(grid.encode_hard(ab.reshape(1, 2, 1, 4)).flatten().tolist())
    assert cell == int(grid.encode_hard(ab.mean(1).reshape(1, 2, 1, 1))) and cell not in alone


def test_a_cache_can_carry_bin_maps(collection: Path, tmp_path: Path) -> None:
    out = tmp_path / "bins.h5"
    _, manifest = build_cache(
        iter_records([str(collection)]), out, PrepareOptions(SIZE, 24), sources=["x"], bin_stride=2, workers=1
    )
    cache = read_cache(out)

    assert cache.bins is not None and cache.bin_stride == 2
    assert cache.bins.shape == (10, SIZE // 2, SIZE // 2) and cache.bins.dtype == np.uint16
    expected = AbGrid.default().encode_hard(F.avg_pool2d(rgb_to_lab(rgb_tensor(cache.images))[:, 1:], 2))
    np.testing.assert_array_equal(cache.bins, expected.numpy())
    assert manifest["bins"] == {"stride": 2, "grid": 10}
    with h5py.File(out) as f:
        assert f["bins"].chunks == (1, SIZE // 2, SIZE // 2) and f["bins"].compression == "gzip"


def test_a_cache_without_bin_maps_says_so(built: tuple[Path, dict]) -> None:
    cache = read_cache(built[0])
    assert cache.bins is None and cache.bin_stride is None and built[1]["bins"] is None


def test_a_bin_stride_that_does_not_divide_the_size_is_refused_before_decoding(
    collection: Path, tmp_path: Path
) -> None:
    out = tmp_path / "c.h5"
    args = ["prepare", str(collection), "-o", str(out), "--size", "64", "--bins", "--bin-stride", "3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "stride 3 must divide the image size 64" in result.stderr
    assert not out.exists() and not (tmp_path / "c.h5.partial").exists()
