"""`polychrome serve`: the colorizing web page and its HTTP API, on this computer."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from polychrome.cli import app
from polychrome.cli.options import Host, ModelDevice, ModelName, Port, in_option_words
from polychrome.pipelines.render_size import MAX_RENDER_SIZE


@app.command()
def serve(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    model: ModelName = None,
    device: ModelDevice = "cpu",
    max_upload_mb: Annotated[
        float, typer.Option(min=0.01, metavar="MB", help="Largest upload accepted, in megabytes.")
    ] = 50.0,
    max_megapixels: Annotated[
        float,
        typer.Option(
            min=0.001, metavar="MP", help="Largest photo accepted, in megapixels (memory follows it)."
        ),
    ] = 40.0,
    max_render_size: Annotated[
        int, typer.Option(min=16, max=MAX_RENDER_SIZE, metavar="PIXELS", help="Largest render size allowed.")
    ] = 1024,
    queue: Annotated[
        int,
        typer.Option(min=0, metavar="N", help="Requests that may wait their turn; more are answered 503."),
    ] = 8,
    timeout: Annotated[
        float,
        typer.Option(min=0.1, metavar="SECONDS", help="Time an upload may take to arrive and then to wait."),
    ] = 60.0,
    max_video_mb: Annotated[
        float, typer.Option(min=0.01, metavar="MB", help="Largest video upload accepted, in megabytes.")
    ] = 100.0,
    max_video_seconds: Annotated[
        float, typer.Option(min=0.1, metavar="SECONDS", help="Longest video accepted, in seconds.")
    ] = 60.0,
    video_jobs: Annotated[
        int,
        typer.Option(
            min=1, metavar="N", help="Videos accepted at once (colored one at a time); more are answered 503."
        ),
    ] = 1,
) -> None:
    """Colorize photos in a web page: compare, adjust, download.

    Serves a page and an HTTP API (POST /api/colorize, POST /api/videos, GET /api/health; described at /docs)
    on this computer. Photos are colored one at a time; each upload lives in a private temporary folder until
    it is answered (a video until it is downloaded).
    """
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        from polychrome.web.app import create_app
        from polychrome.web.server import LocalServer, is_loopback
        from polychrome.web.settings import WebSettings
    except ImportError as exc:
        err.print(
            f"[red]error:[/red] {escape(str(exc))}; install the web extra: pip install 'polychrome\\[web]'"
        )
        raise typer.Exit(1) from None
    from polychrome.pipelines.image import DEFAULT_MODEL, Colorizer

    settings = WebSettings(
        max_upload_bytes=int(max_upload_mb * 1024 * 1024),
        max_pixels=int(max_megapixels * 1_000_000),
        max_render_size=max_render_size,
        queue=queue,
        request_timeout_s=timeout,
        max_video_bytes=int(max_video_mb * 1024 * 1024),
        max_video_seconds=max_video_seconds,
        video_jobs=video_jobs,
    )
    try:
        colorizer = Colorizer.from_pretrained(model, device=device)
    except Exception as exc:
        reason = in_option_words(str(exc) or type(exc).__name__)
        err.print(f"[red]error:[/red] could not load the model: {escape(reason)}")
        raise typer.Exit(1) from None
    web = create_app(colorizer, settings, model_name=model or DEFAULT_MODEL, device=device)
    try:
        server = LocalServer(web, host=host, port=port)
    except OSError as exc:
        err.print(
            f"[red]error:[/red] cannot listen on {escape(host)}:{port}: {escape(exc.strerror or str(exc))}"
        )
        raise typer.Exit(1) from None
    if not is_loopback(host):
        err.print(
            f"[yellow]warning:[/yellow] listening on {escape(host)}: "
            "anyone who can reach it can upload photos to it"
        )
    if web.state.films.reason is not None:
        typer.echo(f"videos are off: {web.state.films.reason}")
    typer.echo(f"polychrome at {server.url} (API described at {server.url}docs); Ctrl-C stops.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    typer.echo("stopped")
