"""A K-means palette in the ab plane: a data-driven alternative to the regular ab grid as classes.

A palette file (written by ``polychrome palette``) is JSON: ``{"ab_centers": [[a, b], ...], "k": K, ...}``
with the centres in Lab units, plus how it was fitted (``pixels``, ``seed``, ``inertia``, ``source``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from polychrome._atomic import atomic_write
from polychrome.color.lab import lab_to_rgb, rgb_to_lab


def kmeans(points: torch.Tensor, k: int, iterations: int = 50, seed: int = 0) -> tuple[torch.Tensor, float]:
    """Lloyd's k-means with k-means++ seeding, ``(N, D)`` -> ``(k, D)`` centres and the final inertia.

    Deterministic for a given seed. An emptied cluster is re-seeded at the point farthest from its centre.
    """
    n = points.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of points ({n}), got {k}")
    gen = torch.Generator().manual_seed(seed)
    points = points.double()
    centers = points[torch.randint(n, (1,), generator=gen)]
    for _ in range(1, k):
        d2 = torch.cdist(points, centers).min(dim=1).values ** 2
        centers = torch.cat((centers, points[torch.multinomial(d2 / d2.sum(), 1, generator=gen)]))
    for _ in range(iterations):
        dist, assign = torch.cdist(points, centers).min(dim=1)
        sums = torch.zeros_like(centers).index_add_(0, assign, points)
        counts = torch.bincount(assign, minlength=k).unsqueeze(1)
        new = torch.where(counts > 0, sums / counts.clamp(min=1), centers)
        for empty in (counts[:, 0] == 0).nonzero().flatten().tolist():
            new[empty] = points[int(dist.argmax())]
        if torch.allclose(new, centers):
            break
        centers = new
    inertia = float((torch.cdist(points, centers).min(dim=1).values ** 2).mean())
    return centers.float(), inertia


def sample_ab(images: np.ndarray, pixels: int, seed: int = 0) -> torch.Tensor:
    """``pixels`` ab values drawn uniformly from uint8 images ``(N, H, W, 3)``, as ``(pixels, 2)``."""
    n, h, w, _ = images.shape
    rng = np.random.default_rng(seed)
    idx = (rng.integers(n, size=pixels), rng.integers(h, size=pixels), rng.integers(w, size=pixels))
    rgb = torch.from_numpy(images[idx].astype(np.float32) / 255).T.reshape(1, 3, pixels, 1)
    return rgb_to_lab(rgb)[0, 1:, :, 0].T


def fit_palette(
    images: np.ndarray, k: int = 50, pixels: int = 200_000, seed: int = 0
) -> tuple[torch.Tensor, float]:
    """The palette of a photo collection: k ab centres sorted by hue angle, and the k-means inertia."""
    centers, inertia = kmeans(sample_ab(images, pixels, seed), k, seed=seed)
    order = torch.argsort(torch.atan2(centers[:, 1], centers[:, 0]))
    return centers[order], inertia


def palette_swatches(centers: torch.Tensor, lightness: float = 65.0, swatch: int = 32) -> np.ndarray:
    """A uint8 picture of the palette: one square per color, at the given L, in a row."""
    k = centers.shape[0]
    lab = torch.cat((torch.full((1, k), lightness), centers.T.float()), dim=0).reshape(1, 3, 1, k)
    rgb = lab_to_rgb(lab)[0].permute(1, 2, 0).numpy()  # (1, k, 3)
    return (np.repeat(np.repeat(rgb, swatch, axis=0), swatch, axis=1) * 255).round().astype(np.uint8)


def save_palette(path: str | Path, centers: torch.Tensor, **fitted: Any) -> Path:
    """Write a palette file: the centres ``(K, 2)`` in Lab units and how they were fitted (JSON values)."""
    record = {"ab_centers": centers.tolist(), "k": int(centers.shape[0]), **fitted}
    return atomic_write(path, lambda f: f.write(json.dumps(record, indent=1).encode()))


def _palette_tensor(centers: Any, where: str) -> torch.Tensor:
    try:
        tensor = torch.tensor(centers, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError):
        tensor = None
    if tensor is None or tensor.dim() != 2 or tensor.shape[1] != 2 or tensor.shape[0] < 2:
        raise ValueError(f"{where}: a palette is a list of at least two [a, b] pairs (ab_centers)")
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{where}: the palette's ab_centers must be finite")
    return tensor


def load_palette(path: str | Path) -> torch.Tensor:
    """The centres of a palette file, ``(K, 2)`` float32 in Lab units."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such palette file (`polychrome palette` makes one)") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    return _palette_tensor(record.get("ab_centers") if isinstance(record, dict) else None, str(path))


def as_palette(palette: str | Path | Sequence[Sequence[float]] | torch.Tensor) -> torch.Tensor:
    """A palette given as a palette file or as ``[[a, b], ...]`` pairs in Lab units, as ``(K, 2)`` float32."""
    if isinstance(palette, str | Path):
        return load_palette(palette)
    if isinstance(palette, torch.Tensor):
        palette = palette.tolist()
    return _palette_tensor(palette, "palette")
