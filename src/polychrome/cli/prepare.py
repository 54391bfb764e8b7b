"""`polychrome prepare`: decode a photo collection once into an HDF5 cache that training reads."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from polychrome.cli import app
from polychrome.cli.options import DecodingWorkers


@contextmanager
def _log_to_stderr() -> Iterator[None]:
    """Show the library's messages (files skipped, work continued) while the command runs."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("polychrome")
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


@app.command()
def prepare(
    sources: Annotated[
        list[str], typer.Argument(metavar="PHOTOS", help="Folders, globs, tar shards or zip archives.")
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", metavar="PATH", help="The cache file to write (.h5), or with --shards a folder."
        ),
    ],
    size: Annotated[
        int,
        typer.Option(
            min=64,
            max=512,
            metavar="PIXELS",
            help="Shorter side, then centre crop, in pixels; with --shards the largest shorter side kept.",
        ),
    ] = 256,
    min_size: Annotated[
        int, typer.Option(min=1, metavar="PIXELS", help="Drop photos whose shorter side is smaller.")
    ] = 64,
    gray_chroma: Annotated[
        float, typer.Option(metavar="CHROMA", help="Drop photos with mean chroma below this (Lab).")
    ] = 2.0,
    split: Annotated[
        tuple[float, float, float],
        typer.Option(
            metavar="TRAIN VAL TEST",
            help="Train, validation and test shares, three numbers: --split 0.7 0.2 0.1.",
        ),
    ] = (
        0.8,
        0.1,
        0.1,
    ),
    seed: Annotated[int, typer.Option(metavar="N", help="Seed of the split.")] = 0,
    split_order: Annotated[
        str,
        typer.Option(
            metavar="ORDER",
            help="How the photos are split: permutation (a seeded shuffle), stable (cut in a seeded hash "
            "order of the names: a photo more or less moves at most two others between parts) or hash (each "
            "photo's part from its own name: photos coming and going move no other).",
        ),
    ] = "permutation",
    enlarge: Annotated[
        str,
        typer.Option(
            metavar="FILTER",
            help="How photos smaller than --size are enlarged: lanczos, or bilinear / bicubic as the "
            "colorize pipeline does, so small photos are trained on as they are later shown.",
        ),
    ] = "lanczos",
    dedup: Annotated[bool, typer.Option(help="Drop near-identical photos (perceptual hash).")] = True,
    workers: DecodingWorkers = None,
    layout: Annotated[
        str,
        typer.Option(
            metavar="LAYOUT", help="auto, none, or a named layout: flowers102, celeba, mirflickr, imagenet."
        ),
    ] = "auto",
    category: Annotated[
        list[str] | None,
        typer.Option(metavar="NAME", help="MIR-Flickr: keep only photos of this category (repeatable)."),
    ] = None,
    bins: Annotated[
        bool,
        typer.Option(
            "--bins", help="Also store each photo's map of ab-bin indices (classification targets)."
        ),
    ] = False,
    bin_stride: Annotated[
        int,
        typer.Option(
            min=1,
            metavar="PIXELS",
            help="Pixels per bin-map cell along each side: the model's output stride.",
        ),
    ] = 2,
    exclude_hashes: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="FILE",
            help="Drop photos within --exclude-distance bits of a difference hash in FILE (16 hex digits a "
            "line; the photo or its centre square). Repeatable.",
        ),
    ] = None,
    exclude_like: Annotated[
        list[str] | None,
        typer.Option(
            metavar="PHOTOS",
            help="Drop photos that near-copy a photo of this collection (folder, glob, shard). Repeatable.",
        ),
    ] = None,
    exclude_names: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="FILE",
            help="Drop the photos FILE names, a path a line relative to a source folder. Repeatable.",
        ),
    ] = None,
    exclude_distance: Annotated[
        int, typer.Option(min=0, max=64, metavar="BITS", help="How near a hash counts as a copy.")
    ] = 4,
    shards: Annotated[
        bool,
        typer.Option(
            "--shards",
            help="Write compact JPEG tar shards and manifest.json into the folder OUTPUT instead of a cache: "
            "photos filtered and shrunk, not cropped or split (training does that).",
        ),
    ] = False,
    quality: Annotated[int, typer.Option(min=1, max=100, metavar="Q", help="--shards: JPEG quality.")] = 88,
    shard_mb: Annotated[
        float, typer.Option(min=0.001, metavar="MB", help="--shards: about this many megabytes a shard.")
    ] = 60,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing cache file or shards.")
    ] = False,
    restart: Annotated[
        bool,
        typer.Option(
            "--restart", help="Discard the unfinished work of an earlier run instead of continuing it."
        ),
    ] = False,
) -> None:
    """Prepare photos once into a cache or shards for training.

    Decodes, filters (unreadable, too small, grayscale, excluded, duplicates), crops, splits and measures
    the colors of a collection, written atomically to one file with a manifest of everything that was
    dropped. Decoded images are kept in OUTPUT.partial as they are done: run a stopped or killed command
    again to continue. With --shards, writes compact JPEG shards to carry and train from instead.
    """
    from polychrome._atomic import WriteError
    from polychrome._messages import printable_name
    from polychrome.data.cache import build_cache, check_cache_output
    from polychrome.data.layouts import choose_layout
    from polychrome.data.prepare import PrepareOptions
    from polychrome.data.resume import work_folder
    from polychrome.data.shards import existing_output, write_shards
    from polychrome.data.sources import iter_records

    def fail(message: str) -> typer.Exit:
        typer.echo(f"error: {message}", err=True)
        return typer.Exit(1)

    if shards:
        if bins:
            raise fail("--bins is for a cache; shards are split and binned by training")
        if existing_output(output) and not overwrite:
            raise fail(f"{printable_name(output)} holds shards already; pass --overwrite to replace them")
    else:
        try:
            check_cache_output(output)
        except ValueError as err:
            raise fail(str(err)) from None
        if output.exists() and not overwrite:
            raise fail(f"{printable_name(output)} exists; pass --overwrite to replace it")
    with _log_to_stderr():
        try:
            exclusion = _exclusion(exclude_hashes, exclude_names, exclude_like, exclude_distance, workers)
            options = PrepareOptions(
                image_size=size,
                min_size=min_size,
                gray_chroma=gray_chroma,
                enlarge=enlarge,
                crop=not shards,
                exclusion=exclusion or None,
            )
            if shards:
                for stale in existing_output(output):
                    stale.unlink()
                shard_manifest = write_shards(
                    sources,
                    output,
                    options,
                    quality=quality,
                    shard_bytes=int(shard_mb * 1e6),
                    dedup=dedup,
                    workers=workers,
                )
                dropped = (
                    ", ".join(f"{n} {r}" for r, n in shard_manifest["dropped"].items()) or "none dropped"
                )
                typer.echo(
                    f"{shard_manifest['kept']} photos kept ({dropped}) in {len(shard_manifest['shards'])} "
                    f"shards: {printable_name(output)}"
                )
                return
            named = choose_layout(sources, layout, category)
            records = named.records if named is not None else iter_records(sources)
            path, manifest = build_cache(
                records,
                output,
                options,
                sources=sources,
                split=split,
                seed=seed,
                split_order=split_order,
                dedup=dedup,
                workers=workers,
                official_splits=named.splits if named is not None else None,
                layout=named.name if named is not None else None,
                categories=category or None,
                bin_stride=bin_stride if bins else None,
                restart=restart,
            )
        except WriteError as err:
            typer.echo(f"error: cannot write {printable_name(output)} ({err.reason})", err=True)
            raise typer.Exit(1) from None
        except (FileNotFoundError, ValueError, ImportError) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            message = f"interrupted: decoded images are kept in {printable_name(work_folder(output))}"
            typer.echo(f"{message}; run the same command again to continue", err=True)
            raise typer.Exit(130) from None
    dropped = ", ".join(f"{n} {reason}" for reason, n in manifest["dropped"].items()) or "none dropped"
    sizes = manifest["split_sizes"]
    if named is not None:
        typer.echo(f"layout {named.name}: {manifest['split_source']} split")
    typer.echo(
        f"{manifest['kept']} photos kept ({dropped}); train {sizes['train']}, val {sizes['val']}, "
        f"test {sizes['test']}: {printable_name(path)}"
    )


def _exclusion(
    hash_files: list[Path] | None,
    name_files: list[Path] | None,
    like: list[str] | None,
    distance: int,
    workers: int | None,
):
    """The photos --exclude-* asks to drop; ``like`` collections are decoded whole to hash their photos."""
    from polychrome.data.hashing import Exclusion
    from polychrome.data.prepare import PrepareOptions, decode_records
    from polychrome.data.sources import iter_records

    whole = PrepareOptions(image_size=None, min_size=1, gray_chroma=-1.0)
    photos = (
        rgb
        for source in like or []
        for _, rgb, _ in decode_records(iter_records([source]), whole, workers)
        if rgb is not None
    )
    return Exclusion.from_lists(hash_files or [], name_files or [], photos, distance)
