"""`polychrome example`: colorize a photo that scikit-image ships, to see polychrome work in one command."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from polychrome.cli import app

SAMPLE_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
PACKAGED_PHOTO = "chelsea"  # scikit-image's, CC0 (Stefan van der Walt's cat), so the base install has one


@app.command()
def example(
    photo: Annotated[
        str, typer.Option(metavar="NAME", help=f"Which sample photo: {', '.join(SAMPLE_PHOTOS)}.")
    ] = "chelsea",
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            show_default=False,
            help="The colorized photo to write: example-colorized.png unless given. The black-and-white "
            "one goes beside it, named with 'gray' in place of 'colorized', or with '-gray' added.",
        ),
    ] = Path("example-colorized.png"),
    model: Annotated[
        str | None, typer.Option(metavar="MODEL", help="Model name or folder (default: built-in).")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing files.")] = False,
) -> None:
    """Colorize a sample photo.

    Writes a black-and-white version (example-gray.png) and its colorization
    (example-colorized.png). The photo chelsea ships with polychrome, the others come with scikit-image.
    """
    if photo not in SAMPLE_PHOTOS:
        typer.echo(f"error: unknown sample {photo!r}; choose from {', '.join(SAMPLE_PHOTOS)}", err=True)
        raise typer.Exit(2)
    import numpy as np
    from PIL import Image

    try:
        from skimage import data

        sample = Image.fromarray(getattr(data, photo)())
    except ImportError:
        if photo != PACKAGED_PHOTO:
            typer.echo(
                f"error: the sample {photo!r} comes with scikit-image: pip install 'polychrome[examples]'",
                err=True,
            )
            raise typer.Exit(1) from None
        sample = Image.open(resources.files("polychrome") / "samples" / f"{photo}.jpg")

    from polychrome.images import save_image
    from polychrome.pipelines.image import Colorizer

    gray_path = output.with_name(output.stem.replace("colorized", "gray") + output.suffix)
    if gray_path == output:
        gray_path = output.with_name(output.stem + "-gray" + output.suffix)
    if output.exists() and not overwrite:  # never overwrite; running the quick start twice is no error
        typer.echo(f"{output} already exists (pass --overwrite to make it again)")
        raise typer.Exit(0)
    if gray_path.exists() and not overwrite:
        typer.echo(
            f"error: {gray_path} exists and is not ours to replace; pass --overwrite or another --output"
        )
        raise typer.Exit(1)
    gray = sample.convert("L").convert("RGB")
    save_image(gray_path, np.asarray(gray))
    colorized = Colorizer.from_pretrained(model)(gray_path, output_type="np").images[0]
    save_image(output, colorized)
    typer.echo(f"black-and-white input: {gray_path}\ncolorized: {output}")
    typer.echo("Colorize your own: polychrome colorize PHOTO_OR_FOLDER -o OUTPUT_FOLDER")
