"""Pull-request preview launches on real git repositories (a bare origin, a clone) and the real
local queue: open -> push -> push -> close, a missed close, unlabel, reopen, caps, matrix policy."""
from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import cli, clone_of_bare_origin, git, ledger_files, queue_items, write

TOML = "[preview]\nenabled = true\nmax_launches = {cap}\nmatrix = \"{matrix}\"\n"


def spec(image: str, queue: str = "gpu", preview: str = "") -> str:
    text = f"apiVersion: launchops/v1\nlaunch:\n  docker_image: {image}\n  queue_name: {queue}\n"
    return text + (f"preview:\n{preview}" if preview else "")


def setup(tmp_path: Path, cap: int = 5, matrix: str = "first") -> Path:
    """A clone of a bare origin whose main holds two specs, applied (main's ledger exists)."""
    repo = clone_of_bare_origin(tmp_path)
    write(repo, "launchops.toml", TOML.format(cap=cap, matrix=matrix))
    write(repo, "launches/_defaults.yaml", "preview:\n  queue_name: preview-q\n")
    write(repo, "launches/a.yaml", spec("img-a:1"))
    write(repo, "launches/b.yaml", spec("img-b:1"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "specs")
    git(repo, "push", "-q", "origin", "main")
    done = cli(repo, "apply", "--yes", "--push")
    assert done.exit_code == 0, done.output
    git(repo, "checkout", "-q", "-b", "feature")
    return repo


def push(repo: Path, files: dict[str, str], message: str = "edit") -> str:
    for rel, text in files.items():
        write(repo, rel, text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    git(repo, "push", "-q", "origin", "HEAD:feature")
    return git(repo, "rev-parse", "HEAD").strip()


def preview(repo: Path, *args: str) -> dict[str, Any]:
    out = cli(repo, "preview", *args, "--format", "json")
    assert out.exit_code == 0, out.output
    return dict(json.loads(out.stdout))


def apply(repo: Path, pr: int) -> dict[str, Any]:
    return preview(repo, "apply", "--pr", str(pr), "--base", "origin/main")


def record(repo: Path, pr: int) -> dict[str, Any]:
    git(repo, "fetch", "-q", "origin", "launchops/previews")
    return dict(json.loads(git(repo, "show", f"FETCH_HEAD:pr-{pr}/ledger.json")))


def previews(repo: Path) -> list[dict[str, Any]]:
    return [i for i in queue_items(repo) if i["marker"].startswith("lo-pr-")]


def main_ledger(repo: Path) -> dict[str, str]:
    git(repo, "fetch", "-q", "origin", "main")
    return ledger_files(repo, "FETCH_HEAD")


def set_state(repo: Path, item_id: str, state: str) -> None:
    """What a launch agent does when it takes an item."""
    with sqlite3.connect(repo / ".launchops" / "queue.db") as db:
        db.execute("UPDATE items SET state = ? WHERE id = ?", (state, item_id))


def test_open_push_push_close(tmp_path: Path) -> None:
    repo = setup(tmp_path)
    before = main_ledger(repo)
    on_disk = ledger_files(repo)

    push(repo, {"launches/a.yaml": spec("img-a:2")})
    first = apply(repo, 7)
    assert [e["id"] for e in first["enqueued"]] == ["a"]
    (item,) = previews(repo)
    assert item["queue_name"] == "preview-q" and item["marker"].startswith("lo-pr-7-") and item["sends"] == 1
    again = apply(repo, 7)  # the same head again (a re-run of the workflow): nothing is sent
    assert again["enqueued"] == [] and again["unchanged"] == ["a"]

    push(repo, {"launches/b.yaml": spec("img-b:2")})
    second = apply(repo, 7)
    assert [e["id"] for e in second["enqueued"]] == ["b"] and second["unchanged"] == ["a"]

    push(repo, {"launches/a.yaml": spec("img-a:3")})
    third = apply(repo, 7)
    assert [e["id"] for e in third["enqueued"]] == ["a"]
    assert [e["queued_run"] for e in third["withdrawn"]] == [item["id"]]  # the superseded pending item
    items = {i["id"]: i for i in previews(repo)}
    assert len(items) == 3 and all(i["sends"] == 1 for i in items.values())
    assert items[item["id"]]["state"] == "withdrawn"

    running = next(e["queued_run"] for e in second["enqueued"])
    set_state(repo, running, "running")
    closed = preview(repo, "cleanup", "--pr", "7")
    pending = next(e["queued_run"] for e in third["enqueued"])
    assert [e["queued_run"] for e in closed["withdrawn"]] == [pending]
    assert [(e["queued_run"], e["state"]) for e in closed["running"]] == [(running, "running")]
    assert record(repo, 7)["state"] == "closed"
    twice = preview(repo, "cleanup", "--pr", "7")
    assert twice["withdrawn"] == [] and [e["queued_run"] for e in twice["running"]] == [running]

    # reopening resumes: nothing unchanged is sent again
    reopened = apply(repo, 7)
    assert reopened["enqueued"] == [] and sorted(reopened["unchanged"]) == ["a", "b"]
    assert record(repo, 7)["state"] == "open"

    assert main_ledger(repo) == before and ledger_files(repo) == on_disk  # byte for byte
    sends = [s for s in queue_items(repo) if not s["marker"].startswith("lo-pr-")]
    assert len(sends) == 2  # main's own two items, nothing else

    # after merge, main's apply enqueues the real runs: a preview never counts as applied
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-edit", "feature")
    merged = cli(repo, "apply", "--yes", "--push")
    assert merged.exit_code == 0, merged.output
    mains = [i for i in queue_items(repo) if not i["marker"].startswith("lo-pr-")]
    assert sorted(i["launch"]["docker_image"] for i in mains) == ["img-a:1", "img-a:3", "img-b:1", "img-b:2"]
    assert all(i["queue_name"] == "gpu" for i in mains)


def test_a_missed_close_is_swept_also_when_the_branch_was_lost(tmp_path: Path) -> None:
    repo = setup(tmp_path)
    push(repo, {"launches/a.yaml": spec("img-a:2")})
    kept = apply(repo, 3)["enqueued"][0]["queued_run"]
    push(repo, {"launches/b.yaml": spec("img-b:2")})
    gone = [e["queued_run"] for e in apply(repo, 4)["enqueued"]]
    assert len(gone) == 2  # a and b both differ from main for pull request 4
    # the preview branch is lost: deleted on the remote and here
    git(repo, "push", "-q", "origin", ":launchops/previews")
    git(repo, "branch", "-q", "-D", "launchops/previews")
    swept = preview(repo, "sweep", "--open", "3,5")
    assert sorted(e["queued_run"] for e in swept["withdrawn"]) == sorted(gone)
    assert all(e["id"] == "pr-4" for e in swept["withdrawn"])
    states = {i["id"]: i["state"] for i in previews(repo)}
    assert states[kept] == "pending" and all(states[g] == "withdrawn" for g in gone)
    assert preview(repo, "sweep", "--open", "3,5")["withdrawn"] == []  # idempotent


def test_sweep_marks_a_recorded_pull_request_closed_and_leaves_other_repositories_alone(tmp_path: Path) -> None:
    repo = setup(tmp_path)
    push(repo, {"launches/a.yaml": spec("img-a:2")})
    apply(repo, 9)
    # an item of another repository sharing the queue file, for a pull request of the same number
    with sqlite3.connect(repo / ".launchops" / "queue.db") as db:
        db.execute("INSERT INTO items VALUES ('other', 'lo-pr-9-00000000-abc', 'x', 'd', 'q', NULL, NULL, 'p', "
                   "NULL, 'pending', '{}', '2026-01-01T00:00:00Z')")
    swept = preview(repo, "sweep", "--open", "")
    assert len(swept["withdrawn"]) == 1 and swept["withdrawn"][0]["queued_run"] != "other"
    assert record(repo, 9)["state"] == "closed"
    assert {i["id"]: i["state"] for i in queue_items(repo)}["other"] == "pending"


def test_unlabel_cleans_and_off_by_default(tmp_path: Path) -> None:
    repo = setup(tmp_path)
    push(repo, {"launches/a.yaml": spec("img-a:2")})
    apply(repo, 11)
    cleaned = preview(repo, "cleanup", "--pr", "11")  # the workflow runs cleanup on `unlabeled`
    assert len(cleaned["withdrawn"]) == 1 and all(i["state"] == "withdrawn" for i in previews(repo))
    write(repo, "launchops.toml", "")
    off = apply(repo, 12)
    assert off["enqueued"] == [] and "off" in off["notes"][0]


def test_max_launches_and_matrix_first(tmp_path: Path) -> None:
    repo = setup(tmp_path, cap=2, matrix="first")
    grid = ("apiVersion: launchops/v1\nmatrix:\n  axes: {lr: [1, 2, 3]}\nlaunch:\n  docker_image: img-m:1\n"
            "  queue_name: gpu\n  config: {lr: \"${matrix.lr}\"}\n")
    push(repo, {"launches/m.yaml": grid, "launches/c.yaml": spec("img-c:1"), "launches/a.yaml": spec("img-a:2")})
    done = apply(repo, 5)
    assert [e["id"] for e in done["enqueued"]] == ["a", "c"]
    left = {e["id"]: e["reason"] for e in done["left_out"]}
    assert left["m[lr=1]"] == "over preview.max_launches (2)"
    assert "lowest cell" in left["m[lr=2]"] and "lowest cell" in left["m[lr=3]"]
    text = cli(repo, "preview", "apply", "--pr", "5", "--base", "origin/main")
    assert "left out m[lr=1]: over preview.max_launches (2)" in text.output


@pytest.mark.parametrize(("policy", "expected"), [("none", ["a"]), ("all", ["a", "m[lr=1]", "m[lr=2]"])])
def test_matrix_policy(tmp_path: Path, policy: str, expected: list[str]) -> None:
    repo = setup(tmp_path, cap=5, matrix=policy)
    grid = ("apiVersion: launchops/v1\nmatrix:\n  axes: {lr: [1, 2]}\nlaunch:\n  docker_image: img-m:1\n"
            "  queue_name: gpu\n  config: {lr: \"${matrix.lr}\"}\n")
    push(repo, {"launches/m.yaml": grid, "launches/a.yaml": spec("img-a:2")})
    assert [e["id"] for e in apply(repo, 6)["enqueued"]] == expected


def test_a_change_only_to_preview_or_a_cosmetic_edit(tmp_path: Path) -> None:
    repo = setup(tmp_path)
    push(repo, {"launches/a.yaml": "# a comment\n" + spec("img-a:1")})
    assert apply(repo, 2)["enqueued"] == []  # nothing a preview would run differs
    push(repo, {"launches/a.yaml": spec("img-a:1", preview="  template_variables: {gpus: 1}\n")})
    done = apply(repo, 2)
    assert [e["id"] for e in done["enqueued"]] == ["a"]
    (item,) = previews(repo)
    assert item["launch"]["template_variables"] == {"gpus": 1} and item["launch"]["docker_image"] == "img-a:1"


def test_an_interrupted_preview_is_adopted_not_sent_again(tmp_path: Path) -> None:
    """The intents are pushed before the send: a run that died after sending leaves a pending
    entry, and the next run finds the item by its marker."""
    repo = setup(tmp_path)
    push(repo, {"launches/a.yaml": spec("img-a:2")})
    apply(repo, 8)
    data = record(repo, 8)
    data["specs"]["a"]["status"] = "pending"
    data["specs"]["a"]["queued_runs"] = []
    _rewrite(repo, "pr-8/ledger.json", json.dumps(data, indent=2, sort_keys=True) + "\n")
    done = apply(repo, 8)
    assert done["enqueued"] == [] and len(done["adopted"]) == 1
    (item,) = previews(repo)
    assert item["sends"] == 1 and record(repo, 8)["specs"]["a"]["status"] == "applied"


def _rewrite(repo: Path, rel: str, text: str) -> None:
    """Commit `text` at `rel` on the preview branch (as a run that died after its intents left it)."""
    tip = git(repo, "rev-parse", "FETCH_HEAD").strip()
    env_index = repo / ".git" / "preview-index"
    run = {"cwd": repo, "check": True, "capture_output": True, "text": True,
           "env": {"GIT_INDEX_FILE": str(env_index), "PATH": "/usr/bin:/bin"}}
    subprocess.run(["git", "read-tree", tip], **run)  # type: ignore[call-overload]
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], input=text, cwd=repo, check=True,
                          capture_output=True, text=True).stdout.strip()
    subprocess.run(["git", "update-index", "--add", "--cacheinfo", f"100644,{blob},{rel}"], **run)  # type: ignore[call-overload]
    tree = subprocess.run(["git", "write-tree"], **run).stdout.strip()  # type: ignore[call-overload]
    commit = git(repo, "commit-tree", tree, "-p", tip, "-m", "by hand").strip()
    git(repo, "push", "-q", "origin", f"{commit}:refs/heads/launchops/previews")


# ---- the workflow ------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def _workflow(name: str) -> dict[str, Any]:
    import yaml

    loaded: dict[str, Any] = yaml.load((ROOT / ".github/workflows" / name).read_text(), Loader=yaml.BaseLoader)
    return loaded


def test_the_preview_launch_workflow() -> None:
    doc = _workflow("launchops-preview-launch.yml")
    assert set(doc["on"]) == {"pull_request"}  # never pull_request_target: no base-repository token for forks
    assert {"labeled", "synchronize", "closed", "unlabeled"} <= set(doc["on"]["pull_request"]["types"])
    # one group per pull request, never cancelled half-way: two quick pushes run one after the other
    assert doc["concurrency"] == {"group": "launchops-preview-launch-${{ github.event.pull_request.number }}",
                                  "cancel-in-progress": "false"}
    launch, cleanup = doc["jobs"]["launch"], doc["jobs"]["cleanup"]
    for job in (launch, cleanup):
        # only the repository's own pull requests, never a fork's; the key only from the environment
        # whose required reviewers approve each run
        assert "github.event.pull_request.head.repo.full_name == github.repository" in job["if"]
        assert job["environment"] == "launchops-preview"
        assert job["permissions"] == {"contents": "write"}
    assert "contains(github.event.pull_request.labels.*.name, 'launch-preview')" in launch["if"]
    assert "github.event.action != 'closed'" in launch["if"]
    assert "github.event.label.name == 'launch-preview'" in cleanup["if"]
    steps = {s.get("with", {}).get("command"): s for s in launch["steps"] + cleanup["steps"]}
    assert "--base origin/${{ github.base_ref }}" in steps["preview apply"]["with"]["args"]
    assert steps["preview cleanup"]["with"]["args"] == "--pr ${{ github.event.pull_request.number }}"
    checkout = launch["steps"][0]
    assert checkout["with"]["ref"] == "${{ github.event.pull_request.head.sha }}"
    assert checkout["with"]["fetch-depth"] == "0"


def test_the_sync_workflow_sweeps_with_the_open_pull_requests() -> None:
    sync = _workflow("launchops-sync.yml")["jobs"]["sync"]
    names = [s.get("name") for s in sync["steps"]]
    opened = sync["steps"][names.index("Open previews")]
    assert "gh pr list --state open --label launch-preview" in opened["run"]
    sweep = sync["steps"][names.index("Sweep previews")]["with"]
    assert sweep["command"] == "preview sweep" and sweep["args"] == "--open=${{ steps.open.outputs.numbers }}"
    assert sync["permissions"]["pull-requests"] == "read"


def test_sweep_and_cleanup_ask_nothing_when_previews_were_never_on(tmp_path: Path) -> None:
    repo = setup(tmp_path)
    write(repo, "launchops.toml", "backend = \"wandb\"\n")  # no key, no server: asking would fail
    for args in (("sweep", "--open", ""), ("cleanup", "--pr", "3")):
        done = preview(repo, *args)
        assert done["withdrawn"] == [] and "off" in done["notes"][0]


def test_a_preview_launch_with_two_sources_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    repo = setup(tmp_path)
    push(repo, {"launches/a.yaml": spec("img-a:1", preview="  job: acme/p/smoke:v1\n")})
    done = cli(repo, "preview", "apply", "--pr", "4", "--base", "origin/main")
    assert done.exit_code == 1
    assert "a: its preview launch needs exactly one of job, docker_image or uri (found job and docker_image)" in (
        done.output)
    assert previews(repo) == []


def test_two_pull_requests_previewed_at_once_both_land(tmp_path: Path) -> None:
    """Each run pushes the shared branch compare-and-swap; the one that lost the race writes its
    own folder again on the new tip."""
    import sys

    repo = setup(tmp_path)
    push(repo, {"launches/a.yaml": spec("img-a:2")})
    runs = [subprocess.Popen([sys.executable, "-m", "reconciler", "-C", str(repo), "preview", "apply", "--pr",
                              str(pr), "--base", "origin/main"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for pr in (31, 32)]
    for run in runs:
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
    assert record(repo, 31)["state"] == record(repo, 32)["state"] == "open"
    items = previews(repo)
    assert sorted(i["marker"][:9] for i in items) == ["lo-pr-31-", "lo-pr-32-"]
    assert all(i["sends"] == 1 for i in items)
    assert apply(repo, 31)["enqueued"] == [] and apply(repo, 32)["enqueued"] == []


def test_the_step_summary_says_what_was_left_out(tmp_path: Path) -> None:
    repo = setup(tmp_path, cap=1)
    push(repo, {"launches/a.yaml": spec("img-a:2"), "launches/b.yaml": spec("img-b:2")})
    summary = tmp_path / "summary.md"
    done = cli(repo, "preview", "apply", "--pr", "3", "--base", "origin/main", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert done.exit_code == 0, done.output
    text = summary.read_text()
    assert text.startswith("### launchops preview\n")
    assert "left out b&#58; over preview.max&#95;launches &#40;1&#41;" in text and "1 enqueued" in text


def test_a_spec_reverted_in_a_later_head_withdraws_its_preview_and_counts_again_when_changed(tmp_path: Path) -> None:
    repo = setup(tmp_path)
    push(repo, {"launches/a.yaml": spec("img-a:2"), "launches/b.yaml": spec("img-b:2")})
    first = {e["id"]: e["queued_run"] for e in apply(repo, 12)["enqueued"]}
    push(repo, {"launches/b.yaml": spec("img-b:1")})  # b back to main's
    second = apply(repo, 12)
    assert second["enqueued"] == [] and [e["queued_run"] for e in second["withdrawn"]] == [first["b"]]
    assert record(repo, 12)["specs"]["b"]["status"] == "removed"
    assert apply(repo, 12)["withdrawn"] == []  # said once
    push(repo, {"launches/b.yaml": spec("img-b:2")})  # the same preview as the first head's: run it again
    third = apply(repo, 12)
    assert [e["id"] for e in third["enqueued"]] == ["b"] and third["enqueued"][0]["queued_run"] != first["b"]
