"""A bounded line for CPU-heavy work: one job at a time in a worker thread, a few waiting, the rest refused.

Colorizing a photo already uses every core (PyTorch spreads it), so a second job at once would only share
them and double the memory. Requests beyond the waiting places are refused at once (the caller answers
503), so neither memory nor waiting time grows with the number of clients.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

__all__ = ["Busy", "WorkQueue"]

T = TypeVar("T")


class Busy(Exception):
    """No place in the line, or the turn did not come in time."""


class WorkQueue:
    """One worker thread and ``waiting`` places in line.

    Example:
        >>> queue = WorkQueue(waiting=8)
        >>> with queue.place():  # doctest: +SKIP
        ...     result = await queue.run(colorize, deadline)
    """

    def __init__(self, waiting: int) -> None:
        self.capacity = 1 + waiting
        self.admitted = 0
        self.running = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="polychrome-work")

    @contextmanager
    def place(self) -> Iterator[None]:
        """Hold a place from before the upload is read until the answer is made; raises :class:`Busy`."""
        if self.admitted >= self.capacity:
            raise Busy("busy")
        self.admitted += 1  # only the event loop's thread counts, so no lock is needed
        try:
            yield
        finally:
            self.admitted -= 1

    async def run(self, work: Callable[[], T], deadline: float) -> T:
        """``work()`` in the worker thread; raises :class:`Busy` if its turn has not come by ``deadline``
        (event-loop time). Work that has started is always finished."""
        future = self._executor.submit(self._counted, work)
        try:
            async with asyncio.timeout_at(deadline):
                return await asyncio.shield(asyncio.wrap_future(future))
        except TimeoutError:
            if future.cancel():
                raise Busy("timed out waiting") from None
        return await asyncio.wrap_future(future)

    def _counted(self, work: Callable[[], T]) -> T:
        self.running += 1
        try:
            return work()
        finally:
            self.running -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
