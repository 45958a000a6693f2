"""Helpers for the fault-injection tests: a model of the changes a test makes to its specs, apply
run in a subprocess (killed at a step boundary through LAUNCHOPS_DIE_AT, then rerun until done), and
the checks of what a user can see afterwards (queue items, ledger, git, plan)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from conftest import ledger_files, read_ledger
from reconciler.cli import main
from reconciler.ledger import identity, marker
from reconciler.specs import digest_of

STEPS = ("after-intent", "before-enqueue", "after-enqueue", "after-record", "before-ledger-write",
         "before-commit", "before-push")
KILLED = -9


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def launch_of(value: int, queue: str = "q") -> dict[str, Any]:
    return {"config": {"overrides": {"run_config": {"v": value}}}, "docker_image": "img:1", "entity": "ent",
            "queue_name": queue}


def spec_text(value: int, queue: str = "q") -> str:
    return ("apiVersion: launchops/v1\nlaunch:\n  docker_image: img:1\n  entity: ent\n"
            f"  queue_name: {queue}\n  config:\n    overrides:\n      run_config:\n        v: {value}\n")


@dataclass
class Model:
    """What the test did to the specs, and therefore which changes must be on the queue, once each.

    A change is a spec id reaching a digest other than its last applied one (a revert, and a
    re-added spec, count again); several edits between two applies make at most one change."""

    repo: Path
    files: dict[str, int] = field(default_factory=dict)  # id -> value in its file now
    applied: dict[str, str | None] = field(default_factory=dict)  # id -> digest at the last full apply
    last: dict[str, str] = field(default_factory=dict)  # id -> identity of its last change
    changes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (id, digest) -> times
    identities: Counter[str] = field(default_factory=Counter)

    def markers(self, repository: str) -> Counter[str]:
        return Counter({marker(repository, i): n for i, n in self.identities.items()})

    def set(self, spec_id: str, value: int) -> None:
        (self.repo / "launches" / f"{spec_id}.yaml").write_text(spec_text(value), encoding="utf-8")
        self.files[spec_id] = value

    def remove(self, spec_id: str) -> None:
        (self.repo / "launches" / f"{spec_id}.yaml").unlink()
        del self.files[spec_id]

    def commit(self, message: str = "specs") -> None:
        git(self.repo, "add", "-A", "launches")
        git(self.repo, "commit", "-qm", message, "--allow-empty")

    def applied_all(self) -> None:
        """Record that an apply of the current files completed."""
        for spec_id in set(self.applied) | set(self.files):
            digest = digest_of(launch_of(self.files[spec_id])) if spec_id in self.files else None
            if digest is not None and self.applied.get(spec_id) != digest:
                self.last[spec_id] = identity("change", spec_id, self.last.get(spec_id), digest)
                self.changes[(spec_id, digest)] += 1
                self.identities[self.last[spec_id]] += 1
            self.applied[spec_id] = digest


def launchops(repo: Path, *args: str, env: Mapping[str, str] | None = None, die_at: str | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **(env or {})}
    full.pop("LAUNCHOPS_DIE_AT", None)
    if die_at:
        full["LAUNCHOPS_DIE_AT"] = die_at
    return subprocess.run([sys.executable, "-m", "reconciler", "-C", str(repo), *args], capture_output=True,
                          text=True, env=full, timeout=timeout, stdin=subprocess.DEVNULL)


def apply_until_done(repo: Path, *args: str, env: Mapping[str, str] | None = None, die_at: str | None = None,
                     expect_kill: bool = True, tries: int = 4) -> list[subprocess.CompletedProcess[str]]:
    """One apply armed to die at `die_at`, then plain reruns until one exits 0."""
    runs = [launchops(repo, "apply", "--yes", *args, env=env, die_at=die_at)]
    if expect_kill:
        assert runs[0].returncode == KILLED, f"{die_at} was never reached: {runs[0].stdout}{runs[0].stderr}"
    while runs[-1].returncode != 0:
        assert len(runs) <= tries, "apply did not recover:\n" + "\n".join(r.stdout + r.stderr for r in runs)
        runs.append(launchops(repo, "apply", "--yes", *args, env=env))
    return runs


def local_items(repo: Path, env: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    out = CliRunner().invoke(main, ["-C", str(repo), "queue", "list", "--format", "json"], env=dict(env or {}),
                             catch_exceptions=False)
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)["items"]


def sends(items: list[dict[str, Any]]) -> Counter[str]:
    """How many enqueue calls carried each marker: the local queue keeps one item per marker, so
    a duplicate shows only here."""
    return Counter({i["marker"]: i["sends"] for i in items})


def ledger_ids(ledger: Mapping[str, Any]) -> list[str]:
    return [r["id"] for e in ledger["specs"].values() for r in e["queued_runs"]]


def check_ledger(model: Model, remote: Path | None = None, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ledger is valid JSON, committed (and on the remote), every entry settled, plan empty."""
    repo = model.repo
    files = ledger_files(repo)
    ledger = read_ledger(repo)
    assert ledger_files(repo, "HEAD") == files, "the ledger on disk is not the committed one"
    if remote is not None:
        assert ledger_files(remote, "main") == files, "the remote's ledger differs"
    for spec_id, entry in ledger["specs"].items():
        assert entry["status"] == ("applied" if spec_id in model.files else "removed"), (spec_id, entry)
        if spec_id in model.files:
            assert entry["launch"] == launch_of(model.files[spec_id])
    assert len(ledger_ids(ledger)) == len(set(ledger_ids(ledger)))
    plan = CliRunner().invoke(main, ["-C", str(repo), "plan", "--detailed-exitcode"], env=dict(env or {}),
                              catch_exceptions=False)
    assert plan.exit_code == 0, plan.output
    return ledger


def check_local(model: Model, remote: Path | None = None, env: Mapping[str, str] | None = None) -> None:
    """Queue items == changes applied, each sent once, and the ledger holds exactly their IDs."""
    ledger = check_ledger(model, remote, env)
    items = local_items(model.repo, env)
    assert Counter((i["spec_id"], digest_of(i["launch"])) for i in items) == model.changes
    assert Counter(i["marker"] for i in items) == model.markers(ledger["repository"])
    assert sends(items) == model.markers(ledger["repository"]), "a change was sent to the queue more than once"
    assert sorted(i["id"] for i in items) == sorted(ledger_ids(ledger))


def bare_remote(path: Path, clone: Path) -> Path:
    """A bare repository that refuses anything but a fast-forward (so a force push would fail)."""
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    git(path, "config", "receive.denyNonFastForwards", "true")
    git(clone, "remote", "add", "origin", str(path))
    git(clone, "push", "-q", "-u", "origin", "main")
    return path


def matrix_text(seeds: list[int], queue: str = "q") -> str:
    """A matrix spec: one cell per seed (in the order given: order never matters)."""
    return ("apiVersion: launchops/v1\nmatrix:\n  axes:\n    seed: [" + ", ".join(map(str, seeds)) + "]\n"
            f"launch:\n  docker_image: img:1\n  entity: ent\n  queue_name: {queue}\n  config:\n    overrides:\n"
            "      run_config:\n        seed: ${matrix.seed}\n")


def matrix_cells(spec_id: str, seeds: list[int], queue: str = "q") -> dict[str, dict[str, Any]]:
    """cell id -> the launch its cell enqueues, as matrix_text's spec gives them."""
    return {f"{spec_id}[seed={s}]": {"config": {"overrides": {"run_config": {"seed": s}}}, "docker_image": "img:1",
                                     "entity": "ent", "queue_name": queue} for s in seeds}
