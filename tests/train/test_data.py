"""The training data: collections split as asked, and batches of random crops drawn from them."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from polychrome.data.cache import read_cache
from polychrome.data.split import split_indices
from polychrome.train.config import DataConfig, SourcePreparation, load_config
from polychrome.train.data import (
    Collection,
    blur_by_rescaling,
    collection_records,
    images_and_split,
    load_collections,
    sample_batch,
    validation_records,
)
from tests.train.tiny import tiny_config


def _collections(batch_size: int | None = None, weights: tuple[float, ...] = (1.0,)) -> list[Collection]:
    gen = torch.Generator().manual_seed(0)
    result = []
    for i, weight in enumerate(weights):
        images = torch.randint(0, 256, (5, 16, 16, 3), generator=gen, dtype=torch.uint8)
        spec = DataConfig(sources=(f"c{i}",), crop_size=8, weight=weight, batch_size=batch_size)
        result.append(Collection(spec, images, images[:1], ""))
    return result


def _is_crop_of(crop: torch.Tensor, images: torch.Tensor) -> bool:
    """Whether ``crop`` (3, c, c) is a (possibly mirrored) window of one of ``images`` (N, S, S, 3)."""
    c = crop.shape[-1]
    pixels = (crop * 255).round().to(torch.uint8).permute(1, 2, 0)
    for image in images:
        for y in range(image.shape[0] - c + 1):
            for x in range(image.shape[1] - c + 1):
                window = image[y : y + c, x : x + c]
                if torch.equal(window, pixels) or torch.equal(window.flip(1), pixels):
                    return True
    return False


def test_sample_batch_is_a_pure_function_of_seed_and_step() -> None:
    collections = _collections()

    first = sample_batch(collections, 6, seed=1, step=5)
    torch.manual_seed(123)  # the global RNG plays no part
    again = sample_batch(collections, 6, seed=1, step=5)

    assert first.shape == (6, 3, 8, 8) and first.dtype == torch.float32
    assert float(first.min()) >= 0.0 and float(first.max()) <= 1.0
    assert torch.equal(first, again)
    assert not torch.equal(first, sample_batch(collections, 6, seed=1, step=6))
    assert not torch.equal(first, sample_batch(collections, 6, seed=2, step=5))
    assert all(_is_crop_of(crop, collections[0].train) for crop in first)


def test_sample_batch_crops_at_random_offsets_and_mirrors_about_half() -> None:
    # One photo whose red channel is its column and green its row: each crop tells where it was cut and
    # whether it was mirrored.
    size, crop = 16, 8
    rows, cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    photo = torch.stack((cols * 16, rows * 16, torch.zeros_like(rows)), dim=-1).to(torch.uint8)[None]
    spec = DataConfig(sources=("c",), crop_size=crop, blur=0.0)
    collections = [Collection(spec, photo, photo, "")]

    offsets, mirrored = set(), []
    for step in range(40):
        for c in (sample_batch(collections, 8, seed=0, step=step) * 255).round().long():
            x, y = c[0] // 16, c[1] // 16
            assert torch.all(y == y[0, 0] + torch.arange(crop)[:, None])  # whole rows, top to bottom
            step_x = x[:, 1:] - x[:, :-1]
            assert torch.all(step_x == 1) or torch.all(step_x == -1)  # a window, mirrored or not
            mirrored.append(bool(step_x[0, 0] == -1))
            offsets.add((int(y[0, 0]), int(x.min())))

    assert 0.35 < sum(mirrored) / len(mirrored) < 0.65
    assert {oy for oy, _ in offsets} == set(range(size - crop + 1))  # every offset is drawn
    assert {ox for _, ox in offsets} == set(range(size - crop + 1))


def test_sample_batch_uses_the_collection_batch_size_and_weights() -> None:
    assert sample_batch(_collections(batch_size=3), 6, seed=0, step=0).shape[0] == 3
    collections = _collections(weights=(0.0, 1.0))
    for step in range(5):
        batch = sample_batch(collections, 2, seed=0, step=step)
        assert all(_is_crop_of(crop, collections[1].train) for crop in batch)


def _detail(images: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between horizontal neighbours, per image: what blurring removes."""
    return (images[..., 1:] - images[..., :-1]).abs().mean(dim=(1, 2, 3))


def test_blur_by_rescaling_softens_the_chosen_share_and_keeps_the_rest() -> None:
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(64, 3, 32, 32, generator=gen)

    softened = blur_by_rescaling(images, 0.5, 4.0, torch.Generator().manual_seed(7))
    again = blur_by_rescaling(images, 0.5, 4.0, torch.Generator().manual_seed(7))

    assert torch.equal(softened, again)
    assert softened.shape == images.shape and float(softened.min()) >= 0 and float(softened.max()) <= 1
    changed = (softened != images).flatten(1).any(dim=1)
    assert 16 < int(changed.sum()) < 48  # about half (factors rounding to 1 stay sharp)
    assert torch.all(_detail(softened[changed]) < 0.6 * _detail(images[changed]))
    # A soft copy keeps the image's overall color: the mean moves far less than the detail.
    assert torch.allclose(softened.mean(dim=(2, 3)), images.mean(dim=(2, 3)), atol=0.02)
    assert torch.equal(blur_by_rescaling(images, 0.0, 4.0, gen), images)


def test_sample_batch_blurs_only_when_asked() -> None:
    sharp = _collections()
    soft = [Collection(replace(c.config, blur=1.0, crop_size=16), c.train, c.val, "") for c in sharp]
    full = [Collection(replace(c.config, crop_size=16), c.train, c.val, "") for c in sharp]

    blurred = sample_batch(soft, 32, seed=0, step=3)
    plain = sample_batch(full, 32, seed=0, step=3)

    assert all(_is_crop_of(crop, sharp[0].train) for crop in plain)
    assert float(_detail(blurred).mean()) < 0.7 * float(_detail(plain).mean())


def test_zoom_cuts_crops_at_the_drawn_scale_and_resizes_them() -> None:
    gen = torch.Generator().manual_seed(0)
    # A 32 px photo of 2x2-pixel tiles: zooming in 2x makes each tile 4x4 in the crop.
    tiles = torch.randint(0, 256, (4, 16, 16, 3), generator=gen, dtype=torch.uint8)
    images = tiles.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2)
    plain = Collection(DataConfig(sources=("c",), crop_size=16), images, images[:1], "")
    zoomed = [Collection(replace(plain.config, zoom=(2.0, 2.0)), images, images[:1], "")]

    batch = sample_batch(zoomed, 8, seed=0, step=0)

    assert batch.shape == (8, 3, 16, 16)
    assert not any(_is_crop_of(crop, images) for crop in batch)  # resized, not cut as is
    # A cut of 8 px enlarged 2x: its detail is spread over twice the distance.
    assert float(_detail(batch).mean()) < 0.75 * float(_detail(sample_batch([plain], 8, 0, 0)).mean())
    assert torch.equal(batch, sample_batch(zoomed, 8, seed=0, step=0))
    # Without zoom the batches are those of before (no extra draw from the step's generator).
    unit = [Collection(replace(plain.config, zoom=(1.0, 1.0)), images, images[:1], "")]
    assert torch.equal(sample_batch(unit, 8, 0, 5), sample_batch([plain], 8, 0, 5))
    # Zooming out beyond the photo cuts the whole photo and shrinks it.
    out = [Collection(replace(plain.config, zoom=(0.25, 0.25)), images, images[:1], "")]
    whole = torch.nn.functional.interpolate(
        images.permute(0, 3, 1, 2).float() / 255, size=(16, 16), mode="bilinear", antialias=True
    )
    assert all(
        any(torch.allclose(c, w, atol=1e-5) or torch.allclose(c, w.flip(-1), atol=1e-5) for w in whole)
        for c in sample_batch(out, 8, 0, 1)
    )


def test_sample_batch_ranks_draw_from_disjoint_parts() -> None:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (6, 16, 16, 3), generator=gen, dtype=torch.uint8)
    spec = DataConfig(sources=("c",), crop_size=16)
    collections = [Collection(spec, images, images[:1], "")]

    for rank in (0, 1):
        for step in range(4):
            batch = sample_batch(collections, 8, seed=0, step=step, rank=rank, world_size=2)
            assert all(_is_crop_of(crop, images[rank::2]) for crop in batch)
    with pytest.raises(ValueError, match="rank 3 has no training images"):
        sample_batch([Collection(spec, images[:2], images[:1], "")], 2, 0, 0, rank=3, world_size=4)


def test_split_order_reaches_the_split(photos: Path) -> None:
    config = tiny_config(photos)
    spec = config.data[0]
    spec = replace(spec, prepare=replace(spec.prepare, split=(0.5, 0.5, 0.0)))
    _, permutation, _, _ = images_and_split(spec, config)
    stable_spec = replace(spec, prepare=replace(spec.prepare, split_order="stable"))
    _, stable, _, _ = images_and_split(stable_spec, config)
    names = sorted(f"{photos.name}/{p.name}" for p in photos.iterdir())  # a folder's names start with it
    expected = split_indices(names, (0.5, 0.5, 0.0), seed=config.seed, order="stable")
    for part in ("train", "val"):
        np.testing.assert_array_equal(stable[part], expected[part])
    assert not all(np.array_equal(stable[p], permutation[p]) for p in ("train", "val"))


def test_enlarge_reaches_the_prepared_training_photos(photos: Path) -> None:
    """Photos smaller than image_size are enlarged by the filter the config names."""
    config = tiny_config(photos)
    spec = replace(config.data[0], prepare=SourcePreparation(image_size=96, min_size=16), crop_size=64)
    lanczos, _, _, _ = images_and_split(spec, config)
    bicubic_spec = replace(spec, prepare=replace(spec.prepare, enlarge="bicubic"))
    bicubic, _, _, _ = images_and_split(bicubic_spec, config)
    assert lanczos.shape == bicubic.shape and lanczos.shape[1] == 96
    assert not torch.equal(lanczos, bicubic)
    assert (lanczos.float() - bicubic.float()).abs().mean() < 8  # the same photos, enlarged differently


def test_val_size_larger_than_a_caches_images_is_refused(photos: Path, tmp_path: Path) -> None:
    from polychrome.data.cache import build_cache
    from polychrome.data.prepare import PrepareOptions
    from polychrome.data.sources import iter_records

    cache = tmp_path / "small.h5"
    options = PrepareOptions(image_size=32, min_size=32)
    build_cache(iter_records([str(photos)]), cache, options, sources=[str(photos)], workers=1)
    overrides = [f"data=[{{cache: '{cache}', crop_size: 32, val_size: 48}}]", "workers=1"]
    config = load_config(overrides=overrides)

    with pytest.raises(ValueError, match="val_size 48 is larger than its 32 px images"):
        load_collections(config, torch.device("cpu"))


def test_validation_records_are_the_split_training_validates_on(photos: Path, tmp_path: Path) -> None:
    from polychrome.data.cache import build_cache
    from polychrome.data.prepare import prepare_images

    config = tiny_config(photos, "data.0.prepare.split_order=stable")
    spec = config.data[0]
    kept = prepare_images(collection_records(spec), spec.prepare.decode_options(), workers=1).names
    expected = [kept[i] for i in split_indices(kept, spec.prepare.split, seed=0, order="stable")["val"]]

    records = validation_records(spec, config)

    assert [r.name for r in records] == expected and len(expected) == 6
    assert all(r.path is not None and Path(r.path).is_file() for r in records)  # the original files
    cache = tmp_path / "c.h5"
    build_cache(
        collection_records(spec), cache, spec.prepare.decode_options(), sources=[str(photos)], workers=1
    )
    from_cache = validation_records(
        replace(spec, sources=(), cache=str(cache), prepare=SourcePreparation()), config
    )
    stored = read_cache(cache)
    assert [r.name for r in from_cache] == [stored.names[i] for i in stored.splits["val"]]
    first = np.asarray(Image.open(io.BytesIO(from_cache[0].data)))
    np.testing.assert_array_equal(first, stored.images[stored.splits["val"][0]])  # the prepared photo


def test_near_copies_are_dropped_at_the_start_and_when_sources_grow(photos: Path, tmp_path: Path) -> None:
    from polychrome.train.data import grow_collections

    folder = tmp_path / "photos"
    folder.mkdir()
    for name in sorted(p.name for p in photos.iterdir())[:8]:
        (folder / name).write_bytes((photos / name).read_bytes())
    Image.open(folder / "003.jpg").resize((60, 60)).save(folder / "copy-of-3.jpg")  # a smaller copy
    config = tiny_config(folder, "data.0.prepare.split=[0.5, 0.5, 0]")

    collections = load_collections(config, torch.device("cpu"))

    assert "photos/copy-of-3.jpg" not in collections[0].parts and len(collections[0].parts) == 8
    assert "1 duplicate" in collections[0].summary
    kept = load_collections(tiny_config(folder, "data.0.prepare.dedup=false"), torch.device("cpu"))
    assert "photos/copy-of-3.jpg" in kept[0].parts
    # A photo that arrives later and copies one already there is dropped too; a new one is taken in.
    Image.open(folder / "005.jpg").resize((70, 70)).save(folder / "copy-of-5.jpg")
    (folder / "new.jpg").write_bytes((photos / "020.jpg").read_bytes())
    before = {part: getattr(collections[0], part).clone() for part in ("train", "val")}
    assert grow_collections(collections, config) == 1
    assert "photos/new.jpg" in collections[0].parts and "photos/copy-of-5.jpg" not in collections[0].parts
    # The photos already there keep their rows; the new one is added after them, as prepared.
    part = collections[0].parts["photos/new.jpg"]
    grown = getattr(collections[0], part)
    assert len(grown) == len(before[part]) + 1
    torch.testing.assert_close(grown[: len(before[part])], before[part], rtol=0, atol=0)
    alone = load_collections(tiny_config(folder, "data.0.prepare.split=[1, 0, 0]"), torch.device("cpu"))
    new_row = alone[0].train[sorted(alone[0].parts).index("photos/new.jpg")]
    torch.testing.assert_close(grown[-1], new_row, rtol=0, atol=0)
