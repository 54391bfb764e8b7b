"""`polychrome turing serve` and `report`: startup messages, refusals, the report table and JSON."""

from __future__ import annotations

import json
import random
import socket
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from polychrome.cli import app
from polychrome.turing import TrialStore, TuringServer
from tests.turing.helpers import Photos


def _invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(app, ["turing", *map(str, args)])


def _serve(photos: Photos, db: Path, *extra: str | Path) -> Result:
    models = [arg for name, folder in photos.models.items() for arg in ("--model", f"{name}={folder}")]
    return _invoke("serve", "--real", photos.real, *models, "--db", db, "--port", "0", *extra)


@pytest.fixture
def stop_at_once(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """serve_forever as if Ctrl-C were pressed at once; records the server's URL."""
    urls: list[str] = []

    def interrupted(self: TuringServer, poll_interval: float = 0.5) -> None:
        urls.append(self.url)
        raise KeyboardInterrupt

    monkeypatch.setattr(TuringServer, "serve_forever", interrupted)
    return urls


def test_serve_says_what_it_shows_what_it_left_out_and_where(
    photos: Photos, tmp_path: Path, stop_at_once: list[str]
) -> None:
    (photos.models["a"] / "p2.png").write_bytes(b"broken")
    db = tmp_path / "answers.sqlite"
    result = _serve(photos, db)
    assert result.exit_code == 0, result.output
    assert "a: 3 pairs\n" in result.output
    assert f"b: 3 pairs (1 real photo has no version in {photos.models['b']})" in result.output
    assert f"skipped: {photos.models['a'] / 'p2.png'}: not an image" in result.output
    assert stop_at_once[0].startswith("http://127.0.0.1:")
    assert f"Turing test at {stop_at_once[0]}" in result.output
    assert "polychrome turing report --db" in result.output
    assert TrialStore(db, create=False).answers() == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [("nonsense", "expected NAME=DIR"), ("=folder", "expected NAME=DIR"), ("ours=", "expected NAME=DIR")],
)
def test_serve_refuses_a_malformed_model_option(
    tmp_path: Path, photos: Photos, spec: str, message: str
) -> None:
    result = _invoke("serve", "--real", photos.real, "--model", spec, "--db", tmp_path / "a.sqlite")
    assert result.exit_code == 2 and message in result.output


def test_serve_refuses_a_model_named_twice_and_missing_folders(tmp_path: Path, photos: Photos) -> None:
    db = tmp_path / "a.sqlite"
    twice = _invoke("serve", "--real", photos.real, "--model", "x=a", "--model", "x=b", "--db", db)
    assert twice.exit_code == 2 and "error: --model 'x': named twice\n" in twice.output
    missing = _invoke("serve", "--real", tmp_path / "nowhere", "--model", f"x={photos.real}", "--db", db)
    assert missing.exit_code == 2 and f"error: {tmp_path / 'nowhere'}: not a folder\n" in missing.output


def test_serve_with_nothing_to_show_fails(tmp_path: Path, photos: Photos, stop_at_once: list[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _invoke("serve", "--real", photos.real, "--model", f"x={empty}", "--db", tmp_path / "a.sqlite")
    assert result.exit_code == 1
    assert "x: 0 pairs (4 real photos have no version" in result.output
    assert "nothing to show" in result.output
    assert stop_at_once == []
    assert not (tmp_path / "a.sqlite").exists()  # a test that never started leaves no database behind


def test_serve_refuses_someone_elses_database(tmp_path: Path, photos: Photos) -> None:
    db = tmp_path / "mine.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    result = _serve(photos, db)
    assert result.exit_code == 1 and "a database of something else" in result.output


def test_serve_refuses_an_empty_file_as_database_and_leaves_it(
    tmp_path: Path, photos: Photos, stop_at_once: list[str]
) -> None:
    db = tmp_path / "answers.sqlite"
    db.touch()
    result = _serve(photos, db)
    assert result.exit_code == 1 and stop_at_once == []
    assert result.stderr.splitlines() == [f"error: {db}: not a polychrome answers database (empty file)"]
    assert db.exists() and db.stat().st_size == 0


def test_serve_reports_a_port_in_use(tmp_path: Path, photos: Photos) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _serve(photos, tmp_path / "a.sqlite", "--port", str(port))
    assert result.exit_code == 1 and f"cannot listen on 127.0.0.1:{port}" in result.output
    assert not (tmp_path / "a.sqlite").exists()


def test_a_database_with_answers_survives_a_failed_start(tmp_path: Path, photos: Photos) -> None:
    db = tmp_path / "answers.sqlite"
    TrialStore(db)  # made by an earlier test session
    before = db.read_bytes()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = _serve(photos, db, "--port", str(taken.getsockname()[1]))
    assert result.exit_code == 1 and db.read_bytes() == before


def _answered_db(path: Path, fooled: int, honest: int) -> Path:
    store = TrialStore(path)
    rng = random.Random(0)
    for i in range(fooled + honest):
        trial = store.next_trial(f"person{i}", [("cat", "ours")], 1, rng).trial
        assert trial is not None
        wrong = "right" if trial.real_side == "left" else "left"
        store.record_answer(f"person{i}", trial.id, wrong if i < fooled else trial.real_side, 800)
    return path


def test_report_prints_and_writes_fool_rates(tmp_path: Path) -> None:
    db = _answered_db(tmp_path / "answers.sqlite", fooled=8, honest=2)
    out = tmp_path / "results.json"
    result = _invoke("report", "--db", db, "--json", out)
    assert result.exit_code == 0, result.output
    assert "ours *" in result.output and "80.0%" in result.output and "[49.0%, 94.3%]" in result.output
    assert "* fewer than 30 answers: the interval is wide" in result.output
    (model,) = json.loads(out.read_text())["models"]
    assert (model["model"], model["answers"], model["fooled"], model["participants"]) == ("ours", 10, 8, 10)
    assert model["rate"] == 0.8 and model["low"] == pytest.approx(0.49016, abs=1e-5)


def test_report_never_replaces_a_file_unasked(tmp_path: Path) -> None:
    db = _answered_db(tmp_path / "answers.sqlite", fooled=1, honest=1)
    out = tmp_path / "results.json"
    out.write_text("keep me")
    refused = _invoke("report", "--db", db, "--json", out)
    assert refused.exit_code == 1 and "exists; pass --overwrite" in refused.output
    assert out.read_text() == "keep me"
    assert _invoke("report", "--db", db, "--json", out, "--overwrite").exit_code == 0
    assert json.loads(out.read_text())["models"][0]["answers"] == 2


def test_report_on_a_missing_or_empty_database(tmp_path: Path) -> None:
    missing = _invoke("report", "--db", tmp_path / "none.sqlite")
    assert missing.exit_code == 1 and "none.sqlite: no such file" in missing.output
    assert not (tmp_path / "none.sqlite").exists()
    TrialStore(tmp_path / "new.sqlite")
    empty = _invoke("report", "--db", tmp_path / "new.sqlite")
    assert empty.exit_code == 0 and "no answers in" in empty.output
