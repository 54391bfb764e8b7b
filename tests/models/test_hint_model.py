"""The hint-conditioned U-Net: the plain model at start, hints reach the output, saved and loaded whole."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from polychrome.models import create_model, load_pretrained, save_pretrained


def _lightness(batch: int = 2, height: int = 64, width: int = 96) -> torch.Tensor:
    return torch.rand(batch, 1, height, width, generator=torch.Generator().manual_seed(0)) * 100


def _hints(batch: int = 2, height: int = 64, width: int = 96) -> torch.Tensor:
    hints = torch.zeros(batch, 3, height, width)
    hints[:, 0, 10:15, 20:25], hints[:, 1, 10:15, 20:25], hints[:, 2, 10:15, 20:25] = 40.0, -30.0, 1.0
    return hints


def _plain_and_hinted() -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    plain = create_model("effunet_tiny_reg").eval()
    hinted = create_model("effunet_tiny_hint_reg").eval()
    hinted.load_initial_weights(plain.state_dict())
    return plain, hinted


def test_a_new_hint_model_computes_exactly_what_the_plain_model_does() -> None:
    plain, hinted = _plain_and_hinted()
    lightness = _lightness()

    with torch.no_grad():
        expected = plain.predict_ab(lightness)
        assert torch.equal(hinted.predict_ab(lightness), expected)
        assert torch.equal(hinted.predict_ab(lightness, torch.zeros(2, 3, 64, 96)), expected)
        assert torch.equal(hinted.predict_ab(lightness, _hints()), expected)  # the branch starts at zero

    assert hinted.takes_hints and not plain.takes_hints
    assert not hinted.hint_stem.weight.any()


def test_the_gradient_reaches_the_hint_branch_and_a_trained_branch_changes_the_output() -> None:
    _, hinted = _plain_and_hinted()
    hinted.train()
    hints = _hints()

    (hinted(_lightness(), hints) ** 2).mean().backward()

    grad = hinted.hint_stem.weight.grad
    assert grad is not None and bool(grad[:, :2].abs().sum() > 0) and bool(grad[:, 2].abs().sum() > 0)
    with torch.no_grad():
        hinted.hint_stem.weight.normal_(0, 0.1)
    hinted.eval()
    with torch.no_grad():
        assert not torch.allclose(hinted(_lightness(), hints), hinted(_lightness()), atol=1e-3)


def test_init_from_a_plain_model_or_a_hint_model_but_not_other_weights() -> None:
    plain, hinted = _plain_and_hinted()
    again = create_model("effunet_tiny_hint_reg")
    again.load_initial_weights(hinted.state_dict())

    with pytest.raises(RuntimeError, match="do not fit"):
        hinted.load_initial_weights(create_model("effunet_tiny_cls").state_dict())
    with pytest.raises(RuntimeError):  # a hint model's weights are more than a plain model takes
        plain.load_initial_weights(hinted.state_dict())


def test_bad_hint_maps_and_heads_are_refused() -> None:
    _, hinted = _plain_and_hinted()
    with pytest.raises(ValueError, match=r"hints must be \(B, 3, H, W\)"):
        hinted(_lightness(), torch.zeros(2, 2, 64, 96))
    with pytest.raises(ValueError, match="head must be 'regression'"):
        create_model("effunet_tiny_hint_reg", head="classification")


def test_save_and_load_keep_the_hint_branch(tmp_path: Path) -> None:
    _, hinted = _plain_and_hinted()
    with torch.no_grad():
        hinted.hint_stem.weight.normal_(0, 0.1)
        expected = hinted.predict_ab(_lightness(), _hints())

    loaded = load_pretrained(save_pretrained(hinted, tmp_path / "saved"))

    assert loaded.architecture == "effunet_tiny_hint_reg" and loaded.takes_hints
    with torch.no_grad():
        assert torch.equal(loaded.predict_ab(_lightness(), _hints()), expected)
