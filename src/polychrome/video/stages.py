"""Overlapping stages: an iterator run in its own thread, handing its items on through a bounded queue.

Decoding, the network, merging and encoding each run in a thread of their own (FFmpeg, PyTorch and OpenCV
release the GIL), so a film takes about as long as its slowest stage rather than the sum of all. The queues
are bounded, so memory stays the same however long the film is. An error in any stage reaches the
consumer as the same exception; a consumer that stops (Ctrl-C, an error) stops every stage before it.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
_POLL_SECONDS = 0.1


class _End:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class Stage(Generic[T]):
    """Run ``items`` in a daemon thread; iterate the stage to receive them in order.

    >>> list(Stage(iter(range(3)), depth=2))
    [0, 1, 2]
    """

    def __init__(self, items: Iterable[T], depth: int, name: str = "polychrome-stage") -> None:
        self._queue: queue.Queue[T | _End] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(items,), name=name, daemon=True)
        self._thread.start()

    def _put(self, item: T | _End) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, items: Iterable[T]) -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not self._put(item):
                    break
            else:
                self._put(_End())
        except BaseException as err:  # handed to the consumer, who raises it in its own thread
            self._put(_End(err))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None and self._stop.is_set():
                with contextlib.suppress(RuntimeError, ValueError):
                    close()  # lets the stage before this one stop too

    def __iter__(self) -> Iterator[T]:
        try:
            while True:
                try:
                    item = self._queue.get(timeout=_POLL_SECONDS)
                except queue.Empty:
                    if self._stop.is_set() and not self._thread.is_alive():
                        return  # stopped before it could hand on its end
                    continue
                if isinstance(item, _End):
                    if item.error is not None:
                        raise item.error
                    return
                yield item
        finally:
            self.stop()

    def stop(self) -> None:
        """Ask the thread to end; it does at its next item."""
        self._stop.set()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread and wait for it, so that what it reads from (an open film) may be closed."""
        self.stop()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)


class Stages:
    """Stages fed one from another; iterating gives the last one's items. :meth:`close` stops every stage and
    waits for each, so an interrupted film leaves no thread inside FFmpeg, PyTorch or ONNX Runtime while
    Python exits (which aborts the process).

    >>> stages = Stages()
    >>> doubled = stages.add((2 * x for x in stages.add(iter(range(3)), depth=2)), depth=2)
    >>> list(stages), stages.close()
    ([0, 2, 4], None)
    """

    def __init__(self) -> None:
        self._stages: list[Stage] = []

    def add(self, items: Iterable[T], depth: int, name: str = "polychrome-stage") -> Stage[T]:
        stage = Stage(items, depth, name)
        self._stages.append(stage)
        return stage

    def __iter__(self) -> Iterator:
        return iter(self._stages[-1])

    def close(self, timeout: float = 10.0) -> None:
        for stage in self._stages:
            stage.stop()
        for stage in reversed(self._stages):
            stage.close(timeout)
