"""Issue 6, target 4: enqueueing through the backend against the test server with 20 ms added
latency per request is at least 5x faster per spec than a plain serial loop of `launch_add`.

Kept small by default (the serial loop costs ~145 ms per job launch); LAUNCHOPS_WANDB_BENCH=1 runs
the full 1,000 specs of the issue on both sides."""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest_wandb import drive, request, wandb_server  # noqa: E402,F401  (fixture)
from wandb_server import WandbServer  # noqa: E402

FULL = os.environ.get("LAUNCHOPS_WANDB_BENCH") == "1"
JOB = "ent/proj/bench-job:v1"


def test_backend_is_5x_faster_than_serial_launch_add(wandb_server: WandbServer) -> None:
    wandb_server.state.add_job(JOB)
    serial_n, ours_n = (1000, 1000) if FULL else (12, 300)
    launch = {"job": JOB, "queue_name": "q", "entity": "ent", "project": "proj", "priority": 2,
              "template_variables": {"gpus": 1}}
    steps = [{"op": "launch_add", "kwargs": {**launch, "config": {"warm": True}}}]  # wandb-core start-up
    steps += [{"op": "launch_add", "kwargs": {**launch, "config": {"i": i}}} for i in range(serial_n)]
    reqs = [request(f"b{i}", **launch, config={"i": i}) for i in range(ours_n)]
    # a fresh process: the client, Viewer and job check are inside the measured time
    wandb_server.state.latency = 0.02
    serial = drive(wandb_server, steps, timeout=600 if FULL else 90)
    ours = drive(wandb_server, [{"op": "preflight", "requests": reqs, "parallel": 8}, {"op": "enqueue_many", "requests": reqs}],
                 timeout=600 if FULL else 90)
    assert all("ok" in r for r in serial + ours), [r for r in serial + ours if "ok" not in r][:2]
    serial_per = sum(r["seconds"] for r in serial[1:]) / serial_n
    ours_per = (ours[0]["seconds"] + ours[1]["seconds"]) / ours_n
    assert all("id" in v for v in ours[1]["ok"].values())
    print(f"serial launch_add {serial_per * 1000:.1f} ms/spec, backend (8 threads) {ours_per * 1000:.1f} ms/spec, "
          f"{serial_per / ours_per:.1f}x")
    assert serial_per / ours_per >= 5
