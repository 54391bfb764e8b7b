"""The Turing test's web app: one page, two JSON calls and the images, on FastAPI and uvicorn.

Routes (nothing else is served; there is no path from a URL to the file system):

- ``GET /`` and ``GET /static/turing.{js,css}``: the page, from this package.
- ``GET /api/trial``: ``{"done", "answered", "total"}`` plus, until done, ``"trial"`` (an opaque id) and
  ``"left"`` / ``"right"`` (image addresses). A first visit gets a participant cookie.
- ``POST /api/answer`` with JSON ``{"trial", "choice": "left"|"right", "response_ms"}``.
- ``GET /image/<id>``: an image of the catalog by its random id.

Cross-site pages cannot answer for a participant: the cookie is ``SameSite=Strict`` and an answer must be
``application/json``, which a foreign page cannot send without a CORS preflight that this server never grants.

Example:
    >>> server = TuringServer(TuringApp(catalog, TrialStore("answers.sqlite")), port=0)  # doctest: +SKIP
    >>> threading.Thread(target=server.serve_forever, daemon=True).start()  # doctest: +SKIP
    >>> server.url  # doctest: +SKIP
    'http://127.0.0.1:40237/'
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import secrets
import sqlite3
from collections.abc import Callable
from http import HTTPStatus
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from polychrome._messages import printable_name
from polychrome.turing.catalog import Catalog
from polychrome.turing.store import TrialAlreadyAnswered, TrialNotFound, TrialStore
from polychrome.web.guards import BodyError, SecurityHeaders, install_json_errors, json_error, read_body
from polychrome.web.server import LocalServer

__all__ = ["COOKIE", "AnswerError", "TuringApp", "TuringServer", "create_turing_app"]

logger = logging.getLogger(__name__)

COOKIE = "polychrome_participant"
_PARTICIPANT = re.compile(r"[A-Za-z0-9_-]{16,64}")
_MAX_BODY = 4096
_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/turing.js": ("turing.js", "text/javascript; charset=utf-8"),
    "/static/turing.css": ("turing.css", "text/css; charset=utf-8"),
}
_CSP = "default-src 'self'; frame-ancestors 'none'; form-action 'none'"


class AnswerError(ValueError):
    """An answer that cannot be stored; ``status`` is the HTTP status that says why."""

    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.status = status


class TuringApp:
    """What the server does, apart from HTTP: trials from the store, pairs and images from the catalog.

    Args:
        catalog: the pairs and their images.
        store: where trials and answers are kept.
        trials_per_person: answers asked of each participant (fewer when there are fewer photos).
        rng: draws pairs and real sides; a system RNG by default, a seeded one for tests.
    """

    def __init__(
        self,
        catalog: Catalog,
        store: TrialStore,
        trials_per_person: int = 20,
        rng: random.Random | None = None,
    ) -> None:
        if not catalog.pairs:
            raise ValueError("the catalog has no pairs of a real and a colorized photo to show")
        if trials_per_person < 1:
            raise ValueError(f"trials per person must be at least 1, got {trials_per_person}")
        self.catalog = catalog
        self.store = store
        self.trials_per_person = trials_per_person
        self.rng = rng if rng is not None else random.SystemRandom()
        self._pairs = {(pair.photo, pair.model): pair for pair in catalog.pairs}
        self._available = sorted(self._pairs)
        static = files("polychrome.turing") / "static"
        self.static = {route: ((static / name).read_bytes(), kind) for route, (name, kind) in _STATIC.items()}

    def trial(self, participant: str) -> dict[str, Any]:
        """The ``/api/trial`` answer for ``participant``."""
        state = self.store.next_trial(participant, self._available, self.trials_per_person, self.rng)
        body: dict[str, Any] = {"done": state.trial is None, "answered": state.answered, "total": state.total}
        if state.trial is not None:
            pair = self._pairs[(state.trial.photo, state.trial.model)]
            real, colorized = f"/image/{pair.real_image}", f"/image/{pair.colorized_image}"
            left, right = (real, colorized) if state.trial.real_side == "left" else (colorized, real)
            body.update(trial=state.trial.id, left=left, right=right)
        return body

    def answer(self, participant: str, payload: object) -> dict[str, Any]:
        """Store an ``/api/answer`` payload; raises :class:`AnswerError` for anything it cannot store."""
        if not isinstance(payload, dict):
            raise AnswerError("the answer must be a JSON object")
        trial, choice, response_ms = payload.get("trial"), payload.get("choice"), payload.get("response_ms")
        if not isinstance(trial, str) or not trial:
            raise AnswerError("'trial' must be the id of the trial shown")
        if not isinstance(choice, str):
            raise AnswerError("'choice' must be 'left' or 'right'")
        if response_ms is not None and (
            isinstance(response_ms, bool)
            or not isinstance(response_ms, int | float)
            or not math.isfinite(response_ms)
        ):
            raise AnswerError("'response_ms' must be a number of milliseconds")
        try:
            answered = self.store.record_answer(
                participant, trial, choice, None if response_ms is None else round(response_ms)
            )
        except TrialNotFound as err:
            raise AnswerError(str(err), HTTPStatus.NOT_FOUND) from None
        except TrialAlreadyAnswered as err:
            raise AnswerError(str(err), HTTPStatus.CONFLICT) from None
        except ValueError as err:
            raise AnswerError(str(err)) from None
        return {"answered": answered}


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _participant(request: Request) -> str | None:
    """The participant id from the cookie; None without a valid one."""
    value = request.cookies.get(COOKIE)
    return value if value is not None and _PARTICIPANT.fullmatch(value) else None


def _guarded(request: Request, app: TuringApp, work: Callable[[], dict[str, Any]]) -> Response:
    """``work()`` as JSON, or the error it raised as a JSON error with a fitting status."""
    try:
        return JSONResponse(work(), headers={"Cache-Control": "no-store"})
    except AnswerError as err:
        return json_error(err.status, str(err))
    except sqlite3.OperationalError as err:
        if getattr(err, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            logger.error("cannot write %s (no space left on device)", printable_name(app.store.path))
            return json_error(
                HTTPStatus.INSUFFICIENT_STORAGE, "the answer store cannot be written: its disk is full"
            )
        logger.warning("answer store busy or failing: %s", err)
        return json_error(HTTPStatus.SERVICE_UNAVAILABLE, "the answer store is busy; try again")
    except Exception:
        logger.exception("%s %s failed", request.method, request.url.path)
        return json_error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error; the server log says more")


def create_turing_app(app: TuringApp, body_timeout_s: float = 10.0) -> FastAPI:
    """The ASGI app serving ``app``; an answer's body must arrive within ``body_timeout_s`` seconds."""
    web = FastAPI(title="polychrome Turing test", docs_url=None, redoc_url=None, openapi_url=None)
    install_json_errors(web, method_not_allowed_is_not_found=True)

    for route, (data, kind) in app.static.items():

        def page(data: bytes = data, kind: str = kind) -> Response:
            return Response(data, media_type=kind, headers={"Cache-Control": "no-store"})

        web.add_api_route(route, page, methods=["GET"], include_in_schema=False)

    @web.get("/api/trial")
    async def trial(request: Request) -> Response:
        participant = _participant(request)
        new = participant is None
        if participant is None:
            participant = secrets.token_urlsafe(16)
        reply = await run_in_threadpool(_guarded, request, app, lambda: app.trial(participant))
        if new and reply.status_code == HTTPStatus.OK:
            reply.headers["Set-Cookie"] = (
                f"{COOKIE}={participant}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Strict"
            )
        return reply

    @web.post("/api/answer")
    async def answer(request: Request) -> Response:
        participant = _participant(request)
        if participant is None:
            return json_error(HTTPStatus.BAD_REQUEST, "no participant cookie: open the test page first")
        kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if kind != "application/json":
            return json_error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "an answer must be sent as application/json")
        try:
            body = await read_body(request, _MAX_BODY, body_timeout_s)
        except BodyError as err:
            if err.status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE:
                return json_error(err.status, f"an answer must be at most {_MAX_BODY} bytes")
            return json_error(err.status, str(err))
        try:
            # NaN and Infinity are not JSON, whatever Python's parser would make of them.
            payload = json.loads(body, parse_constant=_reject_constant)
        except ValueError:  # UnicodeDecodeError and JSONDecodeError included
            return json_error(HTTPStatus.BAD_REQUEST, "the answer is not valid JSON")
        return await run_in_threadpool(_guarded, request, app, lambda: app.answer(participant, payload))

    @web.get("/image/{image_id}")
    def image(image_id: str) -> Response:
        data = app.catalog.images.get(image_id)
        if data is None:
            return json_error(HTTPStatus.NOT_FOUND, "not found")
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    web.add_middleware(SecurityHeaders, csp=_CSP)
    return web


class TuringServer(LocalServer):
    """Serves a :class:`TuringApp` on uvicorn; port 0 picks a free port.

    Binds to the local machine only unless told otherwise: the page is meant for people at this computer, or
    on a network the person running the test chooses with ``host``.
    """

    def __init__(
        self, app: TuringApp, host: str = "127.0.0.1", port: int = 8765, body_timeout_s: float = 10.0
    ) -> None:
        self.app = app
        super().__init__(create_turing_app(app, body_timeout_s), host=host, port=port)
