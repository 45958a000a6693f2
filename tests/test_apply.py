"""Acceptance tests of plan and apply through the CLI, on real git repositories and the real SQLite queue."""
from __future__ import annotations

import html
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conftest import cli, cli_subprocess, commit_all, git, queue_items, read_ledger, write

TRAIN = "launches/team-b/train-7b.yaml"


def edit(repo: Path, rel: str, old: str, new: str) -> None:
    path = repo / rel
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


FIRST_COMMIT = [".launchops/.gitignore", ".launchops/ledger/_ledger.json", ".launchops/ledger/team-a/nightly-eval.yaml.json",
            ".launchops/ledger/team-b/tokenizer-smoke.yaml.json", ".launchops/ledger/team-b/train-7b.yaml.json"]


def test_first_apply_enqueues_every_spec_and_commits_only_the_ledger(repo: Path) -> None:
    result = cli(repo, "apply", "--yes")
    assert result.exit_code == 0, result.output
    assert "Apply complete: 3 enqueued" in result.stdout
    items = queue_items(repo)
    assert sorted(i["spec_id"] for i in items) == ["team-a/nightly-eval", "team-b/tokenizer-smoke", "team-b/train-7b"]
    ledger = read_ledger(repo)
    assert ledger["version"] == 2 and len(ledger["repository"]) == 32
    for item in items:
        entry = ledger["specs"][item["spec_id"]]
        assert entry["status"] == "applied"
        assert [r["id"] for r in entry["queued_runs"]] == [item["id"]]
    files = git(repo, "show", "--name-only", "--format=", "HEAD").split()
    assert files == FIRST_COMMIT
    message = git(repo, "log", "-1", "--format=%B")
    for item in items:
        assert f"{item['spec_id']} -> {item['id']}" in message
    assert git(repo, "status", "--porcelain") == ""  # queue.db and journal are ignored


def test_effective_launch_is_what_is_enqueued(repo: Path) -> None:
    cli(repo, "apply", "--yes")
    train = next(i for i in queue_items(repo) if i["spec_id"] == "team-b/train-7b")
    assert train["queue_name"] == "k8s-h100"  # from team-b/_defaults.yaml
    assert train["priority"] == 1  # "high"
    assert train["launch"]["entity"] == "acme-ml"  # from launches/_defaults.yaml
    assert train["launch"]["template_variables"] == {"gpus": 8, "nodes": 2, "image_tag": "2026.11"}
    assert read_ledger(repo)["specs"]["team-b/train-7b"]["launch"] == train["launch"]


def test_second_apply_does_nothing(repo: Path) -> None:
    cli(repo, "apply", "--yes")
    head = git(repo, "rev-parse", "HEAD")
    again = cli(repo, "apply", "--yes")
    assert again.exit_code == 0
    assert "No changes" in again.stdout
    assert len(queue_items(repo)) == 3
    assert git(repo, "rev-parse", "HEAD") == head


def test_update_is_planned_with_a_field_diff_and_enqueued_once(repo: Path) -> None:
    cli(repo, "apply", "--yes")
    edit(repo, TRAIN, "lr: 0.0003", "lr: 0.0001")
    commit_all(repo, "lower lr")
    plan = cli(repo, "plan", "--format", "json")
    doc = json.loads(plan.stdout)
    assert doc["format_version"] == 1
    # the item the update supersedes is withdrawn if still pending: counted, not an action of its own
    assert doc["summary"] == {"create": 0, "update": 1, "retry": 0, "remove": 0, "withdraw": 1, "unchanged": 2}
    change = doc["changes"][0]
    assert change["id"] == "team-b/train-7b" and change["action"] == "update"
    assert change["diff"] == [{"path": "launch.config.overrides.run_config.lr", "old": 0.0003, "new": 0.0001}]
    text = cli(repo, "plan").stdout
    assert "~ launch.config.overrides.run_config.lr: 0.0003 -> 0.0001" in text
    assert "Plan: 0 to create, 1 to update, 0 to retry, 0 to remove, 2 unchanged, 1 to withdraw if still pending." in text
    assert cli(repo, "apply", "--yes").exit_code == 0
    runs = read_ledger(repo)["specs"]["team-b/train-7b"]["queued_runs"]
    assert len(runs) == 2 and runs[0]["id"] != runs[1]["id"]
    assert len(queue_items(repo)) == 4


def test_diff_shows_added_and_removed_fields(repo: Path) -> None:
    cli(repo, "apply", "--yes")
    edit(repo, TRAIN, "    nodes: 2\n", "")
    edit(repo, TRAIN, "  priority: high\n", "  priority: high\n  name: pretrain-7b\n")
    commit_all(repo)
    diff = json.loads(cli(repo, "plan", "--format", "json").stdout)["changes"][0]["diff"]
    assert {"path": "launch.name", "old": None, "new": "pretrain-7b"} in diff
    assert {"path": "launch.template_variables.nodes", "old": 2, "new": None} in diff


def test_cosmetic_edits_change_nothing(repo: Path) -> None:
    cli(repo, "apply", "--yes")
    path = repo / TRAIN
    text = path.read_text(encoding="utf-8")
    text = text.replace("description: Pre-train", "description: Pretrain").replace("{stage: pretrain}", "{stage: x}")
    text = "# a new comment\n" + text.replace("    gpus: 8\n    nodes: 2\n", "    nodes: 2   # reordered\n    gpus: 8\n")
    path.write_text(text, encoding="utf-8")
    commit_all(repo)
    out = cli(repo, "plan", "--detailed-exitcode")
    assert out.exit_code == 0, out.output
    assert "3 unchanged" in out.stdout


def test_detailed_exitcode(repo: Path) -> None:
    assert cli(repo, "plan", "--detailed-exitcode").exit_code == 2
    cli(repo, "apply", "--yes")
    assert cli(repo, "plan", "--detailed-exitcode").exit_code == 0
    assert cli(repo, "plan").exit_code == 0


def test_plan_writes_nothing_and_needs_no_git(tmp_path: Path, repo: Path) -> None:
    before = sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if ".git/" not in p.as_posix())
    assert cli(repo, "plan").exit_code == 0
    after = sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if ".git/" not in p.as_posix())
    assert before == after
    plain = tmp_path / "plain"
    (plain / "launches").mkdir(parents=True)
    (plain / "launches" / "a.yaml").write_text("apiVersion: launchops/v1\nlaunch: {docker_image: x:1}\n")
    assert "1 to create" in cli(plain, "plan").stdout


def test_removed_spec_is_marked_removed_and_history_kept(repo: Path) -> None:
    cli(repo, "apply", "--yes")
    run_id = read_ledger(repo)["specs"]["team-a/nightly-eval"]["queued_runs"][0]["id"]
    (repo / "launches/team-a/nightly-eval.yaml").unlink()
    commit_all(repo, "drop nightly eval")
    plan = json.loads(cli(repo, "plan", "--format", "json").stdout)
    assert plan["summary"]["remove"] == 1
    assert cli(repo, "apply", "--yes").exit_code == 0
    entry = read_ledger(repo)["specs"]["team-a/nightly-eval"]
    assert entry["status"] == "removed"
    assert entry["queued_runs"][0]["id"] == run_id
    assert cli(repo, "plan", "--detailed-exitcode").exit_code == 0


def test_revert_to_an_earlier_digest_is_a_new_change(repo: Path) -> None:
    cli(repo, "apply", "--yes")
    edit(repo, TRAIN, "lr: 0.0003", "lr: 0.0001")
    commit_all(repo)
    cli(repo, "apply", "--yes")
    edit(repo, TRAIN, "lr: 0.0001", "lr: 0.0003")
    commit_all(repo)
    assert cli(repo, "apply", "--yes").exit_code == 0
    entry = read_ledger(repo)["specs"]["team-b/train-7b"]
    # three changes, three identities: the third is not the first although its digest is
    assert len({r["change"] for r in entry["queued_runs"]}) == 3 and entry["change"] == entry["queued_runs"][-1]["change"]
    assert len(entry["queued_runs"]) == 3
    assert len({r["id"] for r in entry["queued_runs"]}) == 3
    assert len(queue_items(repo)) == 5


def test_apply_refuses_dirty_spec_files_unless_allowed(repo: Path) -> None:
    edit(repo, TRAIN, "lr: 0.0003", "lr: 0.0001")
    write(repo, "launches/new.yaml", "apiVersion: launchops/v1\nlaunch: {docker_image: x:1}\n")
    out = cli(repo, "apply", "--yes")
    assert out.exit_code == 1
    assert "spec files differ from HEAD" in out.output and "launches/new.yaml" in out.output
    assert queue_items(repo) == []
    assert not (repo / ".launchops/ledger").exists()
    ok = cli(repo, "apply", "--yes", "--allow-dirty")
    assert ok.exit_code == 0 and len(queue_items(repo)) == 4


SETTINGS_SPEC = "apiVersion: launchops/v1\nlaunch: {docker_image: 'x:1'}\n"


def _refused_as_dirty(repo: Path, *names: str) -> None:
    out = cli(repo, "apply", "--yes")
    assert out.exit_code == 1, out.output
    assert "spec files differ from HEAD: " in out.output and "--allow-dirty" in out.output
    listed = out.output.split("differ from HEAD: ", 1)[1].split(";", 1)[0]
    assert [shown.split(" (")[0] for shown in listed.split(", ")] == list(names), out.output
    assert queue_items(repo) == []
    assert not (repo / ".launchops/ledger").exists()


def test_apply_refuses_settings_that_differ_from_head(empty_repo: Path) -> None:
    """The settings shape every launch (here its queue), so the commit the ledger names must hold them."""
    write(empty_repo, "launches/a.yaml", SETTINGS_SPEC)
    commit_all(empty_repo)
    write(empty_repo, "launchops.toml", 'queue_name = "from-settings"\n')  # new, untracked
    _refused_as_dirty(empty_repo, "launchops.toml")
    commit_all(empty_repo, "settings")
    write(empty_repo, "launchops.toml", 'queue_name = "edited"\n')  # tracked, modified
    _refused_as_dirty(empty_repo, "launchops.toml")
    (empty_repo / "launchops.toml").unlink()  # tracked, deleted: back to the defaults
    _refused_as_dirty(empty_repo, "launchops.toml")
    write(empty_repo, "pyproject.toml", '[tool.launchops]\nqueue_name = "from-pyproject"\n')
    _refused_as_dirty(empty_repo, "launchops.toml", "pyproject.toml")
    (empty_repo / "pyproject.toml").unlink()
    write(empty_repo, "launchops.toml", 'queue_name = "edited"\n')
    allowed = cli(empty_repo, "apply", "--yes", "--allow-dirty")
    assert allowed.exit_code == 0, allowed.output
    assert [i["queue_name"] for i in queue_items(empty_repo)] == ["edited"]


def test_ledger_commit_leaves_other_staged_and_unstaged_work_alone(repo: Path) -> None:
    write(repo, "notes.txt", "staged\n")
    git(repo, "add", "notes.txt")
    write(repo, "scratch.txt", "untracked\n")
    write(repo, "README", "unstaged\n")
    assert cli(repo, "apply", "--yes").exit_code == 0
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == FIRST_COMMIT
    status = git(repo, "status", "--porcelain")
    assert "A  notes.txt" in status and "?? scratch.txt" in status and "?? README" in status


def test_ledger_commit_waits_for_a_git_status_holding_the_index(repo: Path) -> None:
    lock = repo / ".git" / "index.lock"  # what a `git status` beside apply holds while it refreshes
    lock.write_text("")
    head = git(repo, "rev-parse", "HEAD")
    run = subprocess.Popen([sys.executable, "-m", "reconciler", "-C", str(repo), "apply", "--yes"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(1200):  # the ledger commit is made without the index; then apply waits for it
            if git(repo, "rev-parse", "HEAD") != head or run.poll() is not None:
                break
            time.sleep(0.05)
        assert git(repo, "rev-parse", "HEAD") != head, "apply made no ledger commit"
        assert run.poll() is None, run.communicate()  # still running: waiting for the index
    finally:
        lock.unlink()
        out, err = run.communicate(timeout=120)
    assert run.returncode == 0, out + err
    assert git(repo, "status", "--porcelain") == ""  # the real index learned the committed ledger


def test_no_commit_writes_the_ledger_only(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    assert cli(repo, "apply", "--yes", "--no-commit").exit_code == 0
    assert git(repo, "rev-parse", "HEAD") == head
    assert len(read_ledger(repo)["specs"]) == 3
    # the first ledger is new: exactly it and its .gitignore are left for the user to commit
    assert git(repo, "status", "--porcelain", "--untracked-files=all").splitlines() == [
        f"?? {name}" for name in FIRST_COMMIT]
    assert "No changes" in cli(repo, "apply", "--yes").stdout
    commit_all(repo, "the ledger, by hand")
    edit(repo, TRAIN, "lr: 0.0003", "lr: 0.0001")
    commit_all(repo, "lower lr")
    head = git(repo, "rev-parse", "HEAD")
    assert cli(repo, "apply", "--yes", "--no-commit").exit_code == 0
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == (
        " M .launchops/ledger/team-b/train-7b.yaml.json\n")  # only the shard of the spec that changed


def test_apply_without_a_terminal_needs_yes(repo: Path) -> None:
    out = cli_subprocess(repo, "apply")
    assert out.returncode == 1
    assert "pass --yes" in out.stderr
    assert queue_items(repo) == []


def test_apply_asks_on_a_terminal(repo: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # CliRunner's stdin is never a terminal; pretend it is to reach the prompt.
    import reconciler.cli

    monkeypatch.setattr(reconciler.cli, "interactive", lambda: True)
    no = cli(repo, "apply", input="n\n")
    assert no.exit_code == 1 and "Enqueue these changes?" in no.output and "Aborted" in no.output
    assert queue_items(repo) == []
    yes = cli(repo, "apply", input="y\n")
    assert yes.exit_code == 0 and len(queue_items(repo)) == 3


def test_apply_outside_a_git_repository(tmp_path: Path) -> None:
    (tmp_path / "launches").mkdir()
    (tmp_path / "launches" / "a.yaml").write_text("apiVersion: launchops/v1\nlaunch: {docker_image: x:1}\n")
    out = cli(tmp_path, "apply", "--yes")
    assert out.exit_code == 1
    assert "is not a git repository" in out.output
    assert not (tmp_path / ".launchops").exists()


def test_commits_as_launchops_without_a_git_identity(repo: Path, tmp_path: Path) -> None:
    git(repo, "config", "--unset", "user.name")
    git(repo, "config", "--unset", "user.email")
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "", "GIT_AUTHOR_EMAIL": "", "GIT_COMMITTER_NAME": "", "GIT_COMMITTER_EMAIL": ""}
    out = cli_subprocess(repo, "apply", "--yes", env=env)
    assert out.returncode == 0, out.stderr
    assert git(repo, "log", "-1", "--format=%an <%ae>").strip() == "launchops <launchops@localhost>"


def test_status_lists_every_spec(repo: Path) -> None:
    assert "The ledger is empty" in cli(repo, "status").stdout
    cli(repo, "apply", "--yes")
    doc = json.loads(cli(repo, "status", "--format", "json").stdout)
    assert doc["format_version"] == 2
    assert [s["id"] for s in doc["specs"]] == ["team-a/nightly-eval", "team-b/tokenizer-smoke", "team-b/train-7b"]
    ids = {i["spec_id"]: i["id"] for i in queue_items(repo)}
    for row in doc["specs"]:
        assert row["status"] == "applied" and row["queued_run"]["id"] == ids[row["id"]]
        assert row["queued_run"]["state"] == "pending"
    text = cli(repo, "status").stdout
    assert text.splitlines()[0].split() == ["ID", "STATUS", "QUEUED", "RUN", "STATE", "ENQUEUED"]
    assert ids["team-b/train-7b"] in text


def test_status_refresh_on_the_local_queue_records_state(repo: Path) -> None:
    import sqlite3

    cli(repo, "apply", "--yes")
    db = sqlite3.connect(repo / ".launchops/queue.db")
    db.execute("UPDATE items SET state = 'claimed' WHERE spec_id = 'team-b/train-7b'")
    db.commit()
    db.close()
    out = cli(repo, "status", "--refresh")
    assert out.exit_code == 0, out.output
    assert read_ledger(repo)["specs"]["team-b/train-7b"]["queued_runs"][-1]["state"] == "claimed"
    assert "refresh 1 queue states" in git(repo, "log", "-1", "--format=%s")


def test_queue_list_json(repo: Path) -> None:
    assert queue_items(repo) == []
    cli(repo, "apply", "--yes")
    items = queue_items(repo)
    assert {"id", "queue_name", "entity", "project", "priority", "state", "launch", "enqueued_at"} <= set(items[0])
    assert "3 items" in cli(repo, "queue", "list").stdout


def test_step_summary_gets_plan_and_apply_markdown(repo: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    cli(repo, "plan", env=env)
    cli(repo, "apply", "--yes", env=env)
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("<!-- launchops-plan -->")
    assert "### launchops apply: complete" in text


def test_markdown_plan(repo: Path) -> None:
    cli(repo, "apply", "--yes")
    edit(repo, TRAIN, "lr: 0.0003", "lr: 0.0001")
    commit_all(repo)
    md = html.unescape(cli(repo, "plan", "--format", "markdown").stdout)  # however markdown is escaped
    assert md.splitlines()[0] == "<!-- launchops-plan -->"
    assert "| 0 | 1 | 0 | 0 | 1 | 2 |" in md  # create, update, retry, remove, withdraw, unchanged
    assert "<details><summary>~ update <code>team-b/train-7b</code>" in md
    assert "<code>launch.config.overrides.run_config.lr</code> | <code>0.0003</code> | <code>0.0001</code>" in md


def test_python_m_reconciler_and_version() -> None:
    import sys

    out = subprocess.run([sys.executable, "-m", "reconciler", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("launchops, version ")
    helped = subprocess.run([sys.executable, "-m", "reconciler", "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "Usage: launchops" in helped.stdout


def test_progress_is_plain_lines_without_a_terminal(empty_repo: Path) -> None:
    for i in range(7):
        write(empty_repo, f"launches/s{i}.yaml", f"apiVersion: launchops/v1\nlaunch: {{docker_image: 'x:{i}'}}\n")
    commit_all(empty_repo)
    out = cli_subprocess(empty_repo, "apply", "--yes")
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.startswith("[")]
    assert len(lines) == 7 and lines[0].startswith("[1/7] enqueued s") and lines[-1].startswith("[7/7] enqueued")
    assert "\r" not in out.stderr  # no progress bar redraws in CI logs


def test_an_apply_between_the_shown_plan_and_the_lock_is_planned_against(repo: Path, monkeypatch: Any) -> None:
    """apply sends the plan it showed when nothing was recorded before it took the lock (it plans
    once); when another apply in this clone ran in between, it plans again on that ledger and
    sends nothing a second time."""
    import reconciler.engine as engine_mod

    vetted = engine_mod.vetted
    plans: list[Any] = []

    def another_apply_after_the_first_plan(settings: Any, plan: Any, limit: int) -> Any:
        plans.append(plan)
        if len(plans) == 1:
            other = cli_subprocess(repo, "apply", "--yes")
            assert other.returncode == 0, other.stderr
        return vetted(settings, plan, limit)

    monkeypatch.setattr(engine_mod, "vetted", another_apply_after_the_first_plan)
    result = cli(repo, "apply", "--yes")
    assert result.exit_code == 0, result.output
    assert len(plans) == 2 and plans[1].empty  # planned again, on the other apply's ledger
    items = queue_items(repo)
    assert len(items) == 3 and all(i["sends"] == 1 for i in items)

    edit(repo, TRAIN, "lr: 0.0003", "lr: 0.0001")
    commit_all(repo, "edit")
    plans.clear()
    monkeypatch.setattr(engine_mod, "vetted", lambda settings, plan, limit: plans.append(plan) or vetted(settings, plan,
                                                                                                        limit))
    result = cli(repo, "apply", "--yes")
    assert result.exit_code == 0, result.output
    assert len(plans) == 1  # nothing recorded meanwhile: the plan shown is the plan sent
    assert sorted(i["sends"] for i in queue_items(repo)) == [1, 1, 1, 1]
