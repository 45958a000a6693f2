"""Fixtures and helpers for tests that drive the real wandb SDK against tests/wandb_server.py.

Import from a test module (`from conftest_wandb import wandb_server, drive`); pytest then sees the
fixture. SDK calls run in a subprocess (tests/wandb_driver.py) with the server's environment, set
before wandb is imported there: WANDB_HTTP_TIMEOUT is read at import, and wandb-core keeps a
retrying request alive for up to ~71 s, so each fault test gets a process of its own.
"""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wandb_server import WandbServer  # noqa: E402

DRIVER = Path(__file__).resolve().parent / "wandb_driver.py"


@pytest.fixture
def wandb_server() -> Iterator[WandbServer]:
    """A running server. A test that ends with a request the server refused as invalid fails,
    unless it withheld part of the schema or set `state.expect_invalid` (it sends them on purpose)."""
    server = WandbServer().start()
    try:
        yield server
        state = server.state
        assert not state.invalid or state.withheld or state.expect_invalid, f"refused as invalid: {state.invalid}"
    finally:
        server.stop()


def drive(
    server: WandbServer,
    steps: list[dict[str, Any]],
    *,
    http_timeout: int | None = 10,
    env: Mapping[str, str | None] | None = None,
    timeout: float = 90,
) -> list[dict[str, Any]]:
    """Run backend steps in a fresh process pointed at `server`; the per-step results."""
    full = server.env(http_timeout=http_timeout)
    for key, value in (env or {}).items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    proc = subprocess.run(
        [sys.executable, str(DRIVER)],
        input=json.dumps(steps),
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    assert lines, f"no result from driver: {proc.stdout[-2000:]} {proc.stderr[-2000:]}"
    return json.loads(lines[-1])


def request(marker: str, **launch: Any) -> dict[str, Any]:
    return {"spec_id": f"spec-{marker}", "digest": f"sha256:{marker}", "marker": marker, "launch": launch}
