"""`polychrome turing serve` and `report`: the Colorization Turing Test, run in a local web page."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from polychrome.cli import app
from polychrome.cli._paths import PolychromeTyper
from polychrome.cli.options import Host, Port

turing_app = PolychromeTyper(
    name="turing",
    help="Colorization Turing Test: which photo is real?",
    no_args_is_help=True,
)
app.add_typer(turing_app)


def parse_models(specs: list[str]) -> dict[str, Path]:
    """``NAME=DIR`` options as a dict; raises ValueError naming the bad one."""
    models: dict[str, Path] = {}
    for spec in specs:
        name, sep, folder = spec.partition("=")
        name = name.strip()
        if not sep or not name or not folder:
            raise ValueError(f"--model {spec!r}: expected NAME=DIR, e.g. ours=colorized/")
        if name in models:
            raise ValueError(f"--model {name!r}: named twice")
        models[name] = Path(folder)
    return models


def _usage_error(err: Console, message: str) -> typer.Exit:
    """A one-line error for bad options, with the usage-error exit status."""
    err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(2)


@turing_app.command()
def serve(
    real: Annotated[
        Path, typer.Option(metavar="FOLDER", help="Folder of the real color photos (walked recursively).")
    ],
    model: Annotated[
        list[str],
        typer.Option(
            metavar="NAME=FOLDER",
            help="NAME=DIR: a model's colorized versions of the same photos, matched by relative path.",
        ),
    ],
    db: Annotated[
        Path,
        typer.Option(metavar="FILE", help="SQLite file for the answers; created, or added to if it exists."),
    ],
    port: Port = 8765,
    host: Host = "127.0.0.1",
    trials_per_person: Annotated[
        int, typer.Option(min=1, metavar="N", help="Pairs each participant is asked about.")
    ] = 20,
    display_size: Annotated[
        int,
        typer.Option(
            min=16, metavar="PIXELS", help="Longer side, in pixels, at which both photos of a pair are shown."
        ),
    ] = 512,
) -> None:
    """Show people pairs of real and colorized photos; store answers.

    A local web page shows each person pairs of a real and a colorized photo, each photo at most once, left
    and right at random, and asks which one is real.
    Both photos of a pair are shown at the same size and encoded alike, so only their colors differ.
    Photos a model has no version of are left out of its pairs; unreadable images are reported and skipped.
    """
    from polychrome.turing import TrialStore, TuringApp, TuringServer, build_catalog
    from polychrome.web.server import is_loopback

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        models = parse_models(model)
    except ValueError as exc:
        raise _usage_error(err, str(exc)) from None
    created = not db.exists()  # a database this call creates goes again if the test cannot start
    try:
        store = TrialStore(db)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    try:
        catalog = build_catalog(real, models, display_size=display_size)
    except NotADirectoryError as exc:
        _forget(db, created)
        raise _usage_error(err, str(exc)) from None
    for problem in catalog.problems:
        err.print(f"[yellow]skipped:[/yellow] {escape(problem)}")
    for name, count in catalog.pairs_per_model().items():
        missing = len(catalog.missing.get(name, []))
        photos = "real photo has" if missing == 1 else "real photos have"
        note = f" ({missing} {photos} no version in {models[name]})" if missing else ""
        typer.echo(f"{name}: {count} pairs{note}")
    if not catalog.pairs:
        err.print("[red]error:[/red] no real photo has a readable colorized version: nothing to show")
        _forget(db, created)
        raise typer.Exit(1)
    try:
        server = TuringServer(TuringApp(catalog, store, trials_per_person), host=host, port=port)
    except OSError as exc:
        _forget(db, created)
        err.print(
            f"[red]error:[/red] cannot listen on {escape(host)}:{port}: {escape(exc.strerror or str(exc))}"
        )
        raise typer.Exit(1) from None
    if not is_loopback(host):
        err.print(
            f"[yellow]warning:[/yellow] listening on {escape(host)}: anyone who can reach it can take part"
        )
    typer.echo(f"Turing test at {server.url} - answers go to {db}; Ctrl-C stops.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    typer.echo(f"stopped; `polychrome turing report --db {db}` gives the fool rates")


@turing_app.command()
def report(
    db: Annotated[Path, typer.Option(metavar="FILE", help="The SQLite file of `polychrome turing serve`.")],
    json_out: Annotated[
        Path | None, typer.Option("--json", metavar="FILE", help="Also write the results to this JSON file.")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the JSON file if it exists.")
    ] = False,
    min_answers: Annotated[
        int, typer.Option(min=1, metavar="N", help="Fewer answers than this get a caveat.")
    ] = 30,
) -> None:
    """Fool rate per model, with a 95% interval.

    The fool rate is how often the colorized photo was taken for the real one.

    50% means people could not tell the model's photos from real ones; the interval is Wilson's.
    """
    from polychrome._atomic import atomic_write
    from polychrome.turing import TrialStore, fool_rates

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if json_out is not None and json_out.exists() and not overwrite:
        err.print(f"[red]error:[/red] {escape(str(json_out))} exists; pass --overwrite to replace it")
        raise typer.Exit(1)
    try:
        answers = TrialStore(db, create=False).answers()
    except (FileNotFoundError, ValueError) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    results = fool_rates(answers, min_answers=min_answers)
    if results:
        table = Table(title=f"Colorization Turing Test: {len(answers)} answers in {db}")
        for column in ("model", "answers", "people", "fool rate", "95% interval"):
            table.add_column(column, justify="left" if column == "model" else "right", no_wrap=True)
        for r in results:
            name = escape(r.model) + (" *" if r.note else "")
            interval = f"[{r.low:.1%}, {r.high:.1%}]"
            table.add_row(name, str(r.answers), str(r.participants), f"{r.rate:.1%}", interval)
        Console(highlight=False, soft_wrap=True).print(table)
        typer.echo(
            "fool rate: share of trials in which the colorized photo was chosen as real (50% = chance)"
        )
        notes = sorted({r.note for r in results if r.note})
        for note in notes:
            typer.echo(f"* {note}; collect more before comparing models")
    else:
        typer.echo(f"no answers in {db} yet")
    if json_out is not None:
        record = {"db": str(db), "confidence": 0.95, "models": [asdict(r) for r in results]}
        atomic_write(json_out, lambda f: f.write(json.dumps(record, indent=1).encode()))
        typer.echo(f"results: {json_out}")


def _forget(db: Path, created: bool) -> None:
    """Remove the empty answers database made by a `serve` that then could not start."""
    if created:
        db.unlink(missing_ok=True)
