"""The colorizing page and its HTTP API as one FastAPI app.

Routes (nothing else is served; there is no path from a URL to the file system):

- ``GET /``, ``GET /static/web.{js,css}``: the page, from this package.
- ``POST /api/colorize``: a photo in, the colorized photo out (see :func:`create_app`).
- ``POST /api/videos``: a short film in, a job out (202); ``GET /api/videos/{id}``: its progress;
  ``GET /api/videos/{id}/result``: the colored film, once; ``DELETE /api/videos/{id}``: cancel it
  (:mod:`polychrome.web.films`); 501 where this server cannot color films.
- ``GET /api/health``: whether it is up, the model, the hint methods it takes, the limits and how busy it is.
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
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from polychrome.pipelines.hints import parse_hints_json
from polychrome.pipelines.image import HINT_METHODS
from polychrome.web.apidocs import render_api_page
from polychrome.web.films import (
    READABLE_NAMES,
    RESULT_MEDIA_TYPE,
    FilmError,
    FilmJobs,
    FilmOptions,
    probe_film,
)
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
_FILM_RETRY_AFTER_S = 10

# The controls photos and films share.
_CONTROL_FIELDS = {
    "saturation": {"type": "number", "minimum": 0, "maximum": 4, "default": 1.0,
                   "description": "color strength: 0 gray, 1 as predicted, 2 double"},
    "temperature": {"type": "number", "minimum": -1, "maximum": 1, "default": 0.0,
                    "description": "white balance: -1 cool .. 0 .. 1 warm"},
    "render_size": {"type": "integer", "minimum": 16, "default": 256,
                    "description": "shorter side, in pixels, at which color is predicted"},
}  # fmt: skip


def _form(file_field: str, description: str, **fields: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI request body: multipart/form-data with one required file and the controls."""
    properties = {file_field: {"type": "string", "format": "binary", "description": description}}
    schema = {
        "type": "object",
        "required": [file_field],
        "properties": {**properties, **_CONTROL_FIELDS, **fields},
    }
    return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}


_COLORIZE_BODY = _form(
    "image",
    "the photo",
    format={"type": "string", "enum": sorted(FORMATS), "default": "png"},
    hints={"type": "string", "default": "[]",
           "description": 'colors known at points: a JSON list of {"x", "y", "color": "#rrggbb", "radius"?} '
                          "(pixels, or fractions 0..1)"},
    hint_method={"type": "string", "enum": list(HINT_METHODS), "default": "auto",
                 "description": "how hints act: spread over the region of like lightness around each; "
                                "network: the hint network colors the photo from them; auto: network for a "
                                "model that takes hints, else spread. GET /api/health lists those it takes"},
)  # fmt: skip
_VIDEO_BODY = _form("video", f"the film: {READABLE_NAMES}")


class VideoProgress(BaseModel):
    """How far a film is: what ``POST /api/videos`` and ``GET /api/videos/{id}`` answer."""

    id: str = Field(description="the job's random id")
    name: str = Field(description="the uploaded file's name")
    state: str = Field(description="queued, running, done or failed")
    frames_done: int = Field(description="frames colored so far")
    frames_total: int | None = Field(description="frames the film holds, where its header says")
    error: str | None = Field(description="why it failed, in one line")
    warnings: list[str] = Field(description="damage found and what could not be kept, one line each")
    result: str | None = Field(description="where to download the colored film, once it is done")


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
    films = FilmJobs(colorizer, settings)
    hint_refusals = _hint_refusals(colorizer)
    static = files("polychrome.web") / "static"
    pages = {route: ((static / name).read_bytes(), kind) for route, (name, kind) in _STATIC.items()}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sweeper = asyncio.create_task(_sweep(films, min(30.0, settings.video_keep_s / 2)))
        yield
        sweeper.cancel()
        await run_in_threadpool(films.close)  # a film being colored stops at its next batch
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
    app.state.films = films

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
            "hint_methods": [method for method in HINT_METHODS if method not in hint_refusals],
            "films": {
                "available": films.reason is None,
                "reason": films.reason,
                "busy": films.running,
                "accepted": films.active,
                "capacity": films.capacity,
                "limits": {
                    "max_upload_bytes": settings.max_video_bytes,
                    "max_seconds": settings.max_video_seconds,
                    "max_pixels": settings.max_video_pixels,
                    "kept_s": settings.video_keep_s,
                },
            },
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
        return await _refuse_after_body(
            chunks,
            HTTPStatus.SERVICE_UNAVAILABLE,
            "busy: too many photos are waiting; try again shortly",
            {"Retry-After": str(_RETRY_AFTER_S)},
        )

    async def _colorize(request: Request, chunks: Any, deadline: float) -> Response:
        folder = Path(tempfile.mkdtemp(prefix="polychrome-upload-"))  # mode 0700: this user's alone
        try:
            content_type = request.headers.get("content-type", "")
            upload = await receive_upload(content_type, chunks, folder, fields=_PHOTO_FIELDS)
            try:
                options = _options(upload, settings, hint_refusals)
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

    _film_routes(app, films, settings)
    app.add_middleware(SecurityHeaders)
    return app


def _film_routes(app: FastAPI, films: FilmJobs, settings: WebSettings) -> None:
    """``/api/videos``: a film uploaded as a job, its progress, its result and its cancelling."""
    unknown = "no such video: it was downloaded, cancelled, expired or never made"

    @app.post(
        "/api/videos",
        summary="Colorize a short film: start a job",
        description=(
            "Send the film as multipart/form-data in the field `video`. It is checked (a film, readable, "
            "within the size, length and frame limits) and queued; the answer (202) is its job, whose "
            "progress `GET /api/videos/{id}` tells. Films are colored one at a time; while the accepted "
            "ones fill every place, the answer is 503. 501 where this server cannot color films."
        ),
        status_code=HTTPStatus.ACCEPTED,
        response_class=JSONResponse,
        responses={
            202: {"model": VideoProgress, "description": "accepted: the job (Location: its address)"},
            400: {**_ERROR, "description": "a damaged or empty film, a malformed body or a bad option"},
            408: {**_ERROR, "description": "the upload did not arrive in time"},
            413: {**_ERROR, "description": "over the upload size, length or frame size limit"},
            415: {**_ERROR, "description": "not multipart/form-data, or not a film polychrome reads"},
            501: {**_ERROR, "description": "this server cannot color films (the reason says what it lacks)"},
            503: {**_ERROR, "description": "busy with other films: retry after the Retry-After seconds"},
        },
        openapi_extra={"requestBody": _VIDEO_BODY},
    )
    async def add_video(request: Request) -> Response:
        chunks = body_chunks(request, settings.max_video_bytes, settings.request_timeout_s)
        if films.reason is not None:
            return await _refuse_after_body(chunks, HTTPStatus.NOT_IMPLEMENTED, films.reason)
        try:
            films.reserve()
        except Busy:
            return await _refuse_after_body(
                chunks,
                HTTPStatus.SERVICE_UNAVAILABLE,
                "busy: another video is being colored; try again later",
                {"Retry-After": str(_FILM_RETRY_AFTER_S)},
            )
        folder = await run_in_threadpool(films.new_folder)
        queued = False
        try:
            content_type = request.headers.get("content-type", "")
            upload = await receive_upload(
                content_type, chunks, folder, file_field="video", what="video", fields=_FILM_FIELDS
            )
            options = _film_options(upload, settings)
            assert upload.path is not None
            source, frames = await run_in_threadpool(probe_film, upload.path, settings)
            job = films.submit(folder, source, upload.filename, options, frames)
            queued = True
        except (BodyError, FilmError) as err:
            return json_error(err.status, str(err))
        except ValueError as err:
            return json_error(HTTPStatus.BAD_REQUEST, str(err))
        finally:
            if not queued:
                films.release()
                await run_in_threadpool(shutil.rmtree, folder, True)
        return JSONResponse(
            job.progress(), status_code=HTTPStatus.ACCEPTED, headers={"Location": f"/api/videos/{job.id}"}
        )

    @app.get(
        "/api/videos/{video_id}",
        summary="How far a film is",
        description="The job's state (queued, running, done, failed), frames colored of the film's, the "
        "reason of a failure in one line, and once done where to download it. A finished film is kept until "
        "it is downloaded, or for the server's keeping time.",
        response_model=VideoProgress,
        responses={404: {**_ERROR, "description": "no such job (downloaded, cancelled, expired)"}},
    )
    def video_progress(video_id: str) -> Any:
        job = films.get(video_id)
        if job is None:
            return json_error(HTTPStatus.NOT_FOUND, unknown)
        return job.progress()

    @app.get(
        "/api/videos/{video_id}/result",
        summary="Download a colored film, once",
        description="The colored film as MP4 (H.264, the source's audio kept). It is removed from the server "
        "once sent.",
        response_class=FileResponse,
        responses={
            200: {"content": {RESULT_MEDIA_TYPE: {}}, "description": "the colored film"},
            404: {**_ERROR, "description": "no such job (downloaded, cancelled, expired)"},
            409: {**_ERROR, "description": "not colored yet, or it failed"},
        },
    )
    def video_result(video_id: str) -> Response:
        job = films.get(video_id)
        if job is None:
            return json_error(HTTPStatus.NOT_FOUND, unknown)
        if job.state == "failed":
            return json_error(HTTPStatus.CONFLICT, f"the video failed: {job.error}")
        if job.state != "done":
            return json_error(HTTPStatus.CONFLICT, f"the video is not colored yet ({job.state})")
        return FileResponse(
            job.result,
            media_type=RESULT_MEDIA_TYPE,
            headers={
                "Content-Disposition": _disposition(job.name, ".mp4", "video"),
                "Cache-Control": "no-store",
            },
            background=BackgroundTask(films.discard, job.id),
        )

    @app.delete(
        "/api/videos/{video_id}",
        summary="Cancel a film, or remove a colored one",
        description="A film being colored stops at its next batch; its files are removed.",
        status_code=HTTPStatus.NO_CONTENT,
        response_class=Response,
        responses={404: {**_ERROR, "description": "no such job"}},
    )
    def cancel_video(video_id: str) -> Response:
        if not films.discard(video_id):
            return json_error(HTTPStatus.NOT_FOUND, unknown)
        return Response(status_code=HTTPStatus.NO_CONTENT)


async def _refuse_after_body(
    chunks: Any, status: HTTPStatus, message: str, headers: dict[str, str] | None = None
) -> Response:
    """Take the rest of the body, then refuse: a client still sending would see its connection reset if
    answered at once."""
    try:
        async for _ in chunks:
            pass
    except BodyError as err:
        return json_error(err.status, str(err))
    return json_error(status, message, headers=headers)


async def _sweep(films: FilmJobs, every_s: float) -> None:
    """Remove films not downloaded in time, even while nobody asks for them."""
    while True:
        await asyncio.sleep(every_s)
        await run_in_threadpool(films.sweep)


def _hint_refusals(colorizer: Any) -> dict[str, str]:
    """Why the colorizer cannot take hints by each method it cannot, in the library's words. A stand-in
    for a Colorizer without ``check_hint_method`` is sent whatever is asked."""
    check = getattr(colorizer, "check_hint_method", None)
    if check is None:
        return {}
    refusals = {}
    for method in HINT_METHODS:
        try:
            check(method)
        except ValueError as err:
            refusals[method] = str(err)
    return refusals


def _options(upload: Upload, settings: WebSettings, hint_refusals: dict[str, str]) -> ColorizeOptions:
    """The request's controls, checked; raises ValueError with a one-line reason. A hint method this
    server's model cannot take is refused, hints or none, so a client learns it at once."""
    if upload.path is None:
        raise ValueError("no photo: send it in the multipart field 'image'")
    fields = dict(upload.fields)
    saturation, temperature, render_size = _controls(fields, settings, _PHOTO_FIELDS)
    kind = fields.get("format", "png").strip().lower()
    kind = {"jpg": "jpeg"}.get(kind, kind)
    if kind not in FORMATS:
        raise ValueError(f"format must be png or jpeg, got {fields['format']!r}")
    hints = tuple(parse_hints_json(fields["hints"], "hints")) if fields.get("hints", "").strip() else ()
    hint_method = fields.get("hint_method", "").strip().lower() or "auto"
    if hint_method not in HINT_METHODS:
        raise ValueError(
            f"hint_method must be {', '.join(HINT_METHODS[:-1])} or {HINT_METHODS[-1]}, "
            f"got {fields['hint_method']!r}"
        )
    if hint_method in hint_refusals:
        raise ValueError(hint_refusals[hint_method])
    return ColorizeOptions(
        saturation,
        temperature,
        render_size,
        kind,  # type: ignore[arg-type]
        hints,
        hint_method,
    )


def _film_options(upload: Upload, settings: WebSettings) -> FilmOptions:
    """A film request's controls, checked; raises ValueError with a one-line reason."""
    if upload.path is None:
        raise ValueError("no video: send it in the multipart field 'video'")
    return FilmOptions(*_controls(dict(upload.fields), settings, _FILM_FIELDS))


# The text fields each request takes beside its file.
_FILM_FIELDS = ("saturation", "temperature", "render_size")
_PHOTO_FIELDS = (*_FILM_FIELDS, "format", "hints", "hint_method")


def _controls(
    fields: dict[str, str], settings: WebSettings, known: tuple[str, ...]
) -> tuple[float, float, int]:
    """Saturation, warm/cool and render size, the controls photos and films share; a field not ``known``
    is refused. Raises ValueError with a one-line reason."""
    unknown = sorted(set(fields) - set(known))
    if unknown:
        raise ValueError(f"unknown field '{unknown[0]}'")
    saturation = _number(fields, "saturation", 1.0, 0.0, 4.0)
    temperature = _number(fields, "temperature", 0.0, -1.0, 1.0)
    render_size = _number(fields, "render_size", 256, 16, settings.max_render_size)
    if render_size != int(render_size):
        raise ValueError(f"render_size must be a whole number of pixels, got {fields['render_size']!r}")
    return saturation, temperature, int(render_size)


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


def _disposition(filename: str, suffix: str, fallback: str = "photo") -> str:
    """An attachment named after the upload (``old photo.tif`` -> ``old_photo-colorized.png``), ASCII only."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename.replace("\\", "/")).stem).strip("._") or fallback
    return f'attachment; filename="{stem[:100]}-colorized{suffix}"'


def _version() -> str:
    from polychrome import __version__

    return __version__
