"""The status page at 10,000 specs: render time and page size.

A ledger of 10,000 entries as a busy repository has them: 9,000 plain specs over 20 teams and
1,000 matrix cells (100 specs of 10 cells), launch arguments with nested config and template
variables, every ledger status and queue state, W&B run ids (so every row links its run), 50
scheduled specs with missed slots, and 3 open previews. Measured in one process, as `launchops
report` runs after loading: the status document (reconciler.report.build), the page
(reconciler.render.html.page) and writing both files. Loading the specs is the plan's cost,
measured by benchmarks/run.py. Targets: <= 2 s and an index.html of <= 5 MB.

`python -m benchmarks.report` prints the figures; exit 1 when a target is missed.
"""
from __future__ import annotations

import datetime
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from reconciler import report
from reconciler.ledger import Entry, Ledger
from reconciler.specs import Spec, digest_of

SPECS = 10_000
MAX_SECONDS = 2.0
MAX_BYTES = 5 * 1024 * 1024
REPEAT = 3
NOW = datetime.datetime(2026, 12, 2, 8, 0, tzinfo=datetime.UTC)
STATUSES = ["applied"] * 90 + ["pending"] * 3 + ["failed"] * 3 + ["unknown"] * 2 + ["removed"] * 2
RUN_STATES = ["finished"] * 70 + ["running"] * 10 + ["pending"] * 10 + ["claimed"] * 5 + ["withdrawn"] * 5


def _launch(rng: random.Random, team: str, n: int, lr: float | None = None) -> dict[str, Any]:
    return {"job": f"acme-ml/{team}/eval-{n:05d}:v{rng.randint(1, 9)}", "entity": "acme-ml", "project": team,
            "queue_name": rng.choice(["gpu-a100", "gpu-h100", "cpu-large"]), "priority": rng.randint(0, 3),
            "template_variables": {"gpus": rng.choice([1, 2, 4, 8])},
            "config": {"overrides": {"run_config": {"lr": lr if lr is not None else rng.choice([1e-3, 3e-4]),
                                                    "epochs": rng.randint(1, 50), "dataset": f"{team}/set-{n % 17}",
                                                    "wandb_api_key": "never-shown"}}}}


def fixture(count: int = SPECS, seed: int = 7) -> tuple[Ledger, dict[str, Spec], dict[str, dict[str, Any]]]:
    rng = random.Random(seed)
    entries: dict[str, Entry] = {}
    specs: dict[str, Spec] = {}
    ids: list[tuple[str, dict[str, Any] | None, dict[str, Any]]] = []
    for i in range(count - count // 10):
        team = f"team-{i % 20:02d}"
        ids.append((f"{team}/eval-{i:05d}", None, _launch(rng, team, i)))
    for i in range(count // 100):
        for cell in range(10):
            lr = round(10 ** -(1 + cell / 3), 6)
            ids.append((f"sweeps/sweep-{i:03d}[lr={lr}]", {"lr": lr}, _launch(rng, "sweeps", i, lr)))
    for n, (spec_id, cell, launch) in enumerate(ids):
        status = rng.choice(STATUSES)
        source = f"launches/{spec_id.split('[')[0]}.yaml"
        runs = tuple({"id": f"UXVldWVkUnVuOj{n:08d}{k}", "backend": "wandb", "entity": "acme-ml",
                      "project_queue": "model-registry", "queue_name": launch["queue_name"], "priority": 2,
                      "marker": f"lo-{n:024d}", "enqueued_at": f"2026-12-0{1 + k}T0{n % 10}:00:00Z",
                      "state": rng.choice(RUN_STATES), "change": f"c{n}-{k}", "run_id": f"r{n:07d}{k}"}
                     for k in range(rng.choice([0, 1, 1, 1, 2])) if status != "failed")
        extra: dict[str, Any] = {}
        if n % 200 == 0:
            extra["schedule"] = {"spec": {"cron": ["17 3 * * 1-5"], "timezone": "Europe/Berlin"},
                                 "last_slot": "2026-12-02T02:17:00Z", "next_slot": "2026-12-03T02:17:00Z",
                                 "missed": [{"slot": "2026-11-30T02:17:00Z", "why": "starting_deadline"}]}
        digest = digest_of(launch)
        entries[spec_id] = Entry(digest=digest, source=source, launch=launch, status=status,
                                 change=f"c{n}-{len(runs) - 1}", applied_commit=f"{n:040x}", queued_runs=runs,
                                 error="queue does not exist" if status == "failed" else None, cell=cell,
                                 claim={"at": "2026-11-29T00:00:00Z"} if status == "pending" else None, extra=extra)
        if status != "removed":
            changed = n % 50 == 0
            shown = {**launch, "priority": 0} if changed else launch
            specs[spec_id] = Spec(spec_id, source, shown, digest_of(shown) if changed else digest)
    previews = {f"pr-{pr}": {"version": 1, "pr": pr, "state": "open", "specs": {
        k: e.to_json() for k, e in list(entries.items())[pr * 3: pr * 3 + 2]}} for pr in (12, 40, 41)}
    return Ledger(specs=entries), specs, previews


def measure(count: int = SPECS) -> tuple[float, int, int]:
    """(median seconds, index.html bytes, status.json bytes)."""
    ledger, specs, previews = fixture(count)
    times = []
    with tempfile.TemporaryDirectory(prefix="launchops-report-") as tmp:
        for _ in range(REPEAT):
            started = time.perf_counter()
            document = report.build(ledger, specs, (), NOW, report.preview_rows(previews))
            report.write(Path(tmp), document)
            times.append(time.perf_counter() - started)
        return (statistics.median(times), (Path(tmp) / "index.html").stat().st_size,
                (Path(tmp) / "status.json").stat().st_size)


def main() -> int:
    seconds, html_bytes, json_bytes = measure()
    ok = seconds <= MAX_SECONDS and html_bytes <= MAX_BYTES
    print(f"status page, {SPECS} specs: {seconds:.2f} s (target <= {MAX_SECONDS:.0f} s), index.html "
          f"{html_bytes / 1024 / 1024:.2f} MiB (target <= {MAX_BYTES // 1024 // 1024} MiB), status.json "
          f"{json_bytes / 1024 / 1024:.2f} MiB; median of {REPEAT}: {'pass' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
