"""Runs every benchmark side by side with its peer, prints the table, writes RESULTS.md.

Every measured command is a subprocess, timed by wall clock, repeated and reported as the median.
Scratch repositories live in a temp folder that is removed at the end. Sizes can be lowered for
a quick look (`LAUNCHOPS_BENCH_SCALE=0.1`); RESULTS.md is only written at full scale.
"""
from __future__ import annotations

import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.generator import SHAPES, generate

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
SCHEMA = ROOT / "schemas" / "launch-spec.v1.schema.json"
SCALE = float(os.environ.get("LAUNCHOPS_BENCH_SCALE", "1"))
# A copy of reconciler/ taken when the run starts: a ledger's records of what its shards were made
# from include launchops' own source, so an edit to the checkout during a run must not reach it.
CODE: Path | None = None
REPEAT = 3


@dataclass
class Row:
    name: str
    figure: str
    peer: str
    ratio: float | None
    target: str
    ok: bool | None  # None: a figure reported, with no target
    note: str = ""


@dataclass
class Run:
    seconds: float
    max_rss_kib: int
    stdout: str
    stderr: str
    returncode: int


def n(count: int) -> int:
    return max(10, int(count * SCALE))


def run(cmd: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None,
        check: bool = True) -> Run:
    """One subprocess: wall time and its own peak RSS (wait4 gives the child's rusage)."""
    with tempfile.TemporaryFile("w+") as out_f, tempfile.TemporaryFile("w+") as err_f:
        started = time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=out_f, stderr=err_f, stdin=subprocess.DEVNULL,
                                text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own rusage: its peak RSS, not the maximum of all
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read(), err_f.read()
    rss = usage.ru_maxrss
    if check and proc.returncode not in (0, 2):
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {err[-2000:]}")
    return Run(seconds, rss, out, err, proc.returncode)


def launchops(repo: Path, *args: str, env: dict[str, str] | None = None, check: bool = True) -> Run:
    return run([PY, "-m", "reconciler", "-C", str(repo), *args], cwd=repo, env=env or _env(), check=check)


def _env(**settings: str) -> dict[str, str]:
    # Bytecode as an installed package has it (main() compiles it first): no run pays for compiling
    drop = ("LAUNCHOPS_", "GITHUB_STEP_SUMMARY", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    if CODE is not None:  # the snapshot of launchops this run measures (ahead of the installed one)
        env["PYTHONPATH"] = os.pathsep.join([str(CODE), *filter(None, [env.get("PYTHONPATH")])])
    # the benchmarks enqueue thousands of creates on purpose
    return {**env, "LAUNCHOPS_MAX_ENQUEUE": "1000000", **{f"LAUNCHOPS_{k.upper()}": v for k, v in settings.items()}}


# A full load: a setting that every shard's record of what it was made from depends on
# (reconciler.cost.rules_key), changed without changing what any spec loads to (the default
# max_spec_bytes is 1 MiB; no generated file comes near it). Every spec file is read then.
FULL = {"max_spec_bytes": str(1048576 + 1)}


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


EDITED = 10


def _edit_some(repo: Path, count: int) -> int:
    """Change the launch of `count` specs (spread over the folders) without committing."""
    files = sorted(p for p in (repo / "launches").rglob("run-*.yaml"))
    for path in files[:: max(1, len(files) // count)][:count]:
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("        seed: ", "        seed: 1", 1), encoding="utf-8")
    return min(count, len(files))


def fmt_s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 0.1 else f"{seconds * 1000:.0f} ms"


# ---- the benchmarks --------------------------------------------------------------------------------

def _peer_files(repo: Path, scratch: Path) -> tuple[Path, list[str]]:
    """The spec documents for check-jsonschema, which reads one document per file: the spec files
    themselves, or (for files of several documents) one file per document in `scratch`."""
    files = sorted(p for p in (repo / "launches").rglob("*.yaml") if not p.name.startswith("_"))
    if not any("\n---" in p.read_text(encoding="utf-8") for p in files):
        return repo, [str(p.relative_to(repo)) for p in files]
    import yaml

    scratch.mkdir()
    out = []
    for i, path in enumerate(files):
        for j, doc in enumerate(yaml.safe_load_all(path.read_text(encoding="utf-8"))):
            target = scratch / f"{i:05d}-{j:03d}.yaml"
            target.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
            out.append(target.name)
    return scratch, out


SLOW_PEER = 20.0  # seconds: a peer this slow is measured once, to keep the whole run short


def _validate_vs_peer(repo: Path, count: int, scratch: Path) -> tuple[float, float, int]:
    """Medians of a cold `launchops validate` (never applied: no ledger, every file read) and of
    check-jsonschema over the same documents, measured in turn; and how many times the peer ran."""
    where, files = _peer_files(repo, scratch)
    checker = shutil.which("check-jsonschema", path=str(Path(PY).parent)) or "check-jsonschema"
    ours: list[float] = []
    peer: list[float] = []
    for _ in range(REPEAT):
        r = launchops(repo, "validate")
        assert r.returncode == 0 and f"{count} specs valid" in r.stdout, r.stdout[-1000:] + r.stderr[-1000:]
        ours.append(r.seconds)
        if peer and peer[0] > SLOW_PEER:
            continue
        p = run([checker, "--schemafile", str(SCHEMA), *files], cwd=where)
        assert p.returncode == 0, p.stdout[-1000:]
        peer.append(p.seconds)
    return median(ours), median(peer), len(peer)


def bench_validate(work: Path) -> Row:
    """1. cold validate of 2,000 specs vs check-jsonschema over the same files."""
    count = n(2000)
    repo = generate(work / "validate", count)
    a, b, _ = _validate_vs_peer(repo, count, work / "validate-peer")
    return Row(f"1. cold `validate`, {count} specs", fmt_s(a), f"check-jsonschema {fmt_s(b)}", a / b, "<= 0.10",
               a / b <= 0.10)


def _noop_plans(repo: Path) -> tuple[float, float]:
    """Medians of a warm and a cold (every spec file read: FULL) no-op plan of an applied repository,
    measured in turn; both must print the same plan."""
    cold, warm, outputs = [], [], set()
    for _ in range(REPEAT):
        for timings, env in ((cold, _env(**FULL)), (warm, _env())):
            r = launchops(repo, "plan", env=env)
            assert r.returncode == 0 and re.search(r"\b\d+ unchanged", r.stdout), r.stdout[-500:] + r.stderr[-1000:]
            timings.append(r.seconds)
            outputs.add(r.stdout)
    assert len(outputs) == 1, "a warm plan printed something else than a cold one"
    return median(warm), median(cold)


SHAPE_COUNT = 2000  # target 1 is defined on 2,000 specs
SHAPE_PLAN_COUNT = 10_000  # target 2 on 10,000: at 2,000 a cold no-op plan takes less than 20 starts of Python


def bench_shapes(work: Path, rows: list[Row]) -> None:
    """1/<shape>, 2/<shape>: targets 1 and 2 on every shape of the generator, each at the size its
    target is defined on: cold validate of 2,000 specs vs check-jsonschema (the base shape is row
    1), then the warm no-op plan vs the cold no-op plan of 10,000 specs, applied (as in 2)."""
    count, planned = n(SHAPE_COUNT), n(SHAPE_PLAN_COUNT)
    for shape in SHAPES:
        if shape != "base":
            repo = generate(work / f"shape-{shape}", count, shape=shape)
            a, b, runs = _validate_vs_peer(repo, count, work / f"shape-{shape}-peer")
            note = f"check-jsonschema measured once (slower than {SLOW_PEER:.0f} s a run)" if runs < REPEAT else ""
            rows.append(Row(f"1/{shape}: cold `validate`, {count} specs", fmt_s(a), f"check-jsonschema {fmt_s(b)}",
                            a / b, "<= 0.10", a / b <= 0.10, note))
            shutil.rmtree(repo)
            repo = generate(work / f"shape-{shape}-plan", planned, shape=shape)
            r = launchops(repo, "apply", "--yes", check=False)
            assert r.returncode == 0, r.stderr[-3000:]
            a, b = _noop_plans(repo)
            rows.append(Row(f"2/{shape}: warm no-op `plan`, {planned} specs", fmt_s(a), f"cold no-op plan {fmt_s(b)}",
                            a / b, "<= 0.05", a / b <= 0.05))
            shutil.rmtree(repo)


def bench_imports(work: Path) -> Row:
    """3. `--help` and `plan` never import wandb; CLI import time."""
    probe = ("import sys, io, contextlib\nfrom reconciler.cli import main\nargs = sys.argv[1:]\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n"
             "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
             "print(sorted(m for m in sys.modules if m == 'wandb' or m.startswith('wandb.'))[:3])\n")
    repo = generate(work / "imports", 20)
    leaked = []
    for args in (["--help"], ["-C", str(repo), "plan"], ["-C", str(repo), "validate"]):
        r = run([PY, "-c", probe, *args], env=_env())
        if r.stdout.strip().splitlines()[-1] != "[]":
            leaked.append(" ".join(args[-1:]))
    helps = [run([PY, "-m", "reconciler", "--help"], env=_env()).seconds for _ in range(5)]
    bare = [run([PY, "-c", "pass"], env=_env()).seconds for _ in range(5)]
    r = run([PY, "-X", "importtime", "-c", "import reconciler.cli"], env=_env())
    total_us = max(int(m.group(1)) for m in re.finditer(r"\|\s*(\d+) \| reconciler\.cli$", r.stderr, re.M))
    wandb = run([PY, "-X", "importtime", "-c", "import wandb"], env=_env(), check=False)
    found = [int(m.group(1)) for m in re.finditer(r"\|\s*(\d+) \| wandb$", wandb.stderr, re.M)]
    peer = f"`import wandb` {found[0] / 1e6:.2f} s" if found else "wandb not installed"
    note = (f"`launchops --help` {fmt_s(median(helps))} wall (a bare `python -c pass` {fmt_s(median(bare))}); "
            f"wandb imported by: {', '.join(leaked) or 'none of --help, plan, validate'}")
    return Row("3. CLI import (`import reconciler.cli`)", fmt_s(total_us / 1e6), peer,
               (total_us / found[0]) if found else None, "no wandb import", not leaked, note)


def bench_plan_and_apply(work: Path, rows: list[Row]) -> Path:
    """2, 5, 6: cold plan, apply on the local queue, warm no-op plan, peak RSS; returns the applied
    repository. Cold: every spec file read (FULL). Warm: a plan in the applied repository, whose
    committed ledger vouches for every file, so no spec file is read (there is no other cache)."""
    count = n(10_000)
    repo = generate(work / "plan", count)
    cold_create = []
    rss = []
    for _ in range(REPEAT):
        r = launchops(repo, "plan")
        assert f"{count} to create" in r.stdout, r.stdout[-500:] + r.stderr[-2000:]
        cold_create.append(r.seconds)
        rss.append(r.max_rss_kib)
    applies = []
    for i in range(2):
        copy = work / f"apply-{i}"
        shutil.copytree(repo, copy, symlinks=True)
        r = launchops(copy, "apply", "--yes", check=False)
        assert r.returncode == 0, r.stderr[-3000:]
        applies.append(r.seconds)
    applied = work / "apply-0"
    cold_noop, warm_noop = [], []
    for _ in range(REPEAT):
        r = launchops(applied, "plan", env=_env(**FULL))
        assert f"{count} unchanged" in r.stdout, r.stdout[-500:]
        cold_noop.append(r.seconds)
        r = launchops(applied, "plan")
        assert f"{count} unchanged" in r.stdout, r.stdout[-500:]
        warm_noop.append(r.seconds)
    a, b = median(warm_noop), median(cold_noop)
    rows.append(Row(f"2. warm no-op `plan`, {count} specs", fmt_s(a), f"cold no-op plan {fmt_s(b)}", a / b, "<= 0.05",
                    a / b <= 0.05, "warm: the committed ledger vouches for every spec file (nothing else is kept); "
                    "cold: every spec file read (a setting the ledger's records depend on changed)"))
    a, b = median(applies), median(cold_create)
    rows.append(Row(f"5. `apply` of {count} creates, local queue", fmt_s(a), f"cold plan {fmt_s(b)}", a / b,
                    "<= 3", a / b <= 3, "apply starts with no .launchops/; includes the ledger commit"))
    peak = median(rss) / 1024
    big = n(30_000)
    big_repo = generate(work / "plan-big", big)
    big_rss = launchops(big_repo, "plan").max_rss_kib / 1024
    per_spec = (big_rss - peak) / (big - count)
    at_100k = big_rss + per_spec * (100_000 - big)
    rows.append(Row(f"6. peak RSS, cold `plan`, {count} specs", f"{peak:.0f} MiB", f"{big} specs: {big_rss:.0f} MiB",
                    None, "<= 300 MiB", peak <= 300,
                    f"grows ~{per_spec * 1024:.1f} KiB per spec: ~{at_100k:.0f} MiB at 100,000 specs "
                    f"(linear extrapolation from {count} and {big})"))
    return applied


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def bench_fresh_clone(work: Path, applied: Path, rows: list[Row]) -> None:
    """7, 8: a fresh clone (CI) of an applied repository with ten specs edited and committed: plan
    and validate against the same commands reading every file; then the ledger commit of applying
    those ten updates touches at most ten ledger files."""
    count = n(10_000)
    edited = _edit_some(applied, EDITED)
    _git(applied, "commit", "-qam", f"edit {edited} specs")
    clone = work / "fresh-clone"
    _git(work, "clone", "-q", str(applied), str(clone))
    timings: dict[str, list[float]] = {"plan": [], "plan-full": [], "validate": [], "validate-full": []}
    outputs: dict[str, set[str]] = {k: set() for k in timings}
    for _ in range(REPEAT):
        for command in ("plan", "validate"):
            for full in (False, True):
                r = launchops(clone, command, env=_env(**FULL) if full else None)
                key = command + ("-full" if full else "")
                timings[key].append(r.seconds)
                outputs[key].add(r.stdout)
    assert not (clone / ".launchops" / "cache").exists(), "a plan or validate kept local state"
    for command, expect in (("plan", f"{edited} to update"), ("validate", f"{count} specs valid")):
        assert outputs[command] == outputs[command + "-full"] and len(outputs[command]) == 1, command
        assert expect in next(iter(outputs[command])), next(iter(outputs[command]))[-500:]
        a, b = median(timings[command]), median(timings[command + "-full"])
        rows.append(Row(f"7{'a' if command == 'plan' else 'b'}. fresh clone, {edited} of {count} specs edited: "
                        f"`{command}`", fmt_s(a), f"every file read {fmt_s(b)}", a / b, "<= 0.10", a / b <= 0.10,
                        "a `git clone` of the applied repository after the edit commit; no .launchops/ state; "
                        "the output is byte for byte that of the full load"))
    r = launchops(applied, "apply", "--yes")
    assert r.returncode == 0, r.stderr[-2000:]
    touched = [f for f in _git(applied, "show", "--name-only", "--format=", "HEAD").splitlines() if f]
    ledger_files = [f for f in touched if f.startswith(".launchops/")]
    rows.append(Row(f"8a. ledger commit after {edited} updates among {count} specs", f"{len(ledger_files)} files",
                    "", None, f"<= {edited} files", len(ledger_files) <= edited and len(ledger_files) == len(touched)))


def _documents(docs: int, change: int) -> str:
    """One spec file of `docs` documents, each its own spec; `change` goes into every launch."""
    out = []
    for i in range(docs):
        out.append(f"apiVersion: launchops/v1\nid: sweep/cell-{i:03d}\nlaunch:\n  job: acme-ml/sweep/train:v3\n"
                   f"  priority: 2\n  config:\n    overrides:\n      run_config:\n        lr: 0.001\n"
                   f"        seed: {i}\n        change: {change}\n")
    return "---\n".join(out)


def _agent_finishes(repo: Path) -> int:
    """What an agent consuming the local queue does: it claims each pending item and finishes it
    (the queue's SQLite, as an agent writes it). Returns how many items it finished."""
    import sqlite3

    with sqlite3.connect(repo / ".launchops" / "queue.db") as db:
        return db.execute("UPDATE items SET state = 'finished' WHERE state = 'pending'").rowcount


def bench_shard_size(work: Path, rows: list[Row]) -> None:
    """8b. the largest ledger file after a 256-document spec file is changed and applied 20 times.
    Between changes an agent finishes the items and `status --refresh` records it, as in use: a
    settled run of an earlier change may then be compacted out by the next ledger commit (SPEC)."""
    docs, changes = 256, 20
    repo = work / "big-shard"
    (repo / "launches").mkdir(parents=True)
    (repo / "launches" / "_defaults.yaml").write_text(
        "launch:\n  entity: acme-ml\n  project_queue: model-registry\n  queue_name: sweep-a100\n"
        "  project: sweep\n", encoding="utf-8")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.name", "launchops bench")
    _git(repo, "config", "user.email", "bench@launchops.invalid")
    for change in range(changes + 1):  # the create, then 20 changes
        (repo / "launches" / "sweep.yaml").write_text(_documents(docs, change), encoding="utf-8")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-qm", f"change {change}")
        r = launchops(repo, "apply", "--yes")
        assert r.returncode == 0, r.stderr[-2000:]
        if change < changes:  # the last change's items stay pending: the largest the file gets
            assert _agent_finishes(repo) == docs
            r = launchops(repo, "status", "--refresh")
            assert r.returncode == 0, r.stderr[-2000:]
    log = _git(repo, "log", "--format=%B")
    # the runs each ledger commit compacted out, as its message lists them under this heading
    compacted = sum(len(re.findall(r"^sweep/cell-\d+ -> ", part.split("\n\n", 1)[0], re.M))
                    for part in log.split("Compacted out of the ledger")[1:])
    ledger = repo / ".launchops" / "ledger"
    largest = max(ledger.rglob("*.json"), key=lambda p: p.stat().st_size)
    size = largest.stat().st_size
    import json

    runs = sum(len(e["queued_runs"]) for e in json.loads(largest.read_text(encoding="utf-8"))["specs"].values())
    rows.append(Row(f"8b. largest ledger file, {docs}-document spec changed {changes} times", f"{size / 2**20:.2f} MiB",
                    f"{runs} runs recorded", None, "<= 2 MiB", size <= 2 * 2**20,
                    f"{size / max(runs, 1):.0f} bytes per recorded run, launches included; between changes an "
                    f"agent finishes the items and `status --refresh` records it, so the next ledger commit compacts "
                    f"the settled runs of earlier changes out ({compacted} in all, each listed in its message)"))


def bench_wandb(work: Path) -> Row:
    """4. apply of 1,000 creates through the wandb backend vs a serial loop of launch_add."""
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        import wandb  # noqa: F401  (the extra must be installed for this benchmark)

        from conftest_wandb import drive
        from wandb_server import WandbServer
    except ImportError as exc:
        return Row("4. wandb apply", "skipped", "", None, ">= 5x", False, f"needs the wandb extra: {exc}")
    count = n(1000)
    serial_n = max(5, n(60))
    repo = generate(work / "wandb", count)
    import yaml

    jobs = set()
    for path in (repo / "launches").rglob("run-*.yaml"):
        job = (yaml.safe_load(path.read_text()) or {}).get("launch", {}).get("job")
        if job:
            jobs.add(job)
    server = WandbServer().start()
    try:
        for job in jobs:
            server.state.add_job(job)
        job = sorted(jobs)[0]
        launch = {"job": job, "queue_name": "q", "entity": "acme-ml", "project": "p", "priority": 2,
                  "template_variables": {"gpus": 1}}
        steps = [{"op": "launch_add", "kwargs": {**launch, "config": {"warm": True}}}]  # wandb-core start-up
        steps += [{"op": "launch_add", "kwargs": {**launch, "config": {"i": i}}} for i in range(serial_n)]
        server.state.latency = 0.02
        results = drive(server, steps, timeout=900)
        assert all("ok" in r for r in results), results[:2]
        serial_per = median([r["seconds"] for r in results[1:]])
        serial_total = serial_per * count
        env = server.env(_env(), http_timeout=19)
        r = launchops(repo, "apply", "--yes", "--backend", "wandb", "--parallel", "8", env=env, check=False)
        assert r.returncode == 0, r.stderr[-3000:]
        ours = r.seconds
        pushed = len([i for i in server.state.items]) if hasattr(server.state, "items") else None
    finally:
        server.stop()
    ratio = serial_total / ours
    note = (f"peer extrapolated: median of {serial_n} serial `launch_add` calls (job launches, after one warm-up "
            f"call) = {serial_per * 1000:.0f} ms/spec x {count}; ours: the whole `launchops apply --backend wandb "
            f"--parallel 8` (process start, plan, preflight of {len(jobs)} jobs, ledger commit)"
            + (f"; the server holds {pushed} items in all ({count} from apply, {serial_n + 1} from the peer)"
               if pushed is not None else ""))
    return Row(f"4. `apply` of {count} creates, wandb backend, 20 ms/request", fmt_s(ours),
               f"serial launch_add {fmt_s(serial_total)}", ratio, ">= 5x faster", ratio >= 5, note)


# ---- report ------------------------------------------------------------------------------------------

def machine() -> str:
    mem = "?"
    try:
        kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
        mem = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, AttributeError):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return (f"{os.cpu_count()} cores, {mem} RAM, Python {platform.python_version()}, {platform.platform()}; "
            f"load average {load:.1f} at the end of the run")


def table(rows: list[Row]) -> str:
    lines = ["| benchmark | figure | peer figure | ratio | target | result |", "|---|---|---|---|---|---|"]
    for r in rows:
        ratio = "" if r.ratio is None else f"{r.ratio:.3f}" if r.ratio < 1 else f"{r.ratio:.1f}"
        result = "" if r.ok is None else "pass" if r.ok else "FAIL"
        lines.append(f"| {r.name} | {r.figure} | {r.peer} | {ratio} | {r.target} | {result} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=(
        "Run the benchmarks of launchops against their peers, print a table (figure, peer figure, ratio, "
        "target, pass/fail) and, at full scale, rewrite the table in benchmarks/RESULTS.md. Takes ~10 minutes. "
        "Exit 1 when a target is missed."))
    parser.parse_args(argv)
    rows: list[Row] = []
    started = time.perf_counter()
    global CODE
    with tempfile.TemporaryDirectory(prefix="launchops-bench-") as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "reconciler", work / "code" / "reconciler",
                        ignore=shutil.ignore_patterns("__pycache__"))
        CODE = work / "code"
        subprocess.run([PY, "-m", "compileall", "-q", str(CODE)], check=True, env=_env())
        steps: list[Callable[[], None]] = [
            lambda: rows.append(bench_validate(work)),
            lambda: bench_shapes(work, rows),
            lambda: bench_fresh_clone(work, bench_plan_and_apply(work, rows), rows),
            lambda: bench_shard_size(work, rows),
            lambda: rows.append(bench_imports(work)),
            lambda: rows.append(bench_wandb(work)),
        ]
        for step in steps:
            before = len(rows)
            step()
            print("\n".join(table(rows[before:]).splitlines()[2:]), flush=True)
    rows.sort(key=lambda r: r.name)
    elapsed = time.perf_counter() - started
    report = table(rows)
    notes = "\n".join(f"- {r.name.split(' ')[0]} {r.note}" for r in rows if r.note)
    print()
    print(report)
    print(notes)
    print(f"\n{machine()}; whole run {elapsed:.0f} s")
    if SCALE == 1:
        results = HERE / "RESULTS.md"
        text = results.read_text(encoding="utf-8") if results.exists() else ""
        marker_start, marker_end = "<!-- bench:start -->", "<!-- bench:end -->"
        block = (f"{marker_start}\nMachine: {machine()}. Whole run: {elapsed:.0f} s. Medians of {REPEAT} runs "
                 f"unless noted.\n\n{report}\n\n{notes}\n{marker_end}")
        if marker_start in text:
            text = re.sub(re.escape(marker_start) + ".*?" + re.escape(marker_end), lambda _: block, text, flags=re.S)
        else:
            text = "# Benchmarks\n\n" + block + "\n"
        results.write_text(text, encoding="utf-8")
        print(f"wrote {results.relative_to(ROOT)}")
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
