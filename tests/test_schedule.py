"""Schedules: each slot enqueued exactly once, whatever the CI clock does (SPEC "Schedules").

Real parts: git repositories in tmp dirs, the local SQLite queue (its log of sends counts a second
send of one marker, which its one-item-per-marker table would hide), SIGKILL through the apply's
own kill points. Times are in 2026, before the machine's clock: apply refuses a --now later than
the real clock.
"""
from __future__ import annotations

import datetime
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import cli, cli_subprocess, commit_all, git, make_repo, read_ledger, spec_reads, write  # noqa: E402
from crash_kit import bare_remote, local_items, sends  # noqa: E402
from reconciler import schedule  # noqa: E402

SPEC = """apiVersion: launchops/v1
launch:
  docker_image: python:3.12-slim
  queue_name: default
schedule:
{schedule}
"""


def scheduled(repo: Path, body: str, rel: str = "launches/nightly/eval.yaml", commit: bool = True) -> None:
    write(repo, rel, SPEC.format(schedule="\n".join("  " + line for line in body.strip().splitlines())))
    if commit:
        commit_all(repo, "schedule")


def apply(repo: Path, now: str, *extra: str) -> dict[str, Any]:
    out = cli(repo, "apply", "--yes", "--format", "json", "--now", now, *extra)
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


def plan_doc(repo: Path, now: str) -> dict[str, Any]:
    out = cli(repo, "plan", "--format", "json", "--now", now)
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


def slots_sent(repo: Path, env: dict[str, str] | None = None) -> Counter[str]:
    """Enqueue calls per slot instant, from the ledger's runs and the queue's log of sends."""
    ledger = read_ledger(repo)
    by_marker = {r["marker"]: r.get("slot") for e in ledger["specs"].values() for r in e["queued_runs"]}
    counted: Counter[str] = Counter()
    for marker, n in sends(local_items(repo, env)).items():
        counted[str(by_marker.get(marker))] += n
    return counted


def record(repo: Path, spec_id: str = "nightly/eval") -> dict[str, Any]:
    return dict(read_ledger(repo)["specs"][spec_id]["schedule"])


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", examples=False)


# ---- exactly once -------------------------------------------------------------------------------

def test_applies_at_0316_0317_0317_0318_enqueue_the_0317_slot_once(repo: Path) -> None:
    scheduled(repo, 'cron: "17 3 * * *"')
    apply(repo, "2026-11-20T03:10:00Z")  # first seen: no surprise backfill of earlier days
    results = [apply(repo, f"2026-11-20T03:{m}:00Z") for m in ("16", "17", "17", "18")]
    assert [r["summary"] for r in results] == [{}, {"enqueued": 1}, {}, {}]
    assert slots_sent(repo) == Counter({"2026-11-20T03:17:00Z": 1})
    rec = record(repo)
    assert rec["last_slot"] == "2026-11-20T03:17:00Z" and rec["next_slot"] == "2026-11-21T03:17:00Z"
    run = read_ledger(repo)["specs"]["nightly/eval"]["queued_runs"][-1]
    assert run["slot"] == "2026-11-20T03:17:00Z" and run["state"] == "pending"


def test_a_kill_between_intent_and_record_leaves_one_item(repo: Path) -> None:
    scheduled(repo, 'cron: "17 3 * * *"')
    apply(repo, "2026-11-20T03:10:00Z")
    for step in ("after-intent", "after-enqueue"):
        now = "2026-11-20T03:17:30Z" if step == "after-intent" else "2026-11-21T03:17:30Z"
        killed = cli_subprocess(repo, "apply", "--yes", "--now", now, env={"LAUNCHOPS_DIE_AT": step})
        assert killed.returncode == -9, killed.stderr
        again = cli_subprocess(repo, "apply", "--yes", "--now", now)
        assert again.returncode == 0, again.stderr
        assert cli_subprocess(repo, "apply", "--yes", "--now", now).returncode == 0
    assert slots_sent(repo) == Counter({"2026-11-20T03:17:00Z": 1, "2026-11-21T03:17:00Z": 1})
    ledger = read_ledger(repo)
    assert {r["id"] for r in ledger["specs"]["nightly/eval"]["queued_runs"]} == {i["id"] for i in local_items(repo)}


def test_a_kill_between_the_sends_of_caught_up_slots_loses_no_id_and_sends_none_twice(repo: Path) -> None:
    """catchup: all takes several slots in one apply: the entry follows the newest, the record names
    the others, and the apply after a kill resolves each (adopts what was sent, sends what was not)."""
    scheduled(repo, 'cron: "0 * * * *"\ncatchup: all')
    apply(repo, "2026-11-20T03:10:00Z")
    killed = cli_subprocess(repo, "apply", "--yes", "--now", "2026-11-20T06:10:00Z",
                            env={"LAUNCHOPS_DIE_AT": "after-enqueue"})  # after the first of three sends
    assert killed.returncode == -9, killed.stderr
    assert len(local_items(repo)) == 1
    again = cli_subprocess(repo, "apply", "--yes", "--now", "2026-11-20T06:20:00Z")
    assert again.returncode == 0, again.stderr
    assert slots_sent(repo) == Counter({f"2026-11-20T0{h}:00:00Z": 1 for h in (4, 5, 6)})
    ledger = read_ledger(repo)
    assert {r["id"] for r in ledger["specs"]["nightly/eval"]["queued_runs"]} == {i["id"] for i in local_items(repo)}
    assert cli_subprocess(repo, "apply", "--yes", "--now", "2026-11-20T06:30:00Z").returncode == 0
    assert len(local_items(repo)) == 3


def test_two_clones_with_push_enqueue_a_slot_once(tmp_path: Path) -> None:
    author = make_repo(tmp_path / "author", examples=False)
    scheduled(author, 'cron: "17 3 * * *"')
    remote = bare_remote(tmp_path / "remote.git", author)
    env = {"LAUNCHOPS_LOCAL_QUEUE": str(tmp_path / "shared-queue.db")}
    clones = []
    for k in range(2):
        clone = tmp_path / f"clone{k}"
        subprocess.run(["git", "clone", "-q", str(remote), str(clone)], check=True)
        git(clone, "config", "user.name", f"runner {k}")
        git(clone, "config", "user.email", f"runner{k}@example.invalid")
        clones.append(clone)
    first = cli(clones[0], "apply", "--yes", "--push", "--now", "2026-11-20T03:10:00Z", env=env)
    assert first.exit_code == 0, first.output
    git(clones[1], "pull", "-q", "--ff-only")
    # both clones apply on the same slot; the second is behind and loses the intent push
    for clone in clones:
        out = cli(clone, "apply", "--yes", "--push", "--now", "2026-11-20T03:17:00Z", env=env)
        assert out.exit_code == 0, out.output
    assert "re-planned" in out.output or "rejected" in out.output
    items = local_items(clones[0], env)
    assert len(items) == 1 and set(sends(items).values()) == {1}


# ---- catch-up, deadlines, edits -----------------------------------------------------------------

@pytest.mark.parametrize(("policy", "expected", "why"), [
    ("catchup: latest", ["2026-11-20T09:00:00Z"], "catchup: latest"),
    ("catchup: all\nmax_catchup: 3", ["2026-11-20T07:00:00Z", "2026-11-20T08:00:00Z", "2026-11-20T09:00:00Z"],
     "max_catchup"),
    ("catchup: none", [], "catchup: none"),
])
def test_a_tick_six_hours_late(repo: Path, policy: str, expected: list[str], why: str) -> None:
    scheduled(repo, 'cron: "0 * * * *"\n' + policy)
    apply(repo, "2026-11-20T03:10:00Z")
    apply(repo, "2026-11-20T09:20:00Z")
    assert sorted(s for s in slots_sent(repo)) == expected
    rec = record(repo)
    assert rec["last_slot"] == "2026-11-20T09:00:00Z"
    missed = {m["slot"] for m in rec["missed"]}
    assert missed == {f"2026-11-20T0{h}:00:00Z" for h in range(4, 10)} - set(expected)
    assert {m["why"] for m in rec["missed"]} == {why}
    apply(repo, "2026-11-20T09:40:00Z")  # nothing more, and nothing twice
    assert sorted(s for s in slots_sent(repo)) == expected


def test_slots_older_than_the_starting_deadline_are_missed_and_shown_by_status(repo: Path) -> None:
    scheduled(repo, 'cron: "0 * * * *"\ncatchup: all\nstarting_deadline: 2h')
    apply(repo, "2026-11-20T03:10:00Z")
    apply(repo, "2026-11-20T09:20:00Z")
    assert sorted(slots_sent(repo)) == ["2026-11-20T08:00:00Z", "2026-11-20T09:00:00Z"]
    late = [m for m in record(repo)["missed"] if m["why"] == "starting_deadline"]
    assert [m["slot"] for m in late] == [f"2026-11-20T0{h}:00:00Z" for h in (7, 6, 5, 4)]
    text = cli(repo, "status").output
    assert "missed 2026-11-20T07:00:00Z (starting_deadline)" in text
    assert "next slot 2026-11-20T10:00:00Z" in text and "last slot 2026-11-20T09:00:00Z" in text
    doc = json.loads(cli(repo, "status", "--format", "json").stdout)
    assert doc["specs"][0]["schedule"]["next_slot"] == "2026-11-20T10:00:00Z"


def test_editing_the_cron_or_timezone_never_backfills(repo: Path) -> None:
    scheduled(repo, 'cron: "0 12 * * *"')
    apply(repo, "2026-11-20T03:00:00Z")
    scheduled(repo, 'cron: "0 1 * * *"')  # 01:00 has passed today: not enqueued after the edit
    assert apply(repo, "2026-11-20T05:00:00Z")["summary"] == {}
    scheduled(repo, 'cron: "0 1 * * *"\ntimezone: America/Los_Angeles')  # 01:00 LA was 09:00Z
    assert apply(repo, "2026-11-20T10:00:00Z")["summary"] == {}
    assert slots_sent(repo) == Counter()
    assert apply(repo, "2026-11-21T09:05:00Z")["summary"] == {"enqueued": 1}
    assert slots_sent(repo) == Counter({"2026-11-21T09:00:00Z": 1})


def test_resuming_after_suspend_does_not_burst(repo: Path) -> None:
    scheduled(repo, 'cron: "0 * * * *"\ncatchup: all')
    apply(repo, "2026-11-20T03:10:00Z")
    scheduled(repo, 'cron: "0 * * * *"\ncatchup: all\nsuspend: true')
    apply(repo, "2026-11-20T04:10:00Z")
    assert "suspended" in cli(repo, "status").output
    scheduled(repo, 'cron: "0 * * * *"\ncatchup: all\nsuspend: false')
    assert apply(repo, "2026-11-20T12:30:00Z")["summary"] == {}
    assert apply(repo, "2026-11-20T13:00:00Z")["summary"] == {"enqueued": 1}
    assert sorted(slots_sent(repo)) == ["2026-11-20T13:00:00Z"]


def test_due_slots_stay_due_while_enqueues_are_blocked(repo: Path) -> None:
    scheduled(repo, 'cron: "0 * * * *"')
    apply(repo, "2026-11-20T03:10:00Z")
    write(repo, "launches/broken.yaml", "apiVersion: launchops/v1\nlaunch: {queue_name: q}\n")
    commit_all(repo, "broken")
    blocked = cli(repo, "apply", "--yes", "--now", "2026-11-20T04:10:00Z")
    assert blocked.exit_code == 1
    (repo / "launches/broken.yaml").unlink()
    commit_all(repo, "fixed")
    assert apply(repo, "2026-11-20T04:30:00Z")["summary"] == {"enqueued": 1}
    assert sorted(slots_sent(repo)) == ["2026-11-20T04:00:00Z"]


def test_apply_refuses_a_now_later_than_the_real_clock(repo: Path) -> None:
    scheduled(repo, 'cron: "0 * * * *"')
    future = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = cli(repo, "apply", "--yes", "--now", future)
    assert out.exit_code == 1 and "later than the real clock" in out.output
    assert not (repo / ".launchops").exists()
    assert cli(repo, "plan", "--now", future).exit_code == 0  # plan may look ahead: it takes nothing
    out = cli(repo, "apply", "--yes", env={"LAUNCHOPS_NOW": future})
    assert out.exit_code == 1 and "later than the real clock" in out.output


def test_plan_lists_due_slots_and_each_schedules_next_slot(repo: Path) -> None:
    scheduled(repo, 'cron: ["0 6 * * *", "30 18 * * 1-5"]\ntimezone: Europe/Berlin')
    apply(repo, "2026-11-20T03:00:00Z")
    doc = plan_doc(repo, "2026-11-20T05:10:00Z")  # 06:00 Berlin is 05:00Z in winter
    assert [(c["action"], c["slot"]) for c in doc["changes"]] == [("slot", "2026-11-20T05:00:00Z")]
    assert doc["summary"]["slot"] == 1
    assert doc["schedules"][0]["next_slot"] == "2026-11-20T17:30:00Z"
    text = cli(repo, "plan", "--now", "2026-11-20T05:10:00Z").output
    assert "@ nightly/eval  (slot: slot 2026-11-20T05:00:00Z is due" in text and "1 slot due" in text
    comment = cli(repo, "plan", "--format", "markdown", "--now", "2026-11-20T05:10:00Z").output
    assert "to remove, 1 slot due" in comment and "| create | update | retry | remove | slot | unchanged |" in comment


# ---- concurrency ---------------------------------------------------------------------------------

def _settle(repo: Path, state: str) -> None:
    """The agent took the item: the local queue's row and the ledger both say so (status --refresh)."""
    import sqlite3

    with sqlite3.connect(repo / ".launchops" / "queue.db") as db:
        db.execute("UPDATE items SET state = ? WHERE state = 'pending'", (state,))
    assert cli(repo, "status", "--refresh").exit_code == 0


def test_concurrency_forbid_skips_a_slot_while_the_previous_item_runs(repo: Path) -> None:
    scheduled(repo, 'cron: "0 * * * *"\nconcurrency: forbid')
    apply(repo, "2026-11-20T03:10:00Z")
    apply(repo, "2026-11-20T04:05:00Z")
    assert apply(repo, "2026-11-20T05:05:00Z")["summary"] == {}  # 04:00's item is still pending
    assert record(repo)["missed"][0]["slot"] == "2026-11-20T05:00:00Z"
    assert "concurrency: forbid" in record(repo)["missed"][0]["why"]
    _settle(repo, "finished")
    assert apply(repo, "2026-11-20T06:05:00Z")["summary"] == {"enqueued": 1}
    items = local_items(repo)
    assert sorted(i["state"] for i in items) == ["finished", "pending"] and set(sends(items).values()) == {1}
    assert read_ledger(repo)["specs"]["nightly/eval"]["queued_runs"][-1]["slot"] == "2026-11-20T06:00:00Z"


def test_concurrency_replace_withdraws_the_previous_item_if_still_pending(repo: Path) -> None:
    scheduled(repo, 'cron: "0 * * * *"\nconcurrency: replace')
    apply(repo, "2026-11-20T03:10:00Z")
    apply(repo, "2026-11-20T04:05:00Z")
    first = read_ledger(repo)["specs"]["nightly/eval"]["queued_runs"][-1]["id"]
    apply(repo, "2026-11-20T05:05:00Z")
    runs = {r["id"]: r for r in read_ledger(repo)["specs"]["nightly/eval"]["queued_runs"]}
    assert runs[first]["state"] == "withdrawn"
    assert [i["spec_id"] for i in local_items(repo) if i["state"] == "pending"] == ["nightly/eval"]
    _settle(repo, "running")  # a running item is not touched
    apply(repo, "2026-11-20T06:05:00Z")
    assert sorted(i["state"] for i in local_items(repo)) == ["pending", "running", "withdrawn"]


# ---- validation and DST -------------------------------------------------------------------------

def test_impossible_six_field_and_unknown_timezone_are_errors_at_their_line(repo: Path) -> None:
    write(repo, "launches/a.yaml", SPEC.format(schedule='  cron: "0 0 30 2 *"'))
    write(repo, "launches/b.yaml", SPEC.format(schedule='  cron: "0 0 3 * * *"'))
    write(repo, "launches/c.yaml", SPEC.format(schedule='  cron: "0 3 * * *"\n  timezone: Mars/Olympus'))
    write(repo, "launches/d.yaml", SPEC.format(schedule='  cron: ["0 3 * * *", "70 3 * * *"]'))
    out = cli(repo, "validate")
    assert out.exit_code == 1
    lines = out.output.splitlines()
    assert any(line.startswith("launches/a.yaml:6:9: schedule.cron:") and "can never fire" in line for line in lines)
    assert any(line.startswith("launches/b.yaml:6:9: schedule.cron:") and "6 fields" in line for line in lines)
    assert any(line.startswith("launches/c.yaml:7:13: schedule.timezone:") and "unknown timezone" in line
               for line in lines)
    assert any(line.startswith("launches/d.yaml:6:23: schedule.cron[1]: '70 3 * * *'") for line in lines)


def _fires(expr: str, zone: str, after: str, until: str) -> list[str]:
    sched = schedule.Schedule((expr,), zone)
    found = schedule.fires_between(sched, schedule.parse_time(after), schedule.parse_time(until))
    return sorted(schedule.iso(f) or "" for f in found)


@pytest.mark.parametrize(("expr", "zone", "after", "until", "expected"), [
    # Europe/Berlin, spring 2026-03-29: 02:00 -> 03:00; 02:30 does not exist and fires at the jump
    ("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z", ["2026-03-29T01:00:00Z"]),
    # Europe/Berlin, autumn 2026-10-25: 03:00 -> 02:00; 02:30 happens twice and fires once
    ("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", "2026-10-25T12:00:00Z", ["2026-10-25T00:30:00Z"]),
    # America/Los_Angeles, spring 2026-03-08: 02:00 -> 03:00
    ("30 2 * * *", "America/Los_Angeles", "2026-03-07T20:00:00Z", "2026-03-08T20:00:00Z", ["2026-03-08T10:00:00Z"]),
    # America/Los_Angeles, autumn 2026-11-01: 02:00 -> 01:00; 01:30 happens twice
    ("30 1 * * *", "America/Los_Angeles", "2026-10-31T20:00:00Z", "2026-11-01T20:00:00Z", ["2026-11-01T08:30:00Z"]),
    # Australia/Lord_Howe, 2026-04-05: 02:00 -> 01:30 (a 30-minute shift); 01:45 happens twice
    ("45 1 * * *", "Australia/Lord_Howe", "2026-04-04T06:00:00Z", "2026-04-05T06:00:00Z", ["2026-04-04T14:45:00Z"]),
    # Australia/Lord_Howe, 2026-10-04: 02:00 -> 02:30; 02:15 does not exist and fires at the jump
    ("15 2 * * *", "Australia/Lord_Howe", "2026-10-03T06:00:00Z", "2026-10-04T06:00:00Z", ["2026-10-03T15:30:00Z"]),
])
def test_dst_a_skipped_time_fires_at_the_jump_and_a_repeated_one_once(expr: str, zone: str, after: str, until: str,
                                                                       expected: list[str]) -> None:
    assert _fires(expr, zone, after, until) == expected


def test_dst_through_apply_berlin_autumn_enqueues_the_repeated_time_once(repo: Path) -> None:
    scheduled(repo, 'cron: "30 2 * * *"\ntimezone: Europe/Berlin\ncatchup: all')
    apply(repo, "2026-10-24T12:00:00Z")
    for now in ("2026-10-25T00:31:00Z", "2026-10-25T01:31:00Z", "2026-10-25T02:00:00Z"):
        apply(repo, now)
    assert slots_sent(repo) == Counter({"2026-10-25T00:30:00Z": 1})


# ---- cost ----------------------------------------------------------------------------------------

def test_a_fresh_clone_finds_due_slots_without_reading_the_spec_file(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler import engine, specs as specs_mod
    from reconciler.plan import make_plan
    from reconciler.render import documents
    from reconciler.settings import load_settings

    author = make_repo(tmp_path / "author", examples=False)
    scheduled(author, 'cron: "0 * * * *"\ntimezone: Europe/Berlin\ncatchup: all\nmax_catchup: 2')
    apply(author, "2026-11-20T03:10:00Z")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(author), str(clone)], check=True)
    monkeypatch.setenv(schedule.NOW_ENV, "2026-11-20T06:10:00Z")
    settings = load_settings(clone)
    full = make_plan(specs_mod.load_specs(settings).specs, engine.ledger(settings))
    seen = spec_reads(monkeypatch)
    planned = engine.plan(settings).plan
    assert planned is not None and seen == []
    assert documents.plan(planned) == documents.plan(full)
    assert [c.slot for c in planned.changes] == ["2026-11-20T05:00:00Z", "2026-11-20T06:00:00Z"]


# ---- matrix ----------------------------------------------------------------------------------------

def test_a_matrix_spec_with_a_schedule_enqueues_every_cell_once_per_slot(repo: Path) -> None:
    write(repo, "launches/sweep.yaml", """apiVersion: launchops/v1
matrix:
  axes: {lr: [0.1, 0.2], seed: [0, 1]}
launch:
  docker_image: python:3.12-slim
  queue_name: default
  config: {overrides: {run_config: {lr: "${matrix.lr}", seed: "${matrix.seed}"}}}
schedule:
  cron: "0 * * * *"
""")
    commit_all(repo, "sweep")
    assert apply(repo, "2026-11-20T03:10:00Z")["summary"] == {}
    for now in ("2026-11-20T04:10:00Z", "2026-11-20T04:20:00Z", "2026-11-20T05:01:00Z"):
        apply(repo, now)
    items = local_items(repo)
    assert set(sends(items).values()) == {1}
    per_cell = Counter(i["spec_id"] for i in items)
    assert per_cell == Counter({f"sweep[lr={lr},seed={seed}]": 2 for lr in ("0.1", "0.2") for seed in (0, 1)})
    runs = [r for e in read_ledger(repo)["specs"].values() for r in e["queued_runs"]]
    assert Counter(r["slot"] for r in runs) == Counter({"2026-11-20T05:00:00Z": 4, "2026-11-20T04:00:00Z": 4})


def test_a_new_schedules_first_slots_count_against_max_enqueue_and_later_ones_do_not(repo: Path) -> None:
    write(repo, "launchops.toml", "max_enqueue = 2\n")
    write(repo, "launches/sweep.yaml", """apiVersion: launchops/v1
matrix:
  axes: {seed: [0, 1, 2]}
launch:
  docker_image: python:3.12-slim
  config: {overrides: {run_config: {seed: "${matrix.seed}"}}}
schedule:
  cron: "0 * * * *"
""")
    commit_all(repo, "sweep")
    apply(repo, "2026-11-20T03:10:00Z")
    refused = cli(repo, "apply", "--yes", "--now", "2026-11-20T04:10:00Z")
    assert refused.exit_code == 1 and "max_enqueue" in refused.output, refused.output
    assert local_items(repo) == []
    assert apply(repo, "2026-11-20T04:10:00Z", "--max-enqueue", "3")["summary"] == {"enqueued": 3}
    assert apply(repo, "2026-11-20T05:10:00Z")["summary"] == {"enqueued": 3}  # already applied: not counted
