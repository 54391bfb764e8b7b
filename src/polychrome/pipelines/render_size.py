"""The size at which the network sees a photo: one rule for both backends, in plain Python."""

from __future__ import annotations

MAX_RENDER_ASPECT = 8  # the longer rendered side is at most this many times the render size
# Beyond this the network sees no more than its receptive field allows and needs gigabytes: 4096 took 8 GB
# for a 768x512 photo on CPU, 100,000 asked for 180 GB.
MAX_RENDER_SIZE = 2048


def render_shape(height: int, width: int, render_size: int) -> tuple[int, int]:
    """Size the network sees: the shorter side becomes ``render_size``, aspect kept.

    Small photos are scaled up too: a network with batch normalisation has learned feature statistics at
    one scale, and photos shown to it at that scale get the colors it learned (shown at a quarter of it, the
    same network mis-colors badly). Very long panoramas are capped at ``MAX_RENDER_ASPECT`` render sizes.
    """
    if not 16 <= render_size <= MAX_RENDER_SIZE:
        raise ValueError(f"render size must be 16 to {MAX_RENDER_SIZE}, got {render_size}")
    scale = min(render_size / min(height, width), MAX_RENDER_ASPECT * render_size / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))
