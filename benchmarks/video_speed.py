"""Frames per second of `polychrome colorize` on a film, end to end (decode, network, stabiliser, merge,
encode, join), and where the time goes per stage. The stages overlap, so their busy seconds add up to more
than the wall time; the slowest stage sets the pace. The motion stage's time is summed over its threads
(divided by their number, it is what the stage takes a frame). The threads FFmpeg decodes with and those
x264 encoded with (as x264 records them in the film) are printed too.

    python benchmarks/video_speed.py --size 640x480 --frames 96
    python benchmarks/video_speed.py --size 640x480 --frames 96 --backend onnx
    python benchmarks/video_speed.py --size 1920x1080 --frames 96 --device cuda
    python benchmarks/video_speed.py --device cuda --motion-threads 0 4 --x264-params "" threads=16

``--motion-threads`` and ``--x264-params`` run the film once for each value (each after its own warm-up), to
compare them in one session: ``--motion-threads 0`` is the stabiliser finding motion itself, in order;
``--x264-params`` (x264's ``key=value:...``) is for measuring x264's threads, not a user setting.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from polychrome.pipelines.image import Colorizer
from polychrome.video import pipeline
from polychrome.video.io import open_video
from polychrome.video.output import EncodeSettings
from polychrome.video.pipeline import VideoColorizer, VideoOptions

STAGES = ("decode", "network", "motion", "stabilize", "merge", "convert", "encode", "flush", "join")


def write_film(path: Path, width: int, height: int, frames: int) -> None:
    """A gray film of a moving pattern (the content does not change the cost)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24, options={"crf": "18", "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            gray = (127 + 100 * np.sin((x + 4 * i) / 37) * np.cos(y / 23)).astype(np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.dstack([gray] * 3), format="rgb24")))
        container.mux(stream.encode())


def decoder_threads(film: Path) -> int:
    with open_video(film) as reader:
        next(iter(reader.frames()))  # the decoder opens, and settles its threads, with the first frame
        return reader.decoder_threads


def encoder_threads(film: Path) -> str:
    """The threads x264 says it used, from the settings it writes into the stream."""
    found = re.search(rb"threads=\d+ lookahead_threads=\d+ sliced_threads=\d+", film.read_bytes()[: 1 << 20])
    return found.group().decode() if found else "unknown"


def with_x264_params(params: str) -> None:
    """Hand ``params`` to x264 in every film encoded from now on (empty: none)."""
    options = getattr(EncodeSettings.options, "plain", EncodeSettings.options)

    def patched(self: EncodeSettings, codec: str) -> dict[str, str]:
        found = options(self, codec)
        return {**found, "x264-params": params} if params and codec == "libx264" else found

    patched.plain = options  # type: ignore[attr-defined]
    EncodeSettings.options = patched  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--backend", default="auto", help="auto, torch or onnx")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--strength", type=float, default=0.8)
    parser.add_argument("--motion-threads", type=int, nargs="+", default=[pipeline.MOTION_THREADS])
    parser.add_argument("--x264-params", nargs="+", default=[""])
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    colorizer = Colorizer.from_pretrained(device=args.device, precision=args.precision, backend=args.backend)
    options = VideoOptions(batch_size=args.batch_size, preset=args.preset, strength=args.strength)
    print(describe(colorizer, args.device, width, height))
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "film.mp4"
        write_film(source, width, height, args.frames)
        for params in args.x264_params:
            for motion_threads in args.motion_threads:
                pipeline.MOTION_THREADS = motion_threads
                with_x264_params(params)
                VideoColorizer(colorizer, options).colorize_file(
                    source, Path(folder) / "warm.mp4"
                )  # first calls are slow
                started = time.perf_counter()
                output = Path(folder) / "color.mp4"
                result = VideoColorizer(colorizer, options).colorize_file(source, output)
                wall = time.perf_counter() - started
                print(f"\nmotion threads {motion_threads}, x264-params {params or '(none)'}")
                print(f"decode {decoder_threads(source)} threads, x264 {encoder_threads(output)}")
                print(
                    f"end to end: {result.frames / wall:.2f} frames/s ({result.frames} frames, {wall:.1f} s)"
                )
                for stage, seconds in sorted(result.timings.items(), key=lambda item: STAGES.index(item[0])):
                    per_frame = 1000 * seconds / result.frames
                    threads = motion_threads if stage == "motion" else 0
                    shared = f"  ({per_frame / threads:.1f} per thread)" if threads else ""
                    print(f"  {stage:10s} {seconds:7.2f} s busy  {per_frame:7.1f} ms/frame{shared}")


def describe(colorizer: Colorizer, device: str, width: int, height: int) -> str:
    if colorizer.backend == "torch":
        import torch

        cuda = device.startswith("cuda")
        name = torch.cuda.get_device_name() if cuda else platform.processor() or platform.machine()
        backend = f"{torch.get_num_threads()} torch threads"
    else:
        name, backend = platform.processor() or platform.machine(), "ONNX Runtime"
    cores = len(os.sched_getaffinity(0))
    return f"{width}x{height}, {device} ({name}), {cores} cores, {backend}, swscale threads auto"


if __name__ == "__main__":
    main()
