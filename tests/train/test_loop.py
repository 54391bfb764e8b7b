"""The training loop end to end on CPU with a tiny model and two dozen tiny JPEGs."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from polychrome.color.lab import rgb_to_lightness
from polychrome.data.split import split_indices
from polychrome.models import create_model, load_pretrained
from polychrome.train import loop
from polychrome.train.checkpoint import load_checkpoint
from polychrome.train.config import DataConfig, TrainConfig, load_config
from polychrome.train.loop import (
    Collection,
    NonFiniteLoss,
    TrainResult,
    blur_by_rescaling,
    lr_factor,
    sample_batch,
    save_grid,
    train,
)

NUM_IMAGES = 24


def _colorful(seed: int, size: int = 80) -> np.ndarray:
    """Smooth random color gradients: every image clearly colored, no two alike."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    channels = [
        np.sin(
            2 * np.pi * (rng.uniform(-1.5, 1.5) * x + rng.uniform(-1.5, 1.5) * y) + rng.uniform(0, 2 * np.pi)
        )
        for _ in range(3)
    ]
    return np.clip(127.5 + 110 * np.stack(channels, axis=-1), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for i in range(NUM_IMAGES):
        Image.fromarray(_colorful(i)).save(folder / f"{i:03d}.jpg", quality=90)
    return folder


def _config(photos: Path, *overrides: str) -> TrainConfig:
    collection = f"sources: ['{photos}'], image_size: 64, crop_size: 32, min_size: 32, split: [0.75, 0.25, 0]"
    data = f"data=[{{{collection}}}]"
    base = [
        "model.name=effunet_tiny_cls",
        "model.pretrained_encoder=false",
        data,
        "batch_size=4",
        "steps=6",
        "steps_per_epoch=3",
        "workers=1",
        "device=cpu",
        "precision=fp32",
        "log_every=2",
        "optim.warmup_steps=2",
    ]
    return load_config(overrides=[*base, *overrides])


@pytest.fixture(scope="module")
def straight_run(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainResult, list[tuple]]:
    """Run A: six steps in one go."""
    calls: list[tuple[int, int, dict[str, float]]] = []
    result = train(
        _config(photos), tmp_path_factory.mktemp("runs") / "a", on_progress=lambda *a: calls.append(a)
    )
    return result, calls


def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_pretrained(model_dir).state_dict()


def test_run_writes_config_checkpoints_metrics_grids_and_model(
    straight_run: tuple[TrainResult, list],
) -> None:
    result, _ = straight_run
    run = result.run_dir

    assert result.finished and result.step == 6
    assert math.isfinite(result.metrics["val/psnr"])
    assert load_config(run / "config.yaml").model.name == "effunet_tiny_cls"
    assert (run / "checkpoints" / "last.pt").is_file() and (run / "checkpoints" / "best.pt").is_file()
    last = load_checkpoint(run / "checkpoints" / "last.pt")
    assert last["step"] == 6 and last["config"]["steps"] == 6

    with (run / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [3, 6]
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert {"val/psnr", "val/psnr_gray", "val/colorfulness", "val0/psnr", "loss"} <= set(rows[0])
    assert all(math.isfinite(float(r["val/psnr"])) for r in rows)
    with (run / "train.csv").open() as f:
        logged = list(csv.DictReader(f))
    assert [int(r["step"]) for r in logged] == [2, 4, 6]  # every log_every steps
    assert all(float(r["loss"]) > 0 and float(r["lr"]) > 0 and float(r["images_per_s"]) > 0 for r in logged)
    events = list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    with Image.open(run / "curves.png") as curves:
        assert curves.width > 400 and curves.height > 100

    n_val = round(NUM_IMAGES * 0.25)
    for epoch in (1, 2):
        with Image.open(run / "grids" / f"epoch_{epoch:03d}.png") as grid:
            assert grid.size == (3 * 64, n_val * 64)  # gray | prediction | truth, one row per image

    model_dir = run / "model"
    assert sorted(p.name for p in model_dir.iterdir()) == ["config.json", "model.safetensors"]
    saved = json.loads((model_dir / "config.json").read_text())
    assert saved["architecture"] == "effunet_tiny_cls"
    assert saved["train_config"]["steps"] == 6
    assert len(saved["class_priors"]) == saved["init_args"]["num_bins"]
    model = load_pretrained(model_dir)
    with torch.no_grad():
        ab = model.predict_ab(torch.full((1, 1, 32, 32), 50.0))
    assert ab.shape == (1, 2, 16, 16) and torch.isfinite(ab).all()


def test_training_changes_the_weights(straight_run: tuple[TrainResult, list]) -> None:
    result, _ = straight_run
    torch.manual_seed(0)
    initial = create_model("effunet_tiny_cls").state_dict()
    trained = _weights(result.run_dir / "model")

    assert not torch.equal(initial["head.weight"], trained["head.weight"])


def test_progress_callback_is_called_every_log_every_steps(straight_run: tuple[TrainResult, list]) -> None:
    _, calls = straight_run

    assert [(step, total) for step, total, _ in calls] == [(2, 6), (4, 6), (6, 6)]
    for _, _, info in calls:
        assert set(info) == {"loss", "lr", "images_per_s"}
        assert math.isfinite(info["loss"]) and info["loss"] > 0 and info["lr"] > 0


def test_starting_over_an_existing_run_raises(straight_run: tuple[TrainResult, list], photos: Path) -> None:
    result, _ = straight_run
    with pytest.raises(FileExistsError, match="resume"):
        train(_config(photos), result.run_dir)


def test_resume_is_exact(straight_run: tuple[TrainResult, list], photos: Path, tmp_path: Path) -> None:
    result_a, _ = straight_run
    run_b = tmp_path / "b"

    # A time budget that is over after every step: each call trains one step, checkpoints and pauses.
    paused = train(_config(photos, "max_minutes=1.0e-9"), run_b)
    assert (paused.step, paused.finished) == (1, False)
    assert not (run_b / "model").exists()
    assert load_checkpoint(run_b / "checkpoints" / "last.pt")["step"] == 1

    paused = train(_config(photos, "max_minutes=1.0e-9"), run_b, resume=True)
    assert (paused.step, paused.finished) == (2, False)

    finished = train(_config(photos), run_b, resume=True)
    assert (finished.step, finished.finished) == (6, True)

    weights_a, weights_b = _weights(result_a.run_dir / "model"), _weights(run_b / "model")
    assert weights_a.keys() == weights_b.keys()
    for key in weights_a:
        assert torch.equal(weights_b[key], weights_a[key]), key
    assert finished.metrics["val/psnr"] == pytest.approx(result_a.metrics["val/psnr"], abs=1e-4)
    last_a = load_checkpoint(result_a.run_dir / "checkpoints" / "last.pt")
    last_b = load_checkpoint(run_b / "checkpoints" / "last.pt")
    assert last_a["scheduler"] == last_b["scheduler"]
    torch.testing.assert_close(last_b["priors"], last_a["priors"], rtol=0, atol=0)


def test_resume_of_a_finished_run_changes_nothing(
    straight_run: tuple[TrainResult, list], photos: Path
) -> None:
    result, _ = straight_run
    before = _weights(result.run_dir / "model")

    again = train(_config(photos), result.run_dir, resume=True)

    assert again.step == 6 and again.finished
    after = _weights(result.run_dir / "model")
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_regression_variant_trains(photos: Path, tmp_path: Path) -> None:
    result = train(
        _config(photos, "model.name=effunet_tiny_reg", "steps=2", "steps_per_epoch=2"), tmp_path / "reg"
    )

    assert result.finished and result.step == 2
    assert math.isfinite(result.metrics["val/psnr"])
    saved = json.loads((tmp_path / "reg" / "model" / "config.json").read_text())
    assert saved["architecture"] == "effunet_tiny_reg" and saved["class_priors"] is None
    assert load_pretrained(tmp_path / "reg" / "model").head_type == "regression"


def test_nan_loss_stops_with_the_checkpoint_named(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def nan_loss(self: Any, pred: torch.Tensor, *truth: torch.Tensor) -> torch.Tensor:
        return pred.float().sum() * float("nan")

    monkeypatch.setattr(loop.AbRegressionLoss, "forward", nan_loss)

    with pytest.raises(NonFiniteLoss, match=r"step 0.*last\.pt") as info:
        train(_config(photos, "model.name=effunet_tiny_reg"), tmp_path / "nan")
    assert str(tmp_path / "nan" / "checkpoints" / "last.pt") in str(info.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.0.crop_size=48", "multiple of 32"),
        ("data.0.crop_size=96", "larger than image_size"),
        ("data.0.zoom=[1.5,1.2]", "0 < low <= high"),
    ],
)
def test_bad_crop_size_raises(photos: Path, tmp_path: Path, override: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        train(_config(photos, override), tmp_path / "bad")


def test_no_data_raises(tmp_path: Path) -> None:
    config = load_config(
        overrides=["model.name=effunet_tiny_reg", "model.pretrained_encoder=false", "device=cpu"]
    )
    with pytest.raises(ValueError, match="no training data"):
        train(config, tmp_path / "empty")


# --- batch sampling and schedule ----------------------------------------------------------------------


def _collections(batch_size: int | None = None, weights: tuple[float, ...] = (1.0,)) -> list[Collection]:
    gen = torch.Generator().manual_seed(0)
    result = []
    for i, weight in enumerate(weights):
        images = torch.randint(0, 256, (5, 16, 16, 3), generator=gen, dtype=torch.uint8)
        spec = DataConfig(
            sources=(f"c{i}",), image_size=16, crop_size=8, weight=weight, batch_size=batch_size
        )
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


def test_the_optimizer_is_adamw_with_a_slower_encoder() -> None:
    config = _config(
        Path("unused"), "optim.lr=0.002", "optim.encoder_lr_scale=0.1", "optim.weight_decay=0.05"
    )
    model = create_model("effunet_tiny_reg", pretrained_encoder=False)

    optimizer = loop.build_optimizer(model, config)

    assert type(optimizer) is torch.optim.AdamW
    rest, encoder = optimizer.param_groups
    assert rest["lr"] == pytest.approx(0.002) and encoder["lr"] == pytest.approx(0.0002)
    assert rest["weight_decay"] == encoder["weight_decay"] == pytest.approx(0.05)
    named = dict(model.named_parameters())
    assert {id(p) for p in encoder["params"]} == {id(p) for n, p in named.items() if n.startswith("encoder.")}
    assert len(rest["params"]) + len(encoder["params"]) == len(named)


def test_grid_rows_are_gray_input_prediction_and_truth(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(3)
    images = torch.randint(0, 256, (3, 16, 16, 3), generator=gen, dtype=torch.uint8)
    model = create_model("effunet_tiny_reg", pretrained_encoder=False).eval()

    save_grid(model, images, tmp_path / "grid.png")

    grid = np.asarray(Image.open(tmp_path / "grid.png")).astype(int)
    assert grid.shape == (3 * 16, 3 * 16, 3)
    for i, image in enumerate(images.numpy().astype(int)):
        gray, pred, truth = (grid[16 * i : 16 * (i + 1), 16 * j : 16 * (j + 1)] for j in range(3))
        np.testing.assert_array_equal(truth, image)
        assert (
            np.abs(gray[..., 0] - gray[..., 1]).max() <= 1 and np.abs(gray[..., 1] - gray[..., 2]).max() <= 1
        )
        assert np.abs(pred - gray).max() > 2  # the model's colors, not the gray input again
        lightness = [
            rgb_to_lightness(torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255) for x in (gray, pred)
        ]
        assert float((lightness[0] - lightness[1]).abs().max()) < 1.0  # both keep the photo's lightness


def test_sample_batch_crops_at_random_offsets_and_mirrors_about_half() -> None:
    # One photo whose red channel is its column and green its row: each crop tells where it was cut and
    # whether it was mirrored.
    size, crop = 16, 8
    rows, cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    photo = torch.stack((cols * 16, rows * 16, torch.zeros_like(rows)), dim=-1).to(torch.uint8)[None]
    spec = DataConfig(sources=("c",), image_size=size, crop_size=crop, blur=0.0)
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
    plain = Collection(DataConfig(sources=("c",), image_size=32, crop_size=16), images, images[:1], "")
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


def test_tensorboard_events_hold_the_logged_scalars(straight_run: tuple[TrainResult, list]) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(straight_run[0].run_dir / "tensorboard"))
    events.Reload()
    with (straight_run[0].run_dir / "train.csv").open() as f:
        logged = list(csv.DictReader(f))

    losses = events.Scalars("train/loss")
    assert [e.step for e in losses] == [2, 4, 6]
    assert [e.value for e in losses] == pytest.approx([float(r["loss"]) for r in logged], rel=1e-5)
    assert [e.step for e in events.Scalars("val/psnr")] == [3, 6]


def test_step_schedule_and_unknown_schedule() -> None:
    config = load_config(
        overrides=[
            "optim.schedule=step",
            "optim.warmup_steps=2",
            "optim.step_every=3",
            "optim.step_gamma=0.5",
        ]
    )
    factors = [loop.schedule_factor(s, config) for s in range(10)]

    assert factors == pytest.approx([0.5, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25])
    with pytest.raises(ValueError, match="optim.schedule must be"):
        loop.schedule_factor(0, load_config(overrides=["optim.schedule=linear"]))


def test_compiled_training_step_matches_the_plain_one(photos: Path, tmp_path: Path) -> None:
    # The eager backend runs the TorchDynamo capture without a C++ compiler: the same graph, same numbers.
    plain = train(_config(photos, "steps=2", "steps_per_epoch=2"), tmp_path / "plain")
    compiled = train(
        _config(photos, "steps=2", "steps_per_epoch=2", "compile=true", "compile_backend=eager"),
        tmp_path / "compiled",
    )

    a, b = _weights(plain.run_dir / "model"), _weights(compiled.run_dir / "model")
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    assert not any(k.startswith("_orig_mod") for k in b)  # the saved names are the model's own


def test_sample_batch_ranks_draw_from_disjoint_parts() -> None:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (6, 16, 16, 3), generator=gen, dtype=torch.uint8)
    spec = DataConfig(sources=("c",), image_size=16, crop_size=16)
    collections = [Collection(spec, images, images[:1], "")]

    for rank in (0, 1):
        for step in range(4):
            batch = sample_batch(collections, 8, seed=0, step=step, rank=rank, world_size=2)
            assert all(_is_crop_of(crop, images[rank::2]) for crop in batch)
    with pytest.raises(ValueError, match="rank 3 has no training images"):
        sample_batch([Collection(spec, images[:2], images[:1], "")], 2, 0, 0, rank=3, world_size=4)


def test_lr_factor_warms_up_linearly_then_decays_by_cosine() -> None:
    warmup, total, floor = 10, 110, 0.1
    factors = [lr_factor(s, warmup, total, floor) for s in range(total + 5)]

    assert factors[:warmup] == pytest.approx([(s + 1) / warmup for s in range(warmup)])
    assert factors[warmup] == pytest.approx(1.0)
    assert factors[warmup + 50] == pytest.approx((1 + floor) / 2)
    assert factors[total] == pytest.approx(floor)
    assert factors[-1] == pytest.approx(floor)  # stays at the floor past the end
    decay = factors[warmup:]
    assert all(a >= b for a, b in zip(decay, decay[1:], strict=False))
    assert lr_factor(0, 0, 10, 0.0) == pytest.approx(1.0)


def test_init_from_starts_at_the_saved_weights(
    straight_run: tuple[TrainResult, list], photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = straight_run[0].run_dir / "model"
    seen: dict[str, torch.Tensor] = {}
    original_step = torch.optim.AdamW.step

    def spy(self, *args, **kwargs):  # capture the weights as the first optimizer step sees them
        if not seen:
            seen.update({n: p.detach().clone() for n, p in enumerate(self.param_groups[0]["params"])})
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", spy)
    result = train(
        _config(photos, f"model.init_from='{source}'", "steps=1", "steps_per_epoch=1"), tmp_path / "ft"
    )

    assert result.finished
    trained = load_pretrained(source)
    decoder = [p for n, p in trained.named_parameters() if not n.startswith("encoder.")]
    assert all(torch.equal(seen[i], p) for i, p in enumerate(decoder))


def test_decoded_l1_option_trains(photos: Path, tmp_path: Path) -> None:
    result = train(_config(photos, "loss.decoded_l1=1.0", "steps=2", "steps_per_epoch=2"), tmp_path / "dl1")
    assert result.finished and math.isfinite(result.metrics["loss"])


def test_colorfulness_option_adds_to_the_regression_loss(photos: Path, tmp_path: Path) -> None:
    losses = {}
    for weight in (0.0, 1.0):
        overrides = (f"loss.colorfulness={weight}", "steps=1", "steps_per_epoch=1", "log_every=1")
        result = train(_config(photos, "model.name=effunet_tiny_reg", *overrides), tmp_path / f"cf{weight}")
        assert result.finished
        losses[weight] = result.metrics["loss"]
    # The same seed draws the same batch and weights: only the colorfulness term differs.
    assert math.isfinite(losses[1.0]) and losses[1.0] > losses[0.0]


def test_rgb_space_loss_trains_and_a_bad_space_fails_before_the_data_loads(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    overrides = ("model.name=effunet_tiny_reg", "steps=2", "steps_per_epoch=2", "log_every=1")
    losses = {}
    for space in ("ab", "rgb"):
        result = train(
            _config(photos, *overrides, f"loss.space={space}", "loss.colorfulness=0.2"), tmp_path / space
        )
        assert result.finished and math.isfinite(result.metrics["loss"])
        losses[space] = result.metrics["loss"]
    assert losses["rgb"] != pytest.approx(losses["ab"])  # the same batches, a different comparison

    def no_data(*args, **kwargs):
        raise AssertionError("the data was loaded")

    monkeypatch.setattr("polychrome.train.loop.load_collections", no_data)
    with pytest.raises(ValueError, match="ab or rgb"):
        train(_config(photos, *overrides, "loss.space=hsv"), tmp_path / "hsv")
    assert not (tmp_path / "hsv").exists()


def test_a_loss_option_the_model_ignores_is_refused_before_anything_is_written(
    photos: Path, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="loss.colorfulness=0.5: not used by classification models"):
        train(_config(photos, "loss.colorfulness=0.5"), tmp_path / "cls")
    assert not (tmp_path / "cls").exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_checkpoints_and_stops_then_resume_matches_the_straight_run(
    straight_run: tuple[TrainResult, list], photos: Path, tmp_path: Path, signum: int
) -> None:
    def interrupt(step: int, total: int, info: dict) -> None:
        if step == 2:
            os.kill(os.getpid(), signum)

    stopped = train(_config(photos), tmp_path / "b", on_progress=interrupt)
    assert not stopped.finished and stopped.step == 2
    assert stopped.stopped_by == signal.Signals(signum).name
    assert load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")["step"] == 2
    assert signal.getsignal(signum) is not None  # our handler was removed again

    resumed = train(_config(photos), tmp_path / "b", resume=True)
    assert resumed.finished and resumed.stopped_by is None
    straight = _weights(straight_run[0].run_dir / "model")
    assert all(torch.equal(v, straight[k]) for k, v in _weights(tmp_path / "b" / "model").items())


def test_ema_with_decay_zero_is_the_model_itself(
    straight_run: tuple[TrainResult, list], photos: Path, tmp_path
):
    train(_config(photos, "optim.ema_decay=0.0"), tmp_path / "ema0")
    straight = _weights(straight_run[0].run_dir / "model")
    ema = _weights(tmp_path / "ema0" / "model")
    assert all(torch.allclose(v, straight[k]) for k, v in ema.items() if v.is_floating_point())


def test_ema_is_exported_and_resumes_exactly(straight_run: tuple[TrainResult, list], photos: Path, tmp_path):
    whole = train(_config(photos, "optim.ema_decay=0.5"), tmp_path / "a")
    averaged = _weights(tmp_path / "a" / "model")
    plain = _weights(straight_run[0].run_dir / "model")
    assert whole.finished and not all(torch.equal(v, plain[k]) for k, v in averaged.items())

    def interrupt(step: int, total: int, info: dict) -> None:
        if step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    train(_config(photos, "optim.ema_decay=0.5"), tmp_path / "b", on_progress=interrupt)
    train(_config(photos, "optim.ema_decay=0.5"), tmp_path / "b", resume=True)
    resumed = _weights(tmp_path / "b" / "model")
    assert all(torch.equal(v, averaged[k]) for k, v in resumed.items())


def test_a_grad_scaler_gives_the_same_update_as_none() -> None:
    torch.manual_seed(0)
    nets = [torch.nn.Linear(4, 2) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    x = torch.randn(8, 4)
    for net, scaler in zip(nets, [None, torch.amp.GradScaler("cpu", init_scale=1024.0)], strict=True):
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        loop.apply_update(net, opt, net(x).square().mean(), grad_clip=0.5, scaler=scaler)
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_fp16_precision_is_accepted_and_runs_in_fp32_on_the_cpu(photos: Path, tmp_path: Path) -> None:
    result = train(_config(photos, "precision=fp16-mixed", "steps=2", "steps_per_epoch=2"), tmp_path / "fp16")
    assert result.finished
    with pytest.raises(ValueError, match="precision must be one of"):
        train(_config(photos, "precision=int8"), tmp_path / "bad")


def test_early_stopping_exports_the_best_weights(photos: Path, tmp_path: Path, monkeypatch) -> None:
    scores = iter([20.0, 19.0, 18.0])  # the first validation is the best

    def fake_validate(*args, **kwargs) -> dict[str, float]:
        return {"val/psnr": next(scores)}

    monkeypatch.setattr(loop, "validate", fake_validate)
    result = train(_config(photos, "steps=30", "steps_per_epoch=2", "early_stop_patience=2"), tmp_path / "es")

    assert result.finished and result.step == 6 and result.metrics["best_step"] == 2
    best = load_checkpoint(tmp_path / "es" / "checkpoints" / "best.pt")["model"]
    exported = _weights(tmp_path / "es" / "model")
    assert all(torch.equal(exported[k], v) for k, v in best.items() if k in exported)


@pytest.mark.parametrize("name", ["zhang2016_tiny_cls", "unet_tiny_reg"])
def test_the_families_without_a_pretrained_encoder_train(photos: Path, tmp_path: Path, name: str) -> None:
    run = tmp_path / name
    result = train(_config(photos, f"model.name={name}", "steps=2", "steps_per_epoch=2"), run)

    assert result.finished and math.isfinite(result.metrics["val/psnr"])
    saved = json.loads((run / "model" / "config.json").read_text())
    model = load_pretrained(run / "model")
    assert saved["architecture"] == name and model.architecture == name
    assert (saved["class_priors"] is not None) == (model.head_type == "classification")
    torch.manual_seed(0)  # the run's seed: the weights it started from
    initial = create_model(name).state_dict()
    assert torch.equal(initial["ab_centers"], model.state_dict()["ab_centers"])
    assert not torch.equal(initial["head.weight"], model.state_dict()["head.weight"])


ADVERSARIAL = [
    "model.name=unet_tiny_reg",
    "adversarial={critic: patchgan_tiny, pretrain_steps: 2, generator_steps: 2, critic_steps: 1}",
    "log_every=1",
]


def test_adversarial_recipe_pretrains_then_trains_critic_and_generator(photos: Path, tmp_path: Path) -> None:
    result = train(_config(photos, *ADVERSARIAL, "steps=4", "steps_per_epoch=2"), tmp_path / "gan")
    with (result.run_dir / "train.csv").open() as f:
        rows = list(csv.DictReader(f))
    ckpt = load_checkpoint(result.run_dir / "checkpoints" / "last.pt")

    assert result.finished and [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    # L1 alone for the first two steps; then the critic's losses appear beside the generator's.
    assert not rows[0].get("loss_critic") and not rows[1].get("loss_critic")
    assert all(math.isfinite(float(r[k])) for r in rows[2:] for k in ("loss_critic", "gradient_penalty"))
    assert float(rows[2]["gradient_penalty"]) > 0
    # The generator's loss is 100 x L1 plus the adversarial term.
    for r in rows[2:]:
        assert float(r["loss"]) == pytest.approx(
            100 * float(r["loss_l1"]) + float(r["loss_adversarial"]), rel=1e-4
        )
    critic = ckpt["adversary"]["critic"]
    torch.manual_seed(0)
    from polychrome.models._registry import create_critic

    fresh = create_critic("patchgan_tiny").state_dict()
    assert any(not torch.equal(critic[k], fresh[k]) for k in fresh)  # the critic was trained
    assert (result.run_dir / "model" / "model.safetensors").is_file()


def test_adversarial_resume_is_exact(photos: Path, tmp_path: Path) -> None:
    straight = train(_config(photos, *ADVERSARIAL, "steps=4", "steps_per_epoch=2"), tmp_path / "a")
    paused = train(
        _config(photos, *ADVERSARIAL, "steps=4", "steps_per_epoch=2", "max_minutes=0"), tmp_path / "b"
    )
    assert not paused.finished and paused.step == 1
    resumed = train(
        _config(photos, *ADVERSARIAL, "steps=4", "steps_per_epoch=2"), tmp_path / "b", resume=True
    )

    a, b = _weights(straight.run_dir / "model"), _weights(resumed.run_dir / "model")
    assert resumed.finished and all(torch.equal(a[k], b[k]) for k in a)


def test_adversarial_generator_trains_on_the_recipes_pixel_loss(photos: Path, tmp_path: Path) -> None:
    rows = {}
    for weight in (0.0, 5.0):
        overrides = ("adversarial.pretrain_steps=0", "adversarial.generator_steps=1", "steps=1")
        result = train(
            _config(photos, *ADVERSARIAL, *overrides, f"loss.colorfulness={weight}", "steps_per_epoch=1"),
            tmp_path / f"gan{weight}",
        )
        with (result.run_dir / "train.csv").open() as f:
            rows[weight] = list(csv.DictReader(f))[0]
    # Same seed, batch, generator and critic: the critic's step is the same, and the generator's pixel loss
    # is the recipe's, colorfulness term included.
    assert float(rows[0.0]["loss_critic"]) == pytest.approx(float(rows[5.0]["loss_critic"]), rel=1e-5)
    assert float(rows[5.0]["loss_l1"]) > float(rows[0.0]["loss_l1"]) > 0


def test_adversarial_recipe_needs_a_regression_generator(photos: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs a regression generator"):
        train(_config(photos, ADVERSARIAL[1]), tmp_path / "cls")


def test_palette_model_trains_through_the_loop(photos: Path, tmp_path: Path) -> None:
    palette = "[[0, 0], [40, 40], [-30, 50], [20, -60], [-50, -20], [60, 10]]"
    result = train(
        _config(photos, f"model.args={{palette: {palette}}}", "steps=2", "steps_per_epoch=2"), tmp_path / "p"
    )

    model = load_pretrained(result.run_dir / "model")
    assert model.ab_centers.shape == (6, 2)
    assert len(json.loads((result.run_dir / "model" / "config.json").read_text())["class_priors"]) == 6


def _encoder_and_decoder_changed(run_dir: Path) -> tuple[dict[str, bool], bool]:
    torch.manual_seed(0)
    initial = create_model("effunet_tiny_cls").state_dict()
    trained = _weights(run_dir / "model")
    blocks = {
        part: any(
            not torch.equal(initial[k], trained[k])
            for k in initial
            if k.startswith(prefix) and "running" not in k
        )
        for part, prefix in (
            ("stem", "encoder._conv_stem"),
            ("early", "encoder._blocks.0."),
            ("last", "encoder._blocks.15."),
        )
    }
    decoder = any(not torch.equal(initial[k], trained[k]) for k in initial if k.startswith("up2."))
    return blocks, decoder


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["optim.encoder=frozen"], {"stem": False, "early": False, "last": False}),
        (
            ["optim.encoder=partial", "optim.encoder_trainable_blocks=1"],
            {"stem": False, "early": False, "last": True},
        ),
        (["optim.encoder=frozen", "optim.unfreeze_at_step=3"], {"stem": True, "early": True, "last": True}),
        (
            ["optim.encoder=frozen", "optim.unfreeze_at_step=6"],
            {"stem": False, "early": False, "last": False},
        ),
    ],
)
def test_encoder_freezing_and_unfreezing(
    photos: Path, tmp_path: Path, overrides: list[str], expected: dict
) -> None:
    result = train(_config(photos, *overrides), tmp_path / "run")
    blocks, decoder = _encoder_and_decoder_changed(result.run_dir)

    assert result.finished and decoder
    assert blocks == expected


def test_encoder_schedule_rejects_bad_settings(photos: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="optim.encoder must be"):
        train(_config(photos, "optim.encoder=half"), tmp_path / "a")
    with pytest.raises(ValueError, match="encoder_trainable_blocks must be 1..16"):
        train(_config(photos, "optim.encoder=partial", "optim.encoder_trainable_blocks=0"), tmp_path / "b")


def test_val_size_scores_validation_as_the_benchmark_protocol_does(photos: Path) -> None:
    from polychrome import Colorizer
    from polychrome.evaluate.quality import evaluate_colorizer_batched

    config = _config(photos, "model.name=effunet_tiny_reg", "data.0.val_size=24")
    collections = loop.load_collections(config, torch.device("cpu"))
    model = create_model("effunet_tiny_reg", pretrained_encoder=False, chroma_gain=1.3).eval()

    metrics = loop.validate(model, collections, config, autocast=None)

    # The protocol by hand: each validation image at 24 px, colored as `polychrome colorize` colors it.
    val = collections[0].val.permute(0, 3, 1, 2).float() / 255
    small = F.interpolate(val, size=(24, 24), mode="area")
    images = (small.permute(0, 2, 3, 1) * 255).round().byte().numpy()
    expected = evaluate_colorizer_batched(Colorizer(model).colorize_lightness, images).summary()
    # Equal up to the 8-bit rounding of the by-hand truth.
    assert metrics["val0/psnr"] == pytest.approx(expected["psnr"], abs=0.05)
    assert metrics["val0/colorfulness"] == pytest.approx(expected["colorfulness"], abs=0.3)
    as_cropped = [replace(c, config=replace(c.config, val_size=None)) for c in collections]
    without = loop.validate(model, as_cropped, config, autocast=None)
    assert (
        abs(without["val0/psnr"] - metrics["val0/psnr"]) > 0.01
    )  # the crops at their own size: another measure


@pytest.mark.parametrize(("enlarge", "pipeline_filter"), [("lanczos", "bilinear"), ("bicubic", "bicubic")])
def test_val_size_enlarges_small_photos_with_the_collections_filter(
    photos: Path, enlarge: str, pipeline_filter: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The protocol's small photos reach the render size as the collection's photos were enlarged for
    # training; Lanczos is no filter of the pipeline, whose default (bilinear) stands in for it. A tiny
    # random model colors almost alike either way, so the filter used is checked where it is chosen.
    from polychrome.pipelines.image import Colorizer

    used = []

    class Spy(Colorizer):
        def colorize_lightness(self, lightness: torch.Tensor, *args: object, **kw: object) -> torch.Tensor:
            used.append(self.render.enlarge)
            return super().colorize_lightness(lightness, *args, **kw)

    monkeypatch.setattr(loop, "Colorizer", Spy)
    config = _config(photos, "model.name=effunet_tiny_reg", "data.0.val_size=24", f"data.0.enlarge={enlarge}")
    collections = loop.load_collections(config, torch.device("cpu"))
    model = create_model("effunet_tiny_reg", pretrained_encoder=False).eval()

    loop.validate(model, collections, config, autocast=None)

    assert used and set(used) == {pipeline_filter}


def test_val_size_larger_than_the_images_is_refused_before_the_data_loads(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_data(*args, **kwargs):
        raise AssertionError("the data was loaded")

    monkeypatch.setattr(loop, "load_collections", no_data)
    with pytest.raises(ValueError, match="val_size 96 must be between 1 and image_size 64"):
        train(_config(photos, "data.0.val_size=96"), tmp_path / "big")
    assert not (tmp_path / "big").exists()


def test_val_size_larger_than_a_caches_images_is_refused(
    photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(photos, "data.0.val_size=48")
    small = torch.zeros(
        4, 32, 32, 3, dtype=torch.uint8
    )  # a cache prepared at 32 px, whatever image_size says
    parts = {"train": np.arange(3), "val": np.arange(3, 4)}
    monkeypatch.setattr(loop, "_images_and_split", lambda spec, cfg: (small, parts, "4 images", None))
    with pytest.raises(ValueError, match="val_size 48 is larger than its 32 px images"):
        loop.load_collections(config, torch.device("cpu"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.0.enlarge=nearest"], "enlarge must be lanczos, bilinear, bicubic; got 'nearest'"),
        (["data.0.split_order=random"], "split_order 'random' must be one of stable, permutation"),
        (["data.0.cache=photos.h5", "data.0.enlarge=bicubic"], "photos.h5: enlarge applies to sources"),
        (
            ["data.0.cache=photos.h5", "data.0.split_order=stable"],
            "photos.h5: split_order applies to sources",
        ),
    ],
)
def test_bad_data_options_are_refused_before_the_data_loads(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overrides: list[str], message: str
) -> None:
    def no_data(*args, **kwargs):
        raise AssertionError("the data was loaded")

    monkeypatch.setattr(loop, "load_collections", no_data)
    with pytest.raises(ValueError, match=message):
        train(_config(photos, *overrides), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_split_order_reaches_the_split(photos: Path) -> None:
    config = _config(photos)
    spec = replace(config.data[0], split=(0.5, 0.5, 0.0))
    _, permutation, _, _ = loop._images_and_split(spec, config)
    _, stable, _, _ = loop._images_and_split(replace(spec, split_order="stable"), config)
    names = sorted(f"{photos.name}/{p.name}" for p in photos.iterdir())  # a folder's names start with it
    expected = split_indices(names, (0.5, 0.5, 0.0), seed=config.seed, order="stable")
    for part in ("train", "val"):
        np.testing.assert_array_equal(stable[part], expected[part])
    assert not all(np.array_equal(stable[p], permutation[p]) for p in ("train", "val"))


def test_enlarge_reaches_the_prepared_training_photos(photos: Path) -> None:
    """Photos smaller than image_size are enlarged by the filter the config names."""
    config = _config(photos)
    spec = replace(config.data[0], image_size=96, crop_size=64, min_size=16)
    lanczos, _, _, _ = loop._images_and_split(spec, config)
    bicubic, _, _, _ = loop._images_and_split(replace(spec, enlarge="bicubic"), config)
    assert lanczos.shape == bicubic.shape and lanczos.shape[1] == 96
    assert not torch.equal(lanczos, bicubic)
    assert (lanczos.float() - bicubic.float()).abs().mean() < 8  # the same photos, enlarged differently
