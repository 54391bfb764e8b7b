"""The SQLite trial store: schema, trials and answers, refusals, and many threads writing at once."""

from __future__ import annotations

import random
import sqlite3
import threading
from collections import Counter
from pathlib import Path

import pytest

from polychrome.turing.store import APPLICATION_ID, TrialAlreadyAnswered, TrialNotFound, TrialStore

AVAILABLE = [("cat", "a"), ("cat", "b"), ("dog", "a"), ("dog", "b"), ("owl", "a")]


def _rows(db: Path, query: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(query).fetchall()


def test_a_new_file_gets_the_schema_and_is_marked_as_ours(tmp_path: Path) -> None:
    db = tmp_path / "answers.sqlite"
    TrialStore(db)
    names = {name for (name,) in _rows(db, "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")}
    assert names == {"trials", "trials_by_participant", "answers"}
    columns = [row[1] for row in _rows(db, "PRAGMA table_info(trials)")]
    assert columns == (
        ["id", "participant", "photo", "model", "real_side", "shown_at"]
        + ["chosen_side", "response_ms", "answered_at"]
    )
    assert _rows(db, "PRAGMA application_id") == [(APPLICATION_ID,)]
    assert _rows(db, "PRAGMA user_version") == [(1,)]
    assert _rows(db, "PRAGMA journal_mode") == [("wal",)]
    TrialStore(db)  # opening it again keeps it as it is
    assert _rows(db, "SELECT COUNT(*) FROM trials") == [(0,)]


def test_a_trial_is_recorded_when_shown_and_completed_when_answered(tmp_path: Path) -> None:
    db = tmp_path / "answers.sqlite"
    store = TrialStore(db)
    state = store.next_trial("alice", AVAILABLE, per_person=2, rng=random.Random(0))
    assert (state.answered, state.total) == (0, 2)
    trial = state.trial
    assert (
        trial is not None and (trial.photo, trial.model) in AVAILABLE and trial.real_side in ("left", "right")
    )
    shown = _rows(db, "SELECT id, participant, photo, model, real_side, chosen_side, answered_at FROM trials")
    assert shown == [(trial.id, "alice", trial.photo, trial.model, trial.real_side, None, None)]

    assert store.record_answer("alice", trial.id, "right", response_ms=1234) == 1
    (answer,) = store.answers()
    assert (answer.participant, answer.photo, answer.model) == ("alice", trial.photo, trial.model)
    assert (answer.real_side, answer.chosen_side, answer.response_ms) == (trial.real_side, "right", 1234)
    assert answer.fooled == (trial.real_side == "left")
    assert answer.answered_at.endswith("+00:00")
    view = _rows(db, "SELECT participant, photo, model, chosen_side, fooled, response_ms FROM answers")
    assert view == [("alice", trial.photo, trial.model, "right", int(answer.fooled), 1234)]


def test_without_a_browser_time_the_server_measures_the_response_time(tmp_path: Path) -> None:
    store = TrialStore(tmp_path / "answers.sqlite")
    trial = store.next_trial("alice", AVAILABLE, 2, random.Random(0)).trial
    assert trial is not None
    store.record_answer("alice", trial.id, "left")
    assert 0 <= store.answers()[0].response_ms < 10_000


def test_an_unanswered_trial_is_shown_again_rather_than_skipped(tmp_path: Path) -> None:
    store = TrialStore(tmp_path / "answers.sqlite")
    first = store.next_trial("alice", AVAILABLE, 3, random.Random(0)).trial
    again = store.next_trial("alice", AVAILABLE, 3, random.Random(1)).trial
    assert again == first


def test_a_person_sees_each_photo_once_and_is_done_after_per_person_answers(tmp_path: Path) -> None:
    store = TrialStore(tmp_path / "answers.sqlite")
    rng = random.Random(0)
    photos = []
    for expected_answered in range(3):
        state = store.next_trial("alice", AVAILABLE, 5, rng)
        assert state.trial is not None and (state.answered, state.total) == (expected_answered, 3)  # 3 photos
        photos.append(state.trial.photo)
        store.record_answer("alice", state.trial.id, "left", 100)
    assert sorted(photos) == ["cat", "dog", "owl"]
    done = store.next_trial("alice", AVAILABLE, 5, rng)
    assert (done.trial, done.answered, done.total) == (None, 3, 3)
    limited = TrialStore(tmp_path / "other.sqlite")
    trial = limited.next_trial("bob", AVAILABLE, 1, rng).trial
    assert trial is not None
    limited.record_answer("bob", trial.id, "left", 100)
    assert limited.next_trial("bob", AVAILABLE, 1, rng).trial is None


def test_an_answer_is_stored_once_and_only_for_the_person_shown(tmp_path: Path) -> None:
    store = TrialStore(tmp_path / "answers.sqlite")
    trial = store.next_trial("alice", AVAILABLE, 2, random.Random(0)).trial
    assert trial is not None
    with pytest.raises(TrialNotFound, match="not shown to this participant"):
        store.record_answer("mallory", trial.id, "left", 100)
    with pytest.raises(TrialNotFound):
        store.record_answer("alice", "no-such-trial", "left", 100)
    store.record_answer("alice", trial.id, "left", 100)
    with pytest.raises(TrialAlreadyAnswered, match="answered already"):
        store.record_answer("alice", trial.id, "right", 100)
    assert [a.chosen_side for a in store.answers()] == ["left"]


@pytest.mark.parametrize(
    ("choice", "response_ms", "message"),
    [("middle", 100, "choice must be 'left' or 'right'"), ("left", -1, "response time"),
     ("left", 3_600_001, "response time")],
)  # fmt: skip
def test_bad_answers_are_refused_before_touching_the_file(
    tmp_path: Path, choice: str, response_ms: int, message: str
) -> None:
    store = TrialStore(tmp_path / "answers.sqlite")
    trial = store.next_trial("alice", AVAILABLE, 2, random.Random(0)).trial
    assert trial is not None
    with pytest.raises(ValueError, match=message):
        store.record_answer("alice", trial.id, choice, response_ms)
    assert store.answers() == []


def test_someone_elses_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    db = tmp_path / "mine.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    before = db.read_bytes()
    with pytest.raises(ValueError, match="mine.sqlite: a database of something else"):
        TrialStore(db)
    assert db.read_bytes() == before


def test_unusable_files_give_one_line_errors(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not SQLite at all, and it is long enough to have a header\n" * 4)
    with pytest.raises(ValueError, match=r"notes.txt: cannot use as a Turing test database \(file is not a"):
        TrialStore(text)
    with pytest.raises(FileNotFoundError, match="missing.sqlite: no such file"):
        TrialStore(tmp_path / "missing.sqlite", create=False)
    assert not (tmp_path / "missing.sqlite").exists()
    with pytest.raises(ValueError, match="is a folder"):
        TrialStore(tmp_path)
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    with pytest.raises(ValueError, match=r"empty.sqlite: not a polychrome answers database \(empty file\)$"):
        TrialStore(empty, create=False)  # reading never writes a schema


@pytest.mark.parametrize("kind", ["empty file", "empty SQLite database"])
def test_an_existing_file_that_is_no_answers_database_is_refused_and_left_untouched(
    tmp_path: Path, kind: str
) -> None:
    db = tmp_path / "answers.sqlite"
    if kind == "empty file":
        db.touch()
        message = r"answers.sqlite: not a polychrome answers database \(empty file\)$"
    else:
        with sqlite3.connect(db) as conn:  # a valid SQLite file that holds nothing
            conn.execute("CREATE TABLE t (x)")
            conn.execute("DROP TABLE t")
        message = "answers.sqlite: a database of something else"
    before = db.read_bytes()

    with pytest.raises(ValueError, match=message):
        TrialStore(db)

    assert db.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["answers.sqlite"]
    assert TrialStore(tmp_path / "new.sqlite").answers() == []  # a path that does not exist is created


def test_concurrent_participants_from_threads_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "answers.sqlite"
    store = TrialStore(db)
    available = [(f"photo{i}", model) for i in range(12) for model in ("a", "b", "c")]
    per_person, threads, people_per_thread = 5, 8, 4
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def participate(worker: int) -> None:
        rng = random.Random(worker)
        try:
            start.wait()
            for person in range(people_per_thread):
                participant = f"w{worker}p{person}"
                while (state := store.next_trial(participant, available, per_person, rng)).trial is not None:
                    store.record_answer(participant, state.trial.id, rng.choice(("left", "right")), 50)
        except BaseException as err:  # reported below: a thread's exception would otherwise vanish
            errors.append(err)

    workers = [threading.Thread(target=participate, args=(w,)) for w in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    answers = store.answers()
    assert len(answers) == threads * people_per_thread * per_person
    assert _rows(db, "SELECT COUNT(*) FROM trials WHERE answered_at IS NULL") == [(0,)]
    per_person_photos = Counter((a.participant, a.photo) for a in answers)
    assert max(per_person_photos.values()) == 1  # nobody saw a photo twice
    per_model = Counter(a.model for a in answers)
    assert max(per_model.values()) - min(per_model.values()) <= 1  # balanced, though written concurrently
