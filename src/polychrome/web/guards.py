"""What every polychrome page and API shares on the wire: JSON errors, security headers, bounded bodies.

Both web apps (the colorizing page and the Turing test) answer every error as ``{"error": "<one line>"}``
with a fitting status, send the same security headers, and read request bodies under a size cap and a
deadline, so a client that sends less than it announced is answered 408 instead of holding a worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

__all__ = [
    "BodyError",
    "SecurityHeaders",
    "body_chunks",
    "install_json_errors",
    "json_error",
    "read_body",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# 'self' only: the pages load nothing from elsewhere, run no inline script and cannot be framed; blob: images
# are the photos a visitor chose, shown before they are sent.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' blob:; frame-ancestors 'none'; form-action 'none'; base-uri 'none'"
)


class BodyError(Exception):
    """A request body that cannot be taken: too large (413), too slow (408) or cut off (400)."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def json_error(status: HTTPStatus | int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one shape of every error: ``{"error": message}``, the message on one line."""
    return JSONResponse({"error": " ".join(message.split())}, status_code=int(status), headers=headers)


async def body_chunks(request: Request, limit: int, timeout_s: float) -> AsyncIterator[bytes]:
    """The request body, chunk by chunk, refused past ``limit`` bytes or ``timeout_s`` seconds in all.

    A Content-Length over the limit is refused before anything is read. Raises :class:`BodyError`.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, _too_large(limit))
    received = 0
    deadline = asyncio.get_running_loop().time() + timeout_s
    stream = request.stream().__aiter__()
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                chunk = await stream.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise BodyError(
                HTTPStatus.REQUEST_TIMEOUT, f"the request body did not arrive within {timeout_s:g} s"
            ) from None
        except ClientDisconnect as err:
            raise BodyError(HTTPStatus.BAD_REQUEST, "the request body was cut off") from err
        received += len(chunk)
        if received > limit:
            raise BodyError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, _too_large(limit))
        if chunk:
            yield chunk


async def read_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The whole (small) request body; see :func:`body_chunks`."""
    return b"".join([chunk async for chunk in body_chunks(request, limit, timeout_s)])


def _too_large(limit: int) -> str:
    return f"the request is over the {_size(limit)} limit"


def _size(count: int) -> str:
    if count >= 1 << 20:
        return f"{count / (1 << 20):g} MB"
    if count >= 1 << 10:
        return f"{count / (1 << 10):g} KB"
    return f"{count} bytes"


class SecurityHeaders:
    """ASGI middleware adding the security headers to every response, errors and 404s included."""

    def __init__(self, app: Callable[..., Awaitable[None]], csp: str = PAGE_CSP) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"cross-origin-resource-policy", b"same-origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in self.headers if name not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


def install_json_errors(app: FastAPI, method_not_allowed_is_not_found: bool = False) -> None:
    """Answer routing and validation errors as one-line JSON; ``method_not_allowed_is_not_found`` hides which
    addresses exist behind other methods (the Turing test's 404 for everything it does not serve)."""

    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == HTTPStatus.NOT_FOUND or (
            method_not_allowed_is_not_found and exc.status_code == HTTPStatus.METHOD_NOT_ALLOWED
        ):
            return json_error(HTTPStatus.NOT_FOUND, "not found")
        if exc.status_code == HTTPStatus.METHOD_NOT_ALLOWED:
            return json_error(exc.status_code, f"{request.method} is not allowed here", exc.headers)
        return json_error(exc.status_code, str(exc.detail), exc.headers)

    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ())[1:]) or "request"
        return json_error(HTTPStatus.BAD_REQUEST, f"{where}: {first.get('msg', 'invalid')}")

    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, invalid)  # type: ignore[arg-type]
