"""Shared fixtures: real git repositories in temp dirs and the launchops CLI, in process or not."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reconciler import loader as loader_mod
from reconciler.cli import main
from reconciler.matrix import unpack

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "launches"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def commit_all(repo: Path, message: str = "specs") -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message, "--allow-empty")
    return git(repo, "rev-parse", "HEAD").strip()


def make_repo(path: Path, examples: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Test User")
    git(path, "config", "user.email", "test@example.invalid")
    if examples:
        shutil.copytree(EXAMPLES, path / "launches")
    else:
        (path / "launches").mkdir()
    commit_all(path, "initial specs")
    return path


@pytest.fixture(autouse=True)
def _no_clock_carried_over(monkeypatch: pytest.MonkeyPatch) -> None:
    """--now sets LAUNCHOPS_NOW for the rest of its process (cli._set_now), and in-process runs of
    the CLI share this one: each test starts on the real clock."""
    monkeypatch.delenv("LAUNCHOPS_NOW", raising=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository holding the example specs, committed."""
    return make_repo(tmp_path / "repo")


@pytest.fixture
def empty_repo(tmp_path: Path) -> Path:
    """A git repository with an empty launches/ folder."""
    return make_repo(tmp_path / "repo", examples=False)


def cli(repo: Path, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    """Run launchops in process, as a user would from `repo`."""
    return CliRunner().invoke(main, ["-C", str(repo), *args], input=input, env=env, catch_exceptions=False)


def cli_subprocess(repo: Path, *args: str, env: dict[str, str] | None = None,
                   timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run launchops in its own process (for kill points, stdin and environment tests)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "reconciler", "-C", str(repo), *args], capture_output=True,
                          text=True, env=full_env, timeout=timeout, stdin=subprocess.DEVNULL)


LEDGER_DIR = ".launchops/ledger"


def ledger_files(repo: Path, rev: str | None = None, folder: str = LEDGER_DIR) -> dict[str, str]:
    """name (relative to the ledger folder) -> text of every ledger file, on disk or at `rev`."""
    if rev is None:
        base = repo / folder
        return {p.relative_to(base).as_posix(): p.read_text(encoding="utf-8")
                for p in sorted(base.rglob("*.json")) if p.is_file()} if base.is_dir() else {}
    listed = git(repo, "ls-tree", "-r", "--name-only", "-z", rev, "--", folder)
    return {p[len(folder) + 1:]: git(repo, "show", f"{rev}:{p}") for p in listed.split("\0") if p}


def read_ledger(repo: Path, rev: str | None = None, folder: str = LEDGER_DIR) -> dict[str, Any]:
    """The ledger as one document: `_ledger.json`'s keys, and "specs": every shard's entries, each
    with its shard's "source" (as version 1 had it), on disk or at `rev`."""
    files = ledger_files(repo, rev, folder)
    out: dict[str, Any] = {"specs": {}}
    for name, text in files.items():
        data = json.loads(text)
        if name == "_ledger.json":
            out.update(data)
            continue
        # a matrix spec's cells keep their shared launch once (reconciler.matrix): shown whole here
        for spec_id, entry in unpack(data["specs"], data.get("matrix")).items():
            out["specs"][spec_id] = {**entry, "source": data["source"]}
    return out


def edit_entries(repo: Path, change: Any, folder: str = LEDGER_DIR) -> None:
    """Edit every ledger entry on disk by hand: `change(spec_id, entry)` edits it in place."""
    for path in sorted((repo / folder).rglob("*.json")):
        if path.name == "_ledger.json":
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        for spec_id, entry in data["specs"].items():
            change(spec_id, entry)
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def queue_items(repo: Path) -> list[dict[str, Any]]:
    out = cli(repo, "queue", "list", "--format", "json")
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)["items"]


def clone_of_bare_origin(tmp_path: Path) -> Path:
    """An empty clone (tmp_path/clone, a committer set) whose origin is an empty bare repository."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    repo = tmp_path / "clone"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "Test User")
    git(repo, "config", "user.email", "test@example.invalid")
    git(repo, "remote", "add", "origin", str(origin))
    return repo


def spec_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The spec files a load reads, as they are read."""
    seen: list[str] = []
    original = loader_mod.Loader.load_file

    def counting(self: loader_mod.Loader, path: Path) -> object:
        seen.append(self.rel(path))
        return original(self, path)
    monkeypatch.setattr(loader_mod.Loader, "load_file", counting)
    return seen


def write(repo: Path, rel: str, text: str) -> Path:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
