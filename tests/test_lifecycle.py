"""Lifecycle: withdraw of a superseded item, and the blast radius (max_enqueue, causes), on real git
repositories, the local queue and the W&B test server driven by the real SDK."""
from __future__ import annotations

import json
import sqlite3
import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import cli, commit_all, edit_entries, git, make_repo, queue_items, read_ledger, write  # noqa: E402
from conftest_wandb import wandb_server  # noqa: E402,F401  (fixture)
from crash_kit import Model, apply_until_done, check_ledger, launchops, local_items, sends  # noqa: E402
from wandb_server import WandbServer  # noqa: E402


def spec(value: int, queue: str = "q", extra: str = "") -> str:
    return ("apiVersion: launchops/v1\n" + extra + "launch:\n  docker_image: img:1\n  entity: ent\n"
            f"  queue_name: {queue}\n  config:\n    overrides:\n      run_config:\n        v: {value}\n")


def _repo(tmp_path: Path, settings: str = "") -> Path:
    repo = make_repo(tmp_path / "repo", examples=False)
    if settings:
        write(repo, "launchops.toml", settings)
    write(repo, "launches/a.yaml", spec(1))
    write(repo, "launches/b.yaml", spec(1))
    commit_all(repo, "specs")
    assert cli(repo, "apply", "--yes").exit_code == 0
    return repo


def _by_spec(repo: Path) -> dict[str, list[dict[str, object]]]:
    out: dict[str, list[dict[str, object]]] = {}
    for item in queue_items(repo):
        out.setdefault(str(item["spec_id"]), []).append(item)
    return out


def _set_local_state(repo: Path, item_id: str, state: str) -> None:
    db = sqlite3.connect(repo / ".launchops" / "queue.db")
    with db:
        db.execute("UPDATE items SET state = ? WHERE id = ?", (state, item_id))
    db.close()


# ---- withdraw, local queue ------------------------------------------------------------------------

def test_an_edit_of_a_pending_spec_withdraws_the_old_item_and_enqueues_the_new(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (old,) = _by_spec(repo)["a"]
    write(repo, "launches/a.yaml", spec(2))
    commit_all(repo, "edit a")

    plan = cli(repo, "plan")
    assert f"withdraw (if still pending) {old['id']}" in plan.stdout
    doc = json.loads(cli(repo, "plan", "--format", "json").stdout)
    assert [(c["id"], c["action"], c["withdraw"]) for c in doc["changes"]] == [("a", "update", old["id"])]
    markdown = cli(repo, "plan", "--format", "markdown").stdout
    assert f"withdraw (if still pending) <code>{old['id']}</code>" in markdown

    applied = cli(repo, "apply", "--yes")
    assert applied.exit_code == 0, applied.output
    assert f"withdrew {old['id']}" in applied.stdout
    items = _by_spec(repo)["a"]
    assert [i["state"] for i in items] == ["withdrawn", "pending"]  # the local queue keeps the row
    entry = read_ledger(repo)["specs"]["a"]
    assert [(r["id"], r["state"]) for r in entry["queued_runs"]] == [(old["id"], "withdrawn"),
                                                                    (items[1]["id"], "pending")]
    message = git(repo, "log", "-1", "--format=%B")
    assert f"a -> {items[1]['id']} (withdrew {old['id']}" in message
    assert [i["state"] for i in _by_spec(repo)["b"]] == ["pending"]  # untouched


def test_a_claimed_item_is_kept_and_the_apply_says_so(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (old,) = _by_spec(repo)["a"]
    _set_local_state(repo, str(old["id"]), "claimed")  # an agent took it after the last apply
    write(repo, "launches/a.yaml", spec(2))
    commit_all(repo, "edit a")

    applied = cli(repo, "apply", "--yes")
    assert applied.exit_code == 0, applied.output
    assert f"kept {old['id']}: it is claimed already" in applied.stdout
    assert [i["state"] for i in _by_spec(repo)["a"]] == ["claimed", "pending"]
    # a kept run of an earlier change still runs: it stays in the shard until it is read settled
    message = git(repo, "log", "-1", "--format=%B")
    assert f"kept {old['id']}" in message and "Compacted out" not in message
    runs = read_ledger(repo)["specs"]["a"]["queued_runs"]
    assert [(r["id"], r["state"]) for r in runs][0] == (old["id"], "claimed")


def test_removal_withdraws(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (old,) = _by_spec(repo)["b"]
    (repo / "launches" / "b.yaml").unlink()
    commit_all(repo, "remove b")
    assert f"withdraw (if still pending) {old['id']}" in cli(repo, "plan").stdout

    applied = cli(repo, "apply", "--yes")
    assert applied.exit_code == 0, applied.output
    assert [i["state"] for i in _by_spec(repo)["b"]] == ["withdrawn"]
    entry = read_ledger(repo)["specs"]["b"]
    assert entry["status"] == "removed" and entry["queued_runs"][0]["state"] == "withdrawn"
    assert f"b -> removed (withdrew {old['id']}" in git(repo, "log", "-1", "--format=%B")


def test_an_adopted_item_is_never_withdrawn(tmp_path: Path) -> None:
    repo = _repo(tmp_path)

    def adopted(spec_id: str, entry: dict[str, object]) -> None:
        for run in entry["queued_runs"]:  # type: ignore[attr-defined]
            run["adopted"] = True

    edit_entries(repo, adopted)
    commit_all(repo, "adopted by hand")
    write(repo, "launches/a.yaml", spec(2))
    commit_all(repo, "edit a")
    assert "withdraw" not in cli(repo, "plan").stdout
    assert cli(repo, "apply", "--yes").exit_code == 0
    assert [i["state"] for i in _by_spec(repo)["a"]] == ["pending", "pending"]


def test_setting_withdraw_false_keeps_the_old_item(tmp_path: Path) -> None:
    repo = _repo(tmp_path, "withdraw = false\n")
    write(repo, "launches/a.yaml", spec(2))
    (repo / "launches" / "b.yaml").unlink()
    commit_all(repo, "edit a, remove b")
    plan = cli(repo, "plan", "--format", "json")
    assert [c["withdraw"] for c in json.loads(plan.stdout)["changes"]] == [None, None]
    assert cli(repo, "apply", "--yes").exit_code == 0
    states = {k: [i["state"] for i in v] for k, v in _by_spec(repo).items()}
    assert states == {"a": ["pending", "pending"], "b": ["pending"]}


def test_a_bad_withdraw_setting_is_refused(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", examples=False)
    write(repo, "launchops.toml", 'withdraw = "sometimes"\n')
    out = cli(repo, "plan")
    assert out.exit_code == 1 and "withdraw must be true or false" in out.output


# ---- kill -9 at every step of a withdraw-and-replace -----------------------------------------------

WITHDRAW_POINTS = ["after-intent:1", "before-withdraw:1", "after-withdraw:1", "before-enqueue:1",
                   "after-enqueue:1", "after-record:1", "before-ledger-write:1", "before-commit:1"]


@pytest.mark.parametrize("point", WITHDRAW_POINTS)
def test_kill_at_every_step_of_a_withdraw_and_replace_loses_and_duplicates_nothing(tmp_path: Path,
                                                                                   point: str) -> None:
    model = Model(make_repo(tmp_path / "repo", examples=False))
    model.set("a", 1)
    model.commit()
    apply_until_done(model.repo, expect_kill=False)
    model.applied_all()
    (old,) = local_items(model.repo)

    model.set("a", 2)
    model.commit("edit a")
    runs = apply_until_done(model.repo, die_at=point)
    model.applied_all()

    ledger = check_ledger(model)
    items = local_items(model.repo)
    repository = ledger["repository"]
    assert sends(items) == model.markers(repository), "a change was sent more than once"
    assert [(i["id"], i["state"]) for i in items] == [(old["id"], "withdrawn"), (items[1]["id"], "pending")]
    runs_recorded = [(r["id"], r["state"]) for r in ledger["specs"]["a"]["queued_runs"]]
    assert runs_recorded == [(old["id"], "withdrawn"), (items[1]["id"], "pending")], runs[-1].stdout


# ---- withdraw on W&B ------------------------------------------------------------------------------

def _wandb_repo(tmp_path: Path, server: WandbServer) -> tuple[Path, dict[str, str]]:
    repo = make_repo(tmp_path / "repo", examples=False)
    write(repo, "launches/a.yaml", spec(1))
    commit_all(repo, "specs")
    env = {**server.env(http_timeout=10), "LAUNCHOPS_BACKEND": "wandb"}
    first = launchops(repo, "apply", "--yes", env=env)
    assert first.returncode == 0, first.stderr
    return repo, env


def test_wandb_an_edit_of_a_pending_spec_deletes_the_servers_item(tmp_path: Path,
                                                                  wandb_server: WandbServer) -> None:
    repo, env = _wandb_repo(tmp_path, wandb_server)
    with wandb_server.state.lock:
        (old,) = [dict(i) for i in wandb_server.state.items]
    write(repo, "launches/a.yaml", spec(2))
    commit_all(repo, "edit a")

    applied = launchops(repo, "apply", "--yes", env=env)
    assert applied.returncode == 0, applied.stderr
    with wandb_server.state.lock:
        items = [dict(i) for i in wandb_server.state.items]
        deleted = [i["id"] for i in wandb_server.state.deleted]
    assert deleted == [old["id"]] and [i["id"] for i in items] != [old["id"]] and len(items) == 1
    assert "deleteFromRunQueue" in wandb_server.state.ops()
    runs = read_ledger(repo)["specs"]["a"]["queued_runs"]
    assert [(r["id"], r["state"]) for r in runs] == [(old["id"], "withdrawn"), (items[0]["id"], "pending")]
    assert f"withdrew {old['id']}" in applied.stdout


def test_wandb_a_claimed_item_is_kept(tmp_path: Path, wandb_server: WandbServer) -> None:
    repo, env = _wandb_repo(tmp_path, wandb_server)
    with wandb_server.state.lock:
        (old,) = [dict(i) for i in wandb_server.state.items]
    wandb_server.state.set_state(old["id"], "CLAIMED", "run-1")
    write(repo, "launches/a.yaml", spec(2))
    commit_all(repo, "edit a")

    applied = launchops(repo, "apply", "--yes", env=env)
    assert applied.returncode == 0, applied.stderr
    with wandb_server.state.lock:
        assert len(wandb_server.state.items) == 2 and not wandb_server.state.deleted
    assert "deleteFromRunQueue" not in wandb_server.state.ops()
    assert f"kept {old['id']}: it is claimed already" in applied.stdout


# ---- the blast radius ------------------------------------------------------------------------------

def test_a_defaults_edit_over_300_specs_is_refused_with_the_count_and_the_cause(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", examples=False)
    write(repo, "launches/nlp/_defaults.yaml", "launch:\n  queue_name: old-q\n  entity: ent\n")
    for n in range(300):
        write(repo, f"launches/nlp/s{n:03}.yaml", "apiVersion: launchops/v1\nlaunch:\n  docker_image: img:1\n"
              f"  config: {{n: {n}}}\n")
    write(repo, "launches/other.yaml", spec(1))
    commit_all(repo, "specs")
    first = cli(repo, "apply", "--yes")
    assert first.exit_code == 1 and "would enqueue 301 items, more than max_enqueue (256)" in first.output
    assert not (repo / ".launchops").exists()  # refused before anything was written
    assert cli(repo, "apply", "--yes", "--max-enqueue", "301").exit_code == 0

    write(repo, "launches/nlp/_defaults.yaml", "launch:\n  queue_name: new-q\n  entity: ent\n")
    write(repo, "launches/other.yaml", spec(2))
    commit_all(repo, "move nlp to another queue")
    cause = "300 specs change because launches/nlp/_defaults.yaml changed launch.queue_name"
    plan = cli(repo, "plan")
    assert f"note: {cause}" in plan.stdout
    doc = json.loads(cli(repo, "plan", "--format", "json").stdout)
    assert [(c["file"], c["paths"], c["count"]) for c in doc["causes"]] == [
        ("launches/nlp/_defaults.yaml", ["launch.queue_name"], 300)]
    assert "other" not in doc["causes"][0]["ids"]
    assert ("- 300 specs change because <code>launches/nlp/&#95;defaults.yaml</code> changed "
            "<code>launch.queue&#95;name</code>") in cli(repo, "plan", "--format", "markdown").stdout

    before = len(queue_items(repo))
    refused = cli(repo, "apply", "--yes")
    assert refused.exit_code == 1
    assert f"this plan would enqueue 301 items, more than max_enqueue (256): {cause}" in refused.output
    assert "--max-enqueue 301" in refused.output
    assert len(queue_items(repo)) == before

    allowed = cli(repo, "apply", "--yes", "--max-enqueue", "301")
    assert allowed.exit_code == 0, allowed.output
    items = queue_items(repo)
    assert len(items) == before + 301
    assert Counter(i["state"] for i in items) == {"withdrawn": 301, "pending": 301}


def test_max_enqueue_setting_and_retries_do_not_count(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", examples=False)
    write(repo, "launchops.toml", "max_enqueue = 1\n")
    write(repo, "launches/a.yaml", spec(1))
    write(repo, "launches/b.yaml", spec(1))
    commit_all(repo, "specs")
    refused = cli(repo, "apply", "--yes")
    assert refused.exit_code == 1 and "would enqueue 2 items, more than max_enqueue (1)" in refused.output
    assert "that many specs are new or changed" in refused.output
    assert cli(repo, "apply", "--yes", "--max-enqueue", "2").exit_code == 0


# ---- apply --replace -----------------------------------------------------------------------------

def test_replace_enqueues_one_new_item_and_keeps_the_old_in_history(tmp_path: Path) -> None:
    repo = _repo(tmp_path, "withdraw = false\n")
    (old,) = _by_spec(repo)["a"]
    applied = cli(repo, "apply", "--yes", "--replace", "a")
    assert applied.exit_code == 0, applied.output
    assert "± a  (replace: apply --replace" in applied.output
    items = _by_spec(repo)
    assert [i["id"] for i in items["a"]][0] == old["id"] and len(items["a"]) == 2 and len(items["b"]) == 1
    assert sends(local_items(repo)) == Counter({i["marker"]: 1 for v in items.values() for i in v})
    entry = read_ledger(repo)["specs"]["a"]
    assert entry["kind"] == "replace" and entry["status"] == "applied"
    assert [r["id"] for r in entry["queued_runs"]] == [old["id"], items["a"][1]["id"]]
    assert f"a -> {items['a'][1]['id']} (replace)" in git(repo, "log", "-1", "--format=%B")
    again = cli(repo, "apply", "--yes")  # a replace is one change: nothing more to do
    assert again.exit_code == 0 and "No changes" in again.stdout
    # with withdraw on (the default), the replaced item is withdrawn while still pending
    write(repo, "launchops.toml", "")
    commit_all(repo, "withdraw on")
    assert cli(repo, "apply", "--yes", "--replace", "a").exit_code == 0
    assert [i["state"] for i in _by_spec(repo)["a"]] == ["pending", "withdrawn", "pending"]


def test_replace_of_an_unknown_id_is_an_error(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    out = cli(repo, "apply", "--yes", "--replace", "nope")
    assert out.exit_code == 1 and "--replace: there is no spec nope" in out.output


# ---- launchops forget and adopt -----------------------------------------------------------------

def test_forget_drops_the_entry_touches_no_item_and_a_re_add_is_a_new_change(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (old,) = _by_spec(repo)["b"]
    before = read_ledger(repo)["specs"]["b"]
    (repo / "launches" / "b.yaml").unlink()
    commit_all(repo, "remove b")
    assert cli(repo, "apply", "--yes").exit_code == 0  # removed, its item withdrawn

    out = cli(repo, "forget", "b")
    assert out.exit_code == 0, out.output
    ledger = read_ledger(repo)
    assert "b" not in ledger["specs"] and ledger["forgotten"] == {"b": before["change"]}
    assert not (repo / ".launchops/ledger/b.yaml.json").exists()  # a shard with no entries left goes
    message = git(repo, "log", "-1", "--format=%B")
    assert message.startswith("launchops: forget 1 entry") and f"b -> forgotten (removed; dropped {old['id']})" in message
    assert [i["state"] for i in _by_spec(repo)["b"]] == ["withdrawn"]  # the queue is as it was

    write(repo, "launches/b.yaml", spec(1))  # the same digest as before: still a new change
    commit_all(repo, "b again")
    plan = json.loads(cli(repo, "plan", "--format", "json").stdout)
    assert [(c["id"], c["action"]) for c in plan["changes"]] == [("b", "create")]
    assert cli(repo, "apply", "--yes").exit_code == 0
    items = _by_spec(repo)["b"]
    assert len(items) == 2 and items[1]["marker"] != items[0]["marker"]
    assert read_ledger(repo)["specs"]["b"]["previous"] == before["change"]


def test_forget_refuses_uncertain_entries_without_force_and_unknown_ids(tmp_path: Path) -> None:
    repo = _repo(tmp_path)

    def uncertain(spec_id: str, entry: dict[str, object]) -> None:
        if spec_id == "a":
            entry["status"] = "unknown"

    edit_entries(repo, uncertain)
    commit_all(repo, "an uncertain entry")
    head = git(repo, "rev-parse", "HEAD")
    refused = cli(repo, "forget", "a")
    assert refused.exit_code == 1 and "a is unknown" in refused.output and "--force" in refused.output
    missing = cli(repo, "forget", "nope")
    assert missing.exit_code == 1 and "no entry nope" in missing.output
    assert git(repo, "rev-parse", "HEAD") == head
    assert cli(repo, "forget", "a", "--force").exit_code == 0
    assert "a" not in read_ledger(repo)["specs"]


def test_adopt_records_an_existing_item_and_enqueues_nothing(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    write(repo, "launches/c.yaml", spec(7))
    commit_all(repo, "c, enqueued by hand")
    from reconciler.backends.base import EnqueueRequest
    from reconciler.backends.local import LocalQueue
    from reconciler.specs import digest_of

    queue = LocalQueue(repo / ".launchops" / "queue.db")
    launch = {"config": {"overrides": {"run_config": {"v": 7}}}, "docker_image": "img:1", "entity": "ent",
              "queue_name": "q"}
    by_hand = queue.enqueue(EnqueueRequest("c", digest_of(launch), "by-hand-1", launch))
    queue.close()
    count = len(local_items(repo))

    unknown = cli(repo, "adopt", "c", "--queued-run", "UnVuUXVldWVJdGVtOjE=")
    assert unknown.exit_code == 1 and "no queue item UnVuUXVldWVJdGVtOjE=" in unknown.output
    assert "c" not in read_ledger(repo)["specs"]  # nothing recorded
    missing = cli(repo, "adopt", "zzz", "--queued-run", by_hand.id)
    assert missing.exit_code == 1 and "there is no spec zzz" in missing.output

    out = cli(repo, "adopt", "c", "--queued-run", by_hand.id)
    assert out.exit_code == 0, out.output
    entry = read_ledger(repo)["specs"]["c"]
    assert entry["status"] == "applied" and entry["digest"] == digest_of(launch)
    assert [(r["id"], r["adopted"]) for r in entry["queued_runs"]] == [(by_hand.id, True)]
    assert f"c -> {by_hand.id} (adopted)" in git(repo, "log", "-1", "--format=%B")
    assert len(local_items(repo)) == count  # nothing enqueued
    assert "No changes" in cli(repo, "apply", "--yes").stdout

    # an adopted item is never withdrawn: an edit leaves it pending
    write(repo, "launches/c.yaml", spec(8))
    commit_all(repo, "edit c")
    assert cli(repo, "apply", "--yes").exit_code == 0
    assert [i["state"] for i in _by_spec(repo)["c"]] == ["pending", "pending"]


def test_wandb_adopt_checks_the_item_on_the_server(tmp_path: Path, wandb_server: WandbServer) -> None:
    repo, env = _wandb_repo(tmp_path, wandb_server)
    with wandb_server.state.lock:
        (item,) = [dict(i) for i in wandb_server.state.items]
    assert launchops(repo, "forget", "a", env=env).returncode == 0
    unknown = launchops(repo, "adopt", "a", "--queued-run", "UnVuUXVldWVJdGVtOjk5OQ==", env=env)
    assert unknown.returncode == 1 and "no queue item" in unknown.stderr
    adopted = launchops(repo, "adopt", "a", "--queued-run", item["id"], env=env)
    assert adopted.returncode == 0, adopted.stderr
    runs = read_ledger(repo)["specs"]["a"]["queued_runs"]
    assert [(r["id"], r["adopted"], r["state"]) for r in runs] == [(item["id"], True, "pending")]
    with wandb_server.state.lock:
        assert len(wandb_server.state.items) == 1


# ---- lifecycle: {withdraw, protect} in a spec ---------------------------------------------------

def test_a_spec_with_withdraw_false_keeps_its_items_on_edit_and_on_removal(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", examples=False)
    own = "lifecycle: {withdraw: false}\n"
    write(repo, "launches/a.yaml", spec(1, extra=own))
    write(repo, "launches/b.yaml", spec(1, extra=own))
    write(repo, "launches/c.yaml", spec(1))
    commit_all(repo, "specs")
    assert cli(repo, "apply", "--yes").exit_code == 0
    write(repo, "launches/a.yaml", spec(2, extra=own))
    (repo / "launches" / "b.yaml").unlink()
    (repo / "launches" / "c.yaml").unlink()  # the setting's default still withdraws this one
    commit_all(repo, "edit a, remove b and c")
    doc = json.loads(cli(repo, "plan", "--format", "json").stdout)
    assert {c["id"]: bool(c["withdraw"]) for c in doc["changes"]} == {"a": False, "b": False, "c": True}
    assert cli(repo, "apply", "--yes").exit_code == 0
    states = {k: [i["state"] for i in v] for k, v in _by_spec(repo).items()}
    assert states == {"a": ["pending", "pending"], "b": ["pending"], "c": ["withdrawn"]}


def _refused_everywhere(repo: Path, message: str) -> list[str]:
    """plan, plan --format json and apply each fail with message and commit nothing: their outputs."""
    head = git(repo, "rev-parse", "HEAD")
    outputs = []
    for args in (("plan",), ("plan", "--format", "json"), ("apply", "--yes")):
        out = cli(repo, *args)
        assert out.exit_code == 1, (args, out.output)
        assert message in out.output
        outputs.append(out.output)
    assert git(repo, "rev-parse", "HEAD") == head
    return outputs


def test_protect_fails_plan_and_apply_on_removal_and_turns_withdraw_off(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", examples=False)
    own = "lifecycle: {protect: true}\n"
    write(repo, "launches/keep.yaml", spec(1, extra=own))
    commit_all(repo, "a protected spec")
    assert cli(repo, "apply", "--yes").exit_code == 0

    write(repo, "launches/keep.yaml", spec(2, extra=own))  # an edit is fine, and withdraws nothing
    commit_all(repo, "edit keep")
    assert "withdraw" not in cli(repo, "plan").stdout
    assert cli(repo, "apply", "--yes").exit_code == 0
    assert [i["state"] for i in _by_spec(repo)["keep"]] == ["pending", "pending"]

    (repo / "launches" / "keep.yaml").unlink()
    commit_all(repo, "remove keep")
    _refused_everywhere(repo, "keep has lifecycle.protect: it would be removed")
    assert read_ledger(repo)["specs"]["keep"]["status"] == "applied"


def test_protect_fails_plan_and_apply_on_a_move_away(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", examples=False)
    own = "lifecycle: {protect: true}\n"
    write(repo, "launches/team-a/keep.yaml", spec(1, extra=own))
    write(repo, "launches/team-a/two.yaml", "---\n".join([spec(1, extra="id: one\n" + own), spec(1, extra="id: two\n")]))
    commit_all(repo, "protected specs")
    assert cli(repo, "apply", "--yes").exit_code == 0

    git(repo, "mv", "launches/team-a", "launches/research")  # the file moves with its protect
    write(repo, "launches/_moved.yaml", "- {from: team-a/, to: research/}\n")
    commit_all(repo, "rename the folder")
    for output in _refused_everywhere(repo, "team-a/keep has lifecycle.protect: it would be moved to research/keep"):
        assert "two" not in output.split("nothing was enqueued")[0].replace("research/two", "")
    assert "team-a/keep" in read_ledger(repo)["specs"]

    # an id changed in place, in a file of several documents: protected at its old id
    git(repo, "mv", "launches/research", "launches/team-a")
    (repo / "launches/_moved.yaml").unlink()
    commit_all(repo, "back")
    write(repo, "launches/team-a/two.yaml", "---\n".join([spec(1, extra="id: uno\nmoved_from: [one]\n" + own),
                                                          spec(1, extra="id: two\n")]))
    commit_all(repo, "rename one")
    out = cli(repo, "plan")
    assert out.exit_code == 1 and "one has lifecycle.protect: it would be moved to uno" in out.output

    # protect taken off in a commit of its own first: the move goes ahead
    write(repo, "launches/team-a/two.yaml", "---\n".join([spec(1, extra="id: one\n"), spec(1, extra="id: two\n")]))
    commit_all(repo, "unprotect one")
    write(repo, "launches/team-a/two.yaml", "---\n".join([spec(1, extra="id: uno\nmoved_from: [one]\n"),
                                                          spec(1, extra="id: two\n")]))
    commit_all(repo, "rename one")
    out = cli(repo, "apply", "--yes")
    assert out.exit_code == 0, out.output
    assert "uno" in read_ledger(repo)["specs"] and len(queue_items(repo)) == 3


def test_an_unknown_lifecycle_key_is_invalid(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", examples=False)
    write(repo, "launches/a.yaml", spec(1, extra="lifecycle: {protekt: true}\n"))
    out = cli(repo, "validate")
    assert out.exit_code == 1 and "protekt" in out.output


# ---- moves -----------------------------------------------------------------------------------------

def _team_repo(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "repo", examples=False)
    for name in ("x", "y", "z"):
        write(repo, f"launches/team-a/{name}.yaml", spec(1))
    commit_all(repo, "team a")
    assert cli(repo, "apply", "--yes").exit_code == 0
    return repo


def test_a_folder_rename_with_a_prefix_move_enqueues_nothing(tmp_path: Path) -> None:
    repo = _team_repo(tmp_path)
    before = read_ledger(repo)["specs"]
    git(repo, "mv", "launches/team-a", "launches/research")
    write(repo, "launches/_moved.yaml", "- {from: team-a/, to: research/}\n")
    commit_all(repo, "rename the folder")
    doc = json.loads(cli(repo, "plan", "--format", "json").stdout)
    assert [(c["id"], c["action"], c.get("moved_from")) for c in doc["changes"]] == [
        ("research/x", "move", "team-a/x"), ("research/y", "move", "team-a/y"), ("research/z", "move", "team-a/z")]
    assert "→ research/x  (move: move team-a/x → research/x" in cli(repo, "plan").stdout

    applied = cli(repo, "apply", "--yes")
    assert applied.exit_code == 0, applied.output
    assert len(queue_items(repo)) == 3  # nothing enqueued
    after = read_ledger(repo)["specs"]
    assert sorted(after) == ["research/x", "research/y", "research/z"]
    for name in ("x", "y", "z"):
        old, new = before[f"team-a/{name}"], after[f"research/{name}"]
        assert (new["change"], new["queued_runs"], new["status"]) == (old["change"], old["queued_runs"], "applied")
        assert new["source"] == f"launches/research/{name}.yaml"
    shards = sorted(p.relative_to(repo / ".launchops/ledger").as_posix() for p in (repo / ".launchops/ledger").rglob("*.json"))
    assert shards == ["_ledger.json", "research/x.yaml.json", "research/y.yaml.json", "research/z.yaml.json"]
    assert "research/x -> moved from team-a/x" in git(repo, "log", "-1", "--format=%B")
    again = cli(repo, "plan")  # the move is done: its line warns that it is safe to delete
    assert "No changes" in again.stdout and "safe to delete" in again.output


def test_a_move_plus_an_edit_enqueues_one_update(tmp_path: Path) -> None:
    repo = _team_repo(tmp_path)
    (old,) = _by_spec(repo)["team-a/x"]
    (repo / "launches/team-a/x.yaml").unlink()
    write(repo, "launches/team-a/renamed.yaml", spec(2, extra="moved_from: [team-a/x]\n"))
    commit_all(repo, "rename x and edit it")
    doc = json.loads(cli(repo, "plan", "--format", "json").stdout)
    assert [(c["id"], c["action"]) for c in doc["changes"]] == [("team-a/renamed", "move"), ("team-a/renamed", "update")]
    applied = cli(repo, "apply", "--yes")
    assert applied.exit_code == 0, applied.output
    items = _by_spec(repo)
    assert len(items["team-a/renamed"]) == 1 and [i["state"] for i in items["team-a/x"]] == ["withdrawn"]
    entry = read_ledger(repo)["specs"]["team-a/renamed"]
    assert [r["id"] for r in entry["queued_runs"]] == [old["id"], items["team-a/renamed"][0]["id"]]
    assert "team-a/x" not in read_ledger(repo)["specs"]


def test_a_cycle_and_a_move_onto_an_existing_spec_are_errors_at_their_lines(tmp_path: Path) -> None:
    repo = _team_repo(tmp_path)
    (repo / "launches/team-a/x.yaml").unlink()
    write(repo, "launches/_moved.yaml", "# moves\n- {from: team-a/x, to: team-a/y}\n- from: team-a/z\n  to: team-a/w\n")
    write(repo, "launches/team-a/w.yaml", spec(1))
    commit_all(repo, "bad moves")
    out = cli(repo, "plan")
    assert out.exit_code == 1
    assert "launches/_moved.yaml:2:1: cannot move team-a/x onto team-a/y: team-a/y has a ledger entry of its own" in out.output
    assert "launches/_moved.yaml:3:1: cannot move team-a/z to team-a/w: team-a/z still exists as a spec" in out.output

    write(repo, "launches/_moved.yaml", "- {from: team-a/x, to: team-a/q}\n- {from: team-a/q, to: team-a/x}\n")
    (repo / "launches/team-a/w.yaml").unlink()
    commit_all(repo, "a cycle")
    out = cli(repo, "plan")
    assert out.exit_code == 1 and "launches/_moved.yaml:1:1: the moves of team-a/x go round in a cycle" in out.output
    head = git(repo, "rev-parse", "HEAD")
    assert cli(repo, "apply", "--yes").exit_code == 1 and git(repo, "rev-parse", "HEAD") == head


def test_moved_from_errors_are_reported_at_the_line_of_its_key(tmp_path: Path) -> None:
    repo = _team_repo(tmp_path)
    # from still exists as a spec: the line of moved_from in y's file
    write(repo, "launches/team-a/y.yaml", "# y\n" + spec(1, extra="moved_from: [team-a/x]\n"))
    commit_all(repo, "y claims x")
    out = cli(repo, "plan")
    assert out.exit_code == 1
    assert ("launches/team-a/y.yaml:3:1: cannot move team-a/x to team-a/y: team-a/x still exists as a spec"
            in out.output), out.output

    # two moves to one id, in the second document of a file
    write(repo, "launches/team-a/y.yaml", spec(1))
    (repo / "launches/team-a/x.yaml").unlink()
    (repo / "launches/team-a/z.yaml").unlink()
    write(repo, "launches/team-a/n.yaml", "---\n".join([spec(1, extra="id: team-a/m\n"),
                                                        spec(1, extra="id: team-a/n\nmoved_from:\n- team-a/x\n")]))
    write(repo, "launches/_moved.yaml", "- {from: team-a/z, to: team-a/n}\n")
    commit_all(repo, "two onto n")
    out = cli(repo, "plan")
    assert out.exit_code == 1 and ("launches/_moved.yaml:1:1: two moves to team-a/n (the other at launches/team-a/n.yaml:14)"
                                  in out.output), out.output

    # a cycle through moved_from
    (repo / "launches/_moved.yaml").unlink()
    write(repo, "launches/team-a/n.yaml", spec(1, extra="moved_from: [team-a/q]\n"))
    write(repo, "launches/team-a/q.yaml", spec(1, extra="moved_from: [team-a/n]\n"))
    commit_all(repo, "a cycle")
    out = cli(repo, "plan")
    assert out.exit_code == 1
    assert "launches/team-a/n.yaml:2:1: the moves of team-a/q go round in a cycle" in out.output, out.output


def test_two_moves_to_one_id_are_errors_and_a_rename_without_a_move_gets_a_hint(tmp_path: Path) -> None:
    repo = _team_repo(tmp_path)
    (repo / "launches/team-a/x.yaml").unlink()
    (repo / "launches/team-a/y.yaml").unlink()
    write(repo, "launches/team-a/n.yaml", spec(1))
    write(repo, "launches/_moved.yaml", "- {from: team-a/x, to: team-a/n}\n- {from: team-a/y, to: team-a/n}\n")
    commit_all(repo, "two onto one")
    out = cli(repo, "plan")
    assert out.exit_code == 1 and "launches/_moved.yaml:2:1: two moves to team-a/n (the other at launches/_moved.yaml:1)" in out.output

    (repo / "launches/_moved.yaml").unlink()
    commit_all(repo, "no moves")
    plan = cli(repo, "plan")
    assert plan.exit_code == 0
    assert "team-a/n looks like a rename of team-a/x; add moved_from: [team-a/x]" in plan.stdout


def test_a_moved_uncertain_entry_still_resolves_by_its_marker(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", examples=False)
    write(repo, "launches/team-a/x.yaml", spec(1))
    commit_all(repo, "x")
    killed = launchops(repo, "apply", "--yes", die_at="after-enqueue:1")  # on the queue, its ID recorded nowhere
    assert killed.returncode == -9
    git(repo, "mv", "launches/team-a", "launches/research")
    write(repo, "launches/_moved.yaml", "- {from: team-a/, to: research/}\n")
    commit_all(repo, "rename the folder before the rerun")

    rerun = launchops(repo, "apply", "--yes")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    items = local_items(repo)
    assert len(items) == 1 and sends(items) == Counter({items[0]["marker"]: 1})  # adopted, not sent again
    entry = read_ledger(repo)["specs"]["research/x"]
    assert entry["status"] == "applied" and [r["id"] for r in entry["queued_runs"]] == [items[0]["id"]]


@pytest.mark.parametrize("point", ["before-withdraw:1", "after-withdraw:1", "before-enqueue:1"])
def test_wandb_kill_between_the_delete_and_the_replacement_loses_nothing(tmp_path: Path, wandb_server: WandbServer,
                                                                        point: str) -> None:
    """On W&B a withdrawn item is gone from the queue: only the journalled `withdrawing` tells the
    next apply that the item it cannot find is the one this withdraw deleted."""
    repo, env = _wandb_repo(tmp_path, wandb_server)
    with wandb_server.state.lock:
        (old,) = [dict(i) for i in wandb_server.state.items]
    write(repo, "launches/a.yaml", spec(2))
    commit_all(repo, "edit a")
    runs = apply_until_done(repo, env=env, die_at=point)
    with wandb_server.state.lock:
        items = [dict(i) for i in wandb_server.state.items]
        deleted = [i["id"] for i in wandb_server.state.deleted]
    assert deleted == [old["id"]] and len(items) == 1 and wandb_server.state.pushes() == 2
    recorded = [(r["id"], r["state"]) for r in read_ledger(repo)["specs"]["a"]["queued_runs"]]
    assert recorded == [(old["id"], "withdrawn"), (items[0]["id"], "pending")], runs[-1].stdout


# ---- counts of moves, withdraws and replaces, and plan --replace ---------------------------------

def test_the_markdown_and_json_plans_count_moves_withdraws_and_replaces(tmp_path: Path) -> None:
    repo = _team_repo(tmp_path)
    git(repo, "mv", "launches/team-a/x.yaml", "launches/team-a/moved.yaml")
    write(repo, "launches/_moved.yaml", "- {from: team-a/x, to: team-a/moved}\n")
    write(repo, "launches/team-a/y.yaml", spec(2))  # an update that withdraws y's pending item
    commit_all(repo, "move x, edit y")
    doc = json.loads(cli(repo, "plan", "--format", "json", "--replace", "team-a/z").stdout)
    assert doc["summary"] == {"create": 0, "update": 1, "retry": 0, "remove": 0, "replace": 1, "move": 1,
                              "withdraw": 2, "unchanged": 1}
    markdown = cli(repo, "plan", "--format", "markdown", "--replace", "team-a/z").stdout
    assert ("### launchops plan: 0 to create, 1 to update, 0 to retry, 0 to remove, 1 to replace, 1 to move, "
            "2 to withdraw if still pending\n") in markdown
    assert ("| create | update | retry | remove | replace | move | withdraw | unchanged |\n"
            "|---:|---:|---:|---:|---:|---:|---:|---:|\n| 0 | 1 | 0 | 0 | 1 | 1 | 2 | 1 |\n") in markdown
    assert "1 to move, 2 to withdraw if still pending" in cli(repo, "plan", "--replace", "team-a/z").stdout


def test_plan_replace_shows_what_apply_replace_does(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (old,) = _by_spec(repo)["a"]
    shown = cli(repo, "plan", "--replace", "a")
    assert shown.exit_code == 0, shown.output
    assert "± a  (replace: apply --replace" in shown.stdout and f"withdraw (if still pending) {old['id']}" in shown.stdout
    doc = json.loads(cli(repo, "plan", "--format", "json", "--replace", "a").stdout)
    assert [(c["id"], c["action"]) for c in doc["changes"]] == [("a", "replace")]
    assert "No changes" in cli(repo, "plan").stdout  # without the flag, nothing
    unknown = cli(repo, "plan", "--replace", "nope")
    assert unknown.exit_code == 1 and "--replace: there is no spec nope" in unknown.output
