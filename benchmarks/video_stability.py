"""Frame by frame against the stabiliser, on clips whose true colors are known.

Clips are made here from scikit-image's sample photos (no downloads): a camera pan, a zoom, an object
moving over a still background and a scene cut between two photos, each with film grain. Each clip is
colorized from its lightness at strength 0 and at the stabiliser's strengths, and scored by the one film
scoring path (:func:`polychrome.evaluate.video.score_film`).

    python benchmarks/video_stability.py --frames 48 --strength 0 --strength 0.8 -o /tmp/clips
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image
from skimage import data

from polychrome.evaluate.video import mean_rows, score_film
from polychrome.pipelines.image import Colorizer
from polychrome.video.pipeline import VideoColorizer, VideoOptions

SIZE = (320, 240)  # width, height of the clips
GRAIN = 4.0  # standard deviation of the film grain, in 8-bit levels


def _photo(name: str, scale: float) -> Image.Image:
    image = Image.fromarray(getattr(data, name)()).convert("RGB")
    return image.resize((round(SIZE[0] * scale), round(SIZE[0] * scale * image.height / image.width)))


def _crop(image: Image.Image, left: float, top: float, zoom: float = 1.0) -> np.ndarray:
    width, height = SIZE[0] / zoom, SIZE[1] / zoom
    box = (left, top, left + width, top + height)
    return np.asarray(image.resize(SIZE, Image.Resampling.BILINEAR, box=box))


def _pan(frames: int) -> list[np.ndarray]:
    photo = _photo("astronaut", 1.6)
    span = photo.width - SIZE[0]
    return [_crop(photo, span * i / frames, 40) for i in range(frames)]


def _zoom(frames: int) -> list[np.ndarray]:
    photo = _photo("coffee", 1.3)
    return [_crop(photo, 20 + 2 * i, 10 + 1.5 * i, 1 + 0.6 * i / frames) for i in range(frames)]


def _moving_object(frames: int) -> list[np.ndarray]:
    background = _photo("chelsea", 1.3)
    thing = np.asarray(_photo("rocket", 0.25))[:80]
    out = []
    for i in range(frames):
        frame = _crop(background, 0, 0).copy()
        x = int((SIZE[0] - thing.shape[1]) * i / frames)
        frame[100 : 100 + thing.shape[0], x : x + thing.shape[1]] = thing[: SIZE[1] - 100]
        out.append(frame)
    return out


def _cut(frames: int) -> list[np.ndarray]:
    first, second = _photo("coffee", 1.2), _photo("astronaut", 1.3)
    half = frames // 2
    return [_crop(first, 3 * i, 10) for i in range(half)] + [
        _crop(second, 30 + 3 * i, 30) for i in range(frames - half)
    ]


CLIPS = {"pan": _pan, "zoom": _zoom, "moving_object": _moving_object, "cut": _cut}


def write_clip(path: Path, frames: list[np.ndarray], seed: int) -> None:
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24, options={"crf": "12", "preset": "fast"})
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        for rgb in frames:
            grainy = np.clip(rgb + rng.normal(0, GRAIN, rgb.shape[:2])[..., None], 0, 255).astype(np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(grainy, format="rgb24")))
        container.mux(stream.encode())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--strength", type=float, action="append")
    parser.add_argument("--model", default=None)
    parser.add_argument("-o", "--folder", type=Path, default=Path("video_clips"))
    args = parser.parse_args()
    strengths = args.strength or [0.0, 0.8]
    args.folder.mkdir(parents=True, exist_ok=True)
    colorizer = Colorizer.from_pretrained(args.model)
    candidates = {
        f"strength {s:g}": VideoColorizer(colorizer, VideoOptions(strength=s)).colorize_frames
        for s in strengths
    }
    films = []
    started = time.perf_counter()
    for seed, (name, make) in enumerate(CLIPS.items()):
        path = args.folder / f"{name}.mp4"
        write_clip(path, make(args.frames), seed)
        rows = score_film(path, candidates)
        films.append(rows)
        print(
            f"{name}: "
            + ", ".join(
                f"{k} flicker {r['flicker']:.2f} cdc {r['cdc']:.4f} psnr {r['psnr']:.2f}"
                for k, r in rows.items()
            )
        )
    table = mean_rows(films)
    print(
        f"\n{platform.processor() or platform.machine()}, {len(CLIPS)} clips of {args.frames} frames "
        f"{SIZE[0]}x{SIZE[1]}, {time.perf_counter() - started:.0f} s"
    )
    print("| row | PSNR dB | colorfulness | CDC | flicker (ab, motion-compensated) |")
    print("|---|---:|---:|---:|---:|")
    for label, row in table.items():
        print(
            f"| {label} | {row['psnr']:.2f} | {row['colorfulness']:.1f} | {row['cdc']:.5f} "
            f"| {row['flicker']:.3f} |"
        )


if __name__ == "__main__":
    main()
