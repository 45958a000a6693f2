"""Guarantee 3: two appliers at once never enqueue a change twice.

In one clone the apply lock serialises them (holder named; a dead holder's lock taken over; `unlock`).
Across clones pushing to one remote with `apply --push`, the intent push is the compare-and-swap,
and the claim on a `pending` intent keeps a second run from racing a live one to the queue.
LAUNCHOPS_PAUSE_AT=<step>:<file> holds an apply still at a step until the test creates the file
(`<file>.paused` says it got there), so that each race happens in the order the test names.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import edit_entries, make_repo, read_ledger  # noqa: E402
from conftest_wandb import wandb_server  # noqa: E402,F401  (fixture)
from crash_kit import (  # noqa: E402
    Model,
    apply_until_done,
    bare_remote,
    check_ledger,
    check_local,
    git,
    launchops,
    ledger_ids,
    local_items,
    sends,
    spec_text,
)
from wandb_server import WandbServer  # noqa: E402

HOLDER = re.compile(r"holds apply\.lock: pid (\d+) on \S+ since \d{4}-\d\d-\d\dT")


def _start(repo: Path, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("LAUNCHOPS_")}
    full.update(env or {})
    return subprocess.Popen([sys.executable, "-m", "reconciler", "-C", str(repo), *args], env=full, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out + err


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


class Pause:
    """Arms LAUNCHOPS_PAUSE_AT: a run started with `env` holds still at `step` until released."""

    def __init__(self, tmp_path: Path, step: str) -> None:
        self.release_file = tmp_path / f"release-{step}"
        self.env = {"LAUNCHOPS_PAUSE_AT": f"{step}:{self.release_file}"}

    def reached(self, *procs: subprocess.Popen[str]) -> None:
        """Wait until one of `procs` holds still at the step (fail at once if all of them ended)."""
        paused = Path(f"{self.release_file}.paused")
        _wait_until(lambda: paused.exists() or all(p.poll() is not None for p in procs), "a run paused")
        assert paused.exists(), [_finish(p) for p in procs]

    def release(self) -> None:
        self.release_file.touch()


def _holder(repo: Path) -> dict[str, object]:
    return json.loads((repo / ".launchops" / "apply.lock").read_text())


def _has_open(proc: subprocess.Popen[str], path: Path) -> bool:
    """Whether `proc` has `path` open (Linux /proc): an apply opens the lock file to take the lock."""
    try:
        fds = list(Path(f"/proc/{proc.pid}/fd").iterdir())
    except OSError:  # it has ended
        return False
    for fd in fds:
        try:
            if os.readlink(fd) == str(path.resolve()):
                return True
        except OSError:  # closed meanwhile
            continue
    return False


def _specs(model: Model, **values: int) -> None:
    for spec_id, value in values.items():
        model.set(spec_id, value)
    model.commit()


# ---- one clone ------------------------------------------------------------------------------------

def test_two_appliers_in_one_clone(tmp_path: Path) -> None:
    model = Model(make_repo(tmp_path / "repo", examples=False))
    _specs(model, a=1, b=1, c=1)
    pause = Pause(tmp_path, "after-intent")  # whoever wins the lock holds it until released

    both = [_start(model.repo, "apply", "--yes", env=pause.env) for _ in range(2)]
    pause.reached(*both)
    holder = _holder(model.repo)
    winner = next(p for p in both if p.pid == holder["pid"])
    loser = next(p for p in both if p is not winner)
    code, refused = _finish(loser)  # ends while the winner still holds the lock
    assert code == 1, refused
    match = HOLDER.search(refused)
    assert match and int(match.group(1)) == holder["pid"], refused
    waiter = _start(model.repo, "apply", "--yes", "--lock-timeout", "30")
    lock = model.repo / ".launchops" / "apply.lock"
    _wait_until(lambda: waiter.poll() is not None or _has_open(waiter, lock), "the waiter tried the lock")
    assert winner.poll() is None and waiter.poll() is None  # it is waiting for the paused winner
    pause.release()

    assert _finish(winner)[0] == 0
    code, text = _finish(waiter)
    assert code == 0 and "No changes" in text, text  # waited, then found it done
    model.applied_all()
    check_local(model)


def test_stale_lock_of_a_killed_apply_is_taken_over_with_a_note(tmp_path: Path) -> None:
    model = Model(make_repo(tmp_path / "repo", examples=False))
    _specs(model, a=1)
    killed = _start(model.repo, "apply", "--yes", env={"LAUNCHOPS_DIE_AT": "after-intent"})
    assert _finish(killed)[0] == -signal.SIGKILL
    left = json.loads((model.repo / ".launchops" / "apply.lock").read_text())
    assert left["pid"] == killed.pid

    rerun = launchops(model.repo, "apply", "--yes")

    assert rerun.returncode == 0, rerun.stderr
    assert (f"took over the lock of an apply that is no longer running (pid {killed.pid} on {left['host']}, "
            f"started {left['started']})") in rerun.stderr
    model.applied_all()
    check_local(model)
    assert "took over" not in launchops(model.repo, "apply", "--yes").stderr  # a clean release leaves no note


def test_unlock_refuses_a_live_holder_and_clears_a_dead_one(tmp_path: Path) -> None:
    model = Model(make_repo(tmp_path / "repo", examples=False))
    _specs(model, a=1)
    pause = Pause(tmp_path, "after-intent")  # never released: killed below
    live = _start(model.repo, "apply", "--yes", env=pause.env)
    try:
        pause.reached(live)
        holder = _holder(model.repo)
        assert holder["pid"] == live.pid
        refused = launchops(model.repo, "unlock")
        assert refused.returncode == 1
        assert f"held by a running launchops: pid {holder['pid']}" in refused.stderr
        blocked = launchops(model.repo, "apply", "--yes")
        assert blocked.returncode == 1 and HOLDER.search(blocked.stderr), blocked.stderr
    finally:
        live.send_signal(signal.SIGKILL)
        _finish(live)

    cleared = launchops(model.repo, "unlock")
    assert cleared.returncode == 0 and f"removed the stale lock of pid {holder['pid']}" in cleared.stdout
    assert launchops(model.repo, "unlock").stdout.startswith("no stale lock")
    done = launchops(model.repo, "apply", "--yes")
    assert done.returncode == 0 and "took over" not in done.stderr, done.stderr
    model.applied_all()
    check_local(model)


# ---- two clones, one remote -------------------------------------------------------------------

def _clones(tmp_path: Path, n: int = 2) -> tuple[Model, Path, list[Path]]:
    author = Model(make_repo(tmp_path / "author", examples=False))
    _specs(author, a=1, b=1, c=1)
    remote = bare_remote(tmp_path / "remote.git", author.repo)
    clones = []
    for k in range(n):
        clone = tmp_path / f"clone{k}"
        subprocess.run(["git", "clone", "-q", str(remote), str(clone)], check=True)
        git(clone, "config", "user.name", f"runner {k}")
        git(clone, "config", "user.email", f"runner{k}@example.invalid")
        clones.append(clone)
    return author, remote, clones


def _remote_ledger(remote: Path) -> dict[str, Any]:
    return read_ledger(remote, "main")


def test_two_clones_push_concurrently_sharing_one_queue(tmp_path: Path) -> None:
    author, remote, clones = _clones(tmp_path)
    env = {"LAUNCHOPS_LOCAL_QUEUE": str(tmp_path / "shared-queue.db")}
    rounds = [dict(a=1, b=1, c=1), dict(a=2, d=1), dict(a=1, b=2, c=3), dict(c=1, d=2)]
    for k, values in enumerate(rounds):
        if k:
            git(author.repo, "pull", "-q", "--ff-only")
            _specs(author, **values)
            git(author.repo, "push", "-q")
        for clone in clones:
            git(clone, "pull", "-q", "--ff-only")
        # One (in turn) pushes its intents and holds still before enqueueing; the other, behind,
        # has its intent push rejected, catches up and meets those `pending` intents of a live run.
        first, second = clones[k % 2], clones[1 - k % 2]
        pause = Pause(tmp_path / f"round{k}", "after-intent")
        pause.release_file.parent.mkdir()
        held = _start(first, "apply", "--yes", "--push", env={**env, **pause.env})
        pause.reached(held)
        behind = launchops(second, "apply", "--yes", "--push", env=env)
        assert held.poll() is None and "rejected" in behind.stdout, behind.stdout + behind.stderr
        pause.release()
        code, text = _finish(held)
        assert (code, behind.returncode) == (0, 0), (text, behind.stdout + behind.stderr)
        author.applied_all()
        # Counted before the messages: with the claim ignored both runs send, and the queue's unique
        # marker keeps one item, so only the sends show it.
        assert sends(local_items(clones[0], env)) == author.markers(_remote_ledger(remote)["repository"]), (text, behind.stdout)
        assert "in progress elsewhere: claimed by pid" in behind.stdout, behind.stdout
    items = local_items(clones[0], env)
    assert Counter(i["marker"] for i in items) == author.markers(_remote_ledger(remote)["repository"])  # one item per change, none missing
    assert sends(items) == author.markers(_remote_ledger(remote)["repository"])  # and each sent once
    ledger = _remote_ledger(remote)
    assert sorted(ledger_ids(ledger)) == sorted(i["id"] for i in items)  # the remote's ledger holds every ID
    assert git(remote, "rev-list", "--merges", "main") == ""  # linear history: fast-forwards only
    for clone in clones:
        git(clone, "pull", "-q", "--ff-only")
        assert launchops(clone, "plan", "--detailed-exitcode", env=env).returncode == 0


@pytest.mark.parametrize("race", ["max_enqueue", "protect"])
def test_a_plan_made_again_after_a_rejected_push_is_checked_again(tmp_path: Path, race: str) -> None:
    """While this clone's intent push is held, the remote gets three more specs, or loses a protected
    one: the plan made again on the remote's specs is held to max_enqueue and protect as the first was
    (d, whose intent this clone journalled, is then a retry: retries do not count)."""
    author, remote, (clone,) = _clones(tmp_path, 1)
    env = {"LAUNCHOPS_LOCAL_QUEUE": str(tmp_path / "shared-queue.db")}
    (author.repo / "launches/keep.yaml").write_text("lifecycle: {protect: true}\n" + spec_text(1), encoding="utf-8")
    author.commit("a protected spec")
    assert launchops(author.repo, "apply", "--yes", "--push", env=env).returncode == 0
    _specs(author, d=1)
    git(author.repo, "push", "-q")
    git(clone, "pull", "-q", "--ff-only")
    before = len(local_items(clone, env))
    pause = Pause(tmp_path, "before-push")
    held = _start(clone, "apply", "--yes", "--push", "--max-enqueue", "2", env={**env, **pause.env})
    pause.reached(held)
    if race == "max_enqueue":
        _specs(author, e=1, f=1, g=1)
    else:
        (author.repo / "launches/keep.yaml").unlink()
        author.commit("remove the protected spec")
    git(author.repo, "push", "-q")
    pause.release()
    code, text = _finish(held)
    assert code == 1 and "rejected" not in text.split("error:")[-1], text
    wanted = ("would enqueue 3 items, more than max_enqueue (2)" if race == "max_enqueue"
              else "keep has lifecycle.protect: it would be removed")
    assert wanted in text, text
    assert len(local_items(clone, env)) == before  # nothing was enqueued
    assert "d" not in _remote_ledger(remote)["specs"]


def _move_x_to_y(clone: Path) -> None:
    git(clone, "pull", "-q", "--ff-only")
    git(clone, "mv", "launches/x.yaml", "launches/y.yaml")
    (clone / "launches/_moved.yaml").write_text("- {from: x, to: y}\n", encoding="utf-8")
    git(clone, "add", "launches")
    git(clone, "commit", "-qm", "rename x to y")


def test_a_move_pushed_while_this_clone_applied_is_kept_when_it_catches_up(tmp_path: Path) -> None:
    """The other clone moved x to y (and applied b's edit) and pushed while this one held its intents
    (for b) unpushed:
    catching up must not bring x back (nor withdraw y's item as x's removal)."""
    author, remote, (mover, clone) = _clones(tmp_path)
    env = {"LAUNCHOPS_LOCAL_QUEUE": str(tmp_path / "shared-queue.db")}
    _specs(author, x=1)
    git(author.repo, "push", "-q")
    assert launchops(author.repo, "apply", "--yes", "--push", env=env).returncode == 0
    (x_run,) = [r["id"] for r in _remote_ledger(remote)["specs"]["x"]["queued_runs"]]
    git(author.repo, "pull", "-q", "--ff-only")
    _specs(author, b=2)
    git(author.repo, "push", "-q")
    git(clone, "pull", "-q", "--ff-only")
    pause = Pause(tmp_path, "before-push")
    held = _start(clone, "apply", "--yes", "--push", env={**env, **pause.env})
    pause.reached(held)
    _move_x_to_y(mover)
    moved = launchops(mover, "apply", "--yes", "--push", env=env)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    pause.release()
    code, text = _finish(held)
    assert code == 0 and "rejected" in text, text
    ledger = _remote_ledger(remote)["specs"]
    assert "x" not in ledger and [r["id"] for r in ledger["y"]["queued_runs"]] == [x_run], text
    assert {i["id"]: i["state"] for i in local_items(clone, env)}[x_run] == "pending"
    assert launchops(clone, "plan", "--detailed-exitcode", env=env).returncode == 0


def test_an_item_sent_for_a_spec_the_remote_moved_meanwhile_is_recorded_under_its_new_id(tmp_path: Path) -> None:
    """This clone pushed its intent to update x and holds still before enqueueing; the other clone
    moves x to y (x's attempt is in progress elsewhere: it leaves it) and pushes. This clone then
    sends x's update and its results push is rejected: the QueuedRun ID goes to y, not lost with x."""
    author, remote, (mover, clone) = _clones(tmp_path)
    env = {"LAUNCHOPS_LOCAL_QUEUE": str(tmp_path / "shared-queue.db")}
    _specs(author, x=1)
    git(author.repo, "push", "-q")
    assert launchops(author.repo, "apply", "--yes", "--push", env=env).returncode == 0
    git(clone, "pull", "-q", "--ff-only")
    _specs(Model(clone), x=2)
    pause = Pause(tmp_path, "after-intent")
    held = _start(clone, "apply", "--yes", "--push", env={**env, **pause.env})
    pause.reached(held)
    _move_x_to_y(mover)
    moved = launchops(mover, "apply", "--yes", "--push", env=env)
    assert moved.returncode == 0 and "in progress elsewhere" in moved.stdout, moved.stdout + moved.stderr
    pause.release()
    code, text = _finish(held)
    assert code == 0 and "rejected" in text, text
    sent = [i["id"] for i in local_items(clone, env) if i["spec_id"] == "x"]
    assert len(sent) == 2, sent  # the first apply's item and this update's
    ledger = _remote_ledger(remote)["specs"]
    assert "x" not in ledger, text
    assert [r["id"] for r in ledger["y"]["queued_runs"]] == sent and ledger["y"]["status"] == "applied", text


def _wandb_markers(server: WandbServer) -> Counter[str]:
    with server.state.lock:
        return Counter(i["runSpec"].get("launchops_marker") for i in server.state.items)


def test_a_pending_intent_of_a_live_run_is_left_to_it(tmp_path: Path, wandb_server: WandbServer) -> None:
    """Run A has pushed its intents and is about to enqueue; run B (another clone, behind) has its
    intent push rejected, catches up, and meets A's `pending` entries. Its marker lookup would find
    nothing yet: B must leave them to A, not enqueue them too."""
    author, remote, (clone_a, clone_b) = _clones(tmp_path)
    env = {**wandb_server.env(http_timeout=10), "LAUNCHOPS_BACKEND": "wandb"}
    pause = Pause(tmp_path, "before-enqueue")
    run_a = _start(clone_a, "apply", "--yes", "--push", env={**env, **pause.env})
    pause.reached(run_a)
    assert {e["status"] for e in _remote_ledger(remote)["specs"].values()} == {"pending"}
    assert _wandb_markers(wandb_server) == Counter()

    run_b = launchops(clone_b, "apply", "--yes", "--push", env=env)
    assert _wandb_markers(wandb_server) == Counter() and run_a.poll() is None  # A was held still all along
    pause.release()

    assert run_b.returncode == 0, run_b.stdout + run_b.stderr
    assert "in progress elsewhere: claimed by pid" in run_b.stdout and str(run_a.pid) in run_b.stdout
    assert "rejected" in run_b.stdout  # its own intent push lost the race first
    code, text = _finish(run_a)
    assert code == 0, text
    author.applied_all()
    assert _wandb_markers(wandb_server) == author.markers(_remote_ledger(remote)["repository"])  # without the claim: every spec twice
    ledger = _remote_ledger(remote)
    assert sorted(ledger_ids(ledger)) == sorted(i["id"] for i in wandb_server.state.items)
    assert launchops(clone_b, "apply", "--yes", "--push", env=env).returncode == 0
    assert _wandb_markers(wandb_server) == author.markers(_remote_ledger(remote)["repository"])


def test_a_vanished_runner_leaves_intents_the_next_run_resolves(tmp_path: Path, wandb_server: WandbServer) -> None:
    """CI: the runner is killed after the push landed on W&B and before its ID was recorded, and its
    machine is gone (clone, journal and all). Its pushed intents let the next runner adopt the item."""
    author, remote, (clone,) = _clones(tmp_path, n=1)
    env = {**wandb_server.env(http_timeout=10), "LAUNCHOPS_BACKEND": "wandb"}
    # One sending thread, so that the kill after the second push leaves exactly two items behind.
    killed = launchops(clone, "apply", "--yes", "--push", "--parallel", "1", env=env, die_at="after-enqueue:2")
    assert killed.returncode == -signal.SIGKILL
    assert len(wandb_server.state.items) == 2
    shutil.rmtree(clone)  # the runner's machine is gone
    subprocess.run(["git", "clone", "-q", str(remote), str(clone)], check=True)

    runs = apply_until_done(clone, "--push", env=env, expect_kill=False)

    assert "adopted" in runs[-1].stdout, runs[-1].stdout
    author.applied_all()
    assert _wandb_markers(wandb_server) == author.markers(_remote_ledger(remote)["repository"])
    ledger = _remote_ledger(remote)
    assert sorted(ledger_ids(ledger)) == sorted(i["id"] for i in wandb_server.state.items)
    model = Model(clone, files=dict(author.files))
    check_ledger(model, remote, env=env)


def test_a_claim_from_another_machine_is_honoured_for_its_lease(tmp_path: Path) -> None:
    author, remote, (clone,) = _clones(tmp_path, n=1)
    assert launchops(clone, "apply", "--yes", "--push", die_at="after-intent").returncode == -signal.SIGKILL
    shutil.rmtree(clone)
    subprocess.run(["git", "clone", "-q", str(remote), str(clone)], check=True)
    # As if a runner on another machine had pushed these intents a moment ago.
    a_minute_ago = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 60))

    def elsewhere(_: str, entry: dict[str, Any]) -> None:
        assert entry["status"] == "pending"
        entry["claim"].update(host="runner-7", machine="another-machine", at=a_minute_ago)
    edit_entries(clone, elsewhere)
    git(clone, "commit", "-qam", "intents of a runner elsewhere")

    left = launchops(clone, "apply", "--yes")

    assert left.returncode == 0, left.stdout + left.stderr
    assert left.stdout.count("in progress elsewhere: claimed by pid") == 3 and "runner-7" in left.stdout
    assert local_items(clone) == []  # honoured: a minute is within the default lease (600 s)
    taken = launchops(clone, "apply", "--yes", env={"LAUNCHOPS_CLAIM_LEASE": "30"})  # the lease has run out
    assert taken.returncode == 0 and "elsewhere" not in taken.stdout, taken.stdout
    author.applied_all()
    check_local(Model(clone, files=dict(author.files), last=author.last, identities=author.identities,
                      changes=author.changes))
