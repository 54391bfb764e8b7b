"""The Turing test's web app: a standard-library HTTP server for one page, two JSON calls and the images.

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
import random
import re
import secrets
import socket
import sqlite3
from collections.abc import Callable
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

from polychrome._messages import printable_name
from polychrome.turing.catalog import Catalog
from polychrome.turing.store import TrialAlreadyAnswered, TrialNotFound, TrialStore

__all__ = ["COOKIE", "AnswerError", "TuringApp", "TuringServer"]

logger = logging.getLogger(__name__)

COOKIE = "polychrome_participant"
_PARTICIPANT = re.compile(r"[A-Za-z0-9_-]{16,64}")
_MAX_BODY = 4096
_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/turing.js": ("turing.js", "text/javascript; charset=utf-8"),
    "/static/turing.css": ("turing.css", "text/css; charset=utf-8"),
}
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


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
            isinstance(response_ms, bool) or not isinstance(response_ms, int | float)
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


class _Handler(BaseHTTPRequestHandler):
    server: TuringServer
    server_version = "polychrome-turing"

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        app = self.server.app
        if path in app.static:
            self._send(HTTPStatus.OK, *app.static[path])
        elif path == "/api/trial":
            participant = self._participant()
            new = participant is None
            if participant is None:
                participant = secrets.token_urlsafe(16)
            self._guarded(lambda: app.trial(participant), set_cookie=participant if new else None)
        elif path.startswith("/image/") and (data := app.catalog.images.get(path[len("/image/") :])):
            self._send(HTTPStatus.OK, data, "image/jpeg", cache="private, max-age=3600")
        else:
            self._error(HTTPStatus.NOT_FOUND, "not found")

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/api/answer":
            self._error(HTTPStatus.NOT_FOUND, "not found")
            return
        participant = self._participant()
        if participant is None:
            self._error(HTTPStatus.BAD_REQUEST, "no participant cookie: open the test page first")
            return
        if self.headers.get_content_type() != "application/json":
            self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "an answer must be sent as application/json")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._error(HTTPStatus.LENGTH_REQUIRED, "a Content-Length is required")
            return
        if not 0 <= length <= _MAX_BODY:
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"an answer must be at most {_MAX_BODY} bytes")
            return
        try:
            payload = json.loads(self.rfile.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError):
            self._error(HTTPStatus.BAD_REQUEST, "the answer is not valid JSON")
            return
        self._guarded(lambda: self.server.app.answer(participant, payload))

    def _participant(self) -> str | None:
        """The participant id from the cookie; None without a valid one."""
        try:
            morsel = SimpleCookie(self.headers.get("Cookie", "")).get(COOKIE)
        except CookieError:
            return None
        if morsel is None or not _PARTICIPANT.fullmatch(morsel.value):
            return None
        return morsel.value

    def _guarded(self, work: Callable[[], dict[str, Any]], set_cookie: str | None = None) -> None:
        """Send ``work()`` as JSON, or the error it raised as a JSON error with a fitting status."""
        try:
            body = work()
        except AnswerError as err:
            self._error(err.status, str(err))
            return
        except sqlite3.OperationalError as err:
            if getattr(err, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
                logger.error(
                    "cannot write %s (no space left on device)", printable_name(self.server.app.store.path)
                )
                self._error(
                    HTTPStatus.INSUFFICIENT_STORAGE, "the answer store cannot be written: its disk is full"
                )
                return
            logger.warning("answer store busy or failing: %s", err)
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, "the answer store is busy; try again")
            return
        except Exception:
            logger.exception("%s %s failed", self.command, self.path)
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error; the server log says more")
            return
        headers = {}
        if set_cookie is not None:
            headers["Set-Cookie"] = (
                f"{COOKIE}={set_cookie}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Strict"
            )
        self._send(HTTPStatus.OK, json.dumps(body).encode(), "application/json", headers=headers)

    def _error(self, status: HTTPStatus, message: str) -> None:
        self._send(status, json.dumps({"error": message}).encode(), "application/json")

    def _send(
        self,
        status: HTTPStatus,
        data: bytes,
        kind: str,
        cache: str = "no-store",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", cache)
        for name, value in {**_SECURITY_HEADERS, **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


class TuringServer(ThreadingHTTPServer):
    """Serves a :class:`TuringApp`, one thread per connection; port 0 picks a free port.

    Binds to the local machine only unless told otherwise: the page is meant for people at this computer, or
    on a network the person running the test chooses with ``host``.
    """

    daemon_threads = True

    def __init__(self, app: TuringApp, host: str = "127.0.0.1", port: int = 8765) -> None:
        self.app = app
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver would print the traceback to stderr; the library logs instead.
        logger.exception("request from %s failed", client_address[0])

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = host if isinstance(host, str) else host.decode()
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
