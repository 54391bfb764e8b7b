"""The colorizing page and its HTTP API as one FastAPI app.

Routes (nothing else is served; there is no path from a URL to the file system):

- ``GET /``, ``GET /static/web.{js,css}``: the page, from this package.
- ``POST /api/colorize``: a photo in, the colorized photo out (see :func:`create_app`).
- ``GET /api/health``: whether it is up, the model, the limits and how busy it is.
- ``GET /openapi.json`` and ``GET /docs``: the API as FastAPI describes it, and that description as a page.

Example:
    >>> from polychrome import Colorizer
    >>> app = create_app(Colorizer.from_pretrained())  # doctest: +SKIP
    >>> LocalServer(app, port=8000).serve_forever()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from polychrome.pipelines.hints import parse_hints_json
from polychrome.web.apidocs import render_api_page
from polychrome.web.guards import BodyError, SecurityHeaders, body_chunks, install_json_errors, json_error
from polychrome.web.photos import FORMATS, ColorizeOptions, PhotoError, colorize_file
from polychrome.web.queue import Busy, WorkQueue
from polychrome.web.settings import WebSettings
from polychrome.web.uploads import Upload, receive_upload

__all__ = ["create_app"]

_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/web.js": ("web.js", "text/javascript; charset=utf-8"),
    "/static/web.css": ("web.css", "text/css; charset=utf-8"),
}
_ERROR = {"content": {"application/json": {"example": {"error": "a one-line reason"}}}}
_RETRY_AFTER_S = 2

_COLORIZE_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["image"],
                "properties": {
                    "image": {"type": "string", "format": "binary", "description": "the photo"},
                    "saturation": {"type": "number", "minimum": 0, "maximum": 4, "default": 1.0,
                                   "description": "color strength: 0 gray, 1 as predicted, 2 double"},
                    "temperature": {"type": "number", "minimum": -1, "maximum": 1, "default": 0.0,
                                    "description": "white balance: -1 cool .. 0 .. 1 warm"},
                    "render_size": {"type": "integer", "minimum": 16, "default": 256,
                                    "description": "shorter side, in pixels, at which color is predicted"},
                    "format": {"type": "string", "enum": sorted(FORMATS), "default": "png"},
                    "hints": {"type": "string", "default": "[]",
                              "description": 'colors known at points: a JSON list of {"x", "y", '
                                             '"color": "#rrggbb", "radius"?} (pixels, or fractions 0..1)'},
                },
            }
        }
    },
}  # fmt: skip


def create_app(
    colorizer: Any,
    settings: WebSettings | None = None,
    model_name: str = "",
    device: str = "cpu",
) -> FastAPI:
    """The ASGI app: the page, ``POST /api/colorize`` and ``GET /api/health``.

    Args:
        colorizer: a :class:`~polychrome.Colorizer` (or anything called the same way).
        settings: the limits (:class:`WebSettings`); the defaults when None.
        model_name: the model's name for ``/api/health``.
        device: where the model runs, for ``/api/health``.
    """
    settings = settings or WebSettings()
    queue = WorkQueue(settings.queue)
    static = files("polychrome.web") / "static"
    pages = {route: ((static / name).read_bytes(), kind) for route, (name, kind) in _STATIC.items()}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        queue.close()

    app = FastAPI(
        title="polychrome",
        summary="Colorize black-and-white photos.",
        version=_version(),
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    install_json_errors(app)
    app.state.queue = queue

    for route, (data, kind) in pages.items():

        def page(data: bytes = data, kind: str = kind) -> Response:
            return Response(data, media_type=kind, headers={"Cache-Control": "no-cache"})

        app.add_api_route(route, page, methods=["GET"], include_in_schema=False)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(render_api_page(app.openapi()))

    @app.get("/api/health", summary="Whether the server is up, its model, limits and load")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "model": model_name,
            "device": device,
            "busy": queue.running,
            "waiting": max(0, queue.admitted - queue.running),
            "capacity": queue.capacity,
            "limits": {
                "max_upload_bytes": settings.max_upload_bytes,
                "max_pixels": settings.max_pixels,
                "max_render_size": settings.max_render_size,
                "request_timeout_s": settings.request_timeout_s,
            },
            "formats": sorted(FORMATS),
        }

    @app.post(
        "/api/colorize",
        summary="Colorize one photo",
        description=(
            "Send the photo as multipart/form-data in the field `image` (JPEG, PNG, WebP, TIFF, BMP or GIF); "
            "the answer is the colorized photo at its full size, as PNG or JPEG, keeping its EXIF and "
            "resolution as `polychrome colorize` does. Photos are colored one at a time; a few requests wait "
            "their turn and the rest are answered 503 at once, to be retried."
        ),
        response_class=Response,
        responses={
            200: {"content": {"image/png": {}, "image/jpeg": {}}, "description": "the colorized photo"},
            400: {**_ERROR, "description": "a damaged photo, a malformed body or a bad option"},
            408: {**_ERROR, "description": "the upload did not arrive in time"},
            413: {**_ERROR, "description": "over the upload size or pixel limit"},
            415: {**_ERROR, "description": "not multipart/form-data, or not an image polychrome reads"},
            503: {**_ERROR, "description": "busy: retry after the Retry-After seconds"},
        },
        openapi_extra={"requestBody": _COLORIZE_BODY},
    )
    async def colorize(request: Request) -> Response:
        deadline = asyncio.get_running_loop().time() + settings.request_timeout_s
        chunks = body_chunks(request, settings.max_upload_bytes, settings.request_timeout_s)
        try:
            with queue.place():
                return await _colorize(request, chunks, deadline)
        except Busy:
            pass
        except BodyError as err:
            return json_error(err.status, str(err))
        # A client still sending would see its connection reset if answered now: take the body, then refuse.
        try:
            async for _ in chunks:
                pass
        except BodyError as err:
            return json_error(err.status, str(err))
        return json_error(
            HTTPStatus.SERVICE_UNAVAILABLE,
            "busy: too many photos are waiting; try again shortly",
            headers={"Retry-After": str(_RETRY_AFTER_S)},
        )

    async def _colorize(request: Request, chunks: Any, deadline: float) -> Response:
        folder = Path(tempfile.mkdtemp(prefix="polychrome-upload-"))  # mode 0700: this user's alone
        try:
            upload = await receive_upload(request.headers.get("content-type", ""), chunks, folder)
            try:
                options = _options(upload, settings)
            except ValueError as err:
                return json_error(HTTPStatus.BAD_REQUEST, str(err))
            assert upload.path is not None
            path = upload.path

            def work() -> Any:
                return colorize_file(colorizer, path, options, settings.max_pixels, folder)

            try:
                result = await queue.run(work, deadline)
            except PhotoError as err:
                return json_error(err.status, str(err))
            headers = {
                "Content-Disposition": _disposition(upload.filename, result.suffix),
                "Server-Timing": ", ".join(f"{k};dur={v * 1000:.0f}" for k, v in result.timings.items()),
                "Cache-Control": "no-store",
            }
            return Response(result.data, media_type=result.media_type, headers=headers)
        finally:
            await run_in_threadpool(shutil.rmtree, folder, True)

    app.add_middleware(SecurityHeaders)
    return app


def _options(upload: Upload, settings: WebSettings) -> ColorizeOptions:
    """The request's controls, checked; raises ValueError with a one-line reason."""
    if upload.path is None:
        raise ValueError("no photo: send it in the multipart field 'image'")
    fields = dict(upload.fields)
    unknown = sorted(set(fields) - {"saturation", "temperature", "render_size", "format", "hints"})
    if unknown:
        raise ValueError(f"unknown field '{unknown[0]}'")
    saturation = _number(fields, "saturation", 1.0, 0.0, 4.0)
    temperature = _number(fields, "temperature", 0.0, -1.0, 1.0)
    render_size = _number(fields, "render_size", 256, 16, settings.max_render_size)
    if render_size != int(render_size):
        raise ValueError(f"render_size must be a whole number of pixels, got {fields['render_size']!r}")
    kind = fields.get("format", "png").strip().lower()
    kind = {"jpg": "jpeg"}.get(kind, kind)
    if kind not in FORMATS:
        raise ValueError(f"format must be png or jpeg, got {fields['format']!r}")
    hints = tuple(parse_hints_json(fields["hints"], "hints")) if fields.get("hints", "").strip() else ()
    return ColorizeOptions(saturation, temperature, int(render_size), kind, hints)  # type: ignore[arg-type]


def _number(fields: dict[str, str], name: str, default: float, low: float, high: float) -> float:
    text = fields.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {text!r}") from None
    if not low <= value <= high:  # NaN fails here too
        raise ValueError(f"{name} must be {low:g} to {high:g}, got {text}")
    return value


def _disposition(filename: str, suffix: str) -> str:
    """An attachment named after the upload (``old photo.tif`` -> ``old_photo-colorized.png``), ASCII only."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename.replace("\\", "/")).stem).strip("._") or "photo"
    return f'attachment; filename="{stem[:100]}-colorized{suffix}"'


def _version() -> str:
    from polychrome import __version__

    return __version__
