"""A change's identity and its marker: what every clone computes alike (SPEC "A change and its
identity"), scoped to the repository, so that an event folds only onto the change it was made for
and a retry only ever finds its own repository's item.

Real git repositories in temp folders, and one local queue shared by all of them (a W&B queue that
two teams' repositories, or two clones, send to).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import commit_all, make_repo, read_ledger, write
from crash_kit import KILLED, bare_remote, git, launchops, local_items, sends, spec_text


def _queue(tmp_path: Path) -> dict[str, str]:
    return {"LAUNCHOPS_LOCAL_QUEUE": str(tmp_path / "shared-queue.db")}


def _repo(path: Path, value: int) -> Path:
    repo = make_repo(path, examples=False)
    write(repo, "launches/x.yaml", spec_text(value))
    commit_all(repo)
    return repo


def _applied_ids(repo: Path) -> list[str]:
    return [run["id"] for run in read_ledger(repo)["specs"]["x"]["queued_runs"]]


def _two_clones(tmp_path: Path, env: dict[str, str]) -> tuple[Path, Path, Path]:
    """A remote where x=1 is applied, and two clones of it, A and B."""
    seed = _repo(tmp_path / "seed", 1)
    assert launchops(seed, "apply", "--yes", env=env).returncode == 0
    remote = bare_remote(tmp_path / "remote.git", seed)
    for clone in (tmp_path / "a", tmp_path / "b"):
        git(tmp_path, "clone", "-q", str(remote), str(clone))
        git(clone, "config", "user.name", "Test User")
        git(clone, "config", "user.email", "test@example.invalid")
    return remote, tmp_path / "a", tmp_path / "b"


def _settled(remote: Path, fresh: Path, env: dict[str, str], value: dict[str, int], wanted: int) -> None:
    """In a fresh clone of the remote: x is `wanted`, applied, holding the one item enqueued for it;
    every item on the queue (`value`: id -> x) is recorded; a plan has nothing to do."""
    git(remote.parent, "clone", "-q", str(remote), str(fresh))
    assert f"v: {wanted}" in (fresh / "launches/x.yaml").read_text()
    entry = read_ledger(fresh)["specs"]["x"]
    current = [r["id"] for r in entry["queued_runs"] if r.get("change") == entry["change"]]
    assert entry["status"] == "applied" and [value[i] for i in current] == [wanted], entry
    assert sorted(r["id"] for r in entry["queued_runs"]) == sorted(value)
    assert launchops(fresh, "plan", "--detailed-exitcode", env=env).returncode == 0


def test_two_repositories_with_one_spec_and_one_queue_each_enqueue_their_own(tmp_path: Path) -> None:
    """Same id, same digest, one queue: the second repository's apply (and its retry after a kill
    past its intent) enqueues an item of its own, never adopting the first one's."""
    env = _queue(tmp_path)
    first, second = _repo(tmp_path / "first", 1), _repo(tmp_path / "second", 1)
    assert launchops(first, "apply", "--yes", env=env).returncode == 0
    killed = launchops(second, "apply", "--yes", env=env, die_at="after-intent")
    assert killed.returncode == KILLED, killed.stdout + killed.stderr
    rerun = launchops(second, "apply", "--yes", env=env)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "adopted" not in rerun.stdout, rerun.stdout
    items = local_items(first, env)
    assert len(items) == 2 and set(sends(items).values()) == {1}  # two markers, each sent once
    assert read_ledger(first)["repository"] != read_ledger(second)["repository"]
    assert sorted(_applied_ids(first) + _applied_ids(second)) == sorted(i["id"] for i in items)


def test_a_copy_of_a_repository_gets_an_id_of_its_own_with_migrate(tmp_path: Path) -> None:
    """A copy (cp -r, a fork) shares the repository id, so its markers would be the original's:
    `migrate --new-repository-id` gives it its own, in a ledger commit that enqueues nothing."""
    env = _queue(tmp_path)
    original = _repo(tmp_path / "original", 1)
    assert launchops(original, "apply", "--yes", env=env).returncode == 0
    copy = Path(shutil.copytree(original, tmp_path / "copy", symlinks=True))
    (copy / ".launchops/journal.db").unlink(missing_ok=True)  # the copy's own state starts empty
    before = local_items(original, env)
    out = launchops(copy, "migrate", "--new-repository-id", env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert local_items(original, env) == before  # nothing enqueued
    assert read_ledger(copy)["repository"] != read_ledger(original)["repository"]
    assert git(copy, "status", "--porcelain") == ""  # committed
    for repo in (original, copy):
        write(repo, "launches/x.yaml", spec_text(2))
        commit_all(repo, "x=2")
        applied = launchops(repo, "apply", "--yes", env=env)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert "adopted" not in applied.stdout, applied.stdout
    items = local_items(original, env)
    assert len(items) == 3 and set(sends(items).values()) == {1}  # x=1 once, x=2 once per repository
    assert _applied_ids(original)[-1] != _applied_ids(copy)[-1]


@pytest.mark.parametrize("kept", [2, 3])
def test_clones_that_change_one_spec_apart_never_fold_one_run_onto_the_others_change(tmp_path: Path,
                                                                                     kept: int) -> None:
    """Clone A applies x=2 without pushing; clone B applies x=3 with --push and is killed after its
    intent reached the remote; A rebases onto the remote, keeping its own x=2 or taking B's x=3
    (and B's ledger), and applies with --push; B pulls and applies again. Whatever each run saw, every change is sent at most once,
    B's x=3 intent is not taken for A's x=2 run nor the reverse, the remote's ledger records every
    item's ID and holds, for the spec as it is, the one item enqueued for it, so a plan there has
    nothing to do."""
    env = _queue(tmp_path)
    remote, a, b = _two_clones(tmp_path, env)

    write(a, "launches/x.yaml", spec_text(2))
    commit_all(a, "x=2")
    assert launchops(a, "apply", "--yes", env=env).returncode == 0  # not pushed
    write(b, "launches/x.yaml", spec_text(3))
    commit_all(b, "x=3")
    git(b, "push", "-q")
    killed = launchops(b, "apply", "--yes", "--push", env=env, die_at="after-intent")
    assert killed.returncode == KILLED, killed.stdout + killed.stderr
    assert len(local_items(a, env)) == 2  # x=1 and A's x=2; B's x=3 was not sent

    # in a rebase "theirs" is the commits replayed (A's own: x=2 stays), "ours" the remote's (x=3)
    git(a, "pull", "-q", "--rebase", "-X", "theirs" if kept == 2 else "ours")
    out = launchops(a, "apply", "--yes", "--push", env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    git(b, "pull", "-q", "--ff-only")
    again = launchops(b, "apply", "--yes", "--push", env=env)
    assert again.returncode == 0, again.stdout + again.stderr

    items = local_items(a, env)
    assert set(sends(items).values()) == {1}, items  # no change sent twice
    value = {i["id"]: i["launch"]["config"]["overrides"]["run_config"]["v"] for i in items}
    # x=3 is enqueued only when it is what the remote asks for
    assert sorted(value.values()) == ([1, 2] if kept == 2 else [1, 2, 3]), items
    _settled(remote, tmp_path / "fresh", env, value, kept)


def test_an_unpushed_run_of_an_earlier_change_is_not_taken_for_the_remotes_pending_one(tmp_path: Path) -> None:
    """The race of two clones as it happens with --push: A pushes x=2 and applies it without
    pushing its ledger commit; B pulls, pushes x=3 and applies with --push, killed after its intent
    reached the remote. A's apply --push catches up, folding its own unpushed x=2 run onto the
    remote's ledger, where x is pending at B's x=3: that run is of another change, so x stays
    pending, and B's next apply enqueues x=3, once."""
    env = _queue(tmp_path)
    remote, a, b = _two_clones(tmp_path, env)
    write(a, "launches/x.yaml", spec_text(2))
    commit_all(a, "x=2")
    git(a, "push", "-q")
    assert launchops(a, "apply", "--yes", env=env).returncode == 0  # its ledger commit stays here
    git(b, "pull", "-q", "--ff-only")
    write(b, "launches/x.yaml", spec_text(3))
    commit_all(b, "x=3")
    git(b, "push", "-q")
    killed = launchops(b, "apply", "--yes", "--push", env=env, die_at="after-intent")
    assert killed.returncode == KILLED, killed.stdout + killed.stderr

    out = launchops(a, "apply", "--yes", "--push", env=env)  # A's view is x=2, done: it publishes
    assert out.returncode == 0, out.stdout + out.stderr
    merged = json.loads(git(remote, "show", "main:.launchops/ledger/x.yaml.json"))["specs"]["x"]
    assert merged["status"] == "pending", merged  # still x=3's intent, not "applied" with x=2's item
    assert len(local_items(a, env)) == 2
    git(b, "pull", "-q", "--ff-only")
    again = launchops(b, "apply", "--yes", "--push", env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    items = local_items(a, env)
    value = {i["id"]: i["launch"]["config"]["overrides"]["run_config"]["v"] for i in items}
    assert sorted(value.values()) == [1, 2, 3] and set(sends(items).values()) == {1}, items
    _settled(remote, tmp_path / "fresh", env, value, 3)


def test_apply_warns_when_the_remote_is_not_the_one_the_ledger_was_made_under(tmp_path: Path) -> None:
    """`_ledger.json` records the remote URL it was made under: a fork (origin points elsewhere now)
    is told to take an id of its own, and is not told again once it has."""
    env = _queue(tmp_path)
    original = _repo(tmp_path / "original", 1)
    bare_remote(tmp_path / "remote.git", original)
    assert launchops(original, "apply", "--yes", env=env).returncode == 0
    assert read_ledger(original)["remote"] == str(tmp_path / "remote.git")
    fork = Path(shutil.copytree(original, tmp_path / "fork", symlinks=True))
    git(fork, "remote", "set-url", "origin", str(tmp_path / "fork.git"))
    write(fork, "launches/x.yaml", spec_text(2))
    commit_all(fork, "x=2")
    warned = launchops(fork, "apply", "--yes", env=env)
    assert warned.returncode == 0, warned.stdout + warned.stderr
    assert "migrate --new-repository-id" in warned.stdout + warned.stderr
    assert launchops(fork, "migrate", "--new-repository-id", env=env).returncode == 0
    assert read_ledger(fork)["remote"] == str(tmp_path / "fork.git")
    write(fork, "launches/x.yaml", spec_text(3))
    commit_all(fork, "x=3")
    quiet = launchops(fork, "apply", "--yes", env=env)
    assert quiet.returncode == 0 and "new-repository-id" not in quiet.stdout + quiet.stderr
