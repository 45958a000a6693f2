"""The ledger's transitions: idempotent folding, change guards, IDs never dropped."""
from __future__ import annotations

from reconciler.ledger import Event, Ledger, fold, parse
from reconciler.specs import digest_of

LAUNCH = {"docker_image": "x:1"}
DIGEST = digest_of(LAUNCH)


def intent(change: int, launch: dict = LAUNCH) -> Event:  # type: ignore[type-arg]
    return Event("intent", "a", change, {"digest": digest_of(launch), "source": "launches/a.yaml",
                                         "launch": launch, "commit": "c"})


def enqueued(change: int, run_id: str) -> Event:
    return Event("enqueued", "a", change, {"queued_run": {"id": run_id, "state": "pending"}})


def test_fold_is_idempotent() -> None:
    events = [intent(1), enqueued(1, "Q1")]
    once = fold(Ledger(), events)
    assert once.specs["a"].status == "applied"
    assert fold(once, events) == once
    assert parse(once.to_text(), "ledger.json") == once


def test_an_older_change_only_adds_ids() -> None:
    newer = {"docker_image": "x:2"}
    ledger = fold(Ledger(), [intent(1), enqueued(1, "Q1"), intent(2, newer), enqueued(2, "Q2")])
    replay = fold(ledger, [intent(1), Event("failed", "a", 1, {"error": "late"}), enqueued(1, "Q0")])
    entry = replay.specs["a"]
    assert entry.change == 2 and entry.status == "applied" and entry.digest == digest_of(newer)
    assert [r["id"] for r in entry.queued_runs] == ["Q1", "Q2", "Q0"]


def test_failed_then_retried() -> None:
    ledger = fold(Ledger(), [intent(1), Event("failed", "a", 1, {"error": "no"})])
    assert ledger.specs["a"].status == "failed" and ledger.specs["a"].error == "no"
    ledger = fold(ledger, [intent(1), enqueued(1, "Q1")])
    assert ledger.specs["a"].status == "applied" and ledger.specs["a"].error is None


def test_text_is_sorted_with_trailing_newline() -> None:
    text = fold(Ledger(), [intent(1), enqueued(1, "Q1")]).to_text()
    assert text.endswith("}\n") and not text.endswith("\n\n")
    import json

    data = json.loads(text)
    assert list(data) == ["specs", "version"]  # sorted keys: ledger commits diff cleanly
    assert list(data["specs"]["a"]) == sorted(data["specs"]["a"])
    assert text.startswith('{\n  "specs": {\n    "a": {\n      "applied_commit"')
