"""The plain U-Net regression model: its size, full-resolution bounded ab, configurable widths."""

from __future__ import annotations

import pytest
import torch

from polychrome.models import create_model


def _lightness(batch: int = 2, height: int = 32, width: int = 48, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 1, height, width, generator=torch.Generator().manual_seed(seed)) * 100


def _double_conv(cin: int, cout: int) -> int:
    """Two bias-free 3x3 convs, each followed by a norm with a scale and a shift."""
    return cin * cout * 9 + cout * cout * 9 + 4 * cout


def test_full_size_has_ronnebergers_widths_and_their_parameters() -> None:
    model = create_model("unet_reg")
    widths = (64, 128, 256, 512, 1024)
    expected = _double_conv(1, 64) + 64 * 2 + 2  # stem and 1x1 head
    for small, big in zip(widths, widths[1:], strict=False):
        expected += _double_conv(small, big)  # encoder level
        expected += big * small * 4 + small + _double_conv(2 * small, small)  # 2x2 up-conv, then fuse

    assert sum(p.numel() for p in model.parameters()) == expected  # 31,036,546
    assert model.input_multiple == 16 and model.output_stride == 1 and model.head_type == "regression"


@pytest.mark.parametrize(("widths", "multiple"), [((8, 16), 2), ((8, 16, 16), 4), ((8, 8, 8, 8, 8, 8), 32)])
def test_widths_set_the_depth_and_the_input_multiple(widths: tuple[int, ...], multiple: int) -> None:
    model = create_model("unet_tiny_reg", widths=widths).eval()
    with torch.no_grad():
        out = model(_lightness(1, 2 * multiple, 3 * multiple))
    assert model.input_multiple == multiple
    assert out.shape == (1, 2, 2 * multiple, 3 * multiple)
    assert model.init_args == {"widths": list(widths), "norm": "group"}


def test_output_is_bounded_by_110_lab_units() -> None:
    model = create_model("unet_tiny_reg").eval()
    lightness = _lightness()
    with torch.no_grad():
        model.head.bias.copy_(torch.tensor([1e3, -1e3]))  # saturate the tanh
        ab = model.predict_ab(lightness)
    assert torch.equal(ab[:, 0], torch.full_like(ab[:, 0], 110.0))
    assert torch.equal(ab[:, 1], torch.full_like(ab[:, 1], -110.0))


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="pretrained encoder"):
        create_model("unet_reg", pretrained_encoder=True)
    with pytest.raises(ValueError, match="two widths"):
        create_model("unet_tiny_reg", widths=(8,))
