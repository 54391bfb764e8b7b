"""What the standard library's server got wrong, now gone: bursts reset by a listen queue of 5, a short body
holding a worker forever, ``response_ms: Infinity`` answered 500, and tracebacks for clients that leave."""

from __future__ import annotations

import json
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.turing.helpers import Photos, Running, start_server
from tests.turing.test_server import Browser


def _all_at_once(count: int, work: Callable[[], None]) -> list[BaseException]:
    """Run ``work`` in ``count`` threads released together; the errors they raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run() -> None:
        try:
            start.wait()
            work()
        except BaseException as err:  # a thread's failure would otherwise vanish
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_fifty_participants_answering_at_once_are_all_recorded(running: Running) -> None:
    def participate() -> None:
        browser = Browser(running.url)
        while not (state := browser.json("/api/trial")[1])["done"]:
            assert browser.answer(state["trial"], "left")[0] == 200

    assert _all_at_once(50, participate) == []
    answers = running.store.answers()
    assert len(answers) == 50 * 3 and len({a.participant for a in answers}) == 50


def test_two_hundred_page_loads_at_once_are_all_served(running: Running) -> None:
    def load() -> None:
        status, _, page = Browser(running.url).request("/")
        assert status == 200 and b"Which photo is real?" in page

    assert _all_at_once(200, load) == []


def _raw(url: str) -> socket.socket:
    address = urlsplit(url)
    return socket.create_connection((address.hostname, address.port), timeout=10)


def test_a_body_shorter_than_its_length_is_answered_408_and_blocks_no_one(
    photos: Photos, tmp_path: Path
) -> None:
    run = start_server(photos, tmp_path / "answers.sqlite", body_timeout_s=1.0)
    try:
        browser = Browser(run.url)
        browser.json("/api/trial")
        cookie = next(iter(browser.cookies))
        with _raw(run.url) as stalled:
            stalled.sendall(
                b"POST /api/answer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Cookie: {cookie.name}={cookie.value}\r\nContent-Length: 100\r\n".encode()
                + b'Connection: close\r\n\r\n{"trial": '
            )
            started = time.monotonic()
            assert Browser(run.url).json("/api/trial")[0] == 200  # another participant is served meanwhile
            assert time.monotonic() - started < 1.0
            reply = stalled.recv(65536)
            waited = time.monotonic() - started
            while chunk := stalled.recv(65536):  # the rest, until the server closes
                reply += chunk
        status_line, _, rest = reply.partition(b"\r\n")
        assert status_line == b"HTTP/1.1 408 Request Timeout"
        assert json.loads(rest.partition(b"\r\n\r\n")[2]) == {
            "error": "the request body did not arrive within 1 s"
        }
        assert 0.5 < waited < 5
        assert run.store.answers() == []
    finally:
        run.stop()


@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "NaN", "1e400", "1e300"])
def test_a_response_time_that_is_no_number_of_milliseconds_is_refused(running: Running, value: str) -> None:
    browser = Browser(running.url)
    _, state = browser.json("/api/trial")
    body = f'{{"trial": "{state["trial"]}", "choice": "left", "response_ms": {value}}}'.encode()
    status, _, reply = browser.request("/api/answer", body)
    assert status == 400 and json.loads(reply)["error"]
    assert running.store.answers() == []


def test_clients_that_leave_early_log_no_error(running: Running, caplog: pytest.LogCaptureFixture) -> None:
    browser = Browser(running.url)
    browser.json("/api/trial")
    cookie = next(iter(browser.cookies))
    with caplog.at_level(logging.DEBUG):
        with _raw(running.url) as leaving:  # gone before its request is complete
            leaving.sendall(b"GET /api/tri")
        with _raw(running.url) as leaving:  # gone in the middle of its body
            leaving.sendall(
                b"POST /api/answer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Cookie: {cookie.name}={cookie.value}\r\nContent-Length: 100\r\n\r\n{{".encode()
            )
        for path in ("/", "/api/trial") * 5:  # gone before reading the answer
            with _raw(running.url) as leaving:
                leaving.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                leaving.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # a reset
        time.sleep(0.5)
        assert Browser(running.url).json("/api/trial")[0] == 200
    assert [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info] == []
