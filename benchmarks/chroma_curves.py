"""Can a smarter chroma boost than one gain buy colorfulness more cheaply? Studied on a run's own split.

A regression model predicts the average of the colors a thing could have, duller than any of them; its
chroma gain trades PSNR for colorfulness. This script asks whether another curve trades better, scoring
each on the training run's own validation split (never the reported benchmark sets):

- gain g: chroma c -> g c (what the shipped models do);
- add d: c -> c + d min(c / 3, 1) (the same chroma added everywhere, ramped in near gray);
- power: c -> m c0 (c / c0)^p (p < 1 lifts dull pixels most, p > 1 the already colorful ones);
- per-image: each photo's gain grows with its mean predicted chroma (confident photos boosted most);
- flip: the average of the photo's and its mirror image's prediction, then a gain.

Usage: python benchmarks/chroma_curves.py RUN_CONFIG.yaml MODEL_DIR [--data ../shared/data] [--limit 400]
    [--sizes 224 64]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from _own_val import own_split_parser, own_validation_sets

from polychrome import Colorizer
from polychrome.color.lab import rgb_to_lightness
from polychrome.evaluate.metrics import colorfulness, psnr
from polychrome.evaluate.quality import gray_version
from polychrome.pipelines.render import merge_full_resolution, predict_ab_lowres, render_shape
from polychrome.train.config import load_config

Curve = Callable[[torch.Tensor], torch.Tensor]


def _chroma(ab: torch.Tensor) -> torch.Tensor:
    return ab.norm(dim=0, keepdim=True).clamp_min(1e-6)


def gain(g: float) -> Curve:
    return lambda ab: ab * g


def add(d: float, ramp: float = 3.0) -> Curve:
    return lambda ab: ab * (1 + d * torch.clamp(_chroma(ab) / ramp, max=1) / _chroma(ab))


def power(c0: float, p: float, m: float) -> Curve:
    return lambda ab: ab * (m * c0 * (_chroma(ab) / c0) ** p / _chroma(ab))


def per_image(m: float, beta: float, ref: float = 10.0) -> Curve:
    return lambda ab: ab * m * (_chroma(ab).mean() / ref) ** beta


CURVES: list[tuple[str, str, Curve]] = [
    ("plain", "gain 1.0", gain(1.0)),
    ("plain", "gain 1.2", gain(1.2)),
    ("plain", "gain 1.4", gain(1.4)),
    ("plain", "gain 1.6", gain(1.6)),
    ("plain", "add 6", add(6)),
    ("plain", "add 10", add(10)),
    ("plain", "power c0 30, p 0.7", power(30, 0.7, 1.0)),
    ("plain", "power c0 40, p 0.6", power(40, 0.6, 1.0)),
    ("plain", "power c0 20, p 1.2, x1.4", power(20, 1.2, 1.4)),
    ("plain", "power c0 30, p 1.3, x1.5", power(30, 1.3, 1.5)),
    ("plain", "per-image m 1.4, beta 0.5", per_image(1.4, 0.5)),
    ("plain", "per-image m 1.3, beta 1.0", per_image(1.3, 1.0)),
    ("flip", "flip, gain 1.0", gain(1.0)),
    ("flip", "flip, gain 1.4", gain(1.4)),
]


def main() -> None:
    parser = own_split_parser()
    parser.add_argument("--render-size", type=int, default=256)
    args = parser.parse_args()
    val_sets = own_validation_sets(load_config(args.config), args.data, args.sizes, args.limit)
    model = Colorizer.from_pretrained(args.model, device=args.device).model
    model.chroma_gain = 1.0  # the curves start from the network's own prediction
    results: dict[str, list[tuple[float, float]]] = {name: [] for _, name, _ in CURVES}
    for images in val_sets:
        photos = []
        for image in images:
            truth = torch.from_numpy(np.array(image)).permute(2, 0, 1).unsqueeze(0).float() / 255
            gray = gray_version(truth)
            rh, rw = render_shape(*truth.shape[-2:], args.render_size)
            small = F.interpolate(gray, size=(rh, rw), mode="bilinear", antialias=True, align_corners=False)
            lightness = rgb_to_lightness(small).to(args.device)
            with torch.inference_mode():
                ab = predict_ab_lowres(model, lightness)[0].cpu()
                mirrored = predict_ab_lowres(model, lightness.flip(-1))[0].flip(-1).cpu()
            covered = (rh / model.output_stride, rw / model.output_stride)
            gray_hwc = np.ascontiguousarray(gray[0].permute(1, 2, 0).numpy())
            photos.append((truth, gray, gray_hwc, covered, {"plain": ab, "flip": (ab + mirrored) / 2}))
        for source, name, curve in CURVES:
            scores = []
            for truth, gray, gray_hwc, covered, predictions in photos:
                rgb = merge_full_resolution(gray_hwc, curve(predictions[source]), covered)
                pred = torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0)
                scores.append(
                    (
                        (psnr(pred, truth) - psnr(gray, truth)).item(),
                        (colorfulness(pred) - colorfulness(truth)).item(),
                    )
                )
            results[name].append(tuple(np.mean(scores, axis=0)))
    print("| curve | PSNR - gray (per set) | colorfulness - truth's (per set) |")
    print("|---|---|---|")
    for _, name, _ in CURVES:
        gains, gaps = zip(*results[name], strict=True)
        print(
            f"| {name} | {', '.join(f'{g:+.2f}' for g in gains)} | {', '.join(f'{g:+.1f}' for g in gaps)} |"
        )


if __name__ == "__main__":
    main()
