"""Exactly-once when git moves under apply: a branch switch between a kill and the rerun, a
detached HEAD left behind, a reverted ledger commit (the journal follows the history it was made
on; a marker that may have been sent is looked up before it is sent again); a claim whose pid was
reused; claims renewed by a long healthy apply, and an apply that could not renew stops sending.

Every apply runs through the CLI in its own process on real repositories; the local queue logs
every enqueue call (`sends`), so a second send of one change shows although the queue keeps one
item per marker.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import commit_all, make_repo, read_ledger, write  # noqa: E402
from crash_kit import KILLED, bare_remote, git, launch_of, launchops, ledger_ids, local_items, spec_text  # noqa: E402
from reconciler.lock import machine, pid_start  # noqa: E402
from reconciler.specs import digest_of  # noqa: E402


def _apply(repo: Path, *args: str, env: Mapping[str, str] | None = None, die_at: str | None = None
           ) -> tuple[int, dict[str, Any]]:
    run = launchops(repo, "apply", "--yes", "--format", "json", *args, env=env, die_at=die_at)
    if run.returncode == KILLED:
        return run.returncode, {}
    assert run.stdout.startswith("{"), run.stdout + run.stderr
    return run.returncode, json.loads(run.stdout)


def _results(document: Mapping[str, Any]) -> dict[str, str]:
    return {o["id"]: o["result"] for o in document["outcomes"]}


def _ledger(repo: Path, rev: str = "HEAD") -> dict[str, Any]:
    return read_ledger(repo, rev)


def _sends(repo: Path, env: Mapping[str, str] | None = None) -> Counter[str]:
    return Counter({i["spec_id"]: i["sends"] for i in local_items(repo, env)})


# ---- hole 1: the journal follows the history, not the clone --------------------------------------

def test_branch_switch_between_a_kill_and_the_rerun(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", examples=False)
    write(repo, "launches/shared.yaml", spec_text(1))
    commit_all(repo, "shared spec")
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "launches/feat.yaml", spec_text(2))
    commit_all(repo, "a spec main never had")
    assert _apply(repo, die_at="before-ledger-write:1")[0] == KILLED  # both sent, no ledger written
    sent = {i["spec_id"]: i["id"] for i in local_items(repo)}
    assert set(sent) == {"feat", "shared"}

    git(repo, "checkout", "-q", "main")
    code, on_main = _apply(repo)
    assert code == 0, on_main
    # feature's events stay out of main's ledger; the spec both share was sent: found, not resent
    assert _results(on_main) == {"shared": "adopted"}
    assert set(_ledger(repo)["specs"]) == {"shared"}
    assert ledger_ids(_ledger(repo)) == [sent["shared"]]

    git(repo, "checkout", "-q", "feature")
    code, on_feature = _apply(repo)
    assert code == 0, on_feature
    assert "enqueued" not in _results(on_feature).values(), on_feature
    assert sorted(ledger_ids(_ledger(repo))) == sorted(sent.values())
    assert _sends(repo) == {"feat": 1, "shared": 1}
    assert launchops(repo, "plan", "--detailed-exitcode").returncode == 0


def test_detached_head_apply_then_checkout(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", examples=False)
    write(repo, "launches/a.yaml", spec_text(1))
    commit_all(repo)
    git(repo, "checkout", "-q", "--detach")
    assert _apply(repo)[0] == 0  # its ledger commit is on no branch
    git(repo, "checkout", "-q", "main")

    code, document = _apply(repo)

    assert code == 0, document
    assert _results(document) == {"a": "adopted"}
    assert _sends(repo) == {"a": 1}
    assert ledger_ids(_ledger(repo)) == [i["id"] for i in local_items(repo)]


@pytest.mark.parametrize("where", ["same clone", "fresh clone"])
def test_reverted_ledger_commit(tmp_path: Path, where: str) -> None:
    """A fresh clone has no journal: git history is what says the marker was used."""
    env = {"LAUNCHOPS_LOCAL_QUEUE": str(tmp_path / "queue.db")}  # clones on one machine share it
    repo = make_repo(tmp_path / "repo", examples=False)
    for spec_id in ("a", "b"):
        write(repo, f"launches/{spec_id}.yaml", spec_text(1))
    commit_all(repo)
    assert _apply(repo, env=env)[0] == 0
    write(repo, "launches/b.yaml", spec_text(2))
    commit_all(repo, "edit b")
    assert _apply(repo, env=env)[0] == 0
    git(repo, "revert", "--no-edit", "HEAD")  # b's update is gone from the ledger, not from the queue
    if where == "fresh clone":
        subprocess.run(["git", "clone", "-q", str(repo), str(tmp_path / "clone")], check=True)
        repo = tmp_path / "clone"

    code, document = _apply(repo, env=env)

    assert code == 0, document
    assert _results(document) == {"b": "adopted"}
    items = local_items(repo, env)
    assert Counter(i["spec_id"] for i in items) == {"a": 1, "b": 2}
    assert all(i["sends"] == 1 for i in items), items
    assert sorted(ledger_ids(_ledger(repo))) == sorted(i["id"] for i in items)


# ---- hole 7: a pid reused by another process ------------------------------------------------------

def _claimed(repo: Path, claim: dict[str, Any]) -> None:
    """A committed ledger whose spec `a` is pending, claimed by `claim`."""
    launch = launch_of(1)
    ledger = {"specs": {"a": {"applied_commit": None, "change": 1, "claim": claim, "digest": digest_of(launch),
                              "launch": launch, "queued_runs": [], "source": "launches/a.yaml",
                              "status": "pending"}}, "version": 1}
    write(repo, ".launchops/ledger.json", json.dumps(ledger, indent=2, sort_keys=True) + "\n")
    commit_all(repo, "a pending intent")


@pytest.mark.parametrize("case", ["reused pid", "claimant alive", "no start, old", "no start, fresh"])
def test_claim_of_a_reused_pid(tmp_path: Path, case: str) -> None:
    repo = make_repo(tmp_path / "repo", examples=False)
    write(repo, "launches/a.yaml", spec_text(1))
    sleeper = subprocess.Popen(["sleep", "60"])  # a live process that is not the claimant
    try:
        start = pid_start(sleeper.pid)
        assert start is not None, "needs /proc"
        at = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - (3600 if "old" in case else 0)))
        claim = {"host": "here", "pid": sleeper.pid, "machine": machine(), "at": at}
        if case == "reused pid":
            claim["pid_start"] = start - 100  # the claimant started earlier: this pid is someone else now
        elif case == "claimant alive":
            claim["pid_start"] = start
        _claimed(repo, claim)

        code, document = _apply(repo)
    finally:
        sleeper.kill()
        sleeper.wait()

    assert code == 0, document
    expected = "elsewhere" if case in ("claimant alive", "no start, fresh") else "enqueued"
    assert _results(document) == {"a": expected}, document


# ---- hole 9: claims renewed by a live claimant; a claimant that cannot renew stops ---------------

def _start(repo: Path, env: Mapping[str, str]) -> subprocess.Popen[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("LAUNCHOPS_")}
    full.update(env)
    return subprocess.Popen([sys.executable, "-m", "reconciler", "-C", str(repo), "apply", "--yes", "--push",
                             "--format", "json"], env=full, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)


def _wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    for _ in range(1200):  # bounded: 60 s at most
        if path.exists() or proc.poll() is not None:
            break
        time.sleep(0.05)
    assert path.exists(), f"{path.name} never reached: {proc.communicate()}"


def _wait_until(moment: float) -> None:
    for _ in range(1200):
        if time.time() >= moment:
            return
        time.sleep(0.05)


def _claim_time(remote: Path) -> float:
    ledger = read_ledger(remote, "main")
    at = {e["claim"]["at"] for e in ledger["specs"].values() if e.get("claim")}
    assert len(at) == 1, ledger
    import datetime

    return datetime.datetime.fromisoformat(at.pop()).timestamp()


def _two_clones(tmp_path: Path) -> tuple[Path, Path, Path]:
    first = make_repo(tmp_path / "a", examples=False)
    for spec_id in ("a", "b", "c"):
        write(first, f"launches/{spec_id}.yaml", spec_text(1))
    commit_all(first)
    remote = bare_remote(tmp_path / "remote.git", first)
    subprocess.run(["git", "clone", "-q", str(remote), str(tmp_path / "b")], check=True)
    return first, tmp_path / "b", remote


LEASE = 4


def test_a_long_healthy_apply_renews_its_claims(tmp_path: Path) -> None:
    lease = 2 * LEASE  # the other apply has half of it to start and read the claims: 4 s, on a busy machine too
    first, second, remote = _two_clones(tmp_path)
    shared = {"LAUNCHOPS_LOCAL_QUEUE": str(tmp_path / "queue.db"), "LAUNCHOPS_CLAIM_LEASE": str(lease)}
    held, renewed = tmp_path / "held", tmp_path / "renewed"
    slow = _start(first, {**shared, "LAUNCHOPS_PAUSE_AT": f"after-enqueue:{held},after-renew:{renewed}"})
    _wait_for(Path(f"{held}.paused"), slow)  # intents pushed, `a` sent; half a lease passes
    _wait_until(_claim_time(remote) + lease / 2 + 1.1)
    held.touch()
    _wait_for(Path(f"{renewed}.paused"), slow)  # before sending `b`, it renewed its claims
    _wait_until(_claim_time(remote) - lease / 2 + lease)  # the first claims would have run out by now

    other = launchops(second, "apply", "--yes", "--push", "--format", "json",
                      env={**shared, "LAUNCHOPS_MACHINE": "another-machine"})
    renewed.touch()
    out, err = slow.communicate(timeout=120)

    assert other.returncode == 0, other.stdout + other.stderr
    assert set(_results(json.loads(other.stdout)).values()) <= {"elsewhere"}, other.stdout
    assert slow.returncode == 0, out + err
    assert _sends(first, shared) == {"a": 1, "b": 1, "c": 1}


def test_a_claimant_that_cannot_renew_stops_sending(tmp_path: Path) -> None:
    """Stalled past its lease, another machine took its changes over; when it wakes, its renewal
    push is rejected, and it sends nothing more."""
    first, second, remote = _two_clones(tmp_path)
    shared = {"LAUNCHOPS_LOCAL_QUEUE": str(tmp_path / "queue.db"), "LAUNCHOPS_CLAIM_LEASE": str(LEASE)}
    held = tmp_path / "held"
    stalled = _start(first, {**shared, "LAUNCHOPS_PAUSE_AT": f"after-enqueue:{held}"})
    _wait_for(Path(f"{held}.paused"), stalled)
    _wait_until(_claim_time(remote) + LEASE + 1.1)

    other = launchops(second, "apply", "--yes", "--push", "--format", "json",
                      env={**shared, "LAUNCHOPS_MACHINE": "another-machine"})
    assert other.returncode == 0, other.stdout + other.stderr
    assert "elsewhere" not in _results(json.loads(other.stdout)).values()
    held.touch()
    out, err = stalled.communicate(timeout=120)

    assert "enqueued" not in [r for i, r in _results(json.loads(out)).items() if i != "a"], out + err
    assert _sends(first, shared) == {"a": 1, "b": 1, "c": 1}
    for clone in (first, second):  # both converge on one ledger holding every ID
        assert launchops(clone, "apply", "--yes", "--push", env=shared).returncode == 0
    git(first, "pull", "-q", "--ff-only")
    ids = sorted(i["id"] for i in local_items(first, shared))
    assert sorted(ledger_ids(read_ledger(remote, "main"))) == ids
