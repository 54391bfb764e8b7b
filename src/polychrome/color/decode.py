"""Turning a per-pixel distribution over ab bins into one ab color per pixel.

All functions take logits ``(B, Q, H, W)`` and bin centres ``(Q, 2)`` in Lab units and return ab
``(B, 2, H, W)`` in Lab units. The mean of a multimodal distribution is desaturated (a red-or-green apple
becomes brown), the mode is noisy; Zhang et al.'s annealed mean sits between them.
"""

from __future__ import annotations

import torch


def _expectation(probs: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    return torch.einsum("bqhw,qc->bchw", probs, centers.to(probs.dtype))


def _check(logits: torch.Tensor, centers: torch.Tensor) -> None:
    if logits.dim() != 4:
        raise ValueError(f"logits must have shape (B, Q, H, W), got {tuple(logits.shape)}")
    if centers.dim() != 2 or centers.shape != (logits.shape[1], 2):
        raise ValueError(f"centers must have shape ({logits.shape[1]}, 2), got {tuple(centers.shape)}")


def decode_mean(logits: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Expected ab under the predicted distribution."""
    _check(logits, centers)
    return _expectation(torch.softmax(logits.float(), dim=1), centers)


def decode_annealed_mean(
    logits: torch.Tensor, centers: torch.Tensor, temperature: float = 0.38
) -> torch.Tensor:
    """Mean of the distribution re-normalised as p^(1/T): T = 1 is the mean, T -> 0 the mode."""
    _check(logits, centers)
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    # p^(1/T) renormalised is softmax(log p / T) = softmax(logits / T): the log-normaliser cancels.
    return _expectation(torch.softmax(logits.float() / temperature, dim=1), centers)


def decode_mode(logits: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Centre of the most probable bin."""
    _check(logits, centers)
    idx = logits.argmax(dim=1)  # (B, H, W)
    return centers.to(logits.device, torch.float32)[idx].permute(0, 3, 1, 2)


def decode_topk_mean(logits: torch.Tensor, centers: torch.Tensor, k: int = 5) -> torch.Tensor:
    """Probability-weighted mean of each pixel's own k most probable bins.

    The selection is per pixel: every pixel keeps its k best bins (the seed code zeroed whole channels).
    """
    _check(logits, centers)
    if not 1 <= k <= logits.shape[1]:
        raise ValueError(f"k must be in 1..{logits.shape[1]}, got {k}")
    top_logits, top_idx = torch.topk(logits.float(), k, dim=1)
    weights = torch.softmax(top_logits, dim=1)  # renormalised over the k kept bins
    c = centers.to(logits.device, torch.float32)[top_idx]  # (B, k, H, W, 2)
    return (weights.unsqueeze(-1) * c).sum(dim=1).permute(0, 3, 1, 2)


DECODERS = {
    "annealed_mean": decode_annealed_mean,
    "mean": decode_mean,
    "mode": decode_mode,
    "topk_mean": decode_topk_mean,
}


def decode(
    logits: torch.Tensor, centers: torch.Tensor, method: str = "annealed_mean", **options
) -> torch.Tensor:
    """Decode with a method named in :data:`DECODERS` (options: ``temperature`` or ``k``)."""
    try:
        fn = DECODERS[method]
    except KeyError:
        raise ValueError(f"unknown decoding {method!r}; choose from {sorted(DECODERS)}") from None
    return fn(logits, centers, **options)
