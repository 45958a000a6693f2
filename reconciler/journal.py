"""The durable, append-only journal the ledger is materialised from.

Every intent is written here before its backend call and every result right after, one SQLite
transaction each (WAL, synchronous=NORMAL: a killed process loses nothing; only a power cut can
roll back the last commits). The JSON ledger is rewritten once per apply, not once per spec.
Events are deleted only after a ledger holding them has been written.

The journal belongs to the clone, but its events belong to the history they were made on: each
run's events form a session tagged with the commit checked out when it began, and fold only into a
ledger whose HEAD descends from that commit. A session from another branch (or a detached HEAD)
is kept, untouched, until that history is checked out again (or merged). Every marker an intent
ever named is also kept (`sent`), after its events are gone: an apply whose ledger went back (a
branch switch, a revert) looks such a marker up on the backend before sending it again.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from reconciler import gitrepo
from reconciler.ledger import Event

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  spec_id TEXT NOT NULL,
  change INTEGER NOT NULL,
  data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (id INTEGER PRIMARY KEY AUTOINCREMENT, base TEXT);
CREATE TABLE IF NOT EXISTS sent (marker TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS facts (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class JournalError(Exception):
    """The journal cannot be written; the message says what to fix."""


_DAMAGED = ("SQLITE_NOTADB", "SQLITE_CORRUPT")  # not a journal any more, rather than not writable


def explain(path: Path, exc: sqlite3.Error) -> str:
    """What to do about a journal that cannot be written (no SQLite traceback)."""
    if getattr(exc, "sqlite_errorname", "") in _DAMAGED:
        return (f"the journal {path} is damaged ({exc}); it may hold the QueuedRun IDs of an interrupted apply: "
                "move it aside (keep it), check the queue for items that apply sent, then run launchops again")
    return (f"cannot write the journal {path} ({exc}): free disk space, or make {path.parent} writable "
            "by this user, then run apply again")


class Lineage:
    """Which sessions fold here: those begun at HEAD or at one of its ancestors (plain git)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._known: dict[tuple[str, str], bool] = {}

    def head(self) -> str | None:
        return (gitrepo.plain(self.root, "rev-parse", "--verify", "-q", "HEAD^{commit}") or "").strip() or None

    def holds(self, base: str | None, head: str | None) -> bool:
        if base is None or base == head:
            return True  # a session begun before the first commit (or outside git) folds anywhere
        if head is None:
            return False
        if (base, head) not in self._known:
            self._known[(base, head)] = gitrepo.plain(self.root, "merge-base", "--is-ancestor", base, head) is not None
        return self._known[(base, head)]


def _migrate(db: sqlite3.Connection) -> None:
    """Journals written before sessions existed: their events fold anywhere, as they did. Journals
    of ledger version 1: their events have a change number and no identity (read by `v1_events`,
    for the migration)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(events)")}
    if "session" not in columns:
        db.execute("ALTER TABLE events ADD COLUMN session INTEGER")
    if "identity" not in columns:
        # TEXT, not the INTEGER `change` column: SQLite would turn an identity of digits into a number
        db.execute("ALTER TABLE events ADD COLUMN identity TEXT")


def _folding(db: sqlite3.Connection, lineage: Lineage | None) -> list[int] | None:
    """Sessions whose events fold into the checked-out history; None: every event does."""
    if lineage is None:
        return None
    head = lineage.head()
    return [sid for sid, base in db.execute("SELECT id, base FROM sessions") if lineage.holds(base, head)]


def _where(sessions: list[int] | None) -> str:
    if sessions is None:
        return "1"
    return f"(session IS NULL OR session IN ({','.join(str(int(s)) for s in sessions)}))"


V1Event = tuple[str, str, int, dict[str, object]]  # (kind, spec_id, change number, data) of ledger version 1


class Journal:
    def __init__(self, path: Path, lineage: Lineage | None = None) -> None:
        self.path = path
        self.lineage = lineage
        self._session: int | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Renewing a claim reads it from a sending thread; the applier serialises every use.
            self._db = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            _migrate(self._db)
        except (OSError, sqlite3.Error) as exc:
            error = exc if isinstance(exc, sqlite3.Error) else sqlite3.Error(str(exc))
            raise JournalError(explain(path, error)) from exc

    def extend(self, events: list[Event]) -> None:
        """One transaction; sqlite3.Error when it could not be written (the caller decides)."""
        if not events:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if self._session is None:
                base = self.lineage.head() if self.lineage else None
                self._session = self._db.execute("INSERT INTO sessions (base) VALUES (?)", (base,)).lastrowid
            rows = [(e.kind, e.spec_id, 0, e.change, json.dumps(e.data, sort_keys=True), self._session)
                    for e in events]
            self._db.executemany("INSERT INTO events (kind, spec_id, change, identity, data, session) "
                                 "VALUES (?, ?, ?, ?, ?, ?)", rows)
            sent = [(e.data["marker"],) for e in events if e.kind == "intent" and e.data.get("marker")]
            if sent:  # an enqueue's result names none: one statement less for each of 10,000
                self._db.executemany("INSERT OR IGNORE INTO sent (marker) VALUES (?)", sent)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def events(self) -> Iterator[tuple[int, Event]]:
        """The events that fold into the checked-out history, in order."""
        for seq, kind, spec_id, change, data in self._db.execute(
                f"SELECT seq, kind, spec_id, identity, data FROM events WHERE {_where(self.folding())} "
                "AND identity IS NOT NULL ORDER BY seq"):
            yield seq, Event(kind, spec_id, change, json.loads(data))

    def v1_events(self) -> list[V1Event]:
        """What an interrupted apply of ledger version 1 left on the checked-out history: folded
        into the version 1 ledger by the migration, then forgotten with it."""
        return [(kind, spec_id, change, json.loads(data)) for kind, spec_id, change, data in self._db.execute(
            f"SELECT kind, spec_id, change, data FROM events WHERE {_where(self.folding())} AND identity IS NULL "
            "ORDER BY seq")]

    def state(self) -> tuple[tuple[int, ...] | None, int, int]:
        """Which events fold now, as a key: the sessions folded, their count and last seq. A seq is
        never reused and `forget` drops only the oldest, so an equal key means the same events."""
        sessions = self.folding()
        count, seq = self._db.execute(
            f"SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM events WHERE {_where(sessions)}").fetchone()
        return (None if sessions is None else tuple(sessions)), int(count), int(seq)

    def last_seq(self) -> int:
        (seq,) = self._db.execute(f"SELECT COALESCE(MAX(seq), 0) FROM events WHERE {_where(self.folding())}").fetchone()
        return int(seq)

    def forget(self, up_to: int) -> None:
        """Drop events that a written ledger already holds (those of other histories stay)."""
        self._db.execute(f"DELETE FROM events WHERE seq <= ? AND {_where(self.folding())}", (up_to,))

    def sent_before(self, markers: Iterable[str]) -> set[str]:
        """Which of `markers` an intent named before, on any history (this clone may have sent them)."""
        from reconciler.ledger_v1 import marker as v1_marker

        wanted = set(markers)
        known = {m for (m,) in self._db.execute("SELECT marker FROM sent")} & wanted
        for spec_id, change, data in self._db.execute(
                "SELECT spec_id, change, data FROM events WHERE kind = 'intent' AND identity IS NULL"):
            known |= {v1_marker(spec_id, json.loads(data)["digest"], change)} & wanted  # journals older than `sent`
        return known

    def fact(self, key: str) -> str | None:
        """A value this clone must keep whatever git does (the repository id it made)."""
        row = self._db.execute("SELECT value FROM facts WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def remember(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO facts (key, value) VALUES (?, ?)", (key, value))

    def follow(self, sessions: list[int] | None, base: str | None) -> None:
        """The checked-out history moved on purpose (apply caught up with its remote): the sessions
        that folded before the move fold after it."""
        if sessions:
            self._db.execute(f"UPDATE sessions SET base = ? WHERE id IN ({','.join(str(int(s)) for s in sessions)})",
                             (base,))
        if self._session is not None and (sessions is None or self._session not in sessions):
            self._db.execute("UPDATE sessions SET base = ? WHERE id = ?", (base, self._session))

    def folding(self) -> list[int] | None:
        return _folding(self._db, self.lineage)

    def close(self) -> None:
        self._db.close()


def peek(path: Path, lineage: Lineage | None = None) -> tuple[list[Event], list[V1Event]]:
    """Events left by an interrupted apply on the checked-out history, read without writing
    anything (for plan and status): those of ledger version 2, and those of version 1."""
    if not path.exists():
        return [], []
    try:
        # Without a -wal file every event is in the main file: read it as immutable, so a read-only
        # look leaves no -wal and -shm files behind (a refused apply writes nothing)
        immutable = "" if Path(f"{path}-wal").exists() else "&immutable=1"
        db = sqlite3.connect(f"file:{path}?mode=ro{immutable}", uri=True)
        try:
            columns = {row[1] for row in db.execute("PRAGMA table_info(events)")}
            if not db.execute("SELECT 1 FROM events LIMIT 1").fetchall():
                return [], []  # nothing left: no need to ask git which sessions fold here
            where = _where(_folding(db, lineage)) if "session" in columns else "1"
            identity = "identity" if "identity" in columns else "NULL"
            rows = db.execute(f"SELECT kind, spec_id, change, {identity}, data FROM events WHERE {where} "
                              "ORDER BY seq").fetchall()
        finally:
            db.close()
    except sqlite3.Error as exc:
        if getattr(exc, "sqlite_errorname", "") in _DAMAGED:
            raise JournalError(explain(path, exc)) from None  # its events may matter: never read as none
        return [], []
    events = [Event(kind, spec_id, ident, json.loads(data)) for kind, spec_id, _, ident, data in rows
              if ident is not None]
    return events, [(kind, spec_id, change, json.loads(data)) for kind, spec_id, change, ident, data in rows
                    if ident is None]
