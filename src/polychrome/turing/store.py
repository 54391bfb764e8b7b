"""The answers of a Turing test, in one local SQLite file that several server threads write at once.

One row per trial: it is written when a pair is shown (which photo, which model, which side was real) and
completed when the person answers, so the browser never says which side was real and a trial can be
answered only once, by the person it was shown to. Every operation opens its own connection and runs in one
``BEGIN IMMEDIATE`` transaction, which serialises the writers of all threads (and processes) on SQLite's
lock; readers are not blocked thanks to the write-ahead log. The ``answers`` view is there for people who
open the file with ``sqlite3`` themselves.

Example:
    >>> store = TrialStore("answers.sqlite")  # doctest: +SKIP
    >>> state = store.next_trial("someone", [("cat", "ours")], 20, random.Random())  # doctest: +SKIP
    >>> store.record_answer("someone", state.trial.id, "left", response_ms=1830)  # doctest: +SKIP
"""

from __future__ import annotations

import random
import secrets
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from polychrome._messages import printable_name
from polychrome.turing.schedule import choose_pair

__all__ = [
    "SIDES",
    "Answer",
    "TrialAlreadyAnswered",
    "TrialNotFound",
    "TrialState",
    "TrialStore",
    "Trial",
]

SIDES = ("left", "right")
# Marks the file as ours (`PRAGMA application_id`), so a user's other database is never written into.
APPLICATION_ID = 0x50435454  # "PCTT"
SCHEMA_VERSION = 1
MAX_RESPONSE_MS = 3_600_000

_SCHEMA = f"""
CREATE TABLE trials (
    id          TEXT PRIMARY KEY,
    participant TEXT NOT NULL,
    photo       TEXT NOT NULL,
    model       TEXT NOT NULL,
    real_side   TEXT NOT NULL CHECK (real_side IN ('left', 'right')),
    shown_at    TEXT NOT NULL,
    chosen_side TEXT CHECK (chosen_side IN ('left', 'right')),
    response_ms INTEGER CHECK (response_ms BETWEEN 0 AND {MAX_RESPONSE_MS}),
    answered_at TEXT,
    CHECK ((chosen_side IS NULL) = (answered_at IS NULL))
);
CREATE INDEX trials_by_participant ON trials (participant);
CREATE VIEW answers AS
    SELECT participant, photo, model, real_side, chosen_side, chosen_side <> real_side AS fooled,
           response_ms, answered_at
    FROM trials WHERE answered_at IS NOT NULL;
PRAGMA application_id = {APPLICATION_ID};
PRAGMA user_version = {SCHEMA_VERSION};
"""


class TrialNotFound(LookupError):
    """No trial with this id was shown to this participant."""


class TrialAlreadyAnswered(Exception):
    """The trial has an answer already; answers are never replaced."""


@dataclass(frozen=True)
class Trial:
    """A pair as shown: ``real_side`` is where the real photo is, ``"left"`` or ``"right"``."""

    id: str
    photo: str
    model: str
    real_side: str


@dataclass(frozen=True)
class TrialState:
    """The trial to show now (None when the person is done), and their progress."""

    trial: Trial | None
    answered: int
    total: int


@dataclass(frozen=True)
class Answer:
    """One answered trial; ``response_ms`` is the time from both photos on screen to the choice."""

    participant: str
    photo: str
    model: str
    real_side: str
    chosen_side: str
    response_ms: int
    answered_at: str

    @property
    def fooled(self) -> bool:
        """The colorized photo was taken for the real one."""
        return self.chosen_side != self.real_side


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class TrialStore:
    """A Turing test's SQLite file; safe to share between threads (each call has its own connection).

    Args:
        path: the database file.
        create: make the file (and the schema) when it does not exist; with False a missing file is an error.
            A file that exists is used only if it is a Turing test's database already.
        timeout: seconds a call waits for another writer's lock before failing.

    Raises:
        FileNotFoundError: ``create`` is False and there is no such file.
        ValueError: the file is empty, not SQLite, belongs to something else, or has a newer schema; it is
            left untouched.
    """

    def __init__(self, path: str | Path, *, create: bool = True, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        if not self.path.exists() and not create:
            raise FileNotFoundError(f"{self.path}: no such file")
        if self.path.is_dir():
            raise ValueError(f"{self.path}: is a folder, not a database file")
        existing = self.path.exists()
        if existing and self.path.stat().st_size == 0:  # SQLite would take it for a new database
            raise ValueError(f"{printable_name(self.path)}: not a polychrome answers database (empty file)")
        try:
            self._prepare(create and not existing)
        except sqlite3.DatabaseError as err:
            raise ValueError(f"{self.path}: cannot use as a Turing test database ({err})") from None

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)

    def _prepare(self, create: bool) -> None:
        foreign = f"{self.path}: a database of something else, not of a Turing test"
        with self._transaction() as conn:
            application_id = conn.execute("PRAGMA application_id").fetchone()[0]
            if application_id == 0:
                if not create or conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]:
                    raise ValueError(foreign)
                # One statement at a time: executescript() would commit the transaction first.
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            elif application_id != APPLICATION_ID:
                raise ValueError(foreign)
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ValueError(f"{self.path}: schema version {version} is newer than this polychrome's")
        if create:
            conn = self._connect()
            try:
                conn.execute("PRAGMA journal_mode = WAL")
            finally:
                conn.close()

    @contextmanager
    def _transaction(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def next_trial(
        self, participant: str, available: Sequence[tuple[str, str]], per_person: int, rng: random.Random
    ) -> TrialState:
        """The trial ``participant`` should see now, as pairs ``(photo, model)`` of ``available`` allow.

        An unanswered trial is shown again (a reload does not skip a hard pair); otherwise a new one is chosen
        by :func:`choose_pair`, its real side drawn from ``rng``, and recorded. A person is done after
        ``per_person`` answers or when no photo they have not seen is left.
        """
        if per_person < 1:
            raise ValueError(f"per_person must be at least 1, got {per_person}")
        offered = set(available)
        with self._transaction() as conn:
            answered = self._answered(conn, participant)
            total = min(per_person, len({photo for photo, _ in offered}))
            if answered >= total:
                return TrialState(None, answered, total)
            pending = conn.execute(
                "SELECT id, photo, model, real_side FROM trials"
                " WHERE participant = ? AND answered_at IS NULL ORDER BY shown_at DESC",
                (participant,),
            ).fetchall()
            for row in pending:
                if (row[1], row[2]) in offered:
                    return TrialState(Trial(*row), answered, total)
            seen = {
                photo
                for (photo,) in conn.execute("SELECT photo FROM trials WHERE participant = ?", (participant,))
            }
            shown = dict(conn.execute("SELECT model, COUNT(*) FROM trials GROUP BY model").fetchall())
            choice = choose_pair(sorted(offered), seen, shown, rng)
            if choice is None:
                return TrialState(None, answered, answered)
            trial = Trial(secrets.token_urlsafe(12), choice[0], choice[1], rng.choice(SIDES))
            conn.execute(
                "INSERT INTO trials (id, participant, photo, model, real_side, shown_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (trial.id, participant, trial.photo, trial.model, trial.real_side, _now()),
            )
            return TrialState(trial, answered, total)

    def record_answer(
        self, participant: str, trial_id: str, chosen_side: str, response_ms: int | None = None
    ) -> int:
        """Store ``participant``'s choice for a trial shown to them; returns how many they have answered.

        ``response_ms`` is measured by the browser; when it is None, the time since the trial was shown.

        Raises:
            ValueError: ``chosen_side`` is not left/right or ``response_ms`` is not in 0..1 hour.
            TrialNotFound: no such trial was shown to this participant.
            TrialAlreadyAnswered: the trial has an answer already.
        """
        if chosen_side not in SIDES:
            raise ValueError(f"choice must be 'left' or 'right', got {chosen_side!r}")
        if response_ms is not None and not 0 <= response_ms <= MAX_RESPONSE_MS:
            raise ValueError(f"response time must be 0..{MAX_RESPONSE_MS} ms, got {response_ms}")
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT shown_at, answered_at FROM trials WHERE id = ? AND participant = ?",
                (trial_id, participant),
            ).fetchone()
            if row is None:
                raise TrialNotFound(f"trial {trial_id!r}: not shown to this participant")
            if row[1] is not None:
                raise TrialAlreadyAnswered(f"trial {trial_id!r}: answered already")
            answered_at = _now()
            if response_ms is None:
                elapsed = datetime.fromisoformat(answered_at) - datetime.fromisoformat(row[0])
                response_ms = min(MAX_RESPONSE_MS, round(elapsed.total_seconds() * 1000))
            conn.execute(
                "UPDATE trials SET chosen_side = ?, response_ms = ?, answered_at = ? WHERE id = ?",
                (chosen_side, response_ms, answered_at, trial_id),
            )
            return self._answered(conn, participant)

    @staticmethod
    def _answered(conn: sqlite3.Connection, participant: str) -> int:
        query = "SELECT COUNT(*) FROM trials WHERE participant = ? AND answered_at IS NOT NULL"
        return conn.execute(query, (participant,)).fetchone()[0]

    def answers(self) -> list[Answer]:
        """Every answered trial, oldest first."""
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT participant, photo, model, real_side, chosen_side, response_ms, answered_at"
                " FROM trials WHERE answered_at IS NOT NULL ORDER BY answered_at, id"
            ).fetchall()
        return [Answer(*row) for row in rows]
