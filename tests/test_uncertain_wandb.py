"""Guarantee 4: attempts that may or may not have reached W&B are resolved, never repeated blindly.

Against the W&B-compatible server with the real SDK: a 500 after the server committed (wandb-core
retries, so one push leaves two items), and a push that times out but lands later.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import make_repo, read_ledger  # noqa: E402
from conftest_wandb import wandb_server  # noqa: E402,F401  (fixture)
from crash_kit import Model, check_ledger, launchops  # noqa: E402
from wandb_server import WandbServer  # noqa: E402


def _one_spec(tmp_path: Path) -> Model:
    model = Model(make_repo(tmp_path / "repo", examples=False))
    model.set("a", 1)
    model.commit()
    return model


def test_sdk_retry_after_commit_records_both_ids_and_removes_the_extra(tmp_path: Path,
                                                                      wandb_server: WandbServer) -> None:
    model = _one_spec(tmp_path)
    wandb_server.state.inject("pushToRunQueueByName", "500-after")  # committed, then 500: the SDK pushes again
    env = {**wandb_server.env(http_timeout=10), "LAUNCHOPS_BACKEND": "wandb"}

    out = launchops(model.repo, "apply", "--yes", env=env)

    assert out.returncode == 0, out.stdout + out.stderr
    with wandb_server.state.lock:
        live = [i["id"] for i in wandb_server.state.items]
        deleted = [i["id"] for i in wandb_server.state.deleted]
    assert len(live) == 1 and len(deleted) == 1, (live, deleted)
    assert f"removed duplicate {deleted[0]} (kept {live[0]})" in out.stdout
    model.applied_all()
    entry = check_ledger(model, env=env)["specs"]["a"]
    runs = {r["id"]: r for r in entry["queued_runs"]}
    assert set(runs) == {live[0], deleted[0]}  # both IDs recorded, never dropped
    assert runs[deleted[0]]["state"] == "deleted"
    assert entry["queued_runs"][-1]["id"] == live[0]  # status shows the item that stays

    again = launchops(model.repo, "apply", "--yes", env=env)
    assert again.returncode == 0 and len(wandb_server.state.items) == 1, again.stdout


def test_push_that_times_out_but_lands_is_unknown_then_adopted(tmp_path: Path, wandb_server: WandbServer) -> None:
    model = _one_spec(tmp_path)
    # The server sits on the push past the client's deadline, then commits it: the SDK raises.
    wandb_server.state.inject("pushToRunQueueByName", "slow-before", delay=6)
    env = {**wandb_server.env(http_timeout=2), "LAUNCHOPS_BACKEND": "wandb"}

    first = launchops(model.repo, "apply", "--yes", env=env)

    assert first.returncode == 1, first.stdout + first.stderr
    ledger = read_ledger(model.repo)
    assert ledger["specs"]["a"]["status"] == "unknown" and ledger["specs"]["a"]["queued_runs"] == []
    status = launchops(model.repo, "status", env=env)
    assert "unknown (uncertain: next apply looks it up)" in status.stdout, status.stdout
    as_json = json.loads(launchops(model.repo, "status", "--format", "json", env=env).stdout)
    assert [s["uncertain"] for s in as_json["specs"]] == [True]

    deadline = time.monotonic() + 15
    while not wandb_server.state.items and time.monotonic() < deadline:
        time.sleep(0.05)
    (landed,) = [i["id"] for i in wandb_server.state.items]

    second = launchops(model.repo, "apply", "--yes", env=env)

    assert second.returncode == 0, second.stdout + second.stderr
    assert "adopted" in second.stdout and landed in second.stdout
    assert [i["id"] for i in wandb_server.state.items] == [landed]  # found by marker, not pushed again
    model.applied_all()
    entry = check_ledger(model, env=env)["specs"]["a"]
    assert [r["id"] for r in entry["queued_runs"]] == [landed]
    assert "uncertain" not in launchops(model.repo, "status", env=env).stdout


def test_a_failed_lookup_is_not_taken_for_absence(tmp_path: Path, wandb_server: WandbServer) -> None:
    """A `pending` entry whose marker lookup errors must not be enqueued again: the item may be
    there. It stays uncertain (exit 1) and the next apply, able to look, adopts it."""
    model = _one_spec(tmp_path)
    env = {**wandb_server.env(http_timeout=10), "LAUNCHOPS_BACKEND": "wandb"}
    assert launchops(model.repo, "apply", "--yes", env=env, die_at="after-enqueue").returncode == -9
    (landed,) = [i["id"] for i in wandb_server.state.items]
    wandb_server.state.inject("project", "graphql-error", times=10)  # the queue search fails

    blind = launchops(model.repo, "apply", "--yes", env=env)

    assert blind.returncode == 1, blind.stdout + blind.stderr
    assert "could not look up its earlier attempt" in blind.stdout
    assert [i["id"] for i in wandb_server.state.items] == [landed]
    wandb_server.state.faults.clear()
    seeing = launchops(model.repo, "apply", "--yes", env=env)
    assert seeing.returncode == 0 and "adopted" in seeing.stdout, seeing.stdout
    assert [i["id"] for i in wandb_server.state.items] == [landed]
    model.applied_all()
    assert [r["id"] for r in check_ledger(model, env=env)["specs"]["a"]["queued_runs"]] == [landed]


@pytest.mark.parametrize("where", ["page-1", "page-2"])
def test_a_failing_page_in_the_marker_lookup_sends_nothing_and_deletes_nothing(tmp_path: Path, wandb_server: WandbServer,
                                                                               where: str) -> None:
    """A later page of the queue listing fails with an error whose text says "after". With the
    item on page 1, reading page 1 again found it twice and removed the only item as its own
    duplicate; with it on page 2, the lookup said "absent" and it was sent again. Both must leave
    the change uncertain, the server's items untouched, and adopt the item once the page reads."""
    model = _one_spec(tmp_path)
    state = wandb_server.state
    env = {**wandb_server.env(http_timeout=10), "LAUNCHOPS_BACKEND": "wandb"}
    queue = {"entity": "ent", "project_queue": "model-registry", "queue_name": "q"}
    if where == "page-2":
        state.seed_items(110, **queue)
    assert launchops(model.repo, "apply", "--yes", env=env, die_at="after-enqueue").returncode == -9
    (landed,) = _marked(wandb_server)
    state.seed_items(110, **queue)
    held = len(state.items)
    state.inject("project", "graphql-error", message="giving up after 3 retries", variables={"after": "100"})

    blind = launchops(model.repo, "apply", "--yes", env=env)

    assert blind.returncode == 1, blind.stdout + blind.stderr
    assert "could not look up its earlier attempt" in blind.stdout and "Traceback" not in blind.stderr
    assert _marked(wandb_server) == [landed] and len(state.items) == held and state.deleted == []
    assert state.pushes() == 1
    status = launchops(model.repo, "status", env=env)
    assert "unknown (uncertain: next apply looks it up)" in status.stdout, status.stdout

    seeing = launchops(model.repo, "apply", "--yes", env=env)

    assert seeing.returncode == 0 and "adopted" in seeing.stdout, seeing.stdout + seeing.stderr
    assert _marked(wandb_server) == [landed] and state.deleted == [] and state.pushes() == 1
    model.applied_all()
    assert [r["id"] for r in check_ledger(model, env=env)["specs"]["a"]["queued_runs"]] == [landed]


def _marked(server: WandbServer) -> list[str]:
    """The ids of the items the server holds that carry a launchops marker."""
    with server.state.lock:
        return [i["id"] for i in server.state.items if "launchops_marker" in i["runSpec"]]
