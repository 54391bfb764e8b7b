"""The weights' moving average: a decay that ramps up, so short runs export what they learnt."""

from __future__ import annotations

import torch

from polychrome.train.ema import build_ema, ema_decay_at


def test_decay_ramps_up_to_its_setting() -> None:
    assert ema_decay_at(0.999, 0) == 0.1
    assert ema_decay_at(0.999, 10) == 11 / 20
    assert ema_decay_at(0.999, 100_000) == 0.999
    assert ema_decay_at(0.0, 5) == 0.0


def test_average_follows_the_ramped_formula_and_resumes() -> None:
    model = torch.nn.Linear(2, 1)
    ema = build_ema(model, decay=0.999)
    values = [1.0, 3.0, -2.0, 5.0]
    expected = None
    for n, value in enumerate(values):
        with torch.no_grad():
            model.weight.fill_(value)
        ema.update_parameters(model)
        # The first update copies; the one after n earlier updates blends with ema_decay_at(decay, n).
        expected = (
            value
            if expected is None
            else ema_decay_at(0.999, n) * expected + (1 - ema_decay_at(0.999, n)) * value
        )
        torch.testing.assert_close(ema.module.weight, torch.full((1, 2), expected))

    resumed = build_ema(torch.nn.Linear(2, 1), decay=0.999)
    resumed.load_state_dict(ema.state_dict())
    with torch.no_grad():
        model.weight.fill_(7.0)
    ema.update_parameters(model)
    resumed.update_parameters(model)
    torch.testing.assert_close(resumed.module.weight, ema.module.weight)
    assert abs(ema.module.weight[0, 0].item() - expected) > 0.5  # early on, the average still moves a lot
