"""Stopping a run without losing it: SIGINT and SIGTERM ask the loop to checkpoint and stop after the current
step instead of killing it mid-write; a loss that turns NaN or infinite stops the run before anything it
touched is saved."""

from __future__ import annotations

import signal
import threading
from typing import Any

import torch


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


class NonFiniteWatch:
    """Remembers, on the device, the first step whose loss was NaN or infinite, so a step never waits for the
    host to read its loss: the GPU runs ahead while the next batch is drawn. The loop reads it
    (:meth:`first_bad_step`) before it logs, validates or saves, so no checkpoint ever holds weights that a
    non-finite loss has touched."""

    def __init__(self) -> None:
        self._first: torch.Tensor | None = None

    def watch(self, loss: torch.Tensor, step: int) -> None:
        bad = ~torch.isfinite(loss.detach()).all()
        if self._first is None:
            self._first = torch.full((), -1, dtype=torch.long, device=loss.device)
        self._first = torch.where(bad & (self._first < 0), step, self._first)

    def first_bad_step(self) -> int | None:
        """The first step with a non-finite loss so far, or None (reads the device: a synchronisation)."""
        first = -1 if self._first is None else int(self._first)
        return None if first < 0 else first
