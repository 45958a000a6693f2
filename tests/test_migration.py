"""Migration from ledger version 1, on ledgers written by the version 1 code itself.

The version 1 launchops is this repository's source at a commit before version 2 (`git archive`
into a temp folder, run with PYTHONPATH): it applies, is killed half-way, leaves a journal; then
this launchops migrates, and the version 1 launchops is shown to refuse the migrated repository.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, cli, commit_all, git, make_repo, read_ledger, write
from crash_kit import local_items, sends, spec_text
from reconciler.ledger import marker

V1_COMMIT = "ec58883c4c69174e8dcee6b105c8834d38ca3480"  # the last commit whose launchops wrote version 1


@pytest.fixture(scope="module")
def v1_code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("v1")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", V1_COMMIT, "reconciler"],
                             capture_output=True, check=False)
    if archive.returncode:
        pytest.skip("the version 1 source is not in this clone's history (a shallow clone?)")
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def v1(code: Path, repo: Path, *args: str, die_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    env.pop("LAUNCHOPS_DIE_AT", None)
    if die_at:
        env["LAUNCHOPS_DIE_AT"] = die_at
    return subprocess.run([sys.executable, "-m", "reconciler", "-C", str(repo), *args], capture_output=True,
                          text=True, env=env, timeout=120, stdin=subprocess.DEVNULL, cwd=code)


def _v1_world(code: Path, tmp_path: Path) -> Path:
    """A repository applied by version 1: `a` edited and its apply killed after the enqueue (the
    item is on the queue, its ID only... nowhere: a pending intent in the journal), `b` applied,
    `c` removed."""
    repo = make_repo(tmp_path / "repo", examples=False)
    for name in "abc":
        write(repo, f"launches/{name}.yaml", spec_text(1))
    commit_all(repo)
    assert v1(code, repo, "apply", "--yes").returncode == 0
    (repo / "launches/c.yaml").unlink()
    commit_all(repo, "remove c")
    assert v1(code, repo, "apply", "--yes").returncode == 0
    write(repo, "launches/a.yaml", spec_text(2))
    commit_all(repo, "edit a")
    assert v1(code, repo, "apply", "--yes", die_at="after-enqueue").returncode == -9
    old = json.loads((repo / ".launchops/ledger.json").read_text())
    assert old["version"] == 1 and old["specs"]["c"]["status"] == "removed"
    return repo


def test_plan_says_the_first_apply_migrates_and_apply_migrates_without_sending_twice(v1_code: Path,
                                                                                      tmp_path: Path) -> None:
    repo = _v1_world(v1_code, tmp_path)
    planned = cli(repo, "plan")
    assert planned.exit_code == 0, planned.output
    assert "the first apply (or launchops migrate) writes version 2" in planned.output
    assert "retry" in planned.output  # a: the killed apply's pending intent, folded from the journal

    applied = cli(repo, "apply", "--yes")
    assert applied.exit_code == 0, applied.output
    assert "migrate the ledger to version 2" in applied.output
    assert "adopted" in applied.output  # a: found by its version 1 marker, not sent again
    assert all(n == 1 for n in sends(local_items(repo)).values())
    assert len(local_items(repo)) == 4  # a twice (two changes), b, c

    subjects = git(repo, "log", "--format=%s", "-3").splitlines()
    migration = next(s for s in subjects if "migrate the ledger to version 2" in s)
    commit = git(repo, "log", "--format=%H", f"--grep={migration[:40]}", "-1").strip()
    assert "Nothing was enqueued" in git(repo, "log", "-1", "--format=%B", commit)
    touched = git(repo, "show", "--name-only", "--format=", commit).split()
    assert ".launchops/ledger.json" in touched and ".launchops/ledger/_ledger.json" in touched
    assert json.loads((repo / ".launchops/ledger.json").read_text()) == {"moved_to": ".launchops/ledger/",
                                                                          "version": 2}
    assert git(repo, "ls-files", ".launchops/ledger/").split() == [
        ".launchops/ledger/_ledger.json", ".launchops/ledger/a.yaml.json", ".launchops/ledger/b.yaml.json",
        ".launchops/ledger/c.yaml.json"]
    ledger = read_ledger(repo)
    assert {k: e["status"] for k, e in ledger["specs"].items()} == {"a": "applied", "b": "applied", "c": "removed"}
    assert git(repo, "status", "--porcelain") == ""
    assert cli(repo, "plan", "--detailed-exitcode").exit_code == 0


def test_migrate_command_and_a_version_1_launchops_refuses_the_result(v1_code: Path, tmp_path: Path) -> None:
    repo = _v1_world(v1_code, tmp_path)
    before = local_items(repo)
    out = cli(repo, "migrate")
    assert out.exit_code == 0, out.output
    assert local_items(repo) == before  # nothing enqueued
    ledger = read_ledger(repo)
    assert ledger["specs"]["a"]["status"] == "pending" and ledger["specs"]["a"]["marker"].startswith("lo-")
    for name in "ab":  # as apply's migration: a fresh clone's plan reads neither spec file
        shard = json.loads((repo / f".launchops/ledger/{name}.yaml.json").read_text())
        assert shard["made_from"]["spec"] == git(repo, "rev-parse", f"HEAD:launches/{name}.yaml").strip()
    for args in (("plan",), ("apply", "--yes"), ("status",)):
        old = v1(v1_code, repo, *args)
        assert old.returncode == 1, (args, old.stdout, old.stderr)
        assert "ledger version 2" in old.stderr, old.stderr
    assert local_items(repo) == before
    assert cli(repo, "migrate").output.strip() == "the ledger is version 2 already; nothing to do"


def test_a_ledger_newer_than_launchops_is_refused_naming_its_version(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", examples=False)
    write(repo, "launches/a.yaml", spec_text(1))
    commit_all(repo)
    write(repo, ".launchops/ledger/_ledger.json", json.dumps({"version": 3, "repository": "0" * 32}))
    out = cli(repo, "plan")
    assert out.exit_code == 1 and "ledger version 3 is newer than this launchops reads" in out.stderr


def test_an_unknown_entry_keeps_its_version_1_marker_and_is_looked_up_not_sent_again(v1_code: Path,
                                                                                      tmp_path: Path) -> None:
    """Version 1 records an attempt W&B may or may not have taken as `unknown`. The local queue
    never answers that way, so the entry is the one version 1 wrote for `b`'s applied change with
    its status set to unknown (change and digest as version 1 wrote them, so its marker is the one
    `b`'s item on the queue carries). Migrated, the entry keeps that marker, and the retry finds
    the item by it."""
    repo = _v1_world(v1_code, tmp_path)
    path = repo / ".launchops/ledger.json"
    old = json.loads(path.read_text())
    entry = old["specs"]["b"]
    (v1_marker,) = [i["marker"] for i in local_items(repo) if i["spec_id"] == "b"]  # from id, digest, change
    old["specs"]["b"] = {**entry, "status": "unknown", "error": "the backend did not answer"}
    path.write_text(json.dumps(old, indent=2, sort_keys=True) + "\n")
    commit_all(repo, "a version 1 ledger with an unknown attempt")
    before = sends(local_items(repo))
    assert before[v1_marker] == 1

    assert cli(repo, "migrate").exit_code == 0
    migrated = read_ledger(repo)["specs"]["b"]
    assert migrated["status"] == "unknown" and migrated["marker"] == v1_marker
    planned = cli(repo, "plan")
    assert "b" in planned.output and "retry" in planned.output, planned.output
    applied = cli(repo, "apply", "--yes")
    assert applied.exit_code == 0, applied.output
    # looked up by its version 1 marker and adopted: one item for b, sent once
    assert [(i["marker"], i["sends"]) for i in local_items(repo) if i["spec_id"] == "b"] == [(v1_marker, 1)]
    assert read_ledger(repo)["specs"]["b"]["status"] == "applied"
    assert cli(repo, "plan", "--detailed-exitcode").exit_code == 0


def test_apply_push_publishes_the_migration_before_it_enqueues_anything(v1_code: Path, tmp_path: Path) -> None:
    """With --push the migration commit reaches the remote before any intent or enqueue: killed
    at its first enqueue, apply has sent nothing, and the remote already holds version 2 (with
    the .gitignore that lets the shards be committed)."""
    from crash_kit import bare_remote

    repo = _v1_world(v1_code, tmp_path)
    remote = bare_remote(tmp_path / "remote.git", repo)
    write(repo, "launches/d.yaml", spec_text(1))
    commit_all(repo, "a new spec")
    git(repo, "push", "-q")
    before = local_items(repo)
    killed = subprocess.run([sys.executable, "-m", "reconciler", "-C", str(repo), "apply", "--yes", "--push"],
                            capture_output=True, text=True, env={**os.environ, "LAUNCHOPS_DIE_AT": "before-enqueue"},
                            timeout=120, stdin=subprocess.DEVNULL)
    assert killed.returncode == -9, killed.stdout + killed.stderr
    assert sends(local_items(repo)) == sends(before)  # killed before its first enqueue: nothing was sent
    subjects = git(remote, "log", "--format=%s", "main").splitlines()
    migration = [i for i, s in enumerate(subjects) if "migrate the ledger to version 2" in s]
    assert migration, subjects
    assert json.loads(git(remote, "show", "main:.launchops/ledger.json")) == {"moved_to": ".launchops/ledger/",
                                                                              "version": 2}
    assert "!ledger/**" in git(remote, "show", "main:.launchops/.gitignore").splitlines()
    assert json.loads(git(remote, "show", "main:.launchops/ledger/_ledger.json"))["version"] == 2

    again = subprocess.run([sys.executable, "-m", "reconciler", "-C", str(repo), "apply", "--yes", "--push"],
                           capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert again.returncode == 0, again.stdout + again.stderr
    assert all(n == 1 for n in sends(local_items(repo)).values())
    assert {i["spec_id"] for i in local_items(repo)} >= {"a", "b", "c", "d"}
    assert git(repo, "status", "--porcelain") == ""


def test_two_clones_migrating_at_once_converge_on_the_one_that_pushed_first(v1_code: Path, tmp_path: Path) -> None:
    """Clone A runs `migrate --push`; clone B, which has not seen it, runs `apply --push`: B's own
    migration is refused by the remote, and B takes A's (its repository id, so its markers), sends
    nothing, and what either clone enqueues afterwards carries A's id."""
    from crash_kit import bare_remote

    env = {"LAUNCHOPS_LOCAL_QUEUE": str(tmp_path / "shared-queue.db")}
    repo = make_repo(tmp_path / "repo", examples=False)
    for name in "ab":
        write(repo, f"launches/{name}.yaml", spec_text(1))
    commit_all(repo)
    v1_env = {**os.environ, "PYTHONPATH": str(v1_code), **env}
    done = subprocess.run([sys.executable, "-m", "reconciler", "-C", str(repo), "apply", "--yes"],
                          capture_output=True, text=True, env=v1_env, cwd=v1_code, timeout=120)
    assert done.returncode == 0, done.stderr
    remote = bare_remote(tmp_path / "remote.git", repo)
    clones = []
    for name in ("a", "b"):
        clone = tmp_path / f"clone-{name}"
        git(tmp_path, "clone", "-q", str(remote), str(clone))
        git(clone, "config", "user.name", "Test User")
        git(clone, "config", "user.email", "test@example.invalid")
        clones.append(clone)
    first, second = clones
    before = local_items(first, env)

    assert cli(first, "migrate", "--push", env=env).exit_code == 0
    theirs = read_ledger(first)["repository"]
    out = cli(second, "apply", "--yes", "--push", env=env)
    assert out.exit_code == 0, out.output
    assert read_ledger(second)["repository"] == theirs
    assert git(second, "rev-parse", "HEAD") == git(remote, "rev-parse", "main")
    assert local_items(first, env) == before  # neither migration enqueued anything

    write(second, "launches/a.yaml", spec_text(2))
    commit_all(second, "a=2")
    git(second, "push", "-q")
    assert cli(second, "apply", "--yes", "--push", env=env).exit_code == 0
    entry = read_ledger(second)["specs"]["a"]
    assert entry["queued_runs"][-1]["marker"] == marker(theirs, entry["change"])
    assert all(n == 1 for n in sends(local_items(first, env)).values())
