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
    int8: Annotated[
        list[str] | None,
        typer.Option(
            "--int8",
            metavar="PHOTOS",
            help="Write int8 weights instead (model-int8.onnx), calibrated on these photos: folders, globs "
            "or tar shards, repeatable.",
        ),
    ] = None,
    calibration_photos: Annotated[
        int, typer.Option(min=1, metavar="N", help="How many of the --int8 photos calibrate, in order.")
    ] = 100,
    fp16_weights: Annotated[
        bool,
        typer.Option(
            "--fp16-weights",
            help="Store the weights in 16 bits: half the file, the same speed, colors within a few "
            "hundredths of a Lab unit (the network still computes in 32 bits).",
        ),
    ] = False,
) -> None:
    """Export a model to ONNX, to colorize without PyTorch.

    For `polychrome colorize --backend onnx` and the base install, which has ONNX Runtime and no PyTorch.

    The file holds the network with its normalisation and default decoding, for any batch, height and
    width, and the model's config.json (its rendering settings). Saved as model.onnx in the model's folder,
    it is found there by --model FOLDER; elsewhere, pass the file itself as --model.

    A model that takes color hints gets a second input for its hint map, and colors with hints on ONNX
    Runtime as on PyTorch.

    With --int8 the file holds int8 weights and activations, calibrated on the photos given (the first
    convolutions stay in float); saved as model-int8.onnx in the model's folder, `--precision int8` colors
    with it. It colors close to the float model, not equal to it (BENCHMARKS section 12). Models that take
    color hints are exported in float only.

    With --fp16-weights the weights are stored in 16 bits and turned back into 32 when ONNX Runtime loads
    the file: how the built-in hint model ships.
    """
    if output.suffix.lower() != ".onnx":
        typer.echo(f"error: {output}: the output must end in .onnx", err=True)
        raise typer.Exit(2)
    if int8 and fp16_weights:
        typer.echo("error: --int8 and --fp16-weights are two ways to store the weights; choose one", err=True)
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
    from polychrome.export.half_weights import store_weights_half
    from polychrome.models import load_pretrained
    from polychrome.pipelines.image import resolve_model_path

    try:
        path = resolve_model_path(model)
        if path.is_file():
            raise ValueError(f"{path} is already an ONNX file; export a model folder or a built-in name")
        if int8:
            written = _export_int8(path, output, int8, calibration_photos)
        else:
            written = export_onnx(load_pretrained(path), output, read_config(path))
            if fp16_weights:
                written = store_weights_half(written, written)
    except (FileNotFoundError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {written} ({written.stat().st_size / 1e6:.1f} MB)")


def _export_int8(model: Path, output: Path, sources: list[str], count: int) -> Path:
    """Export ``model`` in float to a scratch file, then write its int8 copy calibrated on ``count``
    photos."""
    import io
    import itertools
    import tempfile

    from PIL import Image

    from polychrome._model_files import read_config
    from polychrome.data.sources import iter_records
    from polychrome.export import export_onnx
    from polychrome.export.quantize import calibration_lightness, quantize_onnx, refuse_hint_model
    from polychrome.images import ImageReadError, load_image
    from polychrome.models import load_pretrained

    def photos():
        for record in iter_records(sources):
            if record.problem is not None:
                continue
            try:
                source = record.path if record.path else Image.open(io.BytesIO(record.read()))
                yield load_image(source, keep_8bit=True).rgb
            except (ImageReadError, OSError):
                continue  # an unreadable photo is one fewer to calibrate with, not a reason to stop

    network = load_pretrained(model)
    refuse_hint_model(network.architecture, network.takes_hints)  # before any photo is read
    calibration = list(itertools.islice(calibration_lightness(photos()), count))
    if not calibration:
        raise ValueError(f"no readable photos to calibrate with in {', '.join(sources)}")
    if len(calibration) < count:
        # Activation ranges from a handful of photos fit those photos: say so, since the file works anyway.
        typer.echo(
            f"note: calibrated on {len(calibration)} photos of the {count} asked (--calibration-photos); "
            "fewer photos give less reliable int8 colors",
            err=True,
        )
    with tempfile.TemporaryDirectory() as folder:
        exported = export_onnx(network, Path(folder) / "model.onnx", read_config(model), as_written=True)
        return quantize_onnx(exported, output, calibration)
