"""`polychrome recalibrate`: re-estimate a model's batch-norm statistics at the render scale."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from polychrome.cli import app
from polychrome.cli.options import ModelDevice


@app.command()
def recalibrate(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="Model folder or built-in name.")],
    data: Annotated[
        list[str],
        typer.Option("--data", "-d", metavar="PHOTOS", help="Images: folders, globs or tar shards."),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", metavar="FOLDER", help="New model folder (must not exist).")
    ],
    render_size: Annotated[
        int, typer.Option(metavar="PIXELS", help="Scale inference will run at (shorter side).")
    ] = 256,
    images: Annotated[
        int, typer.Option(metavar="N", help="How many photos to average over (a seeded sample).")
    ] = 1024,
    seed: Annotated[int, typer.Option(metavar="N", help="Seed of the sample.")] = 0,
    batch_size: Annotated[int, typer.Option(metavar="N", help="Photos per forward pass.")] = 32,
    device: ModelDevice = "cpu",
) -> None:
    """Re-measure a model's batch-norm statistics.

    Writes a copy of MODEL whose statistics are averaged over photos from DATA at --render-size.
    """
    import numpy as np
    import torch

    from polychrome.color.lab import rgb_to_lightness
    from polychrome.data.prepare import PrepareOptions, prepare_images
    from polychrome.data.sources import iter_records
    from polychrome.devices import resolve_device
    from polychrome.models import load_pretrained, save_pretrained
    from polychrome.models._hub import config_extras, read_config
    from polychrome.pipelines.image import resolve_model_path
    from polychrome.train.batchnorm import batch_statistics, recalibrate_batchnorm

    if output.exists():
        typer.echo(f"error: {output} exists; choose a new folder", err=True)
        raise typer.Exit(1)
    try:
        source = resolve_model_path(model)
        net = load_pretrained(source).to(resolve_device(device))
        if not batch_statistics(net):
            raise ValueError(
                f"{source}: this model has no batch statistics of its own (GroupNorm, or batch norm frozen "
                "at ImageNet's statistics); it colors the same at every scale: nothing to recalibrate"
            )
        prepared = prepare_images(iter_records(data), PrepareOptions(image_size=render_size, min_size=32))
    except (FileNotFoundError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    order = np.sort(np.random.default_rng(seed).permutation(len(prepared.names))[:images])
    photos = torch.from_numpy(prepared.images[order])

    def batches():
        for start in range(0, len(photos), batch_size):
            rgb = photos[start : start + batch_size].to(device).permute(0, 3, 1, 2).float() / 255.0
            yield rgb_to_lightness(rgb)

    seen = recalibrate_batchnorm(net, batches())
    config = read_config(source)
    record = {
        "source_model": str(source),
        "data": list(data),
        "render_size": render_size,
        "images": seen,
        "seed": seed,
        "prepared": prepared.summary(),
    }
    extra = config_extras(config)
    save_pretrained(net.to("cpu"), output, {**extra, "batchnorm_recalibration": record})
    typer.echo(f"recalibrated on {seen} photos at {render_size} px: {output}")
