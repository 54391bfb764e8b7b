"""Run an ASGI app with uvicorn on a socket bound up front, in the calling thread.

Binding before serving lets a command report a port in use as one line (and know its URL, port 0 included)
before it starts; the listen queue is uvicorn's (2048), not the standard library's 5, so a burst of visitors
waits for its turn instead of being reset.

Example:
    >>> server = LocalServer(app, port=0)  # doctest: +SKIP
    >>> threading.Thread(target=server.serve_forever, daemon=True).start()  # doctest: +SKIP
    >>> server.url  # doctest: +SKIP
    'http://127.0.0.1:40237/'
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from typing import Any

import uvicorn

__all__ = ["LocalServer", "is_loopback"]

BACKLOG = 2048
# Connections beyond this are answered 503 by uvicorn itself, so file descriptors stay bounded.
MAX_CONNECTIONS = 1000


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this computer only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LocalServer:
    """Serves ``app`` on ``host:port`` (port 0 picks a free one) until :meth:`shutdown` or Ctrl-C.

    Args:
        app: an ASGI application.
        host: the address to listen on; this computer only by default.
        port: the port; 0 for any free one.
        keep_alive_s: how long an idle keep-alive connection is kept open.

    Raises:
        OSError: the address cannot be bound (in use, not this computer's).
    """

    def __init__(
        self, app: Any, host: str = "127.0.0.1", port: int = 8000, keep_alive_s: float = 5.0
    ) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind((host, port))
            self.socket.listen(BACKLOG)
        except OSError:
            self.socket.close()
            raise
        config = uvicorn.Config(
            app,
            log_config=None,  # the library logs through `logging`; whoever runs it configures it
            access_log=False,
            backlog=BACKLOG,
            limit_concurrency=MAX_CONNECTIONS,
            timeout_keep_alive=int(max(1, keep_alive_s)),
            timeout_graceful_shutdown=5,
            lifespan="on",
            server_header=False,
        )
        self._server = uvicorn.Server(config)
        self._stopped = threading.Event()
        self._stopped.set()

    @property
    def url(self) -> str:
        host, port = self.socket.getsockname()[:2]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def serve_forever(self) -> None:
        """Serve until :meth:`shutdown`; in the main thread, Ctrl-C stops it gracefully, then raises
        KeyboardInterrupt as usual."""
        self._stopped.clear()
        try:
            self._server.run(sockets=[self.socket])
        finally:
            self._stopped.set()

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop serving (requests under way are finished) and wait for :meth:`serve_forever` to return."""
        deadline = time.monotonic() + timeout_s
        while not self._server.started and not self._stopped.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)  # a stop asked for during startup would be missed by uvicorn
        self._server.should_exit = True
        self._stopped.wait(max(0.0, deadline - time.monotonic()))

    def server_close(self) -> None:
        self.socket.close()
