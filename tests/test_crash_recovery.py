"""Guarantees 1 and 2: whatever step of apply a SIGKILL hits, and however often apply is rerun, each
change is enqueued exactly once and every QueuedRun ID ends up in the committed ledger.

apply runs in a subprocess with LAUNCHOPS_DIE_AT=<step>[:N] (apply.checkpoint SIGKILLs it at the
Nth hit of that step), then is rerun without it until it exits 0. Afterwards: queue items ==
changes applied (one per (spec id, change)), each sent once (the local queue's unique marker would
absorb a second send, so its log of sends is what is counted), every item's ID in the ledger, the
ledger valid JSON, committed (and pushed, with --push), and `plan` shows nothing to do.
"""
from __future__ import annotations

import random
import sys
from collections import Counter
from pathlib import Path

import pytest

from reconciler.backends.base import EnqueueRequest
from reconciler.backends.local import LocalQueue
from reconciler.specs import digest_of

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import git, ledger_files, make_repo, read_ledger  # noqa: E402
from conftest_wandb import wandb_server  # noqa: E402,F401  (fixture)
from crash_kit import (  # noqa: E402
    KILLED,
    STEPS,
    Model,
    apply_until_done,
    bare_remote,
    check_ledger,
    check_local,
    launch_of,
    launchops,
    ledger_ids,
    local_items,
    matrix_cells,
    matrix_text,
    sends,
)
from wandb_server import WandbServer  # noqa: E402


def _world(tmp_path: Path, push: bool) -> tuple[Model, Path | None]:
    model = Model(make_repo(tmp_path / "repo", examples=False))
    for spec_id, value in (("a", 1), ("b", 1), ("c", 1)):
        model.set(spec_id, value)
    model.commit()
    remote = bare_remote(tmp_path / "remote.git", model.repo) if push else None
    return model, remote


# Every step at its first hit; the enqueue side also at its 2nd hit (mid-way through the specs);
# before-push:1 is the intent push of --push, before-push:2 the push of the results.
COMMIT_POINTS = [f"{s}:1" for s in STEPS if s != "before-push"] + ["after-enqueue:2", "after-record:2"]
PUSH_POINTS = [f"{s}:1" for s in STEPS] + ["after-enqueue:2", "before-push:2"]


@pytest.mark.parametrize(("push", "point"), [(False, p) for p in COMMIT_POINTS] + [(True, p) for p in PUSH_POINTS],
                         ids=[f"commit-{p}" for p in COMMIT_POINTS] + [f"push-{p}" for p in PUSH_POINTS])
def test_every_kill_point_recovers_to_exactly_once(tmp_path: Path, push: bool, point: str) -> None:
    model, remote = _world(tmp_path, push)
    args = ("--push",) if push else ()

    apply_until_done(model.repo, *args, die_at=point)
    model.applied_all()
    check_local(model, remote)

    # An update, a new spec and a removal, killed at the same point.
    model.set("a", 2)
    model.set("d", 1)
    model.remove("b")
    model.commit("edit a, add d, remove b")
    apply_until_done(model.repo, *args, die_at=point)
    model.applied_all()
    check_local(model, remote)


WALK_STEPS = 30  # edits and applies per walk: a fixed length, the same on any machine


def test_seeded_random_kills_across_edits_and_reverts(tmp_path: Path) -> None:
    """A seeded walk: random edits (new values, reverts, removals, re-adds), random kill points,
    sometimes a second kill in the rerun, with and without --push; checked after every step."""
    rng = random.Random(20261129)
    model, remote = _world(tmp_path, push=True)
    pool = ["a", "b", "c", "d", "e"]
    kills = Counter[str]()
    for iteration in range(1, WALK_STEPS + 1):
        for _ in range(rng.randint(1, 2)):
            spec_id = rng.choice(pool)
            if spec_id in model.files and len(model.files) > 1 and rng.random() < 0.2:
                model.remove(spec_id)
            else:
                model.set(spec_id, rng.randint(1, 3))  # small range: reverts to earlier digests happen
        model.commit(f"edit {iteration}")
        push = rng.random() < 0.4
        args = ("--push",) if push else ()
        steps = [s for s in STEPS if push or s != "before-push"]
        point = f"{rng.choice(steps)}:{rng.randint(1, 3)}" if rng.random() < 0.85 else None
        points = [point]
        runs = [launchops(model.repo, "apply", "--yes", *args, die_at=point)]
        if runs[-1].returncode != 0 and rng.random() < 0.3:  # killed again while recovering
            points.append(f"{rng.choice(steps)}:1")
            runs.append(launchops(model.repo, "apply", "--yes", *args, die_at=points[-1]))
        kills.update(p.split(":")[0] for p, r in zip(points, runs, strict=True) if p and r.returncode == KILLED)
        while runs[-1].returncode != 0:
            assert len(runs) < 6, "\n".join(r.stdout + r.stderr for r in runs)
            runs.append(launchops(model.repo, "apply", "--yes", *args))
        model.applied_all()
        check_local(model, remote if push else None)
    assert len(kills) >= 4, kills  # the walk really killed at several different steps
    assert any(n > 1 for n in model.changes.values()), "no revert to an earlier digest happened"


# ---- the same against the W&B-compatible server ------------------------------------------------

def _wandb_items(server: WandbServer) -> Counter[str]:
    with server.state.lock:
        return Counter(i["runSpec"].get("launchops_marker") for i in server.state.items)


@pytest.mark.parametrize("point", ["after-intent:1", "before-enqueue:2", "after-enqueue:1", "after-enqueue:2",
                                   "after-record:1", "before-commit:1"])
def test_wandb_kill_points_adopt_by_marker(tmp_path: Path, wandb_server: WandbServer, point: str) -> None:
    """after-enqueue: the server holds the item, the process died before recording its ID; the
    rerun must find it by marker and adopt it, not enqueue it again."""
    model, _ = _world(tmp_path, push=False)
    env = {**wandb_server.env(http_timeout=10), "LAUNCHOPS_BACKEND": "wandb"}

    runs = apply_until_done(model.repo, env=env, die_at=point)
    model.applied_all()
    ledger = check_ledger(model, env=env)
    # server-side items == changes, no duplicate
    assert _wandb_items(wandb_server) == model.markers(ledger["repository"])
    with wandb_server.state.lock:
        assert sorted(i["id"] for i in wandb_server.state.items) == sorted(ledger_ids(ledger))
    if point.startswith("after-enqueue"):
        assert "adopted" in runs[-1].stdout, runs[-1].stdout
    assert not wandb_server.state.server_errors


def test_wandb_edit_after_a_kill_keeps_the_landed_id(tmp_path: Path, wandb_server: WandbServer) -> None:
    """Killed after the push landed, before its ID was recorded; then the spec is edited before the
    next apply. The update must first find the earlier change's item (in the queue that change
    named) and record it: the new intent would otherwise make its marker unreachable."""
    model, _ = _world(tmp_path, push=False)
    env = {**wandb_server.env(http_timeout=10), "LAUNCHOPS_BACKEND": "wandb"}
    assert launchops(model.repo, "apply", "--yes", env=env, die_at="after-enqueue:1").returncode == -9
    model.applied_all()  # all three landed or will be adopted; the first one's ID is recorded nowhere
    model.set("a", 2)
    model.commit("edit a before the rerun")

    apply_until_done(model.repo, env=env, expect_kill=False)

    model.applied_all()
    ledger = check_ledger(model, env=env)
    assert _wandb_items(wandb_server) == model.markers(ledger["repository"])
    with wandb_server.state.lock:
        assert sorted(i["id"] for i in wandb_server.state.items) == sorted(ledger_ids(ledger))


def test_removal_after_a_kill_keeps_the_landed_id(tmp_path: Path) -> None:
    model, _ = _world(tmp_path, push=False)
    assert launchops(model.repo, "apply", "--yes", die_at="after-enqueue:1").returncode == -9
    model.applied_all()
    model.remove("a")
    model.commit("remove a before the rerun")

    apply_until_done(model.repo, expect_kill=False)

    model.applied_all()
    check_local(model)


def test_the_local_queue_counts_a_second_send_of_one_change(tmp_path: Path) -> None:
    """What the checks above rely on: a duplicate send adds no item, but it is counted."""
    queue = LocalQueue(tmp_path / "queue.db")
    request = EnqueueRequest("a", "digest", "lo-marker", launch_of(1))

    first, second = queue.enqueue(request), queue.enqueue(request)

    assert first == second and len(queue.items()) == 1
    assert sends(queue.items()) == Counter({"lo-marker": 2})
    assert [s["created"] for s in queue.sends()] == [True, False]
    queue.close()


# ---- a matrix spec: exactly once per cell ------------------------------------------------------

MATRIX_POINTS = ["after-intent:1", "before-enqueue:2", "after-enqueue:2", "after-record:2", "before-ledger-write:1",
                 "before-commit:1"]


@pytest.mark.parametrize("point", MATRIX_POINTS)
def test_matrix_cells_recover_to_exactly_once(tmp_path: Path, point: str) -> None:
    """A matrix spec applied, then two axis values added, then a value removed with a non-axis edit:
    killed each time at `point`, every cell's change is on the queue once and in the ledger."""
    repo = make_repo(tmp_path / "repo", examples=False)
    applied: dict[str, str] = {}
    expected: Counter[tuple[str, str]] = Counter()
    for seeds, queue in (([0, 1, 2], "q"), ([3, 0, 4, 1, 2], "q"), ([2, 1, 4, 3], "r")):
        (repo / "launches" / "m.yaml").write_text(matrix_text(seeds, queue), encoding="utf-8")
        git(repo, "add", "-A", "launches")
        git(repo, "commit", "-qm", "matrix")
        apply_until_done(repo, die_at=point)
        cells = matrix_cells("m", seeds, queue)
        for cell_id, launch in cells.items():
            if applied.get(cell_id) != digest_of(launch):
                applied[cell_id] = digest_of(launch)
                expected[(cell_id, applied[cell_id])] += 1
        items = local_items(repo)
        assert Counter((i["spec_id"], digest_of(i["launch"])) for i in items) == expected
        assert set(sends(items).values()) == {1}, "a cell's change was sent to the queue more than once"
        ledger = read_ledger(repo)
        assert sorted(i["id"] for i in items) == sorted(ledger_ids(ledger))
        for cell_id, entry in ledger["specs"].items():
            assert entry["status"] == ("applied" if cell_id in cells else "removed"), (cell_id, entry)
            assert entry["cell"] == {"seed": int(cell_id[len("m[seed="):-1])}
            if cell_id in cells:
                assert entry["launch"] == cells[cell_id]
        assert ledger_files(repo, "HEAD") == ledger_files(repo)
        assert launchops(repo, "plan", "--detailed-exitcode").returncode == 0
