"""The embedded local queue: one SQLite file (`.launchops/queue.db`), no server, no credentials.

It stands in for a W&B Launch queue on a laptop, in demos and in tests. The enqueue marker is a
UNIQUE column: a second enqueue of one change returns the item already queued instead of adding
another. That safety net would also hide a second attempt, which on W&B is a second item, so
every enqueue call is written to the `sends` table (marker, spec id, time, pid, whether it added
the item) in the same transaction as the item: `queue list --format json` shows each item's
`sends`, and the exactly-once tests assert one send per change, not only one item. A call the
queue refuses (EnqueueFailed, certain) is rolled back whole, its log line too: it sent nothing.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconciler.backends.base import Backend, EnqueueFailed, EnqueueRequest, QueuedRun, utc_now

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
  id TEXT PRIMARY KEY,
  marker TEXT NOT NULL UNIQUE,
  spec_id TEXT NOT NULL,
  digest TEXT NOT NULL,
  queue_name TEXT NOT NULL,
  entity TEXT,
  project TEXT,
  project_queue TEXT NOT NULL,
  priority INTEGER,
  state TEXT NOT NULL DEFAULT 'pending',
  launch TEXT NOT NULL,
  enqueued_at TEXT NOT NULL
)
"""
_SENDS = """
CREATE TABLE IF NOT EXISTS sends (
  marker TEXT NOT NULL,
  spec_id TEXT NOT NULL,
  sent_at TEXT NOT NULL,
  pid INTEGER NOT NULL,
  created INTEGER NOT NULL
)
"""
_COLUMNS = ("id, marker, spec_id, digest, queue_name, entity, project, project_queue, priority, state, launch, "
            "enqueued_at")
_NAMES = _COLUMNS.split(", ")


def _item_id(marker: str) -> str:
    # The shape of a W&B QueuedRun id (base64 of "RunQueueItem:<number>"), derived from the marker.
    number = int(hashlib.sha256(marker.encode()).hexdigest()[:13], 16)
    return base64.b64encode(f"RunQueueItem:{number}".encode()).decode()


class LocalQueue(Backend):
    name = "local"

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._db.execute(_SENDS)

    def _run(self, row: tuple[Any, ...]) -> QueuedRun:
        item = dict(zip(_NAMES, row, strict=True))
        return QueuedRun(id=item["id"], backend=self.name, queue_name=item["queue_name"], entity=item["entity"],
                         project_queue=item["project_queue"], priority=item["priority"], digest=item["digest"],
                         enqueued_at=item["enqueued_at"], state=item["state"], marker=item["marker"])

    def enqueue(self, request: EnqueueRequest) -> QueuedRun:
        launch = request.launch
        now = utc_now()
        # Insert-or-keep by marker, and log the call either way: the item and its send land together.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            created = self._db.execute(
                f"INSERT INTO items ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?) "
                "ON CONFLICT(marker) DO NOTHING",
                (_item_id(request.marker), request.marker, request.spec_id, request.digest,
                 launch.get("queue_name") or "default", launch.get("entity"), launch.get("project"),
                 launch.get("project_queue") or "model-registry", launch.get("priority"),
                 json.dumps(launch, sort_keys=True), now)).rowcount
            self._db.execute("INSERT INTO sends (marker, spec_id, sent_at, pid, created) VALUES (?, ?, ?, ?, ?)",
                             (request.marker, request.spec_id, now, os.getpid(), created))
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._db.execute("ROLLBACK")
            # The queue said no (a constraint, a trigger, a read-only file) and the transaction is
            # rolled back whole: nothing of this call is queued, so the failure is certain.
            raise EnqueueFailed(f"the local queue refused it: {exc}") from None
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return self.find(request)[0]

    def find(self, request: EnqueueRequest) -> list[QueuedRun]:
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM items WHERE marker = ?", (request.marker,)).fetchall()
        return [self._run(row) for row in rows]

    def refresh(self, run: QueuedRun) -> QueuedRun:
        return self.lookup(run) or run

    def lookup(self, run: QueuedRun) -> QueuedRun | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM items WHERE id = ?", (run.id,)).fetchone()
        return self._run(row) if row else None

    def delete(self, run: QueuedRun) -> bool:
        return self._db.execute("DELETE FROM items WHERE id = ? AND state = 'pending'", (run.id,)).rowcount == 1

    def withdraw(self, run: QueuedRun) -> str:
        """One transaction reads the state and withdraws only a pending item; the row stays, with
        state `withdrawn`, so the queue keeps what launchops sent."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            row = self._db.execute("SELECT state FROM items WHERE id = ?", (run.id,)).fetchone()
            if row is not None and row[0] == "pending":
                self._db.execute("UPDATE items SET state = 'withdrawn' WHERE id = ?", (run.id,))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        if row is None:
            return "gone"
        return "withdrawn" if row[0] == "pending" else str(row[0])

    def marked(self, queue: Mapping[str, Any], prefix: str) -> list[QueuedRun]:
        # one file holds every queue: the prefix alone selects
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM items WHERE substr(marker, 1, ?) = ? "
                                "ORDER BY enqueued_at, rowid", (len(prefix), prefix)).fetchall()
        return [self._run(row) for row in rows]

    def items(self) -> list[dict[str, Any]]:
        """Every item, oldest first, as `queue list` shows them, with how many enqueue calls sent it."""
        sends = Counter(s["marker"] for s in self.sends())
        out = []
        for row in self._db.execute(f"SELECT {_COLUMNS} FROM items ORDER BY enqueued_at, rowid"):
            item = dict(zip(_NAMES, row, strict=True))
            out.append({"id": item["id"], "spec_id": item["spec_id"], "queue_name": item["queue_name"],
                        "entity": item["entity"], "project": item["project"], "priority": item["priority"],
                        "state": item["state"], "launch": json.loads(item["launch"]),
                        "enqueued_at": item["enqueued_at"], "marker": item["marker"],
                        "sends": sends[item["marker"]]})
        return out

    def sends(self) -> list[dict[str, Any]]:
        """Every enqueue call, oldest first; `created` is False for a call that found its item queued."""
        rows = self._db.execute("SELECT marker, spec_id, sent_at, pid, created FROM sends ORDER BY rowid")
        return [{"marker": m, "spec_id": s, "sent_at": t, "pid": p, "created": bool(c)} for m, s, t, p, c in rows]

    def close(self) -> None:
        self._db.close()
