"""The web app end to end over real HTTP on a free port: trials, answers in SQLite, refusals, the report."""

from __future__ import annotations

import http.client
import json
import logging
import sqlite3
import threading
from email.message import Message
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlsplit
from urllib.request import HTTPCookieProcessor, OpenerDirector, Request, build_opener

import pytest
from typer.testing import CliRunner

from polychrome.cli import app
from polychrome.turing.server import COOKIE
from tests.turing.helpers import Photos, Running, start_server, write_photo


class Browser:
    """urllib with a cookie jar: one participant. Header names are matched regardless of case, as in HTTP."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.cookies = CookieJar()
        self.opener: OpenerDirector = build_opener(HTTPCookieProcessor(self.cookies))

    def request(
        self, path: str, body: bytes | None = None, content_type: str = "application/json"
    ) -> tuple[int, Message, bytes]:
        headers = {"Content-Type": content_type} if body is not None else {}
        try:
            with self.opener.open(Request(self.base + path, data=body, headers=headers), timeout=10) as reply:
                return reply.status, reply.headers, reply.read()
        except HTTPError as err:
            return err.code, err.headers, err.read()

    def json(self, path: str, payload: Any = None) -> tuple[int, dict[str, Any]]:
        body = None if payload is None else json.dumps(payload).encode()
        status, _, data = self.request(path, body)
        return status, json.loads(data)

    def answer(self, trial: str, choice: str, response_ms: int = 900) -> tuple[int, dict[str, Any]]:
        return self.json("/api/answer", {"trial": trial, "choice": choice, "response_ms": response_ms})


def _trial_row(db: Path, trial: str) -> tuple:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT participant, photo, model, real_side, chosen_side, response_ms FROM trials WHERE id = ?",
            (trial,),
        ).fetchone()


def test_a_participant_answers_every_pair_and_the_report_counts_the_answers(
    running: Running, tmp_path: Path
) -> None:
    browser = Browser(running.url)
    status, headers, page = browser.request("/")
    assert (
        status == 200 and b"Which photo is real?" in page and headers["Content-Type"].startswith("text/html")
    )
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    catalog = running.server.app.catalog
    pairs = {(pair.photo, pair.model): pair for pair in catalog.pairs}

    photos_seen = []
    for answered in range(3):
        status, state = browser.json("/api/trial")
        assert (
            status == 200 and state["done"] is False and (state["answered"], state["total"]) == (answered, 3)
        )
        participant, photo, model, real_side, chosen, _ = _trial_row(running.db, state["trial"])
        assert chosen is None
        pair = pairs[(photo, model)]
        # The page is told only addresses; the real photo is where the store says it is.
        real_url, colorized_url = (state["left"], state["right"])[:: 1 if real_side == "left" else -1]
        assert real_url == f"/image/{pair.real_image}" and colorized_url == f"/image/{pair.colorized_image}"
        for url in (real_url, colorized_url):
            status, headers, data = browser.request(url)
            assert status == 200 and headers["Content-Type"] == "image/jpeg"
            assert data == catalog.images[url.removeprefix("/image/")]
        fooled_side = "right" if real_side == "left" else "left"
        assert browser.answer(state["trial"], fooled_side, 1500 + answered) == (
            200,
            {"answered": answered + 1},
        )
        assert _trial_row(running.db, state["trial"]) == (
            participant,
            photo,
            model,
            real_side,
            fooled_side,
            1500 + answered,
        )
        photos_seen.append(photo)
    assert len(set(photos_seen)) == 3
    assert browser.json("/api/trial") == (200, {"done": True, "answered": 3, "total": 3})
    assert [cookie.name for cookie in browser.cookies] == [COOKIE]

    newcomer = Browser(running.url)
    status, state = newcomer.json("/api/trial")
    assert (status, state["answered"], state["done"]) == (200, 0, False)
    assert _trial_row(running.db, state["trial"])[0] != participant

    out = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["turing", "report", "--db", str(running.db), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "fewer than 30 answers" in result.output
    models = json.loads(out.read_text())["models"]
    assert sum(m["answers"] for m in models) == 3
    assert all(m["fooled"] == m["answers"] and m["rate"] == 1.0 and m["participants"] == 1 for m in models)


@pytest.mark.parametrize(
    "path",
    [
        "/image/",
        "/image/../../../etc/passwd",
        "/image/..%2f..%2fpyproject.toml",
        "/image/%2e%2e/%2e%2e/etc/passwd",
        "/static/../store.py",
        "/static/index.html",
        "/../../pyproject.toml",
        "//etc/passwd",
        "/turing.js",
        "/api/answer",
    ],
)
def test_nothing_but_the_registered_images_and_page_is_served(running: Running, path: str) -> None:
    address = urlsplit(running.url)
    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    try:
        conn.request("GET", path)  # sent as is: no client-side normalisation of '..'
        reply = conn.getresponse()
        body = reply.read()
    finally:
        conn.close()
    assert reply.status == 404
    assert json.loads(body) == {"error": "not found"}


def test_a_real_files_path_is_not_an_image_id(running: Running) -> None:
    real_file = running.server.app.catalog.pairs[0].photo
    status, _, _ = Browser(running.url).request(f"/image/{real_file}.jpg")
    assert status == 404


def test_bad_answers_get_clear_errors_and_store_nothing(running: Running) -> None:
    browser = Browser(running.url)
    stranger = Browser(running.url)
    assert stranger.answer("anything", "left") == (
        400,
        {"error": "no participant cookie: open the test page first"},
    )
    _, state = browser.json("/api/trial")
    trial = state["trial"]
    valid = json.dumps({"trial": trial, "choice": "left"}).encode()
    assert browser.request("/api/answer", valid, content_type="text/plain")[0] == 415
    assert browser.request("/api/answer", b"{not json")[0] == 400
    assert browser.request("/api/answer", b"\xff\xfe")[0] == 400
    assert browser.request("/api/answer", b" " * 5000)[0] == 413
    assert browser.json("/api/answer", ["left"]) == (400, {"error": "the answer must be a JSON object"})
    assert browser.json("/api/answer", {"choice": "left"})[0] == 400
    assert browser.answer(trial, "middle") == (
        400,
        {"error": "choice must be 'left' or 'right', got 'middle'"},
    )
    assert browser.json("/api/answer", {"trial": trial, "choice": "left", "response_ms": "fast"})[0] == 400
    assert browser.json("/api/answer", {"trial": trial, "choice": "left", "response_ms": True})[0] == 400
    assert browser.answer(trial, "left", response_ms=-5)[0] == 400
    status, error = browser.answer("made-up-trial", "left")
    assert status == 404 and "not shown to this participant" in error["error"]
    # Another participant cannot answer this one's trial.
    stranger.json("/api/trial")
    assert stranger.answer(trial, "left")[0] == 404
    assert running.store.answers() == []

    assert browser.answer(trial, "left") == (200, {"answered": 1})
    status, error = browser.answer(trial, "right")
    assert status == 409 and "answered already" in error["error"]
    assert [a.chosen_side for a in running.store.answers()] == ["left"]


def test_a_forged_cookie_is_replaced_by_a_fresh_participant_id(running: Running) -> None:
    address = urlsplit(running.url)
    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    try:
        conn.request("GET", "/api/trial", headers={"Cookie": f"{COOKIE}=../../etc"})
        reply = conn.getresponse()
        reply.read()
    finally:
        conn.close()
    assert reply.status == 200
    cookie = reply.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "../" not in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_a_failure_inside_the_app_is_logged_and_answered_with_json(
    running: Running, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(participant: str) -> dict[str, Any]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(running.server.app, "trial", broken)
    with caplog.at_level(logging.ERROR, logger="polychrome.turing.server"):
        status, body = Browser(running.url).json("/api/trial")
    assert (status, body) == (500, {"error": "internal error; the server log says more"})
    assert "disk on fire" in caplog.text


def test_a_locked_store_answers_503_and_the_page_can_retry(running: Running) -> None:
    browser = Browser(running.url)
    running.server.app.store.timeout = 0.05
    with sqlite3.connect(running.db) as blocker:
        blocker.execute("BEGIN IMMEDIATE")  # another writer holding the lock
        status, body = browser.json("/api/trial")
        blocker.rollback()
    assert (status, body) == (503, {"error": "the answer store is busy; try again"})
    assert browser.json("/api/trial")[0] == 200


def test_a_full_disk_is_logged_naming_the_database(
    running: Running, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def full(*args: Any) -> None:
        error = sqlite3.OperationalError("database or disk is full")
        error.sqlite_errorcode = sqlite3.SQLITE_FULL
        raise error

    monkeypatch.setattr(running.server.app.store, "next_trial", full)
    with caplog.at_level(logging.ERROR, logger="polychrome.turing.server"):
        status, body = Browser(running.url).json("/api/trial")
    assert status == 507 and "disk is full" in body["error"]
    assert caplog.messages == [f"cannot write {running.db} (no space left on device)"]


def test_photos_named_with_bytes_that_are_not_utf8_are_shown(tmp_path: Path) -> None:
    photos = Photos(tmp_path / "real", {"a": tmp_path / "a"})
    for i, name in enumerate(("caf\udce9", "\udcff")):
        write_photo(photos.real / f"{name}.jpg", seed=i)
        write_photo(photos.models["a"] / f"{name}.png", seed=i, scale=0.5)
    run = start_server(photos, tmp_path / "answers.sqlite")
    try:
        browser = Browser(run.url)
        while not (state := browser.json("/api/trial")[1])["done"]:
            assert browser.answer(state["trial"], "left")[0] == 200
    finally:
        run.stop()
    assert sorted(answer.photo for answer in run.store.answers()) == ["\\xff", "caf\\xe9"]


def test_participants_answering_at_the_same_time_are_all_recorded(running: Running) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def participate() -> None:
        browser = Browser(running.url)
        try:
            start.wait()
            while not (state := browser.json("/api/trial")[1])["done"]:
                assert browser.answer(state["trial"], "left")[0] == 200
        except BaseException as err:  # a thread's failure would otherwise vanish
            errors.append(err)

    threads = [threading.Thread(target=participate) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    answers = running.store.answers()
    assert len(answers) == 6 * 3 and len({a.participant for a in answers}) == 6
