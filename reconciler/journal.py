"""The durable, append-only journal the ledger is materialised from.

Every intent is written here before its backend call and every result right after, one SQLite
transaction each (WAL, synchronous=NORMAL: a killed process loses nothing; only a power cut can
roll back the last commits). The JSON ledger is rewritten once per apply, not once per spec.
Events are deleted only after a ledger holding them has been written.
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Iterator

from reconciler.ledger import Event

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  spec_id TEXT NOT NULL,
  change INTEGER NOT NULL,
  data TEXT NOT NULL
)
"""


class Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    def append(self, event: Event) -> None:
        self.extend([event])

    def extend(self, events: list[Event]) -> None:
        rows = [(e.kind, e.spec_id, e.change, json.dumps(e.data, sort_keys=True)) for e in events]
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany("INSERT INTO events (kind, spec_id, change, data) VALUES (?, ?, ?, ?)", rows)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def events(self) -> Iterator[tuple[int, Event]]:
        for seq, kind, spec_id, change, data in self._db.execute(
                "SELECT seq, kind, spec_id, change, data FROM events ORDER BY seq"):
            yield seq, Event(kind, spec_id, change, json.loads(data))

    def last_seq(self) -> int:
        return self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]

    def forget(self, up_to: int) -> None:
        """Drop events that a written ledger already holds."""
        self._db.execute("DELETE FROM events WHERE seq <= ?", (up_to,))

    def close(self) -> None:
        self._db.close()


def peek(path: Path) -> list[Event]:
    """Events left by an interrupted apply, read without writing anything (for plan and status)."""
    if not path.exists():
        return []
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT kind, spec_id, change, data FROM events ORDER BY seq").fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return []
    return [Event(kind, spec_id, change, json.loads(data)) for kind, spec_id, change, data in rows]
