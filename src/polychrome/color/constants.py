"""The numbers behind polychrome's color science, in plain Python so that the PyTorch functions
(:mod:`polychrome.color.lab`, :mod:`polychrome.color.adjust`) and their numpy twins
(:mod:`polychrome.color.lab_np`, :mod:`polychrome.color.adjust_np`) share one definition.

The Lab constants are those of scikit-image's ``rgb2lab`` (D65, 2° observer).
"""

from __future__ import annotations

# sRGB (linear) -> XYZ, IEC 61966-2-1.
RGB_TO_XYZ = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
# D65 reference white, 2° observer.
WHITE_D65 = (0.95047, 1.0, 1.08883)
EPSILON = 216.0 / 24389.0  # (6/29)**3: where the cube root meets the linear segment
KAPPA = 24389.0 / 27.0
SRGB_LINEAR_BELOW = 0.0031308  # linear light under which the sRGB curve is a straight line

# How a classification model's distribution over ab bins becomes one color (polychrome.color.decode).
DECODE_METHODS = ("annealed_mean", "mean", "mode", "topk_mean")

# A hint map's channels (polychrome.color.hint_map): a and b in Lab units where hinted, and the 0/1 mask.
HINT_CHANNELS = 3

# Gamut fitting: bisection steps on the chroma scale, and how far outside 0..1 an sRGB value may stray.
GAMUT_ITERATIONS = 10
GAMUT_TOLERANCE = 1e-4

# The warm/cool control's tone curves: anchors at these x, red lifted and blue lowered by these amounts at
# strength 1; black and white stay put.
TEMPERATURE_X = (0.0, 0.25, 0.5, 0.75, 1.0)
TEMPERATURE_LIFT = (0.0, 0.06, 0.08, 0.06, 0.0)


def temperature_curves(strength: float) -> tuple[list[float], list[float], list[float]]:
    """Anchor x and the red and blue anchor y of the warm (strength > 0) or cool (< 0) tone curves."""
    if not -1.0 <= strength <= 1.0:
        raise ValueError(f"temperature must be in -1..1, got {strength}")
    red = [x + strength * d for x, d in zip(TEMPERATURE_X, TEMPERATURE_LIFT, strict=True)]
    blue = [x - strength * d for x, d in zip(TEMPERATURE_X, TEMPERATURE_LIFT, strict=True)]
    return list(TEMPERATURE_X), red, blue


def pchip_slopes(knots_x: list[float], knots_y: list[float]) -> list[float]:
    """Slopes at the anchors of the monotone cubic (Fritsch-Carlson / PCHIP) curve through them."""
    n = len(knots_x)
    if n != len(knots_y) or n < 2 or any(b <= a for a, b in zip(knots_x, knots_x[1:], strict=False)):
        raise ValueError("anchors need at least two points with strictly increasing x")
    h = [b - a for a, b in zip(knots_x, knots_x[1:], strict=False)]
    delta = [(knots_y[i + 1] - knots_y[i]) / h[i] for i in range(n - 1)]
    slopes = [0.0] * n
    slopes[0], slopes[-1] = delta[0], delta[-1]
    for i in range(1, n - 1):
        if delta[i - 1] * delta[i] > 0:  # weighted harmonic mean keeps the curve monotone
            w1, w2 = 2 * h[i] + h[i - 1], h[i] + 2 * h[i - 1]
            slopes[i] = (w1 + w2) / (w1 / delta[i - 1] + w2 / delta[i])
    return slopes
