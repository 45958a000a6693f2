"""What a new user hits first: errors that point at the right file, every problem at once, a way in
from any folder, the plan document even when specs are invalid, plain wording, and YAML 1.1 numbers
that lose digits where numbers are allowed."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import cli, commit_all, git, write
from reconciler.cli import main

GOOD = "apiVersion: launchops/v1\nlaunch:\n  docker_image: ghcr.io/acme/x:1\n"


def run_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """launchops started in `folder`, without -C, as a user types it."""
    return subprocess.run([sys.executable, "-m", "reconciler", *args], cwd=folder, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


# ---- the file at fault is named ---------------------------------------------------------------------


def test_a_spec_without_launch_is_blamed_on_the_spec_not_on_the_defaults(empty_repo: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    write(empty_repo, "launches/nlp/_defaults.yaml", "launch:\n  queue_name: gpu\n  entity: acme\n")
    write(empty_repo, "launches/nlp/nolaunch.yaml", "apiVersion: launchops/v1\ndescription: forgot launch\n")
    monkeypatch.chdir(empty_repo)
    for args in ((), ("launches/nlp/nolaunch.yaml",)):
        out = cli(empty_repo, "validate", *args)
        assert out.exit_code == 1
        (line,) = [x for x in out.stdout.splitlines() if x.startswith("launches/")]
        assert line.startswith("launches/nlp/nolaunch.yaml:1:1: launch: needs exactly one of job, docker_image or uri")
        assert "note: this file sets no launch: (all of it comes from launches/nlp/_defaults.yaml)" in line
    annotation = cli(empty_repo, "validate", "--format", "github").stdout
    assert "::error file=launches/nlp/nolaunch.yaml," in annotation and "_defaults" not in annotation.split("::")[1]


def test_two_sources_in_spec_and_defaults_name_the_spec_with_a_note(empty_repo: Path) -> None:
    write(empty_repo, "launches/nlp/_defaults.yaml", "launch:\n  job: acme/p/j:v1\n")
    write(empty_repo, "launches/nlp/img.yaml", "apiVersion: launchops/v1\nlaunch:\n  docker_image: x:1\n")
    out = cli(empty_repo, "validate").stdout
    assert ("launches/nlp/img.yaml:2:1: launch: needs exactly one of job, docker_image or uri (found job and "
            "docker_image); note: launches/nlp/_defaults.yaml also sets launch") in out.splitlines()


# ---- every problem at once ----------------------------------------------------------------------------


def test_a_defaults_file_with_two_mistakes_reports_both(empty_repo: Path) -> None:
    write(empty_repo, "launches/nlp/_defaults.yaml", "launch:\n  queue_name: gpu\n  priority: urgent\nlabels: [a]\n")
    write(empty_repo, "launches/nlp/a.yaml", GOOD)
    lines = cli(empty_repo, "validate").stdout.splitlines()
    assert "launches/nlp/_defaults.yaml:4:9: labels: must be a mapping" in lines
    assert ("launches/nlp/_defaults.yaml:3:13: launch.priority: must be critical, high, medium, low or a number "
            "0..3, not 'urgent'") in lines
    assert lines[-1] == "2 problems in 1 file."


def test_a_document_without_id_still_reports_its_other_problems(empty_repo: Path) -> None:
    write(empty_repo, "launches/multi.yaml", "apiVersion: launchops/v1\nid: one\nlaunch: {job: a/b/c:v1}\n---\n"
                                             "apiVersion: launchops/v2\nlaunch: {job: a/b/d:v1, bogus: 1}\n")
    lines = cli(empty_repo, "validate").stdout.splitlines()
    assert "launches/multi.yaml:5:1: document 2 needs an id: a file with several documents names each one" in lines
    assert "launches/multi.yaml:5:13: apiVersion: must be 'launchops/v1', not 'launchops/v2'" in lines
    assert any(x.startswith("launches/multi.yaml:6:25: launch.bogus: unknown key 'bogus'") for x in lines)
    assert lines[-1] == "3 problems in 1 file."


# ---- a way in from any folder ------------------------------------------------------------------------


def test_the_root_is_found_by_walking_up_as_git_does(repo: Path) -> None:
    inside = repo / "launches" / "team-b"
    plan = run_in(inside, "plan", "--format", "json")
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["summary"]["create"] == 3
    assert run_in(inside, "validate").stdout.endswith("3 specs valid.\n")
    # -C names a folder to start from: the same walk
    out = subprocess.run([sys.executable, "-m", "reconciler", "-C", str(inside), "validate"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.endswith("3 specs valid.\n"), out.stderr


def test_a_missing_c_folder_is_an_error_saying_so(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such"
    for args in (("plan",), ("plan", "--detailed-exitcode"), ("validate",), ("status",)):
        out = CliRunner_invoke(["-C", str(missing), *args])
        assert out.exit_code == 1, out.output  # not 2: --detailed-exitcode reads 2 as "changes"
        assert out.stderr == f"launchops: error: -C {missing}: no such folder\n"
    a_file = write(tmp_path, "file.txt", "x")
    out = CliRunner_invoke(["-C", str(a_file), "plan"])
    assert out.exit_code == 1 and "not a folder" in out.stderr


def CliRunner_invoke(args: list[str]):  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    return CliRunner().invoke(main, args, catch_exceptions=False)


# ---- the plan document of invalid specs -------------------------------------------------------------------


def test_invalid_specs_still_give_the_plan_document_with_every_problem(repo: Path, tmp_path: Path) -> None:
    write(repo, "launches/team-b/bad.yaml", "apiVersion: launchops/v1\nlaunch:\n  job: a/b/c:v1\n  queue: gpu\n")
    write(repo, "launches/worse.yaml", "apiVersion: launchops/v1\n")
    summary = tmp_path / "summary.md"
    out = cli(repo, "plan", "--format", "json", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert out.exit_code == 1
    doc = json.loads(out.stdout)
    assert doc["valid"] is False and doc["summary"] is None and doc["changes"] == []
    assert [(e["file"], e["line"], e["path"]) for e in doc["errors"]] == [
        ("launches/team-b/bad.yaml", 4, "launch.queue"), ("launches/worse.yaml", 1, "launch")]
    md = cli(repo, "plan", "--format", "markdown")
    assert md.exit_code == 1
    lines = md.stdout.splitlines()
    assert lines[0] == "<!-- launchops-plan -->"
    assert lines[1] == "### launchops plan: the specs are invalid (2 problems in 2 files)"
    assert "launches/team-b/bad.yaml&#58;4&#58;3" in md.stdout and "launches/worse.yaml&#58;1&#58;1" in md.stdout
    assert "unknown key 'queue'; did you mean 'queue&#95;name'?" in md.stdout
    assert "launches/team-b/bad.yaml&#58;4&#58;3" in summary.read_text(encoding="utf-8")  # forks read the summary
    text = cli(repo, "plan")
    assert text.exit_code == 1 and "launches/worse.yaml:1:1: launch: needs exactly one of" in text.stderr
    assert "nothing was enqueued" not in text.output and "there is no plan" in text.stderr
    detailed = cli(repo, "plan", "--format", "json", "--detailed-exitcode")
    assert detailed.exit_code == 1  # an error, never "changes"


# ---- wording ----------------------------------------------------------------------------------------------


def test_counts_are_singular_for_one_and_validate_enqueues_nothing_to_speak_of(empty_repo: Path) -> None:
    write(empty_repo, "launches/a.yaml", "apiVersion: launchops/v1\n")
    out = cli(empty_repo, "validate")
    assert out.stdout.splitlines()[-1] == "1 problem in 1 file."
    assert "enqueued" not in out.output
    write(empty_repo, "launches/a.yaml", GOOD)
    assert cli(empty_repo, "validate").stdout == "1 spec valid.\n"
    assert cli(empty_repo, "validate", "--format", "github").stdout == "1 spec valid.\n"
    commit_all(empty_repo)
    assert cli(empty_repo, "apply", "--yes").exit_code == 0
    assert cli(empty_repo, "queue", "list").stdout.endswith("\n\n1 item\n")


def test_a_plan_with_nothing_to_do_does_not_speak_of_the_queue(repo: Path) -> None:
    assert cli(repo, "apply", "--yes").exit_code == 0
    out = cli(repo, "plan").stdout
    assert out.startswith("No changes: the ledger matches the specs.\n") and "queue" not in out


def test_status_json_lists_queued_run_ids_as_apply_does(repo: Path) -> None:
    applied = json.loads(cli(repo, "apply", "--yes", "--format", "json").stdout)
    status = json.loads(cli(repo, "status", "--format", "json").stdout)
    assert status["format_version"] == 2
    by_id = {o["id"]: o["queued_runs"] for o in applied["outcomes"]}
    assert {s["id"]: s["queued_runs"] for s in status["specs"]} == by_id
    assert all(isinstance(runs, list) and len(runs) == 1 for runs in by_id.values())


# ---- YAML 1.1 numbers that lose digits ------------------------------------------------------------------


def test_numbers_yaml_reads_differently_are_warnings_that_say_to_quote(empty_repo: Path) -> None:
    write(empty_repo, "launches/a.yaml", "apiVersion: launchops/v1\nlaunch:\n  job: a/b/c:v1\n"
                                         "  template_variables: {image_tag: 2026.10, lr: 0.001, gpus: 8, x: 1.0}\n"
                                         "  config: {overrides: {run_config: {version: 1.10, mode: 0755, t: 1:30}}}\n")
    out = cli(empty_repo, "validate")
    assert out.exit_code == 0, out.output  # warnings do not make a spec invalid
    lines = out.stdout.splitlines()
    assert lines == [
        'launches/a.yaml:4:35: warning: launch.template_variables.image_tag: YAML 1.1 reads 2026.10 as the number '
        '2026.1; if you mean the text, quote it: image_tag: "2026.10"',
        'launches/a.yaml:5:46: warning: launch.config.overrides.run_config.version: YAML 1.1 reads 1.10 as the '
        'number 1.1; if you mean the text, quote it: version: "1.10"',
        'launches/a.yaml:5:58: warning: launch.config.overrides.run_config.mode: YAML 1.1 reads 0755 as the octal '
        'number 493; if you mean the text, quote it: mode: "0755"',
        'launches/a.yaml:5:67: warning: launch.config.overrides.run_config.t: YAML 1.1 reads 1:30 as the base-60 '
        'number 90; if you mean the text, quote it: t: "1:30"',
        "1 spec valid."]
    doc = json.loads(cli(empty_repo, "validate", "--format", "json").stdout)
    assert doc["valid"] is True and [w["line"] for w in doc["warnings"]] == [4, 5, 5, 5]
    github = cli(empty_repo, "validate", "--format", "github").stdout
    assert github.startswith("::warning file=launches/a.yaml,line=4,col=35,title=launchops validate::")
    commit_all(empty_repo)
    applied = cli(empty_repo, "apply", "--yes")
    assert applied.exit_code == 0 and applied.stderr.count(": warning: launch.") == 4, applied.output
    for _ in range(2):  # the second no-op plan too: with warnings no verdict is kept that would skip them
        plan = cli(empty_repo, "plan")
        assert plan.exit_code == 0 and plan.stdout.startswith("No changes")
        assert plan.stderr.count(": warning: launch.") == 4, plan.stderr


def test_a_number_where_a_string_is_required_is_one_error_not_also_a_warning(empty_repo: Path) -> None:
    write(empty_repo, "launches/a.yaml", "apiVersion: launchops/v1\nlaunch:\n  job: a/b/c:v1\n  version: 1.10\n")
    out = cli(empty_repo, "validate")
    assert out.exit_code == 1
    assert out.stdout.splitlines() == [
        'launches/a.yaml:4:12: launch.version: must be a string, not the number 1.1: YAML 1.1 read `1.10` that '
        'way; quote it: version: "1.10"', "1 problem in 1 file."]


def test_quoted_and_plain_numbers_give_no_warning(empty_repo: Path) -> None:
    write(empty_repo, "launches/a.yaml", "apiVersion: launchops/v1\nlaunch:\n  job: a/b/c:v1\n"
                                         "  template_variables: {tag: '2026.10', lr: 0.0003, n: 0, x: 10.0, y: 1.5e-3}\n")
    assert cli(empty_repo, "validate").stdout == "1 spec valid.\n"


# ---- apply refuses before it writes anything --------------------------------------------------------------


def untracked(repo: Path) -> str:
    return git(repo, "status", "--porcelain", "--untracked-files=all", "--ignored")


def test_push_to_a_remote_that_does_not_exist_is_refused_before_anything_is_written(repo: Path,
                                                                                    tmp_path: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    out = cli(repo, "apply", "--yes", "--push")
    assert out.exit_code == 1
    assert out.stderr == ("launchops: error: --push: there is no remote named 'origin' (this clone has no remote); "
                          "add it (git remote add origin URL) or name another with --remote (nothing was written "
                          "or enqueued)\n")
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(tmp_path / "remote.git"))
    git(repo, "remote", "add", "upstream", str(tmp_path / "remote.git"))
    out = cli(repo, "apply", "--yes", "--push")
    assert out.exit_code == 1 and "(this clone's remotes: upstream)" in out.stderr
    assert git(repo, "rev-parse", "HEAD") == head and untracked(repo) == ""
    assert not (repo / ".launchops").exists()
    ok = cli(repo, "apply", "--yes", "--push", "--remote", "upstream")
    assert ok.exit_code == 0, ok.output


def test_a_refused_apply_leaves_the_repository_as_it_was(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = cli(repo, "apply")  # no terminal, no --yes
    assert out.exit_code == 1 and "pass --yes" in out.stderr
    assert untracked(repo) == "" and not (repo / ".launchops").exists()
    monkeypatch.setattr("reconciler.cli.interactive", lambda: True)
    declined = cli(repo, "apply", input="n\n")
    assert declined.exit_code == 1 and "Enqueue these changes?" in declined.output
    assert untracked(repo) == "" and not (repo / ".launchops").exists()
    agreed = cli(repo, "apply", input="y\n")
    assert agreed.exit_code == 0, agreed.output
    assert git(repo, "ls-files", ".launchops").split() == [
        ".launchops/.gitignore", ".launchops/ledger/_ledger.json", ".launchops/ledger/team-a/nightly-eval.yaml.json",
        ".launchops/ledger/team-b/tokenizer-smoke.yaml.json", ".launchops/ledger/team-b/train-7b.yaml.json"]


def test_a_repository_without_commits_is_told_so(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    git(fresh, "init", "-q", "-b", "main")
    write(fresh, "launches/a.yaml", GOOD)
    out = cli(fresh, "apply", "--yes")
    assert out.exit_code == 1
    assert out.stderr == ("launchops: error: this repository has no commits yet: commit the specs first (the "
                          "ledger names the commit it applied), or pass --allow-dirty\n")
    assert "differ from HEAD" not in out.stderr and not (fresh / ".launchops").exists()


# ---- W&B: a connection failure is not a credentials failure -------------------------------------------------


def test_wandb_that_cannot_be_reached_is_not_reported_as_bad_credentials(repo: Path, tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from wandb_server import DUMMY_API_KEY, WandbServer

    server = WandbServer().start()
    closed = socket.socket()  # bound, never listening: connections to it are refused, and nothing reuses it
    closed.bind(("127.0.0.1", 0))
    try:
        def apply(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "reconciler", "-C", str(repo), "apply", "--backend",
                                   "wandb", "--yes", "--local"], env=env, capture_output=True, text=True,
                                  timeout=120, stdin=subprocess.DEVNULL)

        # the SDK's check waits WANDB_HTTP_TIMEOUT (10 s by default) for wandb-core, which keeps retrying
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        unreachable = apply({**server.env(http_timeout=1), "WANDB_BASE_URL": url})
        assert unreachable.returncode == 1
        assert f"launchops: error: could not connect to W&B at {url}: no answer within 1 s" in unreachable.stderr
        assert "credentials were not checked" in unreachable.stderr
        assert "refused the credentials" not in unreachable.stderr
        wrong_key = apply({**server.env(http_timeout=5), "WANDB_API_KEY": "wrong" + DUMMY_API_KEY[5:]})
        assert wrong_key.returncode == 1
        assert f"launchops: error: W&B at {server.url} refused the credentials" in wrong_key.stderr
        assert DUMMY_API_KEY[5:] not in unreachable.stderr + wrong_key.stderr
    finally:
        closed.close()
        server.stop()
