"""The W&B apply users actually get: default flags, every spec with a job of its own.

200 specs, 200 distinct jobs, 20 ms added to every request of the W&B test server
(tests/wandb_server.py). Peer: the serial loop a team would write by hand — one `launch_add` per
spec, in one process, after one warm-up call that pays for wandb-core's start-up. Ours: the whole
`launchops apply --yes` with `backend = "wandb"` in launchops.toml and no other flag (process
start, plan, the check of 200 jobs, 200 pushes, the ledger commit). Target: <= 0.20 of the peer.

`python -m benchmarks.wandb_default` runs this case alone and prints its row.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.run import ROOT, Row, _env, fmt_s, launchops

SPECS = 200
LATENCY = 0.02
TARGET = 0.20


def _repository(root: Path, count: int) -> list[dict[str, object]]:
    """`count` specs, each with its own job, committed in a fresh repository; their launch arguments."""
    launches = root / "launches"
    launches.mkdir(parents=True)
    (root / "launchops.toml").write_text('backend = "wandb"\nentity = "acme-ml"\n', encoding="utf-8")
    (launches / "_defaults.yaml").write_text("launch:\n  project: evals\n  queue_name: gpu-a100\n", encoding="utf-8")
    launches_args: list[dict[str, object]] = []
    for i in range(count):
        team = f"team-{i % 10}"
        job = f"acme-ml/{team}/eval-{i:03d}:v{1 + i % 7}"
        folder = launches / team
        folder.mkdir(exist_ok=True)
        (folder / f"eval-{i:03d}.yaml").write_text(
            "apiVersion: launchops/v1\n"
            f"description: nightly eval {i}\n"
            "launch:\n"
            f"  job: {job}\n"
            "  priority: medium\n"
            f"  template_variables: {{gpus: {1 + i % 4}}}\n"
            f"  config: {{overrides: {{run_config: {{seed: {i}, lr: 0.001}}}}}}\n", encoding="utf-8")
        launches_args.append({"job": job, "queue_name": "gpu-a100", "entity": "acme-ml", "project": "evals",
                              "priority": 2, "template_variables": {"gpus": 1 + i % 4},
                              "config": {"overrides": {"run_config": {"seed": i, "lr": 0.001}}}})
    for args in (["init", "-q", "-b", "main"], ["config", "user.name", "launchops bench"],
                 ["config", "user.email", "bench@launchops.invalid"], ["add", "-A"],
                 ["commit", "-qm", f"{count} specs"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    return launches_args


def bench_wandb_default(work: Path, count: int = SPECS) -> Row:
    """4b. apply with default flags, one job per spec, vs the serial launch_add loop."""
    sys.path.insert(0, str(ROOT / "tests"))
    name = f"4b. `apply` of {count} creates, {count} distinct jobs, default flags, wandb, 20 ms/request"
    try:
        import wandb  # noqa: F401  (the extra must be installed for this benchmark)

        from conftest_wandb import drive
        from wandb_server import WandbServer
    except ImportError as exc:
        return Row(name, "skipped", "", None, f"<= {TARGET}", False, f"needs the wandb extra: {exc}")
    repo = work / "wandb-default"
    launches = _repository(repo, count)
    server = WandbServer().start()
    try:
        for launch in launches:
            server.state.add_job(str(launch["job"]))
        warm = {**launches[0], "config": {"warm": True}}  # wandb-core start-up, not counted
        steps = [{"op": "launch_add", "kwargs": warm}] + [{"op": "launch_add", "kwargs": k} for k in launches]
        server.state.latency = LATENCY
        results = drive(server, steps, timeout=1800)
        assert all("ok" in r for r in results), [r for r in results if "ok" not in r][:2]
        serial = sum(float(r["seconds"]) for r in results[1:])
        r = launchops(repo, "apply", "--yes", env=server.env(_env(), http_timeout=19), check=False)
        assert r.returncode == 0, r.stderr[-3000:]
        ours = r.seconds
    finally:
        server.stop()
    ratio = ours / serial
    note = (f"peer: {count} serial `launch_add` calls, each with its own job, after one warm-up call "
            f"({serial / count * 1000:.0f} ms/spec), measured in full; ours: the whole `launchops apply --yes` "
            "with backend = \"wandb\" in launchops.toml and no other flag (process start, plan, the check of "
            f"{count} jobs, {count} pushes, ledger commit)")
    return Row(name, fmt_s(ours), f"serial launch_add {fmt_s(serial)}", ratio, f"<= {TARGET:.2f}", ratio <= TARGET,
               note)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="launchops-bench-") as tmp:
        row = bench_wandb_default(Path(tmp))
    print(f"{row.name}: {row.figure} vs {row.peer}: ratio {row.ratio if row.ratio is None else f'{row.ratio:.3f}'} "
          f"(target {row.target}: {'pass' if row.ok else 'FAIL'})\n{row.note}")
    return 0 if row.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
