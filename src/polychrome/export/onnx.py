"""A saved model as one ONNX file that ONNX Runtime colorizes with, no PyTorch needed.

The graph is the model's own :meth:`~polychrome.models.ColorizationModel.predict_ab`, traced from the same
PyTorch code that training and the PyTorch path run: the input normalisation, the network, a regression
model's chroma gain, and a classification model's default decoding of its ab bins (the annealed mean at
the model's temperature, say). Its input is L in 0..100, ``(B, 1, H, W)``, H and W multiples of the model's
``input_multiple``; its output is ab in Lab units at the output stride. Batch, height and width are dynamic.
A model that takes color hints has a second input, its hint map ``(B, 3, H, W)`` in the units the model
takes it (:mod:`polychrome.color.hint_map`; the all-zero map for no hints).

The graph computes what the model computes, written in the operators that ONNX Runtime's CPU provider runs
fastest (:func:`runtime_equivalent`): the decoder's GroupNorm and its upsampling are rearranged so that ONNX
Runtime keeps them in its blocked (NCHWc) layout; the outputs differ from the model's by float rounding only.

What a runtime needs besides the graph travels in the file's metadata: the input multiple, the output
stride, the head, whether the graph takes hints, and the model's ``config.json`` (its rendering settings
among it), so a ``.onnx`` file colorizes on its own.

Example:
    >>> from polychrome.models import create_model
    >>> export_onnx(create_model("effunet_tiny_cls"), "tiny.onnx", {})  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import io
import json
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from polychrome import __version__
from polychrome._atomic import atomic_write
from polychrome.color.constants import HINT_CHANNELS
from polychrome.models.base import ColorizationModel
from polychrome.models.layers import UpBlock

OPSET = 17
INPUT_NAME, HINTS_NAME, OUTPUT_NAME = "lightness", "hints", "ab"
METADATA_KEYS = ("architecture", "head_type", "input_multiple", "output_stride", "config")


class _PredictAb(nn.Module):
    def __init__(self, model: ColorizationModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, lightness: torch.Tensor, *hint_map: torch.Tensor) -> torch.Tensor:
        # A hint model's graph takes its hint map as a second input; the others take L alone.
        return self.model.predict_ab(lightness, *hint_map)


class _GroupNormThenScale(nn.Module):
    """GroupNorm as the group statistics alone, then the per-channel scale and shift as a depthwise 1x1
    convolution.

    The exporter writes GroupNorm as InstanceNormalization followed by a Mul and an Add over the whole tensor,
    plus the ReLU after it: three passes in the plain layout. ONNX Runtime turns a depthwise convolution with
    constant weights into one pass in its blocked layout, fuses the ReLU into it, and hands the result to the
    next convolution without reordering it.
    """

    def __init__(self, norm: nn.GroupNorm) -> None:
        super().__init__()
        self.groups, self.eps = norm.num_groups, norm.eps
        self.scale = nn.Conv2d(norm.num_channels, norm.num_channels, 1, groups=norm.num_channels)
        self.scale.weight.data = norm.weight.detach().reshape(-1, 1, 1, 1).clone()
        self.scale.bias.data = norm.bias.detach().clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale(F.group_norm(x, self.groups, eps=self.eps))


class _UpBlockConvFirst(nn.Module):
    """:class:`~polychrome.models.layers.UpBlock` with its 1x1 fuse convolution split in two: the part that
    acts on the upsampled features runs before the upsampling, and the skip features' part is added after it.

    Both are linear and act on different axes (the convolution on channels, the bilinear upsampling on
    pixels, whose weights sum to 1), so the order does not change the result. It convolves a quarter of the
    pixels, upsamples the block's output width instead of its wider input, and needs no Concat; with a fixed
    scale of 2, ONNX Runtime upsamples in its blocked layout instead of reordering to the plain one. The skip
    features are twice the size of the input at every level, since the graph's input is a multiple of the
    model's ``input_multiple`` (the runtimes pad it); another size fails loudly at the addition.
    """

    def __init__(self, block: UpBlock) -> None:
        super().__init__()
        conv, self.after = block.fuse[0], nn.Sequential(*list(block.fuse)[1:], block.refine)
        cin, cskip, cout = block.in_channels, block.skip_channels, conv.out_channels
        self.features = nn.Conv2d(cin, cout, 1, bias=False)
        self.skip = nn.Conv2d(cskip, cout, 1, bias=conv.bias is not None)
        self.features.weight.data = conv.weight.detach()[:, :cin].clone()
        self.skip.weight.data = conv.weight.detach()[:, cin:].clone()
        if conv.bias is not None:
            self.skip.bias.data = conv.bias.detach().clone()

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(self.features(x), scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.after(x + self.skip(skip))


def runtime_equivalent(model: ColorizationModel) -> ColorizationModel:
    """A copy of ``model`` that computes the same function with ONNX Runtime's fast paths: each
    :class:`~polychrome.models.layers.UpBlock` as :class:`_UpBlockConvFirst`, each affine GroupNorm whose
    width fits ONNX Runtime's channel blocks (a multiple of 16) as :class:`_GroupNormThenScale`.

    On the built-in model the network at 256 px took about 0.79 of the time of the plain export
    (BENCHMARKS section 12); the outputs agree to float rounding (tests/export/test_onnx.py).
    """
    model = copy.deepcopy(model)
    # The norms first: an UpBlock's replacement takes its fuse norm over as it finds it.
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.GroupNorm) and child.affine and child.num_channels % 16 == 0:
                setattr(parent, name, _GroupNormThenScale(child))
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, UpBlock):
                setattr(parent, name, _UpBlockConvFirst(child))
    return model


def export_onnx(
    model: ColorizationModel, path: str | Path, config: dict[str, Any], *, as_written: bool = False
) -> Path:
    """Write ``model`` (in eval mode, on the CPU, fp32) as an ONNX file at ``path``, atomically.

    Args:
        model: any registered family, classification or regression; one that takes color hints gets a
            second input for its hint map.
        path: the file to write.
        config: the model's ``config.json`` as a dict (kept in the metadata; ``{}`` for a bare model).
        as_written: trace the model's modules as they are instead of :func:`runtime_equivalent`'s: the
            graph that ``polychrome export --int8`` quantizes, whose choice of which convolutions stay in
            float was measured on it (BENCHMARKS section 12).
    """
    model = model.eval().float().cpu()
    network = model if as_written else runtime_equivalent(model)
    multiple = model.input_multiple
    example = torch.linspace(0, 100, 2 * multiple * 3 * multiple).reshape(1, 1, 2 * multiple, 3 * multiple)
    inputs, names = (example,), [INPUT_NAME]
    if model.takes_hints:  # the hint map's values do not shape the graph: zeros, no hints, serve
        inputs = (example, torch.zeros(1, HINT_CHANNELS, *example.shape[-2:]))
        names = [INPUT_NAME, HINTS_NAME]
    pixels = {0: "batch", 2: "height", 3: "width"}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter is the one that needs no extra package; its deprecation is PyTorch's note
        # about the future, not something the user can act on.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _PredictAb(network),
            inputs,
            buffer,
            input_names=names,
            output_names=[OUTPUT_NAME],
            dynamic_axes={
                **dict.fromkeys(names, pixels),
                OUTPUT_NAME: {0: "batch", 2: "ab_height", 3: "ab_width"},
            },
            opset_version=OPSET,
            dynamo=False,
        )
    import onnx  # the export extra's; colorizing reads the metadata through ONNX Runtime alone

    proto = onnx.load_from_string(buffer.getvalue())
    metadata = {
        "architecture": model.architecture,
        "head_type": model.head_type,
        "input_multiple": str(multiple),
        "output_stride": str(model.output_stride),
        "takes_hints": str(model.takes_hints).lower(),
        "config": json.dumps(config, sort_keys=True),
        "polychrome_version": __version__,
    }
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "polychrome"
    data = proto.SerializeToString()
    path = Path(path)
    atomic_write(path, lambda handle: handle.write(data))
    return path
