"""Stopping a run without losing it: SIGINT and SIGTERM ask the loop to checkpoint and stop after the current
step instead of killing it mid-write."""

from __future__ import annotations

import signal
import threading
from typing import Any


class StopOnSignals:
    """While active, SIGINT and SIGTERM set :attr:`requested` to the signal's name; a second signal
    interrupts at once, as usual."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested is not None:
            signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))
            signal.raise_signal(signum)
        self.requested = signal.Signals(signum).name

    def __enter__(self) -> StopOnSignals:
        if threading.current_thread() is threading.main_thread():  # only the main thread may set handlers
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
