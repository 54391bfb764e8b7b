from __future__ import annotations

import pytest
import torch

from polychrome.devices import resolve_device
from polychrome.models import create_model
from polychrome.pipelines.image import Colorizer

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")


def test_auto_and_named_devices() -> None:
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu") == resolve_device(torch.device("cpu"))
    assert resolve_device(torch.device("cpu", 0)) == torch.device("cpu", 0)  # a tensor's device, as it is
    with pytest.raises(ValueError, match="'gpu0': not a device name"):
        resolve_device("gpu0")


@no_cuda
def test_cuda_without_a_gpu_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match="'cuda:1': this PyTorch sees no CUDA GPU"):
        resolve_device("cuda:1")
    model = create_model("effunet_tiny_reg", pretrained_encoder=False)
    with pytest.raises(ValueError, match="'cuda': this PyTorch sees no CUDA GPU"):
        Colorizer(model, device="cuda")


@pytest.mark.parametrize("name", ["banana", "gpu", "meta", "xla", "cuda:x"])
def test_a_device_polychrome_does_not_take_is_refused_with_those_it_does(name: str) -> None:
    # Not PyTorch's own list of every device type it knows (xla, hpu, privateuseone...).
    with pytest.raises(ValueError) as refused:
        resolve_device(name)
    choices = "choose auto, cpu, cuda, cuda:N (N a GPU's number) or mps"
    assert str(refused.value) == f"device {name!r}: not a device name; {choices}"
