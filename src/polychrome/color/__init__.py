"""Color science: Lab conversion, ab quantization, decoding of bin distributions, output adjustments."""

from polychrome.color.adjust import adjust_temperature, fit_to_gamut, monotone_curve, scale_chroma
from polychrome.color.decode import (
    decode,
    decode_annealed_mean,
    decode_mean,
    decode_mode,
    decode_topk_mean,
)
from polychrome.color.lab import lab_to_rgb, rgb_to_lab, rgb_to_lightness
from polychrome.color.quantize import AbGrid, in_gamut_ab_bins, rebalance_weights, smooth_priors

__all__ = [
    "AbGrid",
    "adjust_temperature",
    "decode",
    "decode_annealed_mean",
    "decode_mean",
    "decode_mode",
    "decode_topk_mean",
    "fit_to_gamut",
    "in_gamut_ab_bins",
    "lab_to_rgb",
    "monotone_curve",
    "rebalance_weights",
    "rgb_to_lab",
    "rgb_to_lightness",
    "scale_chroma",
    "smooth_priors",
]
