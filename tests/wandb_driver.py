"""Runs wandb-backend operations in a process of its own (so each gets its own environment and
WANDB_HTTP_TIMEOUT), reading a JSON list of steps on stdin and printing a JSON list of results.

A step is {"op": "preflight" | "enqueue" | "enqueue_many" | "find" | "refresh" | "delete" |
"launch_add" | "sdk" | "modules", ...}. Results carry either "ok" or "error" (with "kind" and "uncertain").
"""
from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reconciler.backends.base import BackendError, EnqueueFailed, EnqueueRequest, QueuedRun  # noqa: E402
from reconciler.backends.wandb import WandbBackend  # noqa: E402


def _request(data: dict[str, Any]) -> EnqueueRequest:
    return EnqueueRequest(
        spec_id=data.get("spec_id", "s"), digest=data.get("digest", "sha256:0"), marker=data["marker"], launch=data["launch"]
    )


def _error(e: BaseException) -> dict[str, Any]:
    return {"error": str(e), "kind": type(e).__name__, "uncertain": getattr(e, "uncertain", None)}


def _sdk_call(step: dict[str, Any]) -> Any:
    """QueuedRun.state / QueuedRun.delete() / RunQueue.items, as a user of the SDK calls them."""
    import wandb

    api = wandb.Api()
    if step["call"] == "items":
        return [item.id for item in api.run_queue(step["entity"], step["queue_name"]).items]
    queued = api.queued_run(step["entity"], "proj", step["queue_name"], step["id"], "model-registry")
    if step["call"] == "state":
        return queued.state
    queued.delete()
    return None


def run(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    backend = WandbBackend(parallel=int(steps[0].get("parallel", 1)) if steps else 1)
    out: list[dict[str, Any]] = []
    for step in steps:
        op = step["op"]
        started = time.monotonic()
        try:
            if op == "modules":
                result: Any = sorted(m for m in sys.modules if m == "wandb" or m.startswith("wandb."))[:5]
            elif op == "preflight":
                result = backend.preflight([_request(r) for r in step["requests"]])
            elif op == "enqueue":
                result = backend.enqueue(_request(step["request"])).to_json()
            elif op == "enqueue_many":
                # As apply does: `backend.parallel` threads sharing the one backend.
                def one(raw: dict[str, Any]) -> tuple[str, Any]:
                    r = _request(raw)
                    try:
                        return r.marker, backend.enqueue(r).to_json()
                    except EnqueueFailed as e:
                        return r.marker, _error(e)
                with ThreadPoolExecutor(backend.parallel) as pool:
                    result = dict(pool.map(one, step["requests"]))
            elif op == "find":
                result = [r.to_json() for r in backend.find(_request(step["request"]))]
            elif op == "refresh":
                result = backend.refresh(QueuedRun.from_json(step["run"])).to_json()
            elif op == "delete":
                result = backend.delete(QueuedRun.from_json(step["run"]))
            elif op == "launch_add":
                from wandb.sdk.launch import launch_add

                queued = launch_add(**step["kwargs"])
                result = {"id": queued.id}
            elif op == "sdk":  # the SDK's own public calls, for the queries they send
                result = _sdk_call(step)
            else:
                raise ValueError(f"unknown op {op}")
            out.append({"ok": result, "seconds": time.monotonic() - started})
        except (BackendError, EnqueueFailed, Exception) as e:
            out.append({**_error(e), "seconds": time.monotonic() - started})
    return out


if __name__ == "__main__":
    print(json.dumps(run(json.load(sys.stdin))))
