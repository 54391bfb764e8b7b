"""`polychrome export`: a saved model as one ONNX file, for colorizing where PyTorch is not installed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from polychrome.cli import app


@app.command()
def export(
    model: Annotated[
        str, typer.Argument(metavar="MODEL", help="A built-in model's name or a saved model folder.")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", metavar="FILE", help="The ONNX file to write, e.g. model.onnx.")
    ],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the file if it exists.")] = False,
) -> None:
    """Export a model to ONNX, to colorize without PyTorch.

    For `polychrome colorize --backend onnx` and the base install, which has ONNX Runtime and no PyTorch.

    The file holds the network with its normalisation and default decoding, for any batch, height and
    width, and the model's config.json (its rendering settings). Saved as model.onnx in the model's folder,
    it is found there by --model FOLDER; elsewhere, pass the file itself as --model.
    """
    if output.suffix.lower() != ".onnx":
        typer.echo(f"error: {output}: the output must end in .onnx", err=True)
        raise typer.Exit(2)
    if output.exists() and not overwrite:
        typer.echo(f"error: {output} exists; pass --overwrite to replace it", err=True)
        raise typer.Exit(1)
    try:
        import torch  # noqa: F401
    except ImportError:
        typer.echo("error: exporting needs PyTorch: pip install 'polychrome[torch]'", err=True)
        raise typer.Exit(1) from None
    from polychrome._model_files import read_config
    from polychrome.export import export_onnx
    from polychrome.models import load_pretrained
    from polychrome.pipelines.image import resolve_model_path

    try:
        path = resolve_model_path(model)
        if path.is_file():
            raise ValueError(f"{path} is already an ONNX file; export a model folder or a built-in name")
        written = export_onnx(load_pretrained(path), output, read_config(path))
    except (FileNotFoundError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {written} ({written.stat().st_size / 1e6:.1f} MB)")
