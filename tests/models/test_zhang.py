"""Zhang et al. (2016)'s classification CNN: its size and geometry against the paper, its decoding."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from polychrome.color.decode import decode_annealed_mean, decode_topk_mean
from polychrome.models import create_model

# The paper's layers (Zhang et al. 2016, Table 4 / colorization_deploy_v2.prototxt) as (in, out, kernel):
# blocks 1-7 of 3x3 convs, block 8's 4x4 transposed conv and two 3x3 convs, and the 1x1 head over our 261
# bins (313 in the paper). Each of blocks 1-7 ends in a normalisation layer with a scale and a shift.
PAPER_LAYERS = (
    [(1, 64, 3), (64, 64, 3), (64, 128, 3), (128, 128, 3), (128, 256, 3), (256, 256, 3), (256, 256, 3)]
    + [(256, 512, 3)]
    + [(512, 512, 3)] * 11
    + [(512, 256, 4), (256, 256, 3), (256, 256, 3), (256, 261, 1)]
)
NORMALISED_WIDTHS = (64, 128, 256, 512, 512, 512, 512)


def _lightness(batch: int = 2, height: int = 64, width: int = 96, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 1, height, width, generator=torch.Generator().manual_seed(seed)) * 100


def test_full_size_has_the_papers_parameters() -> None:
    model = create_model("zhang2016_cls")
    expected = sum(cin * cout * k * k + cout for cin, cout, k in PAPER_LAYERS) + 2 * sum(NORMALISED_WIDTHS)

    assert sum(p.numel() for p in model.parameters()) == expected  # 32,222,021
    assert 31.5e6 < expected < 32.5e6
    assert model.ab_centers.shape == (261, 2) and model.input_multiple == 8 and model.output_stride == 4


def test_full_size_costs_the_papers_multiply_adds() -> None:
    # Each layer of PAPER_LAYERS at its output resolution for a 256x256 input (1/2 after conv1_2, 1/4 after
    # conv2_2, 1/8 from conv3_3 to conv7_3, the transposed conv counted over its 32x32 input, 1/4 after).
    pixels = [256**2, 128**2, 128**2, 64**2, 64**2, 64**2] + [32**2] * 13 + [32**2] + [64**2] * 3
    expected = sum(px * cin * cout * k * k for px, (cin, cout, k) in zip(pixels, PAPER_LAYERS, strict=True))
    model = create_model("zhang2016_cls").to("meta")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, 1, 256, 256, device="meta"))

    assert counter.get_total_flops() == 2 * expected  # 41.7 G multiply-adds, 83.4 GFLOPs
    assert 41e9 < expected < 42.5e9


def test_block_resolutions_strides_and_dilations() -> None:
    model = create_model("zhang2016_tiny_cls").eval()
    sizes = {}
    for name, block in model.blocks.named_children():
        block.register_forward_hook(
            lambda m, i, out, name=name: sizes.__setitem__(name, tuple(out.shape[-2:]))
        )

    with torch.no_grad():
        model(_lightness(1, 64, 96))

    assert sizes == {
        "conv1": (32, 48),
        "conv2": (16, 24),
        "conv3": (8, 12),
        "conv4": (8, 12),
        "conv5": (8, 12),
        "conv6": (8, 12),
        "conv7": (8, 12),
        "conv8": (16, 24),
    }
    for name, block in model.blocks.named_children():
        convs = [m for m in block if isinstance(m, torch.nn.Conv2d)]
        dilations = {m.dilation for m in convs}
        assert dilations == ({(2, 2)} if name in ("conv5", "conv6") else {(1, 1)}), name
        assert isinstance(block[-1], torch.nn.GroupNorm) == (name != "conv8"), name
    assert isinstance(model.blocks.conv8[0], torch.nn.ConvTranspose2d)


def test_group_norm_colors_an_image_alone_as_in_its_batch_and_batch_norm_does_not() -> None:
    torch.manual_seed(0)
    group = create_model("zhang2016_tiny_cls").train()
    torch.manual_seed(0)
    batch = create_model("zhang2016_tiny_cls", norm="batch").train()
    lightness = _lightness(4, 32, 32)

    with torch.no_grad():
        assert torch.allclose(group(lightness)[:1], group(lightness[:1]), atol=1e-5)
        assert not torch.allclose(batch(lightness)[:1], batch(lightness[:1]), atol=1e-3)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in batch.modules()) == 7


def test_decoding_is_the_annealed_mean_by_default_or_the_per_pixel_top_k() -> None:
    torch.manual_seed(1)
    model = create_model("zhang2016_tiny_cls").eval()
    lightness = _lightness(1, 32, 40)

    with torch.no_grad():
        logits = model(lightness)
        default = model.predict_ab(lightness)
        topk = model.predict_ab(lightness, method="topk_mean", k=3)
    torch.manual_seed(1)
    topk_model = create_model("zhang2016_tiny_cls", decode_method="topk_mean", decode_k=3).eval()
    with torch.no_grad():
        topk_default = topk_model.predict_ab(lightness)

    torch.testing.assert_close(default, decode_annealed_mean(logits, model.ab_centers, 0.38))
    torch.testing.assert_close(topk, decode_topk_mean(logits, model.ab_centers, 3))
    torch.testing.assert_close(topk_default, topk)
    assert not torch.allclose(default, topk)


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="pretrained encoder"):
        create_model("zhang2016_tiny_cls", pretrained_encoder=True)
    with pytest.raises(ValueError, match="8 blocks"):
        create_model("zhang2016_tiny_cls", widths=(8, 8, 8))
    with pytest.raises(ValueError, match="unknown decoding"):
        create_model("zhang2016_tiny_cls", decode_method="median")
    with pytest.raises(ValueError, match="norm must be one of"):
        create_model("zhang2016_tiny_cls", norm="layer")
