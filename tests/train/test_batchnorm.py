"""recalibrate_batchnorm and `polychrome recalibrate`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from typer.testing import CliRunner

from polychrome.cli import app
from polychrome.models import create_model, load_pretrained, save_pretrained
from polychrome.train.batchnorm import recalibrate_batchnorm


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4, momentum=0.1), nn.ReLU(), nn.Conv2d(4, 2, 1))


def test_running_stats_become_the_exact_average_over_all_batches() -> None:
    net = _net()
    batches = [torch.randn(3, 1, 9, 9) * (i + 1) + i for i in range(4)]
    inputs = []
    net[1].register_forward_hook(lambda mod, args, out: inputs.append(args[0].detach()))

    seen = recalibrate_batchnorm(net, batches)

    assert seen == 12
    per_batch_means = torch.stack([x.mean(dim=(0, 2, 3)) for x in inputs])
    per_batch_vars = torch.stack([x.var(dim=(0, 2, 3), unbiased=True) for x in inputs])
    torch.testing.assert_close(net[1].running_mean, per_batch_means.mean(0))
    torch.testing.assert_close(net[1].running_var, per_batch_vars.mean(0))
    assert net[1].momentum == 0.1 and not net.training


def test_only_the_statistics_change() -> None:
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    recalibrate_batchnorm(net, [torch.randn(2, 1, 8, 8) + 3])
    after = net.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"1.running_mean", "1.running_var", "1.num_batches_tracked"}


def test_no_batches_is_an_error() -> None:
    with pytest.raises(ValueError, match="no images"):
        recalibrate_batchnorm(_net(), [])


def test_recalibrate_command_writes_a_new_model_with_a_record(tmp_path: Path) -> None:
    torch.manual_seed(0)
    batch_statistics = create_model("effunet_tiny_reg", norm="batch", freeze_encoder_bn=False).eval()
    model_dir = save_pretrained(batch_statistics, tmp_path / "model")
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(photos / f"{i}.png")

    args = ["recalibrate", str(model_dir), "--data", str(photos), "-o", str(tmp_path / "out")]
    result = CliRunner().invoke(app, [*args, "--render-size", "64", "--images", "4", "--batch-size", "2"])

    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["batchnorm_recalibration"]["images"] == 4
    assert config["batchnorm_recalibration"]["render_size"] == 64
    old, new = load_pretrained(model_dir), load_pretrained(tmp_path / "out")
    assert not torch.equal(old.encoder._bn0.running_mean, new.encoder._bn0.running_mean)
    assert torch.equal(old.encoder._conv_stem.weight, new.encoder._conv_stem.weight)

    again = CliRunner().invoke(app, args)
    assert again.exit_code == 1 and "exists" in again.output

    no_statistics = save_pretrained(create_model("effunet_tiny_reg").eval(), tmp_path / "groupnorm")
    refused = CliRunner().invoke(
        app, ["recalibrate", str(no_statistics), "--data", str(photos), "-o", str(tmp_path / "o2")]
    )
    assert refused.exit_code == 1 and "nothing to recalibrate" in refused.output
    assert not (tmp_path / "o2").exists()


def test_recalibrate_refuses_a_device_no_command_takes_as_the_others_do(tmp_path: Path) -> None:
    args = ["recalibrate", "effunet-lite0", "--data", str(tmp_path), "-o", str(tmp_path / "out")]
    result = CliRunner().invoke(app, [*args, "--device", "banana"])
    assert result.exit_code == 2
    assert "'banana' is not a device; choose auto, cpu, cuda" in result.output
    assert not (tmp_path / "out").exists()
