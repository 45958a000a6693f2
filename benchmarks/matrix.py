"""Matrix specs at scale: 1,000 matrix specs of 64 cells each (64,000 launches) beside the same
64,000 launches written as plain specs, the same work measured on both.

  cold `plan`        no ledger: every file read, every launch a create (and its peak RSS)
  warm no-op `plan`  after applying everything: the committed ledger vouches for every file
  fresh-clone `plan` a `git clone` (no local state) with one axis value added to 10 specs: 640
                     new cells (plain: the same 640 launches as 640 new files)
  `apply`            of those 640 new launches on the local queue, ledger commit included

`python -m benchmarks.matrix` prints the table and rewrites benchmarks/MATRIX.md (only at full
scale; LAUNCHOPS_BENCH_SCALE=0.1 is a quick look). Every figure is one subprocess, wall clock, its
own peak RSS from wait4; medians of REPEAT runs except the applies that build the repositories.
"""
from __future__ import annotations

import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable
SCALE = float(os.environ.get("LAUNCHOPS_BENCH_SCALE", "1"))
REPEAT = 3
SPECS = max(10, int(1000 * SCALE))
LRS = ("0.1", "0.03", "0.01", "0.003", "0.001", "0.0003", "0.0001", "3.0e-05")
SEEDS = tuple(range(8))
GROWN = 10  # specs that gain one axis value (64 new cells each)
RSS_TARGET_MIB = 500
TEAMS = ("vision", "nlp", "speech", "recsys", "rl", "infra", "safety", "search", "ads", "forecast")


@dataclass
class Run:
    seconds: float
    rss_mib: float
    stdout: str
    stderr: str
    returncode: int


def run(cmd: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> Run:
    """One subprocess: wall time and its own peak RSS (wait4: the child's rusage only)."""
    with tempfile.TemporaryFile("w+") as out_f, tempfile.TemporaryFile("w+") as err_f:
        started = time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=out_f, stderr=err_f, stdin=subprocess.DEVNULL,
                                text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read(), err_f.read()
    if code not in (0, 2):
        raise RuntimeError(f"{' '.join(cmd)} exited {code}: {err[-3000:]}")
    return Run(seconds, usage.ru_maxrss / 1024, out, err, code)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAUNCHOPS_", "GITHUB_STEP_SUMMARY"))}
    return {**env, "LAUNCHOPS_MAX_ENQUEUE": "1000000"}  # the benchmark enqueues 64,000 creates on purpose


def launchops(repo: Path, *args: str) -> Run:
    return run([PY, "-m", "reconciler", "-C", str(repo), *args], cwd=repo, env=_env())


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


# ---- the repositories ------------------------------------------------------------------------------

def _launch(rng: random.Random, team: str, n: int) -> list[str]:
    """The launch of spec n, with {model}, {lr} and {seed} where a cell's values go."""
    return ["launch:", f"  job: acme-ml/{team}-sweep/sweep-job:v{rng.randint(1, 40)}",
            f"  priority: {rng.choice(('high', 'medium', 'low'))}",
            "  template_variables:", f"    gpus: {rng.choice((1, 2, 4, 8))}", "    image_tag: \"2026.05\"",
            "  config:", "    overrides:", "      run_config:", "        model: {model}", "        lr: {lr}",
            "        seed: {seed}", f"        batch_size: {rng.choice((32, 64, 128))}",
            f"        dataset: {team}-corpus-v{rng.randint(1, 5)}",
            "        optimizer: {{name: adamw, betas: [0.9, 0.95], weight_decay: 0.01}}",
            f"        schedule: {{{{warmup_steps: {rng.randint(0, 5000)}, max_steps: {rng.randint(10, 500) * 1000}}}}}",
            f"        run_name: \"{team}-{n:04d}-{{model}}-lr{{lr}}-s{{seed}}\""]


def _folder(root: Path, n: int) -> tuple[str, Path]:
    team = TEAMS[n % len(TEAMS)]
    return team, root / "launches" / team / f"group-{n // 50:02d}"


def _init(root: Path) -> None:
    launches = root / "launches"
    launches.mkdir(parents=True)
    (launches / "_defaults.yaml").write_text("launch:\n  entity: acme-ml\n  project_queue: model-registry\n",
                                             encoding="utf-8")
    for team in TEAMS:
        (launches / team).mkdir()
        (launches / team / "_defaults.yaml").write_text(f"launch:\n  queue_name: {team}-a100\n  project: {team}\n",
                                                        encoding="utf-8")


def _commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)


def make_matrix(root: Path) -> Path:
    """SPECS matrix specs: axes model (1 value) x lr (8) x seed (8) = 64 cells each."""
    _init(root)
    rng = random.Random(16)
    for n in range(SPECS):
        team, folder = _folder(root, n)
        folder.mkdir(parents=True, exist_ok=True)
        launch = "\n".join(_launch(rng, team, n)).format(model="${matrix.model}", lr="${matrix.lr}",
                                                         seed="${matrix.seed}")
        axes = ["matrix:", "  axes:", "    model: [small]", f"    lr: [{', '.join(LRS)}]",
                f"    seed: [{', '.join(map(str, SEEDS))}]"]
        text = "\n".join(["apiVersion: launchops/v1", f"description: sweep {n} of {team}", *axes, launch]) + "\n"
        (folder / f"sweep-{n:04d}.yaml").write_text(text, encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "launchops bench")
    git(root, "config", "user.email", "bench@launchops.invalid")
    _commit(root, f"{SPECS} matrix specs")
    return root


def _plain_cells(folder: Path, rng_launch: list[str], n: int, model: str) -> None:
    template = "\n".join(rng_launch)
    for lr in LRS:
        for seed in SEEDS:
            launch = template.format(model=model, lr=lr, seed=seed)
            text = f"apiVersion: launchops/v1\ndescription: sweep {n}, one cell\n{launch}\n"
            (folder / f"{model}-lr{lr}-s{seed}.yaml").write_text(text, encoding="utf-8")


def make_plain(root: Path) -> Path:
    """The same 64 launches per spec, each its own file (a folder per spec)."""
    _init(root)
    rng = random.Random(16)
    for n in range(SPECS):
        team, folder = _folder(root, n)
        spec_folder = folder / f"sweep-{n:04d}"
        spec_folder.mkdir(parents=True)
        _plain_cells(spec_folder, _launch(rng, team, n), n, "small")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "launchops bench")
    git(root, "config", "user.email", "bench@launchops.invalid")
    _commit(root, f"{SPECS * 64} plain specs")
    return root


def grow_matrix(root: Path) -> None:
    for path in sorted((root / "launches").rglob("sweep-*.yaml"))[:: SPECS // GROWN][:GROWN]:
        path.write_text(path.read_text(encoding="utf-8").replace("model: [small]", "model: [small, base]"),
                        encoding="utf-8")


def grow_plain(root: Path) -> None:
    rng = random.Random(16)
    chosen = set(range(0, SPECS, SPECS // GROWN)[:GROWN])
    for n in range(SPECS):
        team, folder = _folder(root, n)
        launch = _launch(rng, team, n)  # drawn for every spec, so spec n gets the launch it was made with
        if n in chosen:
            _plain_cells(folder / f"sweep-{n:04d}", launch, n, "base")


# ---- the measurements ------------------------------------------------------------------------------

def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def measure(kind: str, root: Path, grow: Callable[[Path], None]) -> dict[str, float]:
    """Every figure of one side; `grow` adds the 640 launches to a fresh clone."""
    total = SPECS * 64
    out: dict[str, float] = {}
    cold, rss = [], []
    for _ in range(REPEAT):
        r = launchops(root, "plan")
        assert f"{total} to create" in r.stdout, r.stdout[-500:] + r.stderr[-2000:]
        cold.append(r.seconds)
        rss.append(r.rss_mib)
    out["cold"], out["rss"] = median(cold), median(rss)
    r = launchops(root, "apply", "--yes")
    assert r.returncode == 0, r.stderr[-3000:]
    out["apply_all"] = r.seconds
    warm = []
    for _ in range(REPEAT):
        r = launchops(root, "plan")
        assert f"{total} unchanged" in r.stdout, r.stdout[-500:]
        warm.append(r.seconds)
    out["warm"] = median(warm)
    fresh = []
    for i in range(REPEAT):
        clone = root.parent / f"{kind}-clone-{i}"
        git(root.parent, "clone", "-q", str(root), str(clone))
        git(clone, "config", "user.name", "launchops bench")
        git(clone, "config", "user.email", "bench@launchops.invalid")
        grow(clone)
        r = launchops(clone, "plan")
        assert f"{GROWN * 64} to create" in r.stdout and f"{total} unchanged" in r.stdout, r.stdout[-800:]
        fresh.append(r.seconds)
    out["fresh"] = median(fresh)
    clone = root.parent / f"{kind}-clone-0"
    _commit(clone, "grow")
    r = launchops(clone, "apply", "--yes")
    assert r.returncode == 0 and f"{GROWN * 64} enqueued" in r.stdout, r.stdout[-800:] + r.stderr[-2000:]
    out["apply"] = r.seconds
    return out


def fmt(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 0.1 else f"{seconds * 1000:.0f} ms"


def table(m: dict[str, float], p: dict[str, float]) -> list[str]:
    total = SPECS * 64
    rows = [("cold `plan` (every launch a create)", "cold"), ("warm no-op `plan`", "warm"),
            (f"fresh-clone `plan`, one axis value added to {GROWN} specs ({GROWN * 64} new)", "fresh"),
            (f"`apply` of the {GROWN * 64} new launches, local queue", "apply"),
            (f"`apply` of all {total} (builds the ledger; one run)", "apply_all")]
    lines = [f"| work ({SPECS} matrix specs x 64 cells = {total} launches) | matrix | {total} plain specs | ratio |",
             "|---|---|---|---|"]
    lines += [f"| {name} | {fmt(m[key])} | {fmt(p[key])} | {m[key] / p[key]:.2f} |" for name, key in rows]
    verdict = "pass" if m["rss"] <= RSS_TARGET_MIB else "FAIL"
    lines.append(f"| peak RSS, cold `plan` | {m['rss']:.0f} MiB | {p['rss']:.0f} MiB | {m['rss'] / p['rss']:.2f} |")
    lines += ["", f"Peak RSS of the matrix cold plan: {m['rss']:.0f} MiB, target <= {RSS_TARGET_MIB} MiB: {verdict}."]
    return lines


def main() -> int:
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="launchops-matrix-bench-"))
    try:
        m = measure("matrix", make_matrix(work / "matrix"), grow_matrix)
        p = measure("plain", make_plain(work / "plain"), grow_plain)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()[0]
    head = (f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}; load "
            f"average {load:.1f} at the end. Whole run: {time.perf_counter() - started:.0f} s. Medians of {REPEAT} "
            "runs unless noted.")
    lines = table(m, p)
    print(head)
    print("\n".join(lines))
    if SCALE == 1:
        (HERE / "MATRIX.md").write_text(
            "# Matrix specs at scale\n\n`python -m benchmarks.matrix` (see its docstring for what each figure is).\n\n"
            + head + "\n\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return 0 if m["rss"] <= RSS_TARGET_MIB else 1


if __name__ == "__main__":
    raise SystemExit(main())
