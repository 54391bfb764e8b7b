"""`polychrome train`: train a colorization model from a YAML recipe with key=value overrides."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from polychrome.cli import app

if TYPE_CHECKING:
    from polychrome.train.config import TrainConfig

err_console = Console(stderr=True, highlight=False, soft_wrap=True)  # an error stays one line


@app.command()
def train(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", metavar="FILE", help="YAML recipe (see configs/).")
    ] = None,
    run_dir: Annotated[
        Path, typer.Option("--run-dir", "-r", metavar="FOLDER", help="Folder for checkpoints, logs, model.")
    ] = Path("runs/default"),
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            "-s",
            metavar="KEY=VALUE",
            help="Override a config field, e.g. --set optim.lr=3e-4 (repeatable).",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue the run in --run-dir exactly, with its own saved config."),
    ] = False,
    export: Annotated[
        bool,
        typer.Option(
            "--export",
            help="Save the model of the run's last checkpoint in the run's folder as model-step-N (a "
            "paused run's model), then stop.",
        ),
    ] = False,
) -> None:
    """Train a colorization model.

    Data is decoded once into memory; each epoch is validated and checkpointed atomically. On several GPUs:
    torchrun --nproc-per-node N -m polychrome train ... (each process trains on its own part of the images).
    """
    from polychrome._atomic import WriteError
    from polychrome.train.config import ConfigError, load_config
    from polychrome.train.loop import train as run_training
    from polychrome.train.recipes import NonFiniteLoss

    # Under torchrun every process runs this command; only rank 0 talks, the others report only problems.
    main_process = os.environ.get("RANK", "0") == "0"
    logging.basicConfig(
        level=logging.INFO if main_process else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)],
    )
    if resume and export:
        err_console.print("error: --resume and --export: choose one", markup=False, highlight=False)
        raise typer.Exit(2)
    if resume or export:
        # A run continues with its own saved recipe: re-reading --config would silently drop the --set
        # changes it was started with. Deliberate changes (say, more steps) still go through --set.
        if config is not None:
            err_console.print(
                f"error: --resume and --export use the run's own {run_dir / 'config.yaml'}; "
                "leave out --config (change a field with --set, e.g. --set steps=40000)",
                markup=False,
                highlight=False,
            )
            raise typer.Exit(2)
        config = run_dir / "config.yaml"
        if not config.is_file():
            err_console.print(
                f"error: {run_dir}: no run there (no config.yaml)", markup=False, highlight=False
            )
            raise typer.Exit(2)
    try:
        cfg = load_config(config, set_ or [])
    except (FileNotFoundError, ValueError) as err:
        err_console.print(f"error: {err}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    if export:
        _export(cfg, run_dir)
        return
    progress = Progress(
        TextColumn("step {task.completed}/{task.total}"),
        BarColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,  # an error or the closing summary takes its place
        disable=not main_process or not err_console.is_terminal,  # a log or a pipe gets the lines alone
    )
    with progress:
        task = progress.add_task("train", total=cfg.steps, info="preparing data")

        def on_progress(step: int, total: int, info: dict[str, float]) -> None:
            text = f"loss {info['loss']:.4f}  lr {info['lr']:.2e}  {info['images_per_s']:.0f} img/s"
            progress.update(task, completed=step, info=text)

        failure: tuple[Exception, int] | None = None
        try:
            result = run_training(cfg, run_dir, resume=resume, on_progress=on_progress)
        except ConfigError as err:  # the config cannot be run as written: a usage error, as a bad --set is
            failure = err, 2
        except (FileExistsError, FileNotFoundError, ValueError, NonFiniteLoss, WriteError) as err:
            failure = err, 1
    if failure is not None:  # printed once the progress bar is gone, so the error is the last line
        err_console.print(f"error: {failure[0]}", markup=False, highlight=False)
        raise typer.Exit(failure[1])
    if not main_process:
        return
    state = "finished" if result.finished else "paused (resume with --resume)"
    summary = ", ".join(f"{k} {v:.3f}" for k, v in result.metrics.items() if k.startswith("val/"))
    typer.echo(f"{state} at step {result.step}" + (f"; {summary}" if summary else ""))
    if result.finished:
        typer.echo(f"model saved to {result.run_dir / 'model'}")
    elif result.stopped_by is not None:
        # As a process killed by that signal would: schedulers and scripts can tell a stop from an end.
        raise typer.Exit(128 + int(signal.Signals[result.stopped_by]))


def _export(cfg: TrainConfig, run_dir: Path) -> None:
    from polychrome._atomic import WriteError
    from polychrome.train.loop import export_checkpoint

    try:
        directory = export_checkpoint(run_dir, cfg)
    except (FileExistsError, FileNotFoundError, ValueError, WriteError) as err:
        err_console.print(f"error: {err}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    typer.echo(f"model saved to {directory}")
