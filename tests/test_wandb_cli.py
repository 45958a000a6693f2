"""End to end through the CLI: `launchops apply --backend wandb --yes`, then `status --refresh`,
with the real SDK against the W&B-compatible server on 127.0.0.1."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import read_ledger  # noqa: E402
from conftest_wandb import wandb_server  # noqa: E402,F401  (fixture)
from wandb_server import DUMMY_API_KEY, WandbServer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _git(repo: Path, *args: str) -> str:
    ident = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    return subprocess.run(["git", "-C", str(repo), *ident, *args], check=True, capture_output=True, text=True).stdout


def test_apply_then_status_refresh_through_the_cli(wandb_server: WandbServer, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "launches", repo / "launches")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "specs")
    jobs = [line.split("job:", 1)[1].strip() for p in (repo / "launches").rglob("*.yaml")
            for line in p.read_text().splitlines() if line.strip().startswith("job:")]
    for job in jobs:
        wandb_server.state.add_job(job)
    env = wandb_server.env(http_timeout=10)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "reconciler", "-C", str(repo), *args], env=env,
                              capture_output=True, text=True, timeout=120)

    applied = cli("apply", "--backend", "wandb", "--yes")
    assert applied.returncode == 0, applied.stderr
    items = wandb_server.state.items
    ledger = read_ledger(repo)
    assert len(items) == len(ledger["specs"]) > 0
    by_id = {i["id"]: i for i in items}
    for entry in ledger["specs"].values():
        (run,) = entry["queued_runs"]
        item = by_id[run["id"]]
        assert entry["status"] == "applied" and run["backend"] == "wandb"
        assert item["runSpec"]["launchops_marker"] == run["marker"]
        assert "launchops_marker" not in json.dumps(entry["launch"])  # the ledger keeps what the user wrote
        launch = entry["launch"]
        assert (item["queue_name"], item["entity"], item["priority"]) == (launch["queue_name"], launch["entity"], launch.get("priority"))
        assert (run["queue_name"], run["entity"], run["project_queue"]) == (item["queue_name"], item["entity"], item["project_queue"])
    assert DUMMY_API_KEY not in applied.stdout + applied.stderr

    first = items[0]["id"]
    wandb_server.state.set_state(first, "CLAIMED", "run-abc")
    refreshed = cli("status", "--refresh", "--backend", "wandb", "--format", "json")
    assert refreshed.returncode == 0, refreshed.stderr
    ledger = read_ledger(repo)
    runs = {r["id"]: r for e in ledger["specs"].values() for r in e["queued_runs"]}
    assert runs[first]["state"] == "claimed" and runs[first]["run_id"] == "run-abc"
    assert "refresh" in _git(repo, "log", "-1", "--format=%s")

    again = cli("apply", "--backend", "wandb", "--yes")  # nothing changed: nothing enqueued
    assert again.returncode == 0, again.stderr
    assert len(wandb_server.state.items) == len(items)


def test_build_true_is_refused_on_wandb_before_anything_is_sent(wandb_server: WandbServer, tmp_path: Path) -> None:
    """wandb's launch_add cannot build (tests/test_wandb_backend.py shows it sends nothing): validate
    and apply say so on the wandb backend; the spec stays valid on the local backend."""
    repo = tmp_path / "repo"
    (repo / "launches").mkdir(parents=True)
    (repo / "launches" / "b.yaml").write_text(
        "apiVersion: launchops/v1\nlaunch:\n  docker_image: img:1\n  build: true\n  entity: ent\n  queue_name: q\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "specs")
    env = wandb_server.env(http_timeout=10)

    def cli(*args: str, backend: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "reconciler", "-C", str(repo), *args],
                              env={**env, "LAUNCHOPS_BACKEND": backend}, capture_output=True, text=True, timeout=120)

    for args in (("validate",), ("apply", "--backend", "wandb", "--yes")):
        out = cli(*args, backend="wandb")
        assert out.returncode == 1, out.stdout + out.stderr
        assert "launch.build: is not supported by the wandb backend" in out.stdout + out.stderr, out.stdout + out.stderr
    assert cli("validate", backend="local").returncode == 0
    assert wandb_server.state.items == [] and wandb_server.state.pushes() == 0
