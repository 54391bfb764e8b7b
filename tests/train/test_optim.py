"""The optimizer, the learning-rate schedule and one update step."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from polychrome.models import create_model
from polychrome.train.config import load_config
from polychrome.train.optim import apply_update, build_optimizer, lr_factor, schedule_factor
from tests.train.tiny import tiny_config


def test_the_optimizer_is_adamw_with_a_slower_encoder() -> None:
    config = tiny_config(
        Path("unused"), "optim.lr=0.002", "optim.encoder_lr_scale=0.1", "optim.weight_decay=0.05"
    )
    model = create_model("effunet_tiny_reg", pretrained_encoder=False)

    optimizer = build_optimizer(model, config)

    assert type(optimizer) is torch.optim.AdamW
    rest, encoder = optimizer.param_groups
    assert rest["lr"] == pytest.approx(0.002) and encoder["lr"] == pytest.approx(0.0002)
    assert rest["weight_decay"] == encoder["weight_decay"] == pytest.approx(0.05)
    named = dict(model.named_parameters())
    assert {id(p) for p in encoder["params"]} == {id(p) for n, p in named.items() if n.startswith("encoder.")}
    assert len(rest["params"]) + len(encoder["params"]) == len(named)


def test_step_schedule_and_unknown_schedule() -> None:
    config = load_config(
        overrides=[
            "optim.schedule=step",
            "optim.warmup_steps=2",
            "optim.step_every=3",
            "optim.step_gamma=0.5",
        ]
    )
    factors = [schedule_factor(s, config) for s in range(10)]

    assert factors == pytest.approx([0.5, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25])
    with pytest.raises(ValueError, match="optim.schedule must be"):
        schedule_factor(0, load_config(overrides=["optim.schedule=linear"]))


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


def test_a_grad_scaler_gives_the_same_update_as_none() -> None:
    torch.manual_seed(0)
    nets = [torch.nn.Linear(4, 2) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    x = torch.randn(8, 4)
    for net, scaler in zip(nets, [None, torch.amp.GradScaler("cpu", init_scale=1024.0)], strict=True):
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        apply_update(net, opt, net(x).square().mean(), grad_clip=0.5, scaler=scaler)
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_a_larger_batch_scales_the_learning_rate_by_its_square_root() -> None:
    from polychrome.train.optim import learning_rate

    plain = load_config(overrides=["optim.lr=0.001", "batch_size=256"])
    scaled = load_config(overrides=["optim.lr=0.001", "batch_size=256", "optim.lr_batch=64"])

    assert learning_rate(plain) == pytest.approx(0.001)
    assert learning_rate(scaled) == pytest.approx(0.002)  # 4x the batch, 2x the rate
    assert learning_rate(scaled, world_size=4) == pytest.approx(0.004)  # the batch of all processes
    model = create_model("effunet_tiny_reg", pretrained_encoder=False)
    rest, encoder = build_optimizer(model, scaled).param_groups
    assert rest["lr"] == pytest.approx(0.002) and encoder["lr"] == pytest.approx(0.002 * 0.3)


def test_fused_adamw_where_asked_and_on_cuda_by_default() -> None:
    model = create_model("effunet_tiny_reg", pretrained_encoder=False)
    assert build_optimizer(model, load_config()).defaults["fused"] is False  # the CPU
    fused = build_optimizer(model, load_config(overrides=["optim.fused=true"]))
    assert fused.defaults["fused"] is True
    x = torch.full((2, 1, 32, 32), 50.0)
    apply_update(
        model, fused, model(x).square().mean(), grad_clip=1.0
    )  # the fused kernels run on the CPU too
