"""`polychrome stats`, `palette` and `pca`: looking at a prepared collection (a prepare cache)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from polychrome.cli import app

CacheArg = Annotated[Path, typer.Argument(metavar="CACHE", help="A cache file made by `polychrome prepare`.")]


def _read(cache: Path):
    from polychrome.data.cache import read_cache

    try:
        return read_cache(cache)
    except (FileNotFoundError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None


def _refuse_existing(*paths: Path, overwrite: bool) -> None:
    for path in paths:
        if path.exists() and not overwrite:
            typer.echo(f"error: {path} exists; pass --overwrite to replace it", err=True)
            raise typer.Exit(1)


@app.command()
def stats(
    cache: CacheArg,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", metavar="FOLDER", help="Folder for the two pictures.")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing files.")] = False,
) -> None:
    """Counts, sizes and colorfulness of a prepared cache.

    With --output, also a colorfulness histogram and a picture of the ab histogram (the ab plane in its own
    colors, brightness = how often each color occurs).
    """
    import numpy as np
    from PIL import Image

    from polychrome._atomic import atomic_write
    from polychrome.data.analysis import ab_histogram_picture, colorfulness_values, histogram_picture

    data = _read(cache)
    manifest = data.manifest
    typer.echo(
        f"{len(data.names)} images of {data.image_size}x{data.image_size} from {manifest.get('sources')}"
    )
    typer.echo("split: " + ", ".join(f"{k} {len(v)}" for k, v in data.splits.items()))
    dropped = manifest.get("dropped", {})
    typer.echo("dropped: " + (", ".join(f"{n} {r}" for r, n in dropped.items()) or "none"))
    values = colorfulness_values(data.images)
    if len(values):
        q = np.percentile(values, [10, 50, 90])
        typer.echo(
            f"colorfulness: mean {values.mean():.1f}, 10/50/90th percentiles {q[0]:.1f}/{q[1]:.1f}/{q[2]:.1f}"
        )
    if output is not None:
        paths = (output / "colorfulness.png", output / "ab_histogram.png")
        _refuse_existing(*paths, overwrite=overwrite)
        pictures = (histogram_picture(values), ab_histogram_picture(data.images))
        for path, picture in zip(paths, pictures, strict=True):
            atomic_write(path, lambda f, p=picture: Image.fromarray(p).save(f, "PNG"))
        typer.echo(f"pictures: {paths[0]}, {paths[1]}")


@app.command()
def palette(
    cache: CacheArg,
    output: Annotated[
        Path, typer.Option("--output", "-o", metavar="FILE", help="Palette file to write (.json).")
    ],
    k: Annotated[int, typer.Option("-k", min=2, metavar="K", help="Number of colors.")] = 50,
    pixels: Annotated[
        int, typer.Option(min=100, metavar="N", help="Training pixels sampled for k-means.")
    ] = 200_000,
    seed: Annotated[int, typer.Option(metavar="N", help="Seed of the sample and of k-means.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing files.")] = False,
) -> None:
    """Fit a K-means palette of ab colors on a cache.

    The palette is fitted on the cache's training photos.

    Writes OUTPUT (JSON) and a picture of the palette beside it (.png).
    """
    from PIL import Image

    from polychrome._atomic import atomic_write
    from polychrome.color.palette import fit_palette, palette_swatches, save_palette

    picture = output.with_suffix(".png")
    _refuse_existing(output, picture, overwrite=overwrite)
    data = _read(cache)
    train = data.images[data.splits["train"]]
    if len(train) == 0:
        typer.echo(f"error: {cache} has no training images", err=True)
        raise typer.Exit(1)
    centers, inertia = fit_palette(train, k=k, pixels=pixels, seed=seed)
    save_palette(output, centers, pixels=pixels, seed=seed, inertia=inertia, source=str(cache))
    atomic_write(picture, lambda f: Image.fromarray(palette_swatches(centers)).save(f, "PNG"))
    typer.echo(f"{k} colors (mean squared distance {inertia:.1f} Lab units^2): {output}, {picture}")


@app.command()
def pca(
    cache: CacheArg,
    output: Annotated[
        Path, typer.Option("--output", "-o", metavar="FILE", help="Reconstruction picture to write (.png).")
    ],
    target: Annotated[
        float, typer.Option(min=0.5, max=0.9999, metavar="SHARE", help="Variance to retain.")
    ] = 0.98,
    size: Annotated[
        int, typer.Option(min=8, max=64, metavar="PIXELS", help="Images are analysed at size x size RGB.")
    ] = 32,
    images: Annotated[int, typer.Option(min=2, metavar="N", help="Training images analysed.")] = 1000,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing files.")] = False,
) -> None:
    """How compressible the photos are (PCA).

    Prints the retained variance against the number of principal components and the compression ratio at
    TARGET variance, and writes a picture of originals over their reconstructions.
    """
    import numpy as np
    from PIL import Image

    from polychrome._atomic import atomic_write
    from polychrome.data.analysis import components_for, pca_reconstruct, pca_spectrum

    if output.suffix.lower() != ".png":
        typer.echo(f"error: {output}: the picture is written as PNG; name it .png", err=True)
        raise typer.Exit(1)
    _refuse_existing(output, overwrite=overwrite)
    data = _read(cache)
    sample = data.images[data.splits["train"][:images]]
    if len(sample) < 2:
        typer.echo(f"error: {cache} has fewer than 2 training images", err=True)
        raise typer.Exit(1)
    retained, vh, mean = pca_spectrum(sample, size)
    c = components_for(retained, target)
    dims = size * size * 3
    for n in (1, 2, 5, 10, 20, 50, 100, 200):
        if n <= len(retained):
            typer.echo(f"{n:4d} components: {float(retained[n - 1]):.3f} of the variance")
    typer.echo(f"{target:.0%} of the variance needs {c} of {dims} dimensions: {c / dims:.1%} of the size")
    shown = sample[:8]
    recon = pca_reconstruct(shown, vh, mean, c, size)
    small = np.stack(
        [np.asarray(Image.fromarray(x).resize((size, size), Image.Resampling.BOX)) for x in shown]
    )
    grid = np.concatenate((np.concatenate(list(small), axis=1), np.concatenate(list(recon), axis=1)), axis=0)
    atomic_write(output, lambda f: Image.fromarray(grid).save(f, "PNG"))
    typer.echo(f"originals (top) and reconstructions from {c} components (bottom): {output}")
