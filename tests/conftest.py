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

from reconciler.cli import main

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


def read_ledger(repo: Path) -> dict[str, Any]:
    return json.loads((repo / ".launchops" / "ledger.json").read_text(encoding="utf-8"))


def queue_items(repo: Path) -> list[dict[str, Any]]:
    out = cli(repo, "queue", "list", "--format", "json")
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)["items"]


def write(repo: Path, rel: str, text: str) -> Path:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
