"""Training runs end to end on tiny photos: what a run writes, resume, signals, recipes, checks."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from polychrome.models import create_model, load_pretrained
from polychrome.train import loop
from polychrome.train.checkpoint import checkpoint_exists, load_checkpoint
from polychrome.train.config import load_config
from polychrome.train.loop import TrainResult, train
from polychrome.train.losses import AbRegressionLoss
from polychrome.train.recipes import NonFiniteLoss
from tests.train.tiny import NUM_IMAGES, tiny_config, weights


@pytest.fixture(scope="module")
def straight_run(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainResult, list[tuple]]:
    """Run A: six steps in one go."""
    calls: list[tuple[int, int, dict[str, float]]] = []
    result = train(
        tiny_config(photos), tmp_path_factory.mktemp("runs") / "a", on_progress=lambda *a: calls.append(a)
    )
    return result, calls


def test_run_writes_config_checkpoints_metrics_grids_and_model(
    straight_run: tuple[TrainResult, list],
) -> None:
    result, _ = straight_run
    run = result.run_dir

    assert result.finished and result.step == 6
    assert math.isfinite(result.metrics["val/psnr"])
    assert load_config(run / "config.yaml").model.name == "effunet_tiny_cls"
    assert checkpoint_exists(run / "checkpoints" / "last") and checkpoint_exists(run / "checkpoints" / "best")
    last = load_checkpoint(run / "checkpoints" / "last")
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
    trained = weights(result.run_dir / "model")

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
        train(tiny_config(photos), result.run_dir)


def test_resume_is_exact(straight_run: tuple[TrainResult, list], photos: Path, tmp_path: Path) -> None:
    result_a, _ = straight_run
    run_b = tmp_path / "b"

    # A time budget that is over after every step: each call trains one step, checkpoints and pauses.
    paused = train(tiny_config(photos, "max_minutes=1.0e-9"), run_b)
    assert (paused.step, paused.finished) == (1, False)
    assert not (run_b / "model").exists()
    assert load_checkpoint(run_b / "checkpoints" / "last")["step"] == 1

    paused = train(tiny_config(photos, "max_minutes=1.0e-9"), run_b, resume=True)
    assert (paused.step, paused.finished) == (2, False)

    finished = train(tiny_config(photos), run_b, resume=True)
    assert (finished.step, finished.finished) == (6, True)

    weights_a, weights_b = weights(result_a.run_dir / "model"), weights(run_b / "model")
    assert weights_a.keys() == weights_b.keys()
    for key in weights_a:
        assert torch.equal(weights_b[key], weights_a[key]), key
    assert finished.metrics["val/psnr"] == pytest.approx(result_a.metrics["val/psnr"], abs=1e-4)
    last_a = load_checkpoint(result_a.run_dir / "checkpoints" / "last")
    last_b = load_checkpoint(run_b / "checkpoints" / "last")
    assert last_a["weights"]["scheduler"] == last_b["weights"]["scheduler"]
    torch.testing.assert_close(last_b["recipe"]["priors"], last_a["recipe"]["priors"], rtol=0, atol=0)


def test_resume_of_a_finished_run_changes_nothing(
    straight_run: tuple[TrainResult, list], photos: Path
) -> None:
    result, _ = straight_run
    before = weights(result.run_dir / "model")

    again = train(tiny_config(photos), result.run_dir, resume=True)

    assert again.step == 6 and again.finished
    after = weights(result.run_dir / "model")
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_regression_variant_trains(photos: Path, tmp_path: Path) -> None:
    result = train(
        tiny_config(photos, "model.name=effunet_tiny_reg", "steps=2", "steps_per_epoch=2"), tmp_path / "reg"
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

    monkeypatch.setattr(AbRegressionLoss, "forward", nan_loss)

    with pytest.raises(NonFiniteLoss, match=r"step 0.*last") as info:
        train(tiny_config(photos, "model.name=effunet_tiny_reg"), tmp_path / "nan")
    assert str(tmp_path / "nan" / "checkpoints" / "last") in str(info.value)


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
        train(tiny_config(photos, override), tmp_path / "bad")


def test_no_data_raises(tmp_path: Path) -> None:
    config = load_config(
        overrides=["model.name=effunet_tiny_reg", "model.pretrained_encoder=false", "device=cpu"]
    )
    with pytest.raises(ValueError, match="no training data"):
        train(config, tmp_path / "empty")


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


CAPTURED_GRAPHS: list[torch.fx.GraphModule] = []


def _recording_backend(graph: torch.fx.GraphModule, example_inputs: list, **options: Any) -> Callable:
    """A TorchDynamo backend that keeps each captured graph and runs it as captured (``mode`` passes by)."""
    CAPTURED_GRAPHS.append(graph)
    return graph.forward


@pytest.mark.parametrize("adversarial", [False, True], ids=["supervised", "adversarial"])
def test_compiled_training_step_matches_the_plain_one(
    photos: Path, tmp_path: Path, adversarial: bool
) -> None:
    if "polychrome_recording" not in torch._dynamo.list_backends(exclude_tags=()):
        torch._dynamo.register_backend(_recording_backend, name="polychrome_recording")
    recipe = (*ADVERSARIAL, "adversarial.pretrain_steps=1") if adversarial else ()
    plain = train(tiny_config(photos, *recipe, "steps=2", "steps_per_epoch=2"), tmp_path / "plain")
    CAPTURED_GRAPHS.clear()
    compiled = train(
        tiny_config(
            photos,
            *recipe,
            "steps=2",
            "steps_per_epoch=2",
            "compile=true",
            "compile_backend=polychrome_recording",  # the captured graphs, run as they are: same numbers
            "compile_mode=reduce-overhead",  # taken by inductor; the recording backend lets it pass
        ),
        tmp_path / "compiled",
    )

    a, b = weights(plain.run_dir / "model"), weights(compiled.run_dir / "model")
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    assert not any(k.startswith("_orig_mod") for k in b)  # the saved names are the model's own
    # What ran compiled: the supervised step as a whole (Lab conversion's colour matrices, network, loss);
    # after the adversarial pre-training, the generator alone too (the critic's steps need its output).
    whole = [g.code for g in CAPTURED_GRAPHS if "einsum" in g.code]
    assert len(whole) == 1 and "conv2d" in whole[0] and ("log_softmax" in whole[0] or "l1_loss" in whole[0])
    network_alone = [g.code for g in CAPTURED_GRAPHS if "einsum" not in g.code and "conv2d" in g.code]
    assert bool(network_alone) == adversarial


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
        tiny_config(photos, f"model.init_from='{source}'", "steps=1", "steps_per_epoch=1"), tmp_path / "ft"
    )

    assert result.finished
    trained = load_pretrained(source)
    decoder = [p for n, p in trained.named_parameters() if not n.startswith("encoder.")]
    assert all(torch.equal(seen[i], p) for i, p in enumerate(decoder))


def test_decoded_l1_option_trains(photos: Path, tmp_path: Path) -> None:
    result = train(
        tiny_config(photos, "loss.decoded_l1=1.0", "steps=2", "steps_per_epoch=2"), tmp_path / "dl1"
    )
    assert result.finished and math.isfinite(result.metrics["loss"])


def test_colorfulness_option_adds_to_the_regression_loss(photos: Path, tmp_path: Path) -> None:
    losses = {}
    for weight in (0.0, 1.0):
        overrides = (f"loss.colorfulness={weight}", "steps=1", "steps_per_epoch=1", "log_every=1")
        result = train(
            tiny_config(photos, "model.name=effunet_tiny_reg", *overrides), tmp_path / f"cf{weight}"
        )
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
            tiny_config(photos, *overrides, f"loss.space={space}", "loss.colorfulness=0.2"), tmp_path / space
        )
        assert result.finished and math.isfinite(result.metrics["loss"])
        losses[space] = result.metrics["loss"]
    assert losses["rgb"] != pytest.approx(losses["ab"])  # the same batches, a different comparison

    def no_data(*args, **kwargs):
        raise AssertionError("the data was loaded")

    monkeypatch.setattr("polychrome.train.loop.load_collections", no_data)
    with pytest.raises(ValueError, match="ab or rgb"):
        train(tiny_config(photos, *overrides, "loss.space=hsv"), tmp_path / "hsv")
    assert not (tmp_path / "hsv").exists()


def test_a_loss_option_the_model_ignores_is_refused_before_anything_is_written(
    photos: Path, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="loss.colorfulness=0.5: not used by classification models"):
        train(tiny_config(photos, "loss.colorfulness=0.5"), tmp_path / "cls")
    assert not (tmp_path / "cls").exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_checkpoints_and_stops_then_resume_matches_the_straight_run(
    straight_run: tuple[TrainResult, list], photos: Path, tmp_path: Path, signum: int
) -> None:
    def interrupt(step: int, total: int, info: dict) -> None:
        if step == 2:
            os.kill(os.getpid(), signum)

    stopped = train(tiny_config(photos), tmp_path / "b", on_progress=interrupt)
    assert not stopped.finished and stopped.step == 2
    assert stopped.stopped_by == signal.Signals(signum).name
    assert load_checkpoint(tmp_path / "b" / "checkpoints" / "last")["step"] == 2
    assert signal.getsignal(signum) is not None  # our handler was removed again

    resumed = train(tiny_config(photos), tmp_path / "b", resume=True)
    assert resumed.finished and resumed.stopped_by is None
    straight = weights(straight_run[0].run_dir / "model")
    assert all(torch.equal(v, straight[k]) for k, v in weights(tmp_path / "b" / "model").items())


def test_ema_with_decay_zero_is_the_model_itself(
    straight_run: tuple[TrainResult, list], photos: Path, tmp_path
):
    train(tiny_config(photos, "optim.ema_decay=0.0"), tmp_path / "ema0")
    straight = weights(straight_run[0].run_dir / "model")
    ema = weights(tmp_path / "ema0" / "model")
    assert all(torch.allclose(v, straight[k]) for k, v in ema.items() if v.is_floating_point())


def test_ema_is_exported_and_resumes_exactly(straight_run: tuple[TrainResult, list], photos: Path, tmp_path):
    whole = train(tiny_config(photos, "optim.ema_decay=0.5"), tmp_path / "a")
    averaged = weights(tmp_path / "a" / "model")
    plain = weights(straight_run[0].run_dir / "model")
    assert whole.finished and not all(torch.equal(v, plain[k]) for k, v in averaged.items())

    def interrupt(step: int, total: int, info: dict) -> None:
        if step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    train(tiny_config(photos, "optim.ema_decay=0.5"), tmp_path / "b", on_progress=interrupt)
    train(tiny_config(photos, "optim.ema_decay=0.5"), tmp_path / "b", resume=True)
    resumed = weights(tmp_path / "b" / "model")
    assert all(torch.equal(v, averaged[k]) for k, v in resumed.items())


def test_fp16_precision_is_accepted_and_runs_in_fp32_on_the_cpu(photos: Path, tmp_path: Path) -> None:
    result = train(
        tiny_config(photos, "precision=fp16-mixed", "steps=2", "steps_per_epoch=2"), tmp_path / "fp16"
    )
    assert result.finished
    with pytest.raises(ValueError, match="precision must be one of"):
        train(tiny_config(photos, "precision=int8"), tmp_path / "bad")


def test_early_stopping_exports_the_best_weights(photos: Path, tmp_path: Path, monkeypatch) -> None:
    scores = iter([20.0, 19.0, 18.0])  # the first validation is the best

    def fake_validate(*args, **kwargs) -> tuple[dict[str, float], None]:
        return {"val/psnr": next(scores)}, None

    monkeypatch.setattr(loop, "validate", fake_validate)
    result = train(
        tiny_config(photos, "steps=30", "steps_per_epoch=2", "early_stop_patience=2"), tmp_path / "es"
    )

    assert result.finished and result.step == 6 and result.metrics["best_step"] == 2
    best = load_checkpoint(tmp_path / "es" / "checkpoints" / "best")["weights"]["model"]
    exported = weights(tmp_path / "es" / "model")
    assert all(torch.equal(exported[k], v) for k, v in best.items() if k in exported)


@pytest.mark.parametrize("name", ["zhang2016_tiny_cls", "unet_tiny_reg"])
def test_the_families_without_a_pretrained_encoder_train(photos: Path, tmp_path: Path, name: str) -> None:
    run = tmp_path / name
    result = train(tiny_config(photos, f"model.name={name}", "steps=2", "steps_per_epoch=2"), run)

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
    result = train(tiny_config(photos, *ADVERSARIAL, "steps=4", "steps_per_epoch=2"), tmp_path / "gan")
    with (result.run_dir / "train.csv").open() as f:
        rows = list(csv.DictReader(f))
    ckpt = load_checkpoint(result.run_dir / "checkpoints" / "last")

    assert result.finished and [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    # L1 alone for the first two steps; then the critic's losses appear beside the generator's.
    assert not rows[0].get("loss_critic") and not rows[1].get("loss_critic")
    assert all(math.isfinite(float(r[k])) for r in rows[2:] for k in ("loss_critic", "gradient_penalty"))
    assert float(rows[2]["gradient_penalty"]) > 0
    # The generator's loss is 100 x L1 plus the adversarial term.
    for r in rows[2:]:
        assert float(r["loss"]) == pytest.approx(
            100 * float(r["loss_supervised"]) + float(r["loss_adversarial"]), rel=1e-4
        )
    critic = ckpt["recipe"]["critic"]
    torch.manual_seed(0)
    from polychrome.models._registry import create_critic

    fresh = create_critic("patchgan_tiny").state_dict()
    assert any(not torch.equal(critic[k], fresh[k]) for k in fresh)  # the critic was trained
    assert (result.run_dir / "model" / "model.safetensors").is_file()


def test_adversarial_resume_is_exact(photos: Path, tmp_path: Path) -> None:
    straight = train(tiny_config(photos, *ADVERSARIAL, "steps=4", "steps_per_epoch=2"), tmp_path / "a")
    paused = train(
        tiny_config(photos, *ADVERSARIAL, "steps=4", "steps_per_epoch=2", "max_minutes=0"), tmp_path / "b"
    )
    assert not paused.finished and paused.step == 1
    resumed = train(
        tiny_config(photos, *ADVERSARIAL, "steps=4", "steps_per_epoch=2"), tmp_path / "b", resume=True
    )

    a, b = weights(straight.run_dir / "model"), weights(resumed.run_dir / "model")
    assert resumed.finished and all(torch.equal(a[k], b[k]) for k in a)


def test_adversarial_generator_trains_on_the_recipes_pixel_loss(photos: Path, tmp_path: Path) -> None:
    rows = {}
    for weight in (0.0, 5.0):
        overrides = ("adversarial.pretrain_steps=0", "adversarial.generator_steps=1", "steps=1")
        result = train(
            tiny_config(photos, *ADVERSARIAL, *overrides, f"loss.colorfulness={weight}", "steps_per_epoch=1"),
            tmp_path / f"gan{weight}",
        )
        with (result.run_dir / "train.csv").open() as f:
            rows[weight] = list(csv.DictReader(f))[0]
    # Same seed, batch, generator and critic: the critic's step is the same, and the generator's pixel loss
    # is the recipe's, colorfulness term included.
    assert float(rows[0.0]["loss_critic"]) == pytest.approx(float(rows[5.0]["loss_critic"]), rel=1e-5)
    assert float(rows[5.0]["loss_supervised"]) > float(rows[0.0]["loss_supervised"]) > 0


def test_adversarial_fine_tuning_of_a_classification_model(
    straight_run: tuple[TrainResult, list], photos: Path, tmp_path: Path
) -> None:
    # From a trained classification model: no pre-training, the critic at once, priors measured as before.
    source = straight_run[0].run_dir / "model"
    result = train(
        tiny_config(
            photos,
            f"model.init_from={source}",
            "adversarial={critic: patchgan_tiny, pretrain_steps: 0, generator_steps: 1}",
            "adversarial.supervised_weight=10",
            "log_every=1",
            "steps=2",
            "steps_per_epoch=2",
        ),
        tmp_path / "cls-gan",
    )
    with (result.run_dir / "train.csv").open() as f:
        rows = list(csv.DictReader(f))

    assert result.finished and len(rows) == 2
    for r in rows:
        assert float(r["loss_critic"]) == pytest.approx(float(r["loss_critic"]))  # logged, finite
        assert float(r["gradient_penalty"]) > 0
        assert float(r["loss"]) == pytest.approx(
            10 * float(r["loss_supervised"]) + float(r["loss_adversarial"]), rel=1e-4
        )
    ckpt = load_checkpoint(result.run_dir / "checkpoints" / "last")
    assert {"critic", "optimizer", "priors"} <= set(ckpt["recipe"])
    exported = json.loads((result.run_dir / "model" / "config.json").read_text())
    assert len(exported["class_priors"]) == len(load_pretrained(source).ab_centers)


def test_the_critic_gradient_reaches_a_classification_models_logits() -> None:
    from polychrome.train.recipes.adversarial import shown_ab

    torch.manual_seed(0)
    model = create_model("effunet_tiny_cls")
    logits = torch.randn(1, len(model.ab_centers), 4, 4, requires_grad=True)
    ab = shown_ab(model, logits)
    ab[:, 0].sum().backward()  # more red-green everywhere

    assert ab.shape == (1, 2, 4, 4)
    assert torch.allclose(ab, model.decode_logits(logits), atol=1e-6)
    # Raising the logit of the most red bin raises a; the most green bin's lowers it.
    a = model.ab_centers[:, 0]
    grad = logits.grad[0, :, 0, 0]
    assert grad[a.argmax()] > 0 > grad[a.argmin()]


def test_palette_model_trains_through_the_loop(photos: Path, tmp_path: Path) -> None:
    palette = "[[0, 0], [40, 40], [-30, 50], [20, -60], [-50, -20], [60, 10]]"
    result = train(
        tiny_config(photos, f"model.args={{palette: {palette}}}", "steps=2", "steps_per_epoch=2"),
        tmp_path / "p",
    )

    model = load_pretrained(result.run_dir / "model")
    assert model.ab_centers.shape == (6, 2)
    assert len(json.loads((result.run_dir / "model" / "config.json").read_text())["class_priors"]) == 6


def _encoder_and_decoder_changed(run_dir: Path) -> tuple[dict[str, bool], bool]:
    torch.manual_seed(0)
    initial = create_model("effunet_tiny_cls").state_dict()
    trained = weights(run_dir / "model")
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
    result = train(tiny_config(photos, *overrides), tmp_path / "run")
    blocks, decoder = _encoder_and_decoder_changed(result.run_dir)

    assert result.finished and decoder
    assert blocks == expected


def test_encoder_schedule_rejects_bad_settings(photos: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="optim.encoder must be"):
        train(tiny_config(photos, "optim.encoder=half"), tmp_path / "a")
    with pytest.raises(ValueError, match="encoder_trainable_blocks must be 1..16"):
        train(
            tiny_config(photos, "optim.encoder=partial", "optim.encoder_trainable_blocks=0"), tmp_path / "b"
        )


def test_val_size_larger_than_the_images_is_refused_before_the_data_loads(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_data(*args, **kwargs):
        raise AssertionError("the data was loaded")

    monkeypatch.setattr(loop, "load_collections", no_data)
    with pytest.raises(ValueError, match="val_size 96 must be between 1 and image_size 64"):
        train(tiny_config(photos, "data.0.val_size=96"), tmp_path / "big")
    assert not (tmp_path / "big").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["data.0.prepare.enlarge=nearest"],
            "data.0.prepare: enlarge must be lanczos, bilinear, bicubic; got 'nearest'",
        ),
        (
            ["data.0.prepare.split_order=random"],
            "data.0.prepare.split_order: 'random' must be one of stable, permutation",
        ),
        (
            ["data.0.sources=[]", "data.0.cache=photos.h5"],
            r"data.0.prepare: photos.h5 keeps how it was prepared and split \(polychrome prepare",
        ),
        (["data.0.cache=photos.h5"], "data.0: give either sources or a cache"),
        (["data.0.weight=0"], "data.0: weight must be > 0"),
        (["data.0.blur=1.5"], "data.0: blur must be a share in 0..1"),
        (["data.0.prepare.split=[0, 0, 0]"], "data.0.prepare.split: .* positive sum"),
    ],
)
def test_bad_data_options_are_refused_before_the_data_loads(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overrides: list[str], message: str
) -> None:
    def no_data(*args, **kwargs):
        raise AssertionError("the data was loaded")

    monkeypatch.setattr(loop, "load_collections", no_data)
    with pytest.raises(ValueError, match=message):
        train(tiny_config(photos, *overrides), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def _shards(photos: Path, folder: Path) -> list[Path]:
    """The photos as two tar shards in ``folder``: the first 16 and the last 8."""
    import tarfile

    folder.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in photos.iterdir())
    shards = []
    for index, chunk in enumerate((names[:16], names[16:])):
        shard = folder / f"shard-{index}.tar"
        with tarfile.open(shard, "w") as archive:
            for name in chunk:
                archive.add(photos / name, arcname=name)
        shards.append(shard)
    return shards


def _growing(photos: Path, tmp_path: Path, name: str) -> tuple[Path, Path, list[str]]:
    """A source folder holding the first shard; the second waits beside it, to be copied in mid-run."""
    source, waiting = tmp_path / name / "source", tmp_path / name / "waiting"
    first, second = _shards(photos, waiting)
    source.mkdir(parents=True)
    os.link(first, source / first.name)
    prepare = "{image_size: 64, min_size: 32, split: [0.75, 0.25, 0], split_order: hash}"
    data = f"data=[{{sources: ['{source}/*.tar'], prepare: {prepare}, crop_size: 32}}]"
    return source, second, [data, "steps=6", "steps_per_epoch=2", "log_every=2"]


def test_a_run_takes_in_the_shards_that_arrive_while_it_trains(photos: Path, tmp_path: Path) -> None:
    from polychrome.data.split import hash_parts

    source, second, overrides = _growing(photos, tmp_path, "grow")

    def arrive(step: int, total: int, info: dict) -> None:
        if step == 2:
            os.link(second, source / second.name)

    result = train(tiny_config(photos, *overrides), tmp_path / "grow" / "run", on_progress=arrive)

    assert result.finished
    parts = load_checkpoint(result.run_dir / "checkpoints" / "last")["data"][0]
    assert len(parts) == NUM_IMAGES  # all 24 photos, 16 from the start and 8 taken in at step 2
    new = [n for n in parts if n.startswith("shard-1.tar/")]
    assert len(new) == 8 and [parts[n] for n in new] == hash_parts(new, (0.75, 0.25, 0.0))
    assert list(parts)[-8:] == new  # added after the first shard's photos, in the order read
    with (result.run_dir / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3  # an epoch stays 2 steps as asked


def test_a_run_resumed_after_its_sources_grew_ends_as_the_straight_run(photos: Path, tmp_path: Path) -> None:
    runs = {}
    for name in ("straight", "paused"):
        source, second, overrides = _growing(photos, tmp_path, name)

        def arrive(step: int, total: int, info: dict, source=source, second=second, name=name) -> None:
            if step == 2:
                os.link(second, source / second.name)
            if step == 4 and name == "paused":
                os.kill(os.getpid(), signal.SIGTERM)

        runs[name] = train(tiny_config(photos, *overrides), tmp_path / name / "run", on_progress=arrive)
        if name == "paused":
            assert not runs[name].finished and runs[name].step == 4
            runs[name] = train(tiny_config(photos, *overrides), tmp_path / name / "run", resume=True)

    a, b = (weights(runs[n].run_dir / "model") for n in ("straight", "paused"))
    assert runs["paused"].finished and all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoints_are_also_written_every_few_minutes(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = []
    save = loop.save_checkpoint
    monkeypatch.setattr(
        loop, "save_checkpoint", lambda state, path: saved.append(state["step"]) or save(state, path)
    )

    train(tiny_config(photos, "checkpoint_every_minutes=0", "steps_per_epoch=100", "steps=3"), tmp_path / "t")

    assert saved == [1, 2, 3, 3]  # every step, then the last step's validation writes best and last


def test_a_resumed_run_clears_what_its_killed_writer_left(photos: Path, tmp_path: Path) -> None:
    import subprocess

    train(tiny_config(photos, "steps=2", "steps_per_epoch=2"), tmp_path / "run")
    ended = subprocess.Popen(["true"])  # its process id names no running process once it has ended
    ended.wait()
    stale = tmp_path / "run" / "checkpoints" / "last" / f".index.json.{ended.pid}-0123456789ab.tmp"
    stale.write_bytes(b"half a checkpoint")

    train(tiny_config(photos, "steps=3", "steps_per_epoch=2"), tmp_path / "run", resume=True)

    assert not stale.exists()


def test_a_loss_turning_nan_later_stops_before_the_checkpoint_takes_it(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_forward = AbRegressionLoss.forward
    calls = {"n": 0}

    def nan_from_the_fourth_step(self: Any, pred: torch.Tensor, *truth: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        loss = real_forward(self, pred, *truth)
        return loss * float("nan") if calls["n"] >= 4 else loss

    monkeypatch.setattr(AbRegressionLoss, "forward", nan_from_the_fourth_step)
    run = tmp_path / "late-nan"
    # Checkpointed at the end of each 2-step epoch; step 3 (the fourth) turns NaN before the save at step 4.
    config = tiny_config(
        photos, "model.name=effunet_tiny_reg", "steps=6", "steps_per_epoch=2", "compile=false"
    )
    with pytest.raises(NonFiniteLoss, match=r"at step 3; stopped"):
        train(config, run)
    ckpt = load_checkpoint(run / "checkpoints" / "last")
    assert ckpt["step"] == 2
    assert all(torch.isfinite(v).all() for v in ckpt["weights"]["model"].values() if v.is_floating_point())
