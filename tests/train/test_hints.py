"""Hints drawn from the truth for a hint-conditioned model, its recipe through the loop, what it learns."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from polychrome.color.lab import rgb_to_lab
from polychrome.models import create_model, load_pretrained
from polychrome.train.config import ConfigError, HintSampling, load_config
from polychrome.train.hints import HintSampler, draw_hint_squares, hint_counts, hints_from_truth
from polychrome.train.loop import train
from polychrome.train.recipes import build_recipe
from tests.train.tiny import colorful, tiny_config


def test_hint_counts_follow_the_geometric_distribution_with_a_share_of_none() -> None:
    sampling = HintSampling(points_p=0.125, none_share=0.2, max_points=30)
    counts = hint_counts(200_000, torch.Generator().manual_seed(0), sampling).double()

    # Geometric from 0 cut at 30: P(n) = p (1 - p)^n; then a fifth of the photos get none.
    p, kept = 0.125, 0.8
    n = torch.arange(31, dtype=torch.float64)
    law = p * (1 - p) ** n
    law[-1] = (1 - p) ** 30
    assert counts.mean().item() == pytest.approx(kept * float((n * law).sum()), rel=0.02)
    assert (counts == 0).double().mean().item() == pytest.approx(1 - kept + kept * p, abs=0.005)
    assert (counts == 3).double().mean().item() == pytest.approx(kept * float(law[3]), abs=0.003)
    assert counts.max() == 30


def test_squares_fit_the_photo_and_their_sides_are_uniform_in_1_to_max_patch() -> None:
    squares = draw_hint_squares(2000, 20, 12, torch.Generator().manual_seed(1), HintSampling(max_patch=9))

    assert (squares.top >= 0).all() and (squares.left >= 0).all()
    assert (squares.top + squares.size <= 20).all() and (squares.left + squares.size <= 12).all()
    shares = torch.bincount(squares.size, minlength=10)[1:].double() / len(squares.size)
    assert torch.allclose(shares, torch.full((9,), 1 / 9, dtype=torch.float64), atol=0.01)
    assert torch.equal(squares.photo, squares.photo.sort().values)  # photo by photo


def test_each_hint_is_the_mean_ab_of_its_square_of_the_truth() -> None:
    rgb = torch.from_numpy(colorful(3, 32)).permute(2, 0, 1)[None].float() / 255
    squares = draw_hint_squares(1, 32, 32, torch.Generator().manual_seed(5), HintSampling(points_p=0.2))
    last = len(squares.photo) - 1  # drawn last, so never painted over
    top, left, size = (int(v[last]) for v in squares[1:])

    hint_map = hints_from_truth(rgb, squares)

    ab = rgb_to_lab(rgb)[0, 1:]
    expected = ab[:, top : top + size, left : left + size].mean(dim=(1, 2))
    torch.testing.assert_close(
        hint_map[0, :2, top + size // 2, left + size // 2], expected, atol=1e-3, rtol=0
    )
    assert hint_map[0, 2, top : top + size, left : left + size].all()
    assert len(squares.photo) > 1 and hint_map[0, 2].sum() >= size * size


def test_the_hints_of_a_step_depend_on_seed_and_step_only() -> None:
    rgb = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    sampler = HintSampler(HintSampling(), seed=3)

    first, again = sampler(rgb, 7), sampler(rgb, 7)
    torch.manual_seed(123)  # the global random state plays no part

    assert torch.equal(first, again) and torch.equal(first, sampler(rgb, 7))
    assert not torch.equal(first, sampler(rgb, 8))
    assert not torch.equal(first, HintSampler(HintSampling(), seed=4)(rgb, 7))


def test_the_hint_recipe_trains_through_the_loop_from_a_plain_models_weights(
    photos: Path, tmp_path: Path
) -> None:
    plain = train(
        tiny_config(photos, "model.name=effunet_tiny_reg", "steps=1", "steps_per_epoch=1"), tmp_path / "p"
    )
    source = plain.run_dir / "model"
    config = tiny_config(
        photos,
        "model.name=effunet_tiny_hint_reg",
        f"model.init_from='{source}'",
        "steps=3",
        "steps_per_epoch=3",
        "hints.points_p=0.25",
    )

    result = train(config, tmp_path / "hint")

    assert result.finished and result.step == 3 and math.isfinite(result.metrics["val/psnr"])
    saved = json.loads((result.run_dir / "model" / "config.json").read_text())
    assert saved["architecture"] == "effunet_tiny_hint_reg"
    assert saved["train_config"]["hints"]["points_p"] == 0.25
    model = load_pretrained(result.run_dir / "model")
    assert model.takes_hints and model.hint_stem.weight.abs().sum() > 0  # the branch left zero and learned
    rows = (result.run_dir / "train.csv").read_text().splitlines()
    assert "hinted_share" in rows[0].split(",")


def test_hint_settings_are_checked_before_the_data_loads(photos: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="takes no color hints"):
        train(tiny_config(photos, "model.name=effunet_tiny_reg", "hints.points_p=0.5"), tmp_path / "a")
    with pytest.raises(ConfigError, match="points_p"):
        train(tiny_config(photos, "model.name=effunet_tiny_hint_reg", "hints.points_p=0"), tmp_path / "b")
    with pytest.raises(ConfigError, match="adversarial"):
        train(tiny_config(photos, "model.name=effunet_tiny_hint_reg", "adversarial={}"), tmp_path / "c")
    assert not any(tmp_path.iterdir())


def test_a_few_hundred_steps_teach_the_network_to_use_a_hint() -> None:
    # Random smooth color fields: a photo's lightness says little of its colors, a hint says them there.
    torch.manual_seed(0)
    model = create_model("effunet_tiny_hint_reg")
    config = load_config(
        overrides=["model.name=effunet_tiny_hint_reg", "precision=fp32", "channels_last=false"]
    )
    recipe = build_recipe(model, model, config, torch.device("cpu"), None, [])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)

    def update(loss: torch.Tensor) -> None:
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    photos = torch.stack(
        [torch.from_numpy(colorful(i, 32)).permute(2, 0, 1).float() / 255 for i in range(64)]
    )
    draw = torch.Generator().manual_seed(0)
    model.train()
    for step in range(200):
        recipe.step(photos[torch.randint(48, (8,), generator=draw)], step, update, lambda loss: None)

    lab = rgb_to_lab(photos[48:])  # photos it never saw
    hints = torch.zeros(16, 3, 32, 32)
    hints[:, :2, 12:17, 12:17] = lab[:, 1:, 12:17, 12:17].mean(dim=(2, 3), keepdim=True)
    hints[:, 2, 12:17, 12:17] = 1
    model.eval()
    with torch.no_grad():
        alone, hinted = model.predict_ab(lab[:, :1]), model.predict_ab(lab[:, :1], hints)
    wanted = hints[:, :2, 14, 14]
    error_alone = (alone[:, :, 7, 7] - wanted).norm(dim=1).mean()
    error_hinted = (hinted[:, :, 7, 7] - wanted).norm(dim=1).mean()
    assert error_hinted < 0.75 * error_alone, (error_hinted, error_alone)
