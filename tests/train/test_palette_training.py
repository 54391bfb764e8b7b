"""A palette model trains with the classification machinery and colors only within its palette's hull."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial import ConvexHull

from polychrome.color.quantize import AbPalette, ab_bins, rebalance_weights
from polychrome.models import create_model
from polychrome.train.inputs import supervised_loss
from polychrome.train.losses import RebalancedCrossEntropy
from polychrome.train.optim import apply_update

# Eight colors around warm tones: their hull leaves out most of the ab plane (all blues and greens).
PALETTE = torch.tensor(
    [
        [5.0, 10.0],
        [15.0, 30.0],
        [30.0, 45.0],
        [45.0, 30.0],
        [35.0, 10.0],
        [20.0, 5.0],
        [10.0, 20.0],
        [25.0, 20.0],
    ]
)


def _inside_hull(points: np.ndarray, hull: ConvexHull, tol: float = 1e-4) -> np.ndarray:
    """Whether each point (N, 2) satisfies every facet inequality n . x + c <= 0 of the hull."""
    return (points @ hull.equations[:, :2].T + hull.equations[:, 2] <= tol).all(axis=1)


def _photos(seed: int = 0) -> torch.Tensor:
    """Smooth colorful RGB crops (B, 3, 32, 32) in 0..1: blues and greens too, which the palette lacks."""
    gen = torch.Generator().manual_seed(seed)
    low = torch.rand(4, 3, 4, 4, generator=gen)
    return torch.nn.functional.interpolate(low, size=(32, 32), mode="bilinear", align_corners=False)


@pytest.mark.parametrize("name", ["effunet_tiny_cls", "zhang2016_tiny_cls"])
def test_a_palette_model_trains_a_step_and_decodes_inside_the_hull(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, palette=PALETTE.tolist()).train()
    bins = ab_bins(model.ab_centers, model.init_args["ab_grid"])  # how the loop will pick the search
    assert isinstance(bins, AbPalette)
    weights = rebalance_weights(torch.arange(1.0, 9.0), 0.5)
    criterion = RebalancedCrossEntropy(bins, weights, k=3, sigma=10.0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rgb = _photos()
    before = {k: v.clone() for k, v in model.state_dict().items()}

    loss = supervised_loss(model, criterion, rgb, channels_last=False, autocast=None)
    apply_update(model, optimizer, loss, grad_clip=1.0)
    after_step = supervised_loss(model, criterion, rgb, channels_last=False, autocast=None)

    assert torch.isfinite(loss) and float(after_step.detach()) < float(
        loss.detach()
    )  # the step went downhill
    assert any(not torch.equal(v, model.state_dict()[k]) for k, v in before.items())

    hull = ConvexHull(PALETTE.numpy())
    assert not _inside_hull(np.array([[-40.0, -40.0], [80.0, 80.0]]), hull).any()  # the check can fail
    model.eval()
    lightness = torch.linspace(0, 100, 32 * 32).view(1, 1, 32, 32)
    for options in ({}, {"method": "mean"}, {"method": "topk_mean", "k": 2}, {"method": "annealed_mean"}):
        with torch.no_grad():
            ab = model.predict_ab(lightness, **options)
        points = ab.permute(0, 2, 3, 1).reshape(-1, 2).numpy()
        assert _inside_hull(points, hull).all(), options
    with torch.no_grad():
        mode = model.predict_ab(lightness, method="mode").permute(0, 2, 3, 1).reshape(-1, 2)
    assert (torch.cdist(mode, PALETTE).min(dim=1).values == 0).all()  # the mode is one of the colors
