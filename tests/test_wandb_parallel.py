"""Fast by default: `apply` on the wandb backend with no flag checks jobs and pushes from `parallel`
(default 8) threads; `--parallel 1` and the setting change that. Seen at the W&B test server: how
many GraphQL requests it holds at once (each waits out the server's added latency)."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest_wandb import wandb_server  # noqa: E402,F401  (fixture)
from wandb_server import WandbServer  # noqa: E402

SPECS = 12


class _InFlight(list):  # type: ignore[type-arg]
    """state.requests, counting the GraphQL requests between arrival and answer."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.now = 0
        self.most: dict[str, int] = {}  # root operation -> most requests held at once while one arrived

    def append(self, entry: Any) -> None:
        super().append(entry)
        if entry.get("path") == "/graphql" and entry.get("valid"):
            with self.lock:
                self.now += 1
                for op in entry.get("ops") or []:
                    self.most[op] = max(self.most.get(op, 0), self.now)

    def answered(self) -> None:
        with self.lock:
            self.now -= 1


def _watch(server: WandbServer) -> _InFlight:
    flight = _InFlight()
    server.state.requests = flight
    httpd = server._httpd
    resolve = httpd.resolve

    def resolving(field: Any) -> Any:  # once per root field: every request here has one
        try:
            return resolve(field)
        finally:
            flight.answered()

    httpd.resolve = resolving  # type: ignore[method-assign]
    return flight


def _repo(path: Path, server: WandbServer, settings: str) -> Path:
    (path / "launches").mkdir(parents=True)
    (path / "launchops.toml").write_text('backend = "wandb"\n' + settings)
    for i in range(SPECS):
        job = f"ent/proj/job-{i}:v1"  # a job each: one check per spec
        server.state.add_job(job)
        (path / "launches" / f"s{i}.yaml").write_text(
            f"apiVersion: launchops/v1\nlaunch:\n  job: {job}\n  entity: ent\n  project: proj\n  queue_name: q\n")
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "specs"]):
        subprocess.run(["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
                       check=True, capture_output=True)
    return path


@pytest.mark.parametrize(("settings", "flags", "threads"), [
    ("", [], 8),  # the default
    ("", ["--parallel", "1"], 1),
    ("parallel = 3\n", [], 3),
])
def test_apply_checks_jobs_and_pushes_from_parallel_threads(wandb_server: WandbServer, tmp_path: Path,
                                                            settings: str, flags: list[str], threads: int) -> None:
    flight = _watch(wandb_server)
    repo = _repo(tmp_path / "repo", wandb_server, settings)
    wandb_server.state.latency = 0.05  # long enough for every thread's request to be held at once
    done = subprocess.run([sys.executable, "-m", "reconciler", "-C", str(repo), "apply", "--yes", *flags],
                          env=wandb_server.env(http_timeout=10), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert wandb_server.state.pushes() == SPECS
    # The job checks (`project` queries) and the pushes each reach `threads` at once, never more;
    # 12 of each with 50 ms of latency: a pool of 8 fills up (allow one slow thread start on a busy machine).
    assert threads - (threads > 1) <= flight.most["project"] <= threads, flight.most
    assert threads - (threads > 1) <= flight.most["pushToRunQueueByName"] <= threads, flight.most


@pytest.mark.parametrize(("text", "environ", "message"), [
    ("parallel = 65\n", {}, "launchops.toml: parallel must be at most 64, not 65"),
    ("parallel = 0\n", {}, "launchops.toml: parallel must be positive"),
    ("", {"LAUNCHOPS_PARALLEL": "eight"}, "LAUNCHOPS_PARALLEL: parallel must be a whole number of threads"),
])
def test_a_parallel_setting_out_of_range_is_refused_naming_where(tmp_path: Path, text: str,
                                                                 environ: dict[str, str], message: str) -> None:
    from reconciler.settings import SettingsError, load_settings

    (tmp_path / "launchops.toml").write_text(text)
    (tmp_path / "bare").mkdir()
    assert load_settings(tmp_path / "bare", environ={}).parallel == 8  # no settings file: the default
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        load_settings(tmp_path, environ=environ)
