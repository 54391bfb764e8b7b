"""Choosing a model's rendering settings by the rule: the smallest gain within the colorfulness gap."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from polychrome.cli import app
from polychrome.evaluate.candidates import NetworkCandidate
from polychrome.evaluate.protocol import PhotoStream, get_protocol
from polychrome.evaluate.scoring import score_colorizers
from polychrome.evaluate.selection import SetScore, Setting, choose_gains, select_render_settings
from polychrome.models import load_pretrained
from polychrome.models._hub import read_config
from polychrome.pipelines.calibration import RenderCalibration
from polychrome.pipelines.image import Colorizer
from tests.evaluate.photos import SIZE

NATIVE = get_protocol("native")


def _scores(gaps: dict[float, list[float]]) -> dict[float, list[SetScore]]:
    return {
        gain: [SetScore(psnr_gain=gain, colorfulness_gap=g, images=1) for g in row]
        for gain, row in gaps.items()
    }


def test_the_rule_takes_the_smallest_gain_within_the_gap() -> None:
    scores = _scores({1.0: [-9.0, -12.0], 1.2: [-5.0, -8.0], 1.4: [-1.0, -5.5], 1.6: [7.0, -2.0]})

    assert choose_gains(scores, max_gap=6, per_set_gain=False) == [1.4, 1.4]
    assert choose_gains(scores, max_gap=6, per_set_gain=True) == [1.2, 1.4]
    assert choose_gains(scores, max_gap=9, per_set_gain=True) == [1.0, 1.2]
    assert choose_gains(scores, max_gap=1, per_set_gain=False) is None  # no gain fits both sets


def test_gains_become_factors_anchored_at_each_sets_enlargement() -> None:
    from polychrome.evaluate.selection import Selection

    one = Setting("bicubic", _scores({1.2: [0.0, 0.0]}), [8 / 7, 4.0], gains=[1.2, 1.2])
    assert Selection([one], ["a", "b"]).calibration(model_gain=1.0) == RenderCalibration(
        "bicubic", ((1.0, 1.2),)
    )
    two = Setting("bilinear", _scores({1.1: [0.0, 0.0], 1.3: [0, 0]}), [4.0, 8 / 7], gains=[1.1, 1.3])
    calibration = Selection([two], ["a", "b"]).calibration(model_gain=2.0)
    assert calibration.chroma_by_enlargement == ((8 / 7, 0.65), (4.0, 0.55))  # sorted, the model's gain out
    clash = Setting("bilinear", _scores({1.1: [0.0, 0.0]}), [4.0, 4.0], gains=[1.1, 1.3])
    with pytest.raises(ValueError, match="enlarged alike"):
        Selection([clash], ["a", "b"]).calibration()
    with pytest.raises(ValueError, match="no grid gain"):
        Selection([Setting("bilinear", {}, [1.0])], ["a"], {"max_gap": 6}).calibration()


def test_selection_scores_each_gain_as_a_saturation_and_applies_the_rule(
    photos_dir: Path, model_dir: Path
) -> None:
    colorizer = Colorizer.from_pretrained(model_dir)
    photos = PhotoStream([str(photos_dir)], NATIVE, workers=1)

    selection = select_render_settings(
        colorizer, [("photos", photos)], NATIVE, [0.5, 1.0, 3.0], max_gap=100, render_size=SIZE
    )

    [setting] = selection.settings
    assert setting.gains == [0.5]  # every gain is within a gap of 100: the smallest wins
    assert setting.enlargements == [1.0]  # the 32 px photos are rendered at 32
    gaps = [setting.scores[g][0].colorfulness_gap for g in (0.5, 1.0, 3.0)]
    assert gaps[0] < gaps[1] < gaps[2]  # more gain, more color
    # Each row is the scoring path's own number for the colorizer at that saturation.
    direct = score_colorizers([NetworkCandidate("x", colorizer, SIZE, saturation=3.0)], photos, NATIVE)
    rows = direct.summary()
    assert setting.scores[3.0][0].psnr_gain == pytest.approx(rows["x"]["psnr_gain"], abs=1e-6)
    assert selection.record()["effective_gains"] == [0.5] and selection.record()["sets"] == ["photos"]


def test_calibrate_writes_a_copy_with_the_chosen_settings(
    photos_dir: Path, model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "calibrated"
    args = ["calibrate", str(model_dir), "-d", str(photos_dir), "-o", str(out), "--gains", "3,0.5,1"]
    args += ["--max-gap", "100", "--render-size", str(SIZE), "--workers", "1", "--device", "cpu"]

    result = CliRunner().invoke(app, args)

    assert result.exit_code == 0, result.output
    assert "chosen: bilinear, gains [0.5]" in result.stdout
    config = read_config(out)
    assert config["render"] == {"enlarge": "bilinear", "chroma_by_enlargement": [[1.0, 0.5]]}
    assert config["render_chosen_by"]["rule"]["grid"] == [0.5, 1.0, 3.0]
    for name, tensor in load_pretrained(model_dir).state_dict().items():  # the weights are the model's
        assert torch.equal(load_pretrained(out).state_dict()[name], tensor)
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 1 and "exists; choose a new folder" in again.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-d", "nowhere/"], "nowhere/: no such file or folder"),
        (["--gains", "a,b"], "give gains as numbers"),
        (["--rank", "best"], "--rank must be one of worst, mean"),
        (["--enlarge", "sinc"], "enlarge must be one of bilinear, bicubic"),
    ],
)
def test_bad_calibrate_arguments_are_one_line(
    photos_dir: Path, model_dir: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    args = [
        "calibrate",
        str(model_dir),
        "-d",
        str(photos_dir),
        "-o",
        str(tmp_path / "out"),
        "--device",
        "cpu",
    ]
    result = CliRunner().invoke(app, [*args, *extra])

    assert result.exit_code in (1, 2) and message in result.output
    assert not (tmp_path / "out").exists()


def test_calibrate_on_a_training_runs_own_validation_split(model_dir: Path, tmp_path: Path) -> None:
    from PIL import Image

    from polychrome.train.config import save_config
    from tests.train.tiny import colorful, tiny_config

    (tmp_path / "photos").mkdir()
    for i in range(8):
        Image.fromarray(colorful(i)).save(tmp_path / "photos" / f"{i}.png")
    (tmp_path / "run").mkdir()
    save_config(tiny_config(tmp_path / "photos"), tmp_path / "run" / "config.yaml")
    out = tmp_path / "calibrated"
    args = ["calibrate", str(model_dir), "-d", str(tmp_path / "run"), "-o", str(out), "--gains", "1,2"]

    result = CliRunner().invoke(app, [*args, "--max-gap", "100", "--workers", "1", "--device", "cpu"])

    assert result.exit_code == 0, result.output
    record = read_config(out)["render_chosen_by"]
    assert record["sets"] == [f"{tmp_path / 'run'} collection 0"]
    assert record["images_per_set"] == [2]  # a quarter of the 8 photos: the run's validation split


@pytest.mark.parametrize(
    ("gains", "advice"), [("5,10", "try smaller gains"), ("0,0.001", "try larger gains")]
)
def test_when_no_gain_fits_calibrate_says_which_way_to_look(
    photos_dir: Path, model_dir: Path, tmp_path: Path, gains: str, advice: str
) -> None:
    args = ["calibrate", str(model_dir), "-d", str(photos_dir), "-o", str(tmp_path / "out"), "--gains", gains]
    result = CliRunner().invoke(
        app, [*args, "--max-gap", "0.01", "--render-size", str(SIZE), "--device", "cpu"]
    )

    assert result.exit_code == 1 and advice in result.stderr
    assert not (tmp_path / "out").exists()
