"""`polychrome train --resume` from the command line: the run continues with its own saved recipe."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner, Result

from polychrome.cli import app
from polychrome.train.config import load_config
from tests.tiny_runs import tiny_run_sets


def _photos(folder: Path) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def _train(*args: str | Path) -> Result:
    return CliRunner().invoke(app, ["train", *map(str, args)])


def _logged_steps(run: Path) -> list[int]:
    with (run / "train.csv").open() as f:
        return [int(row["step"]) for row in csv.DictReader(f)]


def _overrides(photos: Path, steps: int) -> list[str]:
    return tiny_run_sets(photos, steps, 40)


def test_resume_keeps_the_runs_overrides_and_a_failed_start_changes_nothing(tmp_path: Path) -> None:
    photos, run = _photos(tmp_path / "photos"), tmp_path / "run"
    first = _train("--run-dir", run, *_overrides(photos, steps=2))
    assert first.exit_code == 0, first.output
    saved = (run / "config.yaml").read_text()
    assert _logged_steps(run) == [2]  # a run shorter than log_every (100) still logs its last step

    # A recipe next to --resume is refused: re-reading it would drop the run's --set changes.
    refused = _train("--config", run / "config.yaml", "--run-dir", run, "--resume")
    assert refused.exit_code == 2 and "leave out --config" in refused.output
    # A start that fails (its data gone) leaves the run's config as it was.
    moved = photos.rename(tmp_path / "elsewhere")
    failed = _train("--run-dir", run, "--resume", "--set", "steps=4")
    assert failed.exit_code == 1
    assert (run / "config.yaml").read_text() == saved

    moved.rename(photos)
    resumed = _train("--run-dir", run, "--resume", "--set", "steps=4")
    assert resumed.exit_code == 0, resumed.output
    assert "finished at step 4" in resumed.output
    assert _logged_steps(run) == [2, 4]
    config = load_config(run / "config.yaml")
    assert (
        config.steps == 4
        and config.data[0].prepare.image_size == 40
        and config.model.name == "effunet_tiny_reg"
    )


def test_resume_without_a_run_is_one_line(tmp_path: Path) -> None:
    result = _train("--run-dir", tmp_path / "nothing", "--resume")
    assert result.exit_code == 2
    assert "no run there" in result.output


def test_a_run_paused_by_a_signal_exits_as_that_signal_would(tmp_path: Path, monkeypatch) -> None:
    import polychrome.train.loop as loop

    def paused(config, run_dir, resume=False, on_progress=None):
        return loop.TrainResult(Path(run_dir), step=3, finished=False, metrics={}, stopped_by="SIGTERM")

    monkeypatch.setattr(loop, "train", paused)
    result = _train("--run-dir", tmp_path / "run", *_overrides(tmp_path, steps=10))

    assert result.exit_code == 128 + 15
    assert result.stdout.strip() == "paused (resume with --resume) at step 3"


def test_a_run_that_cannot_start_says_why_in_one_line(tmp_path: Path) -> None:
    photos, run = _photos(tmp_path / "photos"), tmp_path / "run"
    result = _train("--run-dir", run, *_overrides(photos, steps=2), "--set", "loss.soft_sigma=3")

    assert result.exit_code == 2  # a config that cannot run as written is a usage error, as a bad --set is
    assert result.output.splitlines() == [
        "error: loss.soft_sigma=3.0: not used by regression models; remove it from the recipe"
    ]
    assert not run.exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data=[{sources: [photos/", "error: override 'data=[{sources: [photos/': expected ',' or ']'"),
        ("model.args.colour=1", "error: model.args: effunet_tiny_reg does not take them"),
        ("model.name=nosuch", "error: model: unknown model 'nosuch'"),
        ("nonsense=1", "error: unknown TrainConfig field(s): nonsense"),
    ],
)
def test_a_config_that_cannot_run_is_one_line_and_exit_2(tmp_path: Path, override: str, message: str) -> None:
    photos = _photos(tmp_path / "photos")
    result = _train("--run-dir", tmp_path / "run", *_overrides(photos, steps=2), "--set", override)

    assert result.exit_code == 2 and len(result.output.splitlines()) == 1
    assert result.output.startswith(message), result.output


def test_resuming_a_finished_run_leaves_its_model_as_it_was(tmp_path: Path) -> None:
    photos, run = _photos(tmp_path / "photos"), tmp_path / "run"
    assert _train("--run-dir", run, *_overrides(photos, steps=2)).exit_code == 0
    before = (run / "model" / "config.json").read_bytes()

    again = _train("--run-dir", run, "--resume")

    assert again.exit_code == 0 and again.stdout.startswith("finished at step 2; val/psnr")
    assert (run / "model" / "config.json").read_bytes() == before


@pytest.mark.parametrize("name", ["effunet_tiny_reg", "effunet_tiny_cls"])
def test_export_saves_the_last_checkpoints_model_as_a_finished_run_would(tmp_path: Path, name: str) -> None:
    from safetensors.torch import load_file

    from polychrome.models._hub import read_config

    photos, run = _photos(tmp_path / "photos"), tmp_path / "run"
    trained = _train("--run-dir", run, *_overrides(photos, steps=2), "--set", f"model.name={name}")
    assert trained.exit_code == 0, trained.output

    exported = _train("--run-dir", run, "--export")
    assert exported.exit_code == 0, exported.output
    assert "model-step-2" in exported.output
    # The finished run exported the same EMA weights at the same step: the two folders agree.
    ours, theirs = (
        load_file(run / "model-step-2" / "model.safetensors"),
        load_file(run / "model" / "model.safetensors"),
    )
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    ours_config, theirs_config = read_config(run / "model-step-2"), read_config(run / "model")
    assert ours_config["class_priors"] == theirs_config["class_priors"]
    assert (ours_config["class_priors"] is not None) == name.endswith("_cls")

    again = _train("--run-dir", run, "--export")
    assert again.exit_code == 1 and "already exported" in again.output


def test_export_without_a_checkpoint_is_one_line(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("model:\n  name: effunet_tiny_reg\n  pretrained_encoder: false\n")
    result = _train("--run-dir", run, "--export")
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert "error:" in result.output
