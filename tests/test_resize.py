"""The one resize that brings photos to the network's scale, at inference and (optionally) in prepare."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from polychrome.resize import resize_for_render


def _stripes(size: int = 16) -> torch.Tensor:
    """Gray stripes four pixels wide, the finest detail an enlargement has to keep."""
    x = torch.arange(float(size))
    return (0.5 + 0.4 * torch.sin(2 * torch.pi * x / 4)).expand(1, 3, size, size).contiguous()


def test_the_default_enlargement_is_the_pipelines_bilinear() -> None:
    photo = torch.rand(2, 3, 20, 30)
    expected = F.interpolate(photo, size=(40, 60), mode="bilinear", antialias=True, align_corners=False)
    assert torch.equal(resize_for_render(photo, (40, 60)), expected)


def test_bicubic_enlargement_keeps_fine_detail_that_bilinear_washes_out() -> None:
    small = _stripes()
    inner = slice(8, 56)  # away from the borders, where both replicate the edge pixels
    bicubic = resize_for_render(small, (64, 64), enlarge="bicubic")[..., inner]
    bilinear = resize_for_render(small, (64, 64))[..., inner]
    assert bicubic.std() > 0.95 * small.std() > 1.15 * bilinear.std()


def test_bicubic_overshoot_is_clamped() -> None:
    edge = torch.zeros(1, 3, 16, 16)
    edge[..., 8:] = 1.0
    raw = F.interpolate(edge, size=(64, 64), mode="bicubic", align_corners=False)
    assert raw.min() < 0.0 and raw.max() > 1.0
    enlarged = resize_for_render(edge, (64, 64), enlarge="bicubic")
    assert enlarged.min() == 0.0 and enlarged.max() == 1.0


@pytest.mark.parametrize("enlarge", ["bilinear", "bicubic"])
def test_reductions_average_their_footprint_whatever_the_enlargement(enlarge: str) -> None:
    stripes = torch.zeros(1, 1, 64, 64)
    stripes[..., ::2] = 1.0  # one-pixel stripes: point sampling would give all black or all white
    reduced = resize_for_render(stripes, (16, 16), enlarge=enlarge)
    np.testing.assert_allclose(reduced.numpy(), 0.5, atol=0.05)


def test_a_photo_at_the_size_is_returned_as_it_is() -> None:
    photo = torch.rand(2, 3, 20, 30)
    assert resize_for_render(photo, (20, 30), enlarge="bicubic") is photo


def test_an_unknown_filter_is_refused() -> None:
    with pytest.raises(ValueError, match="enlarge must be one of bilinear, bicubic"):
        resize_for_render(torch.rand(1, 3, 8, 8), (16, 16), enlarge="lanczos")
