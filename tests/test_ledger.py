"""The ledger's transitions: idempotent folding, identity guards, IDs never dropped; its files."""
from __future__ import annotations

import json
from pathlib import Path

from reconciler import ledger as ledger_mod
from reconciler.ledger import Event, Ledger, fold, identity, shard_name, source_of
from reconciler.specs import digest_of

LAUNCH = {"docker_image": "x:1"}
DIGEST = digest_of(LAUNCH)
REPO = "0" * 32


def intent(previous: str | None, launch: dict = LAUNCH) -> Event:  # type: ignore[type-arg]
    change = identity("change", "a", previous, digest_of(launch))
    return ledger_mod.intent("a", change, previous, digest_of(launch), "launches/a.yaml", launch, "c", None)


def enqueued(event: Event, run_id: str) -> Event:
    return Event("enqueued", "a", event.change, {"queued_run": {"id": run_id, "state": "pending"}})


def test_fold_is_idempotent_and_reads_back(tmp_path: Path) -> None:
    first = intent(None)
    events = [first, enqueued(first, "Q1")]
    once = fold(Ledger(repository=REPO), events)
    assert once.specs["a"].status == "applied"
    assert fold(once, events) == once
    _, written = ledger_mod.write(tmp_path, once, "launches")
    assert ledger_mod.read_folder(tmp_path, "ledger") == written


def test_an_event_of_another_change_only_adds_ids() -> None:
    newer = {"docker_image": "x:2"}
    one = intent(None)
    ledger = fold(Ledger(), [one, enqueued(one, "Q1")])
    two = intent(one.change, newer)
    ledger = fold(ledger, [two, enqueued(two, "Q2")])
    # a replay of the first change (a journal from another history) cannot take the entry back
    replay = fold(ledger, [one, Event("failed", "a", one.change, {"error": "late"}), enqueued(one, "Q0")])
    entry = replay.specs["a"]
    assert entry.change == two.change and entry.status == "applied" and entry.digest == digest_of(newer)
    assert [r["id"] for r in entry.queued_runs] == ["Q1", "Q2", "Q0"]


def test_an_intent_that_does_not_follow_from_the_entry_is_not_folded() -> None:
    """Two clones reach different digests from one state: each change has its own identity, and
    the one that did not follow from the recorded entry cannot claim that entry (the version 1
    counter made both "change 2")."""
    one = intent(None)
    ledger = fold(Ledger(), [one, enqueued(one, "Q1")])
    b = intent(one.change, {"docker_image": "x:3"})
    a = intent(one.change, {"docker_image": "x:2"})
    assert a.change != b.change
    ledger = fold(ledger, [b])  # B's intent, pushed first
    ledger = fold(ledger, [a, enqueued(a, "QA")])  # A's run folded later: kept, but B's change stays pending
    entry = ledger.specs["a"]
    assert entry.change == b.change and entry.status == "pending"
    assert "QA" in [r["id"] for r in entry.queued_runs]


def test_failed_then_retried_under_the_same_identity() -> None:
    one = intent(None)
    ledger = fold(Ledger(), [one, Event("failed", "a", one.change, {"error": "no"})])
    assert ledger.specs["a"].status == "failed" and ledger.specs["a"].error == "no"
    ledger = fold(ledger, [one, enqueued(one, "Q1")])
    assert ledger.specs["a"].status == "applied" and ledger.specs["a"].error is None


def test_a_failed_change_is_no_basis_for_the_next() -> None:
    """A failed attempt sent nothing: the next change follows from the one before it."""
    one = intent(None)
    ledger = fold(Ledger(), [one, enqueued(one, "Q1")])
    two = intent(one.change, {"docker_image": "x:2"})
    ledger = fold(ledger, [two, Event("failed", "a", two.change, {"error": "no"})])
    assert ledger.specs["a"].basis == one.change


def test_files_are_sorted_with_a_trailing_newline(tmp_path: Path) -> None:
    one = intent(None)
    ledger = fold(Ledger(repository=REPO), [one, enqueued(one, "Q1")])
    written, ledger = ledger_mod.write(tmp_path, ledger, "launches")
    assert written == ["_ledger.json", "a.yaml.json"]
    for name in written:
        text = (tmp_path / name).read_text()
        assert text.endswith("}\n") and not text.endswith("\n\n")
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert ledger_mod.write(tmp_path, ledger, "launches", base=ledger)[0] == []  # nothing differs: nothing written
    mode = (tmp_path / "a.yaml.json").stat().st_mode & 0o777
    assert mode == 0o666 & ~_umask(), oct(mode)  # the user's umask, not mkstemp's 0600


def _umask() -> int:
    import os

    old = os.umask(0)
    os.umask(old)
    return old


def test_shard_names_are_escaped_and_read_back() -> None:
    cases = {"launches/a.yaml": "a.yaml.json", "launches/t/x.yml": "t/x.yml.json",
             "launches/50%.yaml": "50%25.yaml.json",
             "launches/a.yaml.json/b.yaml": "a.yaml%2Ejson/b.yaml.json",  # a folder beside the shard a.yaml.json
             "launches/_x/b.yaml": "%5Fx/b.yaml.json",  # never _ledger.json
             "other/c.yaml": "%2F/other/c.yaml.json"}
    for source, name in cases.items():
        assert shard_name(source, "launches") == name
        assert source_of(name, "launches") == source
    assert shard_name("a.yaml", ".") == "a.yaml.json" and source_of("a.yaml.json", ".") == "a.yaml"


def test_a_hand_edit_breaks_the_seal(tmp_path: Path) -> None:
    one = intent(None)
    ledger_mod.write(tmp_path, fold(Ledger(repository=REPO), [one, enqueued(one, "Q1")]), "launches")
    text = (tmp_path / "a.yaml.json").read_text()
    assert ledger_mod.seal_holds(text)
    assert not ledger_mod.seal_holds(text.replace('"Q1"', '"Q2"'))


def test_ledger_files_are_json_dumps_byte_for_byte() -> None:
    """The ledger's own encoder (json's is pure Python with an indent) writes exactly what
    json.dumps(indent=2, sort_keys=True, ensure_ascii=False) writes, for any JSON value."""
    import random

    rng = random.Random(11)
    leaves = [None, True, False, 0, -5, 2**70, 1.5, 1e-05, -0.0, float("inf"), float("nan"), "", "é\u2028\"\\\n\t\x00",
              "\ud800", "x"]

    def value(depth: int) -> object:
        roll = rng.random()
        if depth > 3 or roll < 0.3:
            return rng.choice(leaves)
        if roll < 0.65:
            keys = ["a", "b", "é", "", "\n", "Z", "aa"] if rng.random() < 0.9 else [1, 2]
            return {rng.choice(keys): value(depth + 1) for _ in range(rng.randint(0, 4))}
        return [value(depth + 1) for _ in range(rng.randint(0, 4))]

    for _ in range(3000):
        data = {"k": value(0)}
        assert ledger_mod.dumps(data) == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", data
