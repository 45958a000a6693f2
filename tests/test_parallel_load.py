"""A cold load spread over forked workers gives exactly what one process gives: the same specs,
problems (with their lines), duplicate-id reports and file count."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import write
from reconciler import loader as loader_mod
from reconciler.ledger import Ledger
from reconciler.plan import make_plan
from reconciler.settings import load_settings
from reconciler.specs import load_specs

BAD = {
    "launches/bad/unknown.yaml": "apiVersion: launchops/v1\nlaunch:\n  job: a/b/c:v1\n  parameters: {a: 1}\n",
    "launches/bad/quote.yaml": "apiVersion: launchops/v1\nlaunch:\n  docker_image: x:1\n  version: 1.10\n",
    "launches/bad/dup.yaml": "apiVersion: launchops/v1\nid: team/dup\nlaunch: {docker_image: x:1}\n",
    "launches/bad/dup2.yaml": "# comment\n\napiVersion: launchops/v1\nid:   team/dup\nlaunch: {docker_image: x:2}\n",
    "launches/bad/_defaults.yaml": "launch: {queue_name: q}\napiVersion: launchops/v1\n",
    "launches/bad/syntax.yaml": "apiVersion: launchops/v1\nlaunch:\n\tjob: x\n",
}


def _load(repo: Path):  # type: ignore[no-untyped-def]
    return load_specs(load_settings(repo))


def test_forked_load_equals_serial_load(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / ".launchops").mkdir(exist_ok=True)
    for rel, text in BAD.items():
        write(repo, rel, text)
    for i in range(40):
        write(repo, f"launches/many/s{i:02d}.yaml", f"apiVersion: launchops/v1\nlaunch:\n  docker_image: x:{i}\n"
                                                    f"  config: {{n: {i}}}\n")
    monkeypatch.setattr(loader_mod, "PARALLEL_MIN_FILES", 10**9)
    serial = _load(repo)
    monkeypatch.setattr(loader_mod, "PARALLEL_MIN_FILES", 1)
    monkeypatch.setattr(loader_mod, "_cpus", lambda: 3)
    monkeypatch.setattr(loader_mod.threading, "active_count", lambda: 1)  # a test runner may keep threads
    calls: list[int] = []
    real = loader_mod._load_forked
    monkeypatch.setattr(loader_mod, "_load_forked", lambda *a: calls.append(1) or real(*a))
    forked = _load(repo)
    assert calls, "the load did not go through the forked workers"
    assert forked.specs == serial.specs
    assert forked.problems == serial.problems
    assert forked.files == serial.files
    assert any("is also declared in" in p.message for p in forked.problems)
    assert make_plan(forked.specs, Ledger()) == make_plan(serial.specs, Ledger())


def test_no_fork_while_other_threads_run(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A reload after a rejected push runs beside the backend's threads: forking then could copy a
    # held lock into a worker that waits for it forever, so the load stays in this process.
    for i in range(40):
        write(repo, f"launches/many/s{i:02d}.yaml", f"apiVersion: launchops/v1\nlaunch: {{docker_image: 'x:{i}'}}\n")
    monkeypatch.setattr(loader_mod, "PARALLEL_MIN_FILES", 1)
    monkeypatch.setattr(loader_mod, "_cpus", lambda: 3)
    monkeypatch.setattr(loader_mod.threading, "active_count", lambda: 2)
    monkeypatch.setattr(loader_mod, "_load_forked", lambda *a: pytest.fail("forked beside other threads"))
    assert len(_load(repo).specs) == 43
