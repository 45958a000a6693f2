"""A certain enqueue failure, end to end on the local queue: the queue itself refuses one spec.

The refusal is real: a trigger in the local queue's own SQLite file aborts the insert of one spec's
item, as a queue that says no does. Nothing of launchops is replaced.
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conftest import cli, commit_all, git, queue_items, read_ledger, write

REFUSAL = "queue closed for b"


def _spec(name: str) -> str:
    return f"apiVersion: launchops/v1\nlaunch: {{docker_image: 'registry.example/{name}:1'}}\n"


def _refuse(repo: Path, spec_id: str | None) -> None:
    """Make the local queue refuse (or, with None, accept again) every item of `spec_id`."""
    db = sqlite3.connect(repo / ".launchops" / "queue.db")
    db.execute("DROP TRIGGER IF EXISTS refuse")
    if spec_id is not None:
        db.execute(f"CREATE TRIGGER refuse BEFORE INSERT ON items WHEN NEW.spec_id = '{spec_id}' "
                   f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END")
    db.commit()
    db.close()


@pytest.fixture
def refusing(empty_repo: Path) -> Path:
    """`a` applied; `b`, `c` and `d` new and committed; the queue refuses `b`."""
    write(empty_repo, "launches/a.yaml", _spec("a"))
    commit_all(empty_repo)
    assert cli(empty_repo, "apply", "--yes").exit_code == 0  # makes the queue, with `a` on it
    for name in "bcd":
        write(empty_repo, f"launches/{name}.yaml", _spec(name))
    commit_all(empty_repo, "three more")
    _refuse(empty_repo, "b")
    return empty_repo


def _apply(repo: Path, *args: str) -> tuple[int, dict[str, Any]]:
    out = cli(repo, "apply", "--yes", "--format", "json", *args)
    return out.exit_code, json.loads(out.stdout)


def _results(document: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {o["id"]: (o["result"], o["error"]) for o in document["outcomes"]}


def _queued(repo: Path) -> list[str]:
    return sorted(i["spec_id"] for i in queue_items(repo))


def test_a_refused_spec_is_recorded_failed_and_the_others_are_enqueued(refusing: Path) -> None:
    head = git(refusing, "rev-parse", "HEAD")
    code, document = _apply(refusing)
    assert code == 1 and document["ok"] is False
    results = _results(document)
    assert results["b"][0] == "failed" and REFUSAL in (results["b"][1] or "")
    assert results["c"] == results["d"] == ("enqueued", None)
    assert set(results) == {"b", "c", "d"}
    assert _queued(refusing) == ["a", "c", "d"]
    ledger = read_ledger(refusing)["specs"]
    assert ledger["b"]["status"] == "failed" and REFUSAL in ledger["b"]["error"]
    assert ledger["b"]["queued_runs"] == []
    assert [ledger[s]["status"] for s in "acd"] == ["applied"] * 3
    assert git(refusing, "rev-parse", "HEAD^") == head  # what succeeded is committed
    status = {s["id"]: s for s in json.loads(cli(refusing, "status", "--format", "json").stdout)["specs"]}
    assert status["b"]["status"] == "failed" and REFUSAL in status["b"]["error"]
    assert "failed" in cli(refusing, "status").stdout and REFUSAL in cli(refusing, "status").stdout
    text = cli(refusing, "plan").stdout
    assert "b  (retry: last attempt is failed: " in text and "1 to retry" in text

    _refuse(refusing, "b")  # still refused: a second failure changes nothing else
    code, document = _apply(refusing)
    assert code == 1 and _results(document) == {"b": ("failed", _results(document)["b"][1])}
    assert _queued(refusing) == ["a", "c", "d"]

    _refuse(refusing, None)  # the queue takes it now: only b is sent
    code, document = _apply(refusing)
    assert code == 0, document
    assert [(o["id"], o["action"], o["result"]) for o in document["outcomes"]] == [("b", "retry", "enqueued")]
    assert _queued(refusing) == ["a", "b", "c", "d"]
    assert read_ledger(refusing)["specs"]["b"]["status"] == "applied"
    assert "error" not in read_ledger(refusing)["specs"]["b"]
    assert cli(refusing, "plan", "--detailed-exitcode").exit_code == 0


def test_fail_fast_skips_what_comes_after_the_refusal(refusing: Path) -> None:
    code, document = _apply(refusing, "--fail-fast")
    assert code == 1
    results = _results(document)
    assert results["b"][0] == "failed" and REFUSAL in (results["b"][1] or "")
    assert results["c"][0] == results["d"][0] == "skipped"  # in id order: nothing after b is sent
    assert "--fail-fast" in (results["c"][1] or "")
    assert _queued(refusing) == ["a"]
    ledger = read_ledger(refusing)["specs"]
    assert [ledger[s]["status"] for s in "bcd"] == ["failed"] * 3
    assert all(ledger[s]["queued_runs"] == [] for s in "bcd")
    text = cli(refusing, "apply", "--yes", "--fail-fast")  # refused again, as text
    assert text.exit_code == 1
    assert "1 failed, 2 skipped" in text.stdout and "finished with failures" in text.stdout

    _refuse(refusing, None)
    code, document = _apply(refusing, "--fail-fast")
    assert code == 0, document
    assert sorted((o["id"], o["result"]) for o in document["outcomes"]) == [
        ("b", "enqueued"), ("c", "enqueued"), ("d", "enqueued")]
    assert _queued(refusing) == ["a", "b", "c", "d"]
