"""The PatchGAN critic: patch size, initialisation, per-image independence, its registry, and its use in
the WGAN-GP gradient penalty."""

from __future__ import annotations

import pytest
import torch

from polychrome.models import _registry, create_critic, list_critics, register_critic
from polychrome.models.patchgan import PatchGANCritic, critic_input
from polychrome.train.losses import gradient_penalty, wgan_critic_loss


def _images(batch: int = 2, size: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_critics_are_registered_with_a_tiny_variant() -> None:
    assert list_critics() == ["patchgan", "patchgan_tiny"]
    with pytest.raises(ValueError, match="patchgan, patchgan_tiny"):
        create_critic("dcgan")


def _receptive_field(critic: PatchGANCritic, size: int) -> tuple[int, int]:
    """Height and width of the input region that one central patch score depends on through the convs.

    Instance norm's mean and variance span the whole image, so they are taken out to see the patch.
    """
    for i, layer in enumerate(critic.blocks):
        if isinstance(layer, torch.nn.InstanceNorm2d):
            critic.blocks[i] = torch.nn.Identity()
    x = _images(1, size).requires_grad_(True)
    scores = critic(x)
    scores[0, 0, scores.shape[2] // 2, scores.shape[3] // 2].backward()
    rows, cols = (x.grad[0].abs().sum(dim=0) > 0).nonzero(as_tuple=True)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def test_default_critic_scores_70_pixel_patches() -> None:
    # pix2pix's 70x70 PatchGAN: a 256 image gives a 30x30 map, each score seeing 70x70 pixels.
    torch.manual_seed(0)
    critic = create_critic("patchgan")
    with torch.no_grad():
        assert critic(torch.zeros(1, 3, 256, 256)).shape == (1, 1, 30, 30)
    assert _receptive_field(critic, 128) == (70, 70)
    assert _receptive_field(create_critic("patchgan_tiny"), 64) == (34, 34)  # 4 -> 7 -> 16 -> 34


def test_blocks_initialisation_and_no_sigmoid() -> None:
    torch.manual_seed(0)
    critic = create_critic("patchgan")
    layers = list(critic.blocks)
    convs = [m for m in layers if isinstance(m, torch.nn.Conv2d)]

    assert [c.stride for c in convs] == [(2, 2), (2, 2), (2, 2), (1, 1), (1, 1)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 1]
    assert isinstance(layers[1], torch.nn.LeakyReLU) and layers[1].negative_slope == 0.2  # no norm first
    assert sum(isinstance(m, torch.nn.InstanceNorm2d) for m in layers) == 3
    assert isinstance(layers[-1], torch.nn.Conv2d)  # raw scores: no sigmoid
    assert [c.bias is not None for c in convs] == [True, False, False, False, True]  # none before a norm
    weights = torch.cat([c.weight.detach().flatten() for c in convs])
    assert abs(float(weights.mean())) < 1e-3 and float(weights.std()) == pytest.approx(0.02, rel=0.02)
    assert not convs[0].bias.detach().any() and not convs[-1].bias.detach().any()


def test_an_images_scores_do_not_depend_on_its_batch() -> None:
    critic = create_critic("patchgan_tiny").train()
    x = _images(3)
    with torch.no_grad():
        torch.testing.assert_close(critic(x)[1:2], critic(x[1:2]), rtol=1e-5, atol=1e-6)


def test_critic_input_normalises_lab() -> None:
    lightness = torch.tensor([0.0, 50.0, 100.0]).view(1, 1, 1, 3)
    ab = torch.tensor([[110.0, -55.0, 0.0], [-110.0, 22.0, 11.0]]).view(1, 2, 1, 3)
    expected = torch.tensor([[-1.0, 0.0, 1.0], [1.0, -0.5, 0.0], [-1.0, 0.2, 0.1]]).view(1, 3, 1, 3)
    torch.testing.assert_close(critic_input(lightness, ab), expected)
    with pytest.raises(ValueError, match="expected L"):
        critic_input(ab, lightness)


def test_rebuilt_from_its_init_args_it_is_the_same_critic() -> None:
    critic = create_critic("patchgan_tiny", widths=(8, 8, 16, 16))
    again = create_critic(critic.architecture, **critic.init_args)
    again.load_state_dict(critic.state_dict())
    x = _images(1)
    with torch.no_grad():
        assert torch.equal(again(x), critic(x))


def test_duplicate_critic_registration_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_registry, "_CRITICS", dict(_registry._CRITICS))

    def patchgan(**kwargs):
        raise AssertionError("never built")

    with pytest.raises(ValueError, match="twice"):
        register_critic(patchgan)


def test_a_critic_step_with_gradient_penalty_trains_every_weight() -> None:
    torch.manual_seed(0)
    critic = create_critic("patchgan_tiny")
    real, fake = _images(2, 48, seed=1), _images(2, 48, seed=2)

    loss = wgan_critic_loss(critic(real), critic(fake)) + gradient_penalty(critic, real, fake)
    loss.backward()

    final_bias = f"blocks.{len(critic.blocks) - 1}.bias"  # shifts every score alike: no WGAN gradient
    for key, param in critic.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), key
        assert (float(param.grad.abs().sum()) > 0) == (key != final_bias), key
