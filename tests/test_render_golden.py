"""Golden files for what GitHub shows: the plan comment (markdown) and the annotations (github).

Regenerate after an intended change with `LAUNCHOPS_UPDATE_GOLDEN=1 make test`, then review the diff.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from conftest import cli, commit_all, write
from reconciler.render.markdown import LIMIT, MARKER, SUMMARY_LIMIT, _fit, plan, summary

GOLDEN = Path(__file__).parent / "golden"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("LAUNCHOPS_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs; see the module docstring"


def _stable(text: str) -> str:
    text = re.sub(r"sha256:[0-9a-f]{64}", "sha256:…", text)
    # a QueuedRun ID (base64 of "RunQueueItem:<n>") derives from the repository's random id
    return re.sub(r"UnVuUXVldWVJdGVtOj[A-Za-z0-9+/=]*", "<queued run>", text)


def test_plan_markdown_golden(repo: Path) -> None:
    cli(repo, "apply", "--yes")
    train = repo / "launches/team-b/train-7b.yaml"
    text = train.read_text(encoding="utf-8").replace("lr: 0.0003", "lr: 0.0001").replace("    nodes: 2\n", "")
    train.write_text(text.replace("  priority: high\n", "  priority: critical\n  config_note: x\n")
                     .replace("  config_note: x\n", "  name: pretrain | 7b <fast>\n"), encoding="utf-8")
    (repo / "launches/team-a/nightly-eval.yaml").unlink()
    write(repo, "launches/team-c/sweep.yaml", "apiVersion: launchops/v1\nlaunch:\n  docker_image: ghcr.io/acme/sweep:2\n"
          "  config:\n    env: {WANDB_API_KEY: short}\n")
    commit_all(repo)
    out = cli(repo, "plan", "--format", "markdown")
    assert out.exit_code == 0
    check_golden("plan.md", _stable(out.stdout))
    assert "short" not in out.stdout  # secret-named values are masked


def test_validate_github_golden(empty_repo: Path) -> None:
    write(empty_repo, "launches/a.yaml", "apiVersion: launchops/v1\nlaunch:\n  job: x\n  image: y\n  priority: 7\n")
    write(empty_repo, "launches/b.yaml", "apiVersion: launchops/v1\nlaunch:\n  docker_image: x\n  version: 1.10\n")
    write(empty_repo, "launches/c.yaml", "apiVersion: launchops/v1\nlaunch: [1, 2]\n")
    out = cli(empty_repo, "validate", "--format", "github")
    assert out.exit_code == 1
    check_golden("validate.github.txt", out.stdout)


def test_markdown_is_cut_below_githubs_limit_with_a_note() -> None:
    head = MARKER + "\nhead\n"
    blocks = [f"<details>{i}" + "x" * 1000 + "</details>\n" for i in range(100)]
    text = _fit(head, blocks, LIMIT)
    assert len(text) <= LIMIT
    shown = text.count("<details>")
    assert 60 <= shown < 100
    assert f"**{100 - shown} more specs not shown**" in text and "run `launchops plan`" in text


@pytest.mark.parametrize("count", [5, 400])
def test_large_plan_comment_fits(empty_repo: Path, count: int) -> None:
    for i in range(count):
        write(empty_repo, f"launches/s{i:04}.yaml", "apiVersion: launchops/v1\nlaunch:\n  docker_image: x:1\n"
              f"  name: '{'n' * 200}'\n")
    commit_all(empty_repo)
    md = cli(empty_repo, "plan", "--format", "markdown").stdout
    assert md.startswith(MARKER + "\n") and len(md) <= LIMIT
    assert f"| {count} | 0 | 0 | 0 | 0 |" in md
    assert ("more specs not shown" in md) == (count == 400)


def test_the_job_summary_of_a_300_spec_plan_is_whole(empty_repo: Path, tmp_path: Path) -> None:
    """The comment is cut at 65,535 characters and points to the job summary: the summary has every spec."""
    for i in range(300):
        write(empty_repo, f"launches/s{i:04}.yaml", "apiVersion: launchops/v1\nlaunch:\n  docker_image: x:1\n"
              f"  name: '{'n' * 200}'\n")
    commit_all(empty_repo)
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step output\n", encoding="utf-8")
    comment = cli(empty_repo, "plan", "--format", "markdown", env={"GITHUB_STEP_SUMMARY": str(summary)}).stdout
    assert len(comment) <= LIMIT and "more specs not shown" in comment and "see the job summary" in comment
    whole = summary.read_text(encoding="utf-8")
    assert whole.startswith("earlier step output\n" + MARKER + "\n")
    assert whole.count("<details>") == 300 and "not shown" not in whole
    assert len(whole.encode("utf-8")) <= SUMMARY_LIMIT
    assert [f"s{i:04}" for i in range(300)] == re.findall(r"<code>(s\d{4})</code>", whole)


def test_a_plan_too_large_for_the_summary_says_so_in_both() -> None:
    doc = {"summary": {"create": 1200, "update": 0, "retry": 0, "remove": 0, "unchanged": 0},
           "changes": [{"id": f"s{i:04}", "action": "create", "source": f"launches/s{i:04}.yaml", "reason": "new spec",
                        "diff": [{"path": "launch.name", "old": None, "new": "é" * 500}]} for i in range(1200)]}
    comment = plan(doc)
    assert "see the job summary" not in comment and "passes the job summary's 1 MiB limit too" in comment
    text = summary("plan", doc)
    assert SUMMARY_LIMIT - 200 < len(text.encode("utf-8")) <= SUMMARY_LIMIT  # bytes: "é" is two
    shown = text.count("<details>")
    assert f"**{1200 - shown} more specs not shown** (the job summary would pass GitHub's 1 MiB limit)" in text
