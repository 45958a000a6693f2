"""Preview launches through the CLI on the wandb backend: the real SDK against the W&B test
server on 127.0.0.1 (every query is validated against the SDK's schema), and real git repositories."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import clone_of_bare_origin, git, ledger_files, write  # noqa: E402
from conftest_wandb import wandb_server  # noqa: E402,F401  (fixture)
from wandb_server import DUMMY_API_KEY, WandbServer  # noqa: E402

SPEC = ("apiVersion: launchops/v1\nlaunch:\n  docker_image: {image}\n  entity: ent\n  queue_name: gpu\n"
        "preview:\n  queue_name: smoke\n  template_variables: {{gpus: 1}}\n")


def test_a_pull_request_life_on_wandb(wandb_server: WandbServer, tmp_path: Path) -> None:
    repo = clone_of_bare_origin(tmp_path)
    write(repo, "launchops.toml", "backend = \"wandb\"\n[preview]\nenabled = true\n")
    write(repo, "launches/a.yaml", SPEC.format(image="img-a:1"))
    write(repo, "launches/b.yaml", SPEC.format(image="img-b:1"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "specs")
    git(repo, "push", "-q", "origin", "main")
    env = wandb_server.env(http_timeout=10)

    def cli(*args: str) -> dict[str, object]:
        done = subprocess.run([sys.executable, "-m", "reconciler", "-C", str(repo), *args, "--format", "json"],
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert DUMMY_API_KEY not in done.stdout + done.stderr
        return dict(json.loads(done.stdout))

    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "launches/a.yaml", SPEC.format(image="img-a:2"))
    git(repo, "commit", "-qam", "a")
    first = cli("preview", "apply", "--pr", "21", "--base", "origin/main")
    assert len(first["enqueued"]) == 1  # type: ignore[arg-type]
    (item,) = wandb_server.state.items
    assert (item["queue_name"], item["templateVariableValues"]) == ("smoke", {"gpus": 1})
    assert item["runSpec"]["launchops_marker"].startswith("lo-pr-21-")
    assert cli("preview", "apply", "--pr", "21", "--base", "origin/main")["enqueued"] == []

    write(repo, "launches/b.yaml", SPEC.format(image="img-b:2"))
    git(repo, "commit", "-qam", "b")
    cli("preview", "apply", "--pr", "21", "--base", "origin/main")
    assert len(wandb_server.state.items) == 2
    taken = next(i for i in wandb_server.state.items if i["id"] != item["id"])
    wandb_server.state.set_state(taken["id"], "CLAIMED", "run-1")

    other = cli("preview", "apply", "--pr", "22", "--base", "origin/main")  # another PR, same head
    assert len(other["enqueued"]) == 2  # type: ignore[arg-type]
    closed = cli("preview", "cleanup", "--pr", "21")
    assert [w["queued_run"] for w in closed["withdrawn"]] == [item["id"]]  # type: ignore[index]
    assert [(r["queued_run"], r["state"]) for r in closed["running"]] == [(taken["id"], "claimed")]  # type: ignore[index]
    # pull request 22's close was missed: the sweep finds its items by marker on the queue
    swept = cli("preview", "sweep", "--open", "")
    assert sorted(w["queued_run"] for w in swept["withdrawn"]) == sorted(  # type: ignore[index]
        e["queued_run"] for e in other["enqueued"])  # type: ignore[union-attr]
    assert [i["id"] for i in wandb_server.state.items] == [taken["id"]]
    assert ledger_files(repo) == {}  # main's ledger: never written by a preview
