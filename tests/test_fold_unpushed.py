"""QueuedRun IDs held only by unpushed ledger commits survive a rejected push.

Clone A applies without --push: its IDs live only in a local ledger commit (the journal is cleared
once that commit is made). Meanwhile clone B moves the remote's ledger. A's next `apply --push` is
rejected, drops its unpushed commit to catch up, and must fold what that commit held onto the
remote's ledger: one queue (shared by both clones, as clones on one machine may share one) shows
that nothing is sent twice.
"""
from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from conftest import cli, commit_all, git, make_repo, read_ledger, write
from crash_kit import bare_remote
from reconciler import journal


def _spec(name: str) -> str:
    return f"apiVersion: launchops/v1\nlaunch: {{docker_image: 'registry.example/{name}:1'}}\n"


def _clone(remote: Path, path: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(remote), str(path)], check=True, capture_output=True)
    git(path, "config", "user.name", "Test User")
    git(path, "config", "user.email", "test@example.invalid")
    return path


def _author_and_remote(tmp_path: Path) -> tuple[Path, Path]:
    """A repository whose one commit holds spec s0, pushed to a new bare origin it tracks."""
    author = make_repo(tmp_path / "author", examples=False)
    write(author, "launches/s0.yaml", _spec("s0"))
    commit_all(author, "s0")
    return author, bare_remote(tmp_path / "remote.git", author)


def _remote_ledger(remote: Path) -> dict[str, Any]:
    specs: dict[str, Any] = read_ledger(remote, "main")["specs"]
    return specs


def test_ids_of_an_unpushed_ledger_commit_are_folded_onto_the_remotes_ledger(tmp_path: Path) -> None:
    env = {"LAUNCHOPS_LOCAL_QUEUE": str(tmp_path / "shared-queue.db")}
    author, remote = _author_and_remote(tmp_path)
    a, b = _clone(remote, tmp_path / "a"), _clone(remote, tmp_path / "b")

    assert cli(b, "apply", "--yes", "--push", env=env).exit_code == 0  # s0, published
    git(author, "pull", "-q", "--ff-only")
    write(author, "launches/s1.yaml", _spec("s1"))
    commit_all(author, "s1")
    git(author, "push", "-q")

    git(a, "pull", "-q", "--ff-only")
    local = cli(a, "apply", "--yes", env=env)  # s1, recorded only in a commit A does not push
    assert local.exit_code == 0, local.output
    a_commit = git(a, "rev-parse", "HEAD").strip()
    s1_run = read_ledger(a)["specs"]["s1"]["queued_runs"][0]["id"]
    assert journal.peek(a / ".launchops" / "journal.db") == ([], [])  # the commit is the only record of s1_run

    db = sqlite3.connect(tmp_path / "shared-queue.db")  # an agent takes s0's item ...
    db.execute("UPDATE items SET state = 'claimed' WHERE spec_id = 's0'")
    db.commit()
    db.close()
    git(b, "pull", "-q", "--ff-only")
    refreshed = cli(b, "status", "--refresh", "--push", env=env)  # ... and B publishes that: the remote moves
    assert refreshed.exit_code == 0, refreshed.output
    assert "s1" not in _remote_ledger(remote)

    published = cli(a, "apply", "--yes", "--push", env=env)
    assert published.exit_code == 0, published.output
    assert "the ledger push was rejected" in published.output

    ledger = _remote_ledger(remote)
    assert ledger["s0"]["queued_runs"][-1]["state"] == "claimed"  # B's refresh is kept
    assert ledger["s1"]["status"] == "applied"
    assert [r["id"] for r in ledger["s1"]["queued_runs"]] == [s1_run]  # A's ID is folded in
    git(a, "fetch", "-q")
    assert git(a, "rev-parse", "HEAD").strip() == git(a, "rev-parse", "origin/main").strip()
    assert git(a, "branch", "-q", "--contains", a_commit, "-a").strip() == ""  # the old commit is gone
    items = json.loads(cli(a, "queue", "list", "--format", "json", env=env).stdout)["items"]
    assert sorted(i["spec_id"] for i in items) == ["s0", "s1"]
    assert [i.get("sends", 1) for i in items] == [1, 1]  # nothing was sent twice
    git(b, "pull", "-q", "--ff-only")
    for clone in (a, b):
        assert cli(clone, "plan", "--detailed-exitcode", env=env).exit_code == 0


def _sends(repo: Path, env: dict[str, str]) -> dict[str, int]:
    listed = json.loads(cli(repo, "queue", "list", "--format", "json", env=env).output)
    return {item["spec_id"]: item["sends"] for item in listed["items"]}


def test_an_apply_behind_the_remotes_ledger_looks_up_what_the_remote_sent(tmp_path: Path) -> None:
    """A developer applies on a laptop a spec change that CI has already applied and published:
    the laptop fetched, but its ledger is behind the remote's. The change has the same identity
    (and marker) in both clones, so the laptop looks it up and adopts CI's item instead of sending
    it a second time."""
    env = {"LAUNCHOPS_LOCAL_QUEUE": str(tmp_path / "shared-queue.db")}
    remote = _author_and_remote(tmp_path)[1]
    ci, laptop = _clone(remote, tmp_path / "ci"), _clone(remote, tmp_path / "laptop")

    published = cli(ci, "apply", "--yes", "--push", env=env)  # CI: the change, sent and published
    assert published.exit_code == 0, published.output
    git(laptop, "fetch", "-q")  # the laptop knows the remote moved, but has not merged it

    applied = cli(laptop, "apply", "--yes", env=env)

    assert applied.exit_code == 0, applied.output
    assert "adopted" in applied.output, applied.output
    assert _sends(laptop, env) == {"s0": 1}  # one send: the laptop found CI's item by its marker
    ci_id = _remote_ledger(remote)["s0"]["queued_runs"][0]["id"]
    assert [r["id"] for r in read_ledger(laptop)["specs"]["s0"]["queued_runs"]] == [ci_id]
