"""Color science: Lab conversion, ab quantization, decoding of bin distributions, output adjustments."""

from polychrome._lazy import lazy_attributes

# The PyTorch functions are imported on first use, so that the numpy twins (lab_np, adjust_np) of the
# base install, which has no PyTorch, import without them.
_PUBLIC = {
    "adjust_temperature": "adjust",
    "fit_to_gamut": "adjust",
    "monotone_curve": "adjust",
    "scale_chroma": "adjust",
    "decode": "decode",
    "decode_annealed_mean": "decode",
    "decode_mean": "decode",
    "decode_mode": "decode",
    "decode_topk_mean": "decode",
    "lab_to_rgb": "lab",
    "rgb_to_lab": "lab",
    "rgb_to_lightness": "lab",
    "AbGrid": "quantize",
    "in_gamut_ab_bins": "quantize",
    "rebalance_weights": "quantize",
    "smooth_priors": "quantize",
}


__getattr__ = lazy_attributes(__name__, {name: f"{__name__}.{module}" for name, module in _PUBLIC.items()})


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
