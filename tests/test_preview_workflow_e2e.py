"""Plays the preview launch workflow through a pull request's whole life, with git alone standing in
for GitHub (tests/test_workflows_e2e.py's harness: a bare origin, fresh runner workspaces, the
action's own scripts) and the W&B test server on 127.0.0.1 standing in for W&B.

Each event is decided as GitHub decides it: a job runs only when its `if:` holds for the event's
payload (evaluated here from the workflow file), so the fork and the unlabelled pull request are the
workflow's own doing, not the test's.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest_wandb import wandb_server  # noqa: E402,F401  (fixture)
from test_workflows_e2e import (  # noqa: E402,F401  (action_venv: the session's action install)
    ROOT,
    Developer,
    Expressions,
    Origin,
    Runner,
    _git_env,
    action_venv,
    git,
    load_yaml,
)
from wandb_server import DUMMY_API_KEY, WandbServer  # noqa: E402

WORKFLOW = "launchops-preview-launch.yml"
SETTINGS = 'backend = "wandb"\nentity = "acme"\n\n[preview]\nenabled = true\n'
DEFAULTS = "launch:\n  queue_name: gpu\npreview:\n  queue_name: smoke\n"
SPEC = "apiVersion: launchops/v1\nlaunch:\n  docker_image: {image}\n"


def condition(text: str, values: dict[str, Any]) -> bool:
    """A job's `if:` as GitHub reads it, for the operators the workflow uses (==, !=, &&, ||,
    contains, parentheses); an expression the workflow uses that is not in `values` fails."""
    body = text.strip()
    body = body[3:-2] if body.startswith("${{") else body
    names: dict[str, Any] = {}

    def name(match: re.Match[str]) -> str:
        key = match.group(0)
        assert key in values, f"expression not known to the test: {key}"
        names[f"v{len(names)}"] = values[key]
        return f"v{len(names) - 1}"

    python = re.sub(r"github(\.[A-Za-z_*-]+)+", name, body).replace("&&", " and ").replace("||", " or ")
    return bool(eval(python, {"__builtins__": {}, "contains": lambda seq, x: x in seq}, names))  # noqa: S307


class PullRequestRunner(Runner):
    """A runner for a pull_request event: its payload's expressions, a full-history checkout
    (fetch-depth: 0), the W&B test server in its environment and a `gh` that lists open pull requests."""

    def __init__(self, tmp: Path, origin: Origin, name: str, payload: dict[str, str], server: WandbServer,
                 open_prs: str = "") -> None:
        super().__init__(tmp, origin, name, "pull_request", payload.get("ref", "refs/heads/feature"),
                         secrets={"WANDB_API_KEY": DUMMY_API_KEY}, open_prs=open_prs)
        self.payload = payload
        self.server_env = {k: v for k, v in server.env(http_timeout=10).items()
                           if k.startswith("WANDB_") and k != "WANDB_API_KEY"}  # the key: only the secret

    def env(self, step_env: dict[str, str], output_file: Path) -> dict[str, str]:
        env = super().env(step_env, output_file)
        env.update(self.server_env)
        return env

    def expressions(self, extra: dict[str, str] | None = None) -> Expressions:
        return super().expressions({**self.payload, **(extra or {})})

    def checkout(self, ref: str) -> None:
        w = self.workspace
        env = _git_env(self.home)
        git(w, "init", "--quiet", env=env)
        git(w, "remote", "add", "origin", self.origin.url, env=env)
        git(w, "fetch", "--quiet", "--no-tags", "origin", "+refs/heads/*:refs/remotes/origin/*", env=env)
        target = ref.replace("refs/heads/", "refs/remotes/origin/", 1)
        git(w, "checkout", "--quiet", "--force", "--detach", target, env=env)

    def play(self, workflow: str, job: str, steps: set[str]) -> dict[str, str]:
        """The job's steps named in `steps` (by id or name), as run_job plays them."""
        doc = load_yaml(ROOT / ".github" / "workflows" / workflow)
        outcomes: dict[str, str] = {}
        for step in doc["jobs"][job]["steps"]:
            key = step.get("id") or step.get("name")
            if key not in steps:
                continue
            expr = self.expressions()
            env = {k: expr(v) for k, v in (step.get("env") or {}).items()}
            if step.get("uses", "").startswith("actions/checkout@"):
                self.checkout(expr(step.get("with", {}).get("ref", "")) or self.ref)
                outcomes[key] = "success"
            elif step.get("uses") == "./.github/actions/launchops":
                outcomes[key] = self.run_action(key, {k: expr(v) for k, v in step["with"].items()}, env)
            else:
                outcomes[key] = "success" if self.bash(key, step["run"], env) == 0 else "failure"
        assert set(outcomes) == steps, f"steps not found in {workflow}: {steps - set(outcomes)}"
        return outcomes


def event(action: str, number: int, head: str, labels: list[str], fork: bool = False,
          label: str = "launch-preview") -> dict[str, Any]:
    return {"github.event.action": action, "github.event.pull_request.number": str(number),
            "github.event.pull_request.head.sha": head, "github.base_ref": "main",
            "github.event.pull_request.head.repo.full_name": "mallory/launches" if fork else "acme/launches",
            "github.repository": "acme/launches", "github.event.pull_request.labels.*.name": labels,
            "github.event.label.name": label}


def run_event(tmp: Path, origin: Origin, server: WandbServer, name: str, payload: dict[str, Any]) -> list[str]:
    """Every job of the workflow whose `if:` holds, each on a fresh runner; the jobs that ran."""
    doc = load_yaml(ROOT / ".github" / "workflows" / WORKFLOW)
    ran = []
    for job, spec in doc["jobs"].items():
        if not condition(spec["if"], payload):
            continue
        runner = PullRequestRunner(tmp, origin, f"{name}-{job}", {k: v for k, v in payload.items()
                                                                 if isinstance(v, str)}, server)
        outcome = runner.run_job(WORKFLOW, job)
        assert set(outcome.values()) == {"success"}, runner.transcript()
        assert DUMMY_API_KEY not in runner.transcript()
        ran.append(job)
    return ran


def test_a_pull_request_life_through_the_workflow(tmp_path: Path, wandb_server: WandbServer) -> None:
    origin = Origin(tmp_path)
    dev = Developer(tmp_path, origin, "dev")
    dev.write("launchops.toml", SETTINGS)
    dev.write("launches/_defaults.yaml", DEFAULTS)
    dev.write("launches/a.yaml", SPEC.format(image="img-a:1"))
    dev.write("launches/b.yaml", SPEC.format(image="img-b:1"))
    dev.commit("specs")
    dev.git("push", "--quiet", "origin", "main")
    main_before = origin.rev("main")
    items = wandb_server.state.items

    dev.git("checkout", "--quiet", "-b", "feature")
    dev.write("launches/a.yaml", SPEC.format(image="img-a:2"))
    head = dev.commit("a")
    dev.git("push", "--quiet", "origin", "feature")
    # opened without the label, and a fork's pull request with it: nothing runs, nothing is enqueued
    assert run_event(tmp_path, origin, wandb_server, "opened", event("synchronize", 5, head, [])) == []
    assert run_event(tmp_path, origin, wandb_server, "fork", event("labeled", 9, head, ["launch-preview"],
                                                                   fork=True)) == []
    assert items == []

    labels = ["launch-preview"]
    assert run_event(tmp_path, origin, wandb_server, "labeled", event("labeled", 5, head, labels)) == ["launch"]
    assert [(i["queue_name"], i["runSpec"]["launchops_marker"][:8]) for i in items] == [("smoke", "lo-pr-5-")]

    dev.write("launches/b.yaml", SPEC.format(image="img-b:2"))
    head = dev.commit("b")
    dev.git("push", "--quiet", "origin", "feature")
    assert run_event(tmp_path, origin, wandb_server, "push2", event("synchronize", 5, head, labels)) == ["launch"]
    assert len(items) == 2  # only b: a did not change since the previous head
    dev.write("README.md", "docs\n")
    head = dev.commit("docs")
    dev.git("push", "--quiet", "origin", "feature")
    run_event(tmp_path, origin, wandb_server, "push3", event("synchronize", 5, head, labels))
    assert len(items) == 2
    # a second pull request whose close event will never be played
    assert run_event(tmp_path, origin, wandb_server, "other", event("labeled", 6, head, labels)) == ["launch"]
    assert len(items) == 4

    # a third one loses its label: the cleanup job withdraws its item; another label's removal does nothing
    assert run_event(tmp_path, origin, wandb_server, "third", event("labeled", 7, head, labels)) == ["launch"]
    assert len(items) == 6
    assert run_event(tmp_path, origin, wandb_server, "other-label", event("unlabeled", 7, head, labels,
                                                                          label="wip")) == []
    assert run_event(tmp_path, origin, wandb_server, "unlabeled", event("unlabeled", 7, head, [])) == ["cleanup"]
    assert len(items) == 4 and not any(i["runSpec"]["launchops_marker"].startswith("lo-pr-7-") for i in items)

    running = items[0]["id"]
    wandb_server.state.set_state(running, "CLAIMED", "run-1")
    assert run_event(tmp_path, origin, wandb_server, "closed", event("closed", 5, head, labels)) == ["cleanup"]
    left = {i["id"] for i in items}
    assert running in left and len(left) == 3  # pull request 5's pending item withdrawn, the claimed one kept

    # the sync workflow's sweep: pull request 6 is no longer open
    sync = PullRequestRunner(tmp_path, origin, "sync", {"github.ref": "refs/heads/main"}, wandb_server,
                             open_prs="")
    sync.ref = "refs/heads/main"
    outcome = sync.play("launchops-sync.yml", "sync", {"checkout", "open", "Sweep previews"})
    assert set(outcome.values()) == {"success"}, sync.transcript()
    assert [i["id"] for i in items] == [running]
    assert origin.rev("main") == main_before  # main, and so its ledger, untouched by every preview
    assert "pr-5/ledger.json" in git(origin.path, "ls-tree", "-r", "--name-only", "launchops/previews")
