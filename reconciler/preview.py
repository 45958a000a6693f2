"""Pull-request preview launches: run what a pull request changes before it merges, clean up after.

The preview ledger lives on the orphan branch `launchops/previews` (never checked out, never
merged): `_previews.json` holds the repository id, `pr-N/ledger.json` one pull request's entries.
Main's ledger is never read for writing and never written: a preview never counts as applied.

The order of writes is main's (reconciler.apply): the intents (`pending` entries, with the
marker each send carries) are committed and pushed compare-and-swap before anything is enqueued;
then each item is sent (a `pending` or `unknown` entry is first looked up by its marker and
adopted when found); then the outcomes are committed and pushed. A run that dies in between
leaves `pending` entries that the next run adopts instead of sending again. Only one run per pull
request goes at a time (the workflow's concurrency group); runs of different pull requests write
different folders, so a push that lost a race is made again on the new tip.

A preview's change identity has kind `preview:pr-N`, so it never equals main's, and its marker
reads `lo-pr-N-<repository id's first 8 hex>-<hash>`: `cleanup` and `sweep` find a pull
request's items on the queue by that marker, also when this branch was lost or rewritten.
"""
from __future__ import annotations

import hashlib
import json
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reconciler import ledger as ledger_mod
from reconciler.backends import Backend, BackendError, EnqueueFailed, EnqueueRequest, QueuedRun
from reconciler.checks import SOURCE_KEYS
from reconciler.gitrepo import GitError, Repo
from reconciler.settings import Settings
from reconciler.specs import Spec, SpecSet, deep_merge, digest_of, load_specs

BRANCH = "launchops/previews"
REF = f"refs/heads/{BRANCH}"
META = "_previews.json"
VERSION = 1
MARKER = re.compile(r"^lo-pr-(\d+)-([0-9a-f]{8})-")
ATTEMPTS = 20  # pushes that lose a race to another pull request's run before giving up


class PreviewError(Exception):
    """An expected failure; the message says what to do. Nothing was enqueued unless it says so."""


def marker(repository: str, pr: int, change: str) -> str:
    return f"lo-pr-{pr}-{repository[:8]}-" + hashlib.sha256(f"{repository}\0{change}".encode()).hexdigest()[:24]


def preview_launch(spec: Spec) -> dict[str, Any]:
    """The spec's launch with its `preview:` mapping deep-merged over it."""
    from reconciler.checks import normalise

    return normalise(deep_merge(spec.launch, spec.preview)) if spec.preview else dict(spec.launch)


# ---- the preview ledger ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Record:
    """One pull request's preview ledger (`pr-N/ledger.json`)."""

    pr: int
    state: str = "open"  # open | closed
    head: str | None = None
    base: str | None = None
    specs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def files(self, repository: str) -> dict[str, str]:
        """What the branch holds for it: the repository id, and this ledger."""
        return {META: ledger_mod.dumps({"version": VERSION, "repository": repository}),
                _path(self.pr): ledger_mod.dumps({"version": VERSION, "pr": self.pr, "state": self.state,
                                                  "head": self.head, "base": self.base,
                                                  "specs": {k: dict(v) for k, v in sorted(self.specs.items())}})}


def _path(pr: int) -> str:
    return f"pr-{pr}/ledger.json"


def _read_record(files: Mapping[str, str], pr: int) -> Record:
    text = files.get(_path(pr))
    if text is None:
        return Record(pr)
    try:
        data = json.loads(text)
        return Record(pr, str(data.get("state") or "open"), data.get("head"), data.get("base"),
                      dict(data.get("specs") or {}))
    except (ValueError, AttributeError):
        raise PreviewError(f"{BRANCH}:{_path(pr)} is not a preview ledger (edited by hand?); restore it from the "
                           "branch's history") from None


@dataclass
class Branch:
    """The preview branch as one run sees it: where it is, and the files it holds."""

    repo: Repo
    remote: str | None
    tip: str | None = None
    files: dict[str, str] = field(default_factory=dict)

    def load(self) -> None:
        self.tip = self.repo.remote_tip(self.remote, BRANCH) if self.remote else self.repo.resolve(REF)
        self.files = self.repo.files_at(self.tip, ["."]) if self.tip else {}

    def repository(self, settings: Settings) -> str:
        """Main's repository id when it has one (its markers share it), else this branch's own."""
        try:
            main = ledger_mod.load(settings).repository
        except ledger_mod.LedgerError:
            main = None
        if main:
            return main
        try:
            return str(json.loads(self.files.get(META, "{}")).get("repository") or "") or ledger_mod.new_repository_id()
        except ValueError:
            return ledger_mod.new_repository_id()

    def publish(self, changed: Mapping[str, str], message: str) -> bool:
        """Commit `changed` on the tip and move the branch there, compare-and-swap; False when it
        moved meanwhile (load again)."""
        commit = self.repo.commit_files(self.tip, dict(changed), message)
        if self.remote:
            if not self.repo.push_commit(self.remote, commit, BRANCH):
                return False
            self.repo.set_ref(REF, commit, self.repo.resolve(REF))  # a local copy to read; the remote is the truth
        elif not self.repo.set_ref(REF, commit, self.tip):
            return False
        self.tip = commit
        self.files.update(changed)
        return True


def _branch(settings: Settings, remote: str | None) -> Branch:
    try:
        repo = Repo(settings.root)
        if remote is not None and remote not in repo.remotes():
            remote = None  # a clone without the remote: the local branch is the preview ledger
        branch = Branch(repo, remote)
        branch.load()
    except GitError as exc:
        raise PreviewError(str(exc)) from None
    return branch


def _save(branch: Branch, ours: Record, repository: str, message: str) -> None:
    """Write `ours` (and the repository id) onto the branch; on a lost race, again on the new tip,
    with every QueuedRun ID the tip's copy has that ours lacks."""
    record = ours
    for _ in range(ATTEMPTS):
        try:
            if branch.publish(record.files(repository), message):
                return
            branch.load()
        except GitError as exc:
            raise PreviewError(str(exc)) from None
        specs = {k: dict(v) for k, v in ours.specs.items()}
        for spec_id, entry in _read_record(branch.files, ours.pr).specs.items():
            mine = specs.setdefault(spec_id, dict(entry))
            known = {r.get("id") for r in mine.get("queued_runs", [])}
            mine["queued_runs"] = [*mine.get("queued_runs", []),
                                   *(r for r in entry.get("queued_runs", []) if r.get("id") not in known)]
        record = replace(ours, specs=specs)
    raise PreviewError(f"{BRANCH} kept moving: {ATTEMPTS} pushes lost their race; run it again")


# ---- what a pull request changes -------------------------------------------------------------------

def _specs_at(settings: Settings, repo: Repo, commit: str) -> SpecSet:
    """The specs as `commit` holds them (read from git, not the work tree)."""
    files = repo.files_at(commit, [settings.specs_dir])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text, encoding="utf-8", newline="")
        (root / settings.specs_dir).mkdir(parents=True, exist_ok=True)
        return load_specs(replace(settings, root=root))


@dataclass(frozen=True)
class Candidate:
    """A spec a pull request may preview."""

    id: str
    source: str
    launch: Mapping[str, Any]
    digest: str
    matrix: str | None = None  # the matrix spec a cell belongs to


@dataclass
class Outcome:
    """What one preview command did; `failed` makes it exit 1."""

    pr: int | None = None
    enqueued: list[tuple[str, str]] = field(default_factory=list)  # (id, QueuedRun ID)
    adopted: list[tuple[str, str]] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    left_out: list[tuple[str, str]] = field(default_factory=list)  # (id, why)
    withdrawn: list[tuple[str, str]] = field(default_factory=list)  # (id or pr-N, QueuedRun ID)
    running: list[tuple[str, str, str]] = field(default_factory=list)  # (id or pr-N, QueuedRun ID, state)
    failed: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"format_version": 1, "pr": self.pr,
                "enqueued": [{"id": i, "queued_run": q} for i, q in self.enqueued],
                "adopted": [{"id": i, "queued_run": q} for i, q in self.adopted],
                "unchanged": self.unchanged, "left_out": [{"id": i, "reason": r} for i, r in self.left_out],
                "withdrawn": [{"id": i, "queued_run": q} for i, q in self.withdrawn],
                "running": [{"id": i, "queued_run": q, "state": s} for i, q, s in self.running],
                "failed": [{"id": i, "error": e} for i, e in self.failed], "notes": self.notes}


def changed(settings: Settings, repo: Repo, base: str, head: str) -> tuple[list[Candidate], list[str]]:
    """Specs whose effective preview launch differs between `base` and `head`, by id; and the
    problems that stop a preview (invalid specs at head, a preview launch that is not one)."""
    at_head = _specs_at(settings, repo, head)
    if not at_head.valid:
        return [], [f"{p.file}:{p.line}:{p.column}: {p.message}" for p in at_head.problems]
    at_base = _specs_at(settings, repo, base)
    before = {k: digest_of(preview_launch(s)) for k, s in at_base.specs.items()}
    out: list[Candidate] = []
    problems: list[str] = []
    for spec_id, spec in at_head.specs.items():
        launch = preview_launch(spec)
        digest = digest_of(launch)
        if before.get(spec_id) == digest:
            continue
        given = [k for k in SOURCE_KEYS if k in launch]
        if len(given) != 1:
            problems.append(f"{spec.source}: {spec_id}: its preview launch needs exactly one of job, docker_image "
                            f"or uri (found {' and '.join(given) or 'none'})")
            continue
        out.append(Candidate(spec_id, spec.source, launch, digest, spec.matrix))
    return out, problems


def select(candidates: Sequence[Candidate], matrix: str, cap: int) -> tuple[list[Candidate], list[tuple[str, str]]]:
    """The matrix policy, then the cap, in id order; what was left out, each with why."""
    chosen: list[Candidate] = []
    left: list[tuple[str, str]] = []
    taken: set[str | None] = set()
    for cand in sorted(candidates, key=lambda c: c.id):
        parent = cand.matrix
        if parent is not None and matrix == "none":
            left.append((cand.id, "a matrix cell (preview.matrix = none)"))
        elif parent is not None and matrix == "first" and parent in taken:
            left.append((cand.id, "not the matrix's lowest cell (preview.matrix = first)"))
        else:
            taken.add(parent)  # None too: only a cell's parent is ever looked up
            chosen.append(cand)
    left += [(c.id, f"over preview.max_launches ({cap})") for c in chosen[cap:]]
    return chosen[:cap], sorted(left)


# ---- the commands --------------------------------------------------------------------------------

def apply(settings: Settings, pr: int, base: str, backend: Backend, remote: str | None = "origin") -> Outcome:
    """`launchops preview apply --pr N`: enqueue what this head changes, once per change."""
    result = Outcome(pr)
    if not settings.preview.enabled:
        result.notes.append("preview launches are off (set enabled = true in [preview]); nothing was enqueued")
        return result
    branch = _branch(settings, remote)
    repo = branch.repo
    head, base_commit = repo.resolve("HEAD"), repo.resolve(base)
    if head is None or base_commit is None:
        raise PreviewError(f"cannot find {'HEAD' if head is None else base} in this clone: fetch the pull request's "
                           "base branch (actions/checkout with fetch-depth: 0), or name it with --base")
    merge_base = repo.merge_base(base_commit, head) or base_commit
    candidates, problems = changed(settings, repo, merge_base, head)
    if problems:
        raise PreviewError("nothing was enqueued: " + "; ".join(problems))
    chosen, result.left_out = select(candidates, settings.preview.matrix, settings.preview.max_launches)
    for _ in range(ATTEMPTS):
        repository = branch.repository(settings)
        record, work = _plan(branch, pr, chosen, repository, head, merge_base, result)
        gone = _reverted(record, {c.id for c in candidates})
        if not work and _read_record(branch.files, pr) == record:
            return result
        try:
            if branch.publish(record.files(repository),
                              f"launchops: preview intents for pull request #{pr} at {head[:12]}"):
                break
            branch.load()
        except GitError as exc:
            raise PreviewError(f"{exc}; nothing was enqueued") from None
    else:
        raise PreviewError(f"{BRANCH} kept moving: {ATTEMPTS} pushes lost their race; nothing was enqueued")
    _carry_out(backend, record, work, gone, result)
    lines = [f"{i} -> {q}" for i, q in result.enqueued + result.adopted]
    _save(branch, record, repository, f"launchops: preview of pull request #{pr} at {head[:12]}\n\n"
          + "\n".join(lines) + "\n")
    return result


def _carry_out(backend: Backend, record: Record, work: Sequence[tuple[Candidate, dict[str, Any], bool]],
               gone: Sequence[str], result: Outcome) -> None:
    """Send the intents, then withdraw the pending items of the specs this head reverted."""
    for cand, entry, look_up in work:
        if not _send(backend, cand, entry, look_up, result):
            break
    for spec_id in gone:
        runs = record.specs[spec_id]["queued_runs"]
        for i, run in enumerate(runs):
            if run.get("state") == "pending":
                _withdraw_run(backend, spec_id, runs, i, result)


def _reverted(record: Record, differ: set[str]) -> list[str]:
    """Entries whose spec no longer differs from the base (reverted, or deleted, in a later head):
    marked `removed` (the same preview again later is a new change), and those whose run may still
    be pending, to withdraw it."""
    gone = []
    for spec_id, entry in sorted(record.specs.items()):
        if spec_id in differ or entry.get("status") not in ("applied", "removed"):
            continue
        assert isinstance(entry, dict)
        entry["status"] = "removed"
        if any(r.get("state") == "pending" for r in entry.get("queued_runs", [])):
            gone.append(spec_id)
    return gone


def _plan(branch: Branch, pr: int, chosen: Sequence[Candidate], repository: str, head: str, merge_base: str,
          result: Outcome) -> tuple[Record, list[tuple[Candidate, dict[str, Any], bool]]]:
    """The record with this head's intents, and the work: (candidate, its entry, look it up by
    marker first). An applied entry of the same digest is unchanged; a `pending`, `unknown` or
    `failed` one is retried under its identity; anything else is a new change."""
    kind = f"preview:pr-{pr}"
    result.unchanged = []
    record = _read_record(branch.files, pr)
    specs = {k: dict(v) for k, v in record.specs.items()}
    work: list[tuple[Candidate, dict[str, Any], bool]] = []
    for cand in chosen:
        entry = specs.get(cand.id)
        if entry is not None and entry.get("digest") == cand.digest:
            if entry.get("status") == "applied":
                result.unchanged.append(cand.id)
                continue
            if entry.get("status") in ledger_mod.RETRYABLE:
                work.append((cand, entry, entry["status"] != "failed"))
                continue
        previous = None if entry is None else (entry.get("previous") if entry.get("status") == "failed"
                                                else entry.get("change"))
        change = ledger_mod.identity(kind, cand.id, previous, cand.digest)
        new = {"digest": cand.digest, "launch": dict(cand.launch), "source": cand.source, "status": "pending",
               "change": change, "previous": previous, "kind": kind, "marker": marker(repository, pr, change),
               "queued_runs": list((entry or {}).get("queued_runs", []))}
        specs[cand.id] = new
        work.append((cand, new, False))
    return Record(pr, "open", head, merge_base, specs), work


def _send(backend: Backend, cand: Candidate, entry: dict[str, Any], look_up: bool, result: Outcome) -> bool:
    """Enqueue one intent (or adopt what an earlier try left); records the outcome in `entry`.
    False when the backend cannot be used at all: the rest stay pending for the next run."""
    request = EnqueueRequest(cand.id, cand.digest, entry["marker"], cand.launch)
    _supersede(backend, cand.id, entry, result)
    try:
        found = backend.find(request) if look_up else []
        run = found[0] if found else backend.enqueue(request)
    except EnqueueFailed as exc:
        entry.update(status="unknown" if exc.uncertain else "failed", error=str(exc))
        result.failed.append((cand.id, str(exc)))
        return True
    except BackendError as exc:
        entry.update(status="failed", error=str(exc))
        result.failed.append((cand.id, str(exc)))
        return False
    entry.pop("error", None)
    entry["status"] = "applied"
    entry["queued_runs"] = [*entry["queued_runs"], {**run.to_json(), "change": entry["change"]}]
    (result.adopted if found else result.enqueued).append((cand.id, run.id))
    return True


def _supersede(backend: Backend, spec_id: str, entry: dict[str, Any], result: Outcome) -> None:
    """A new change of an id withdraws the earlier change's item while it is still pending."""
    runs = entry.get("queued_runs", [])
    for i, run in enumerate(runs):
        if run.get("change") != entry["change"] and run.get("state") == "pending":
            _withdraw_run(backend, spec_id, runs, i, result)


def _withdraw(backend: Backend, name: str, run: QueuedRun, result: Outcome) -> str:
    """Withdraw one item; report it withdrawn, or running in the state that kept it (gone is neither)."""
    outcome = backend.withdraw(run)
    if outcome == "withdrawn":
        result.withdrawn.append((name, str(run.id)))  # str: a ledger edited by hand may hold any id
    elif outcome != "gone":
        result.running.append((name, str(run.id), outcome))
    return outcome


def _withdraw_run(backend: Backend, name: str, runs: list[Mapping[str, Any]], i: int, result: Outcome) -> None:
    runs[i] = {**runs[i], "state": _withdraw(backend, name, QueuedRun.from_json(runs[i]), result)}


def _queues(settings: Settings, branch: Branch) -> list[Mapping[str, Any]]:
    """Every queue a preview item may sit on: those of the runs the branch records, and those the
    specs' preview launches name now (the branch may be gone)."""
    launches: list[Mapping[str, Any]] = []
    for name, text in branch.files.items():
        if not name.endswith("/ledger.json"):
            continue
        try:
            specs = json.loads(text).get("specs") or {}
        except ValueError:
            continue
        launches += (entry.get("launch") or {} for entry in specs.values())
    launches += (preview_launch(spec) for spec in load_specs(settings).specs.values())
    seen = {(q.get("entity"), q.get("project_queue"), q.get("queue_name")): q for q in launches}
    return [seen[k] for k in sorted(seen, key=lambda k: tuple(str(x) for x in k))]


def _scan(settings: Settings, branch: Branch, backend: Backend, repository: str,
          wanted: Callable[[int], bool], result: Outcome) -> None:
    """Withdraw every still-pending preview item of this repository on the queues whose pull
    request `wanted` names; report the ones already taken."""
    seen: set[str] = set()
    for queue in _queues(settings, branch):
        try:
            items = backend.marked(queue, "lo-pr-")
        except (EnqueueFailed, BackendError) as exc:
            result.failed.append((str(queue.get("queue_name") or "default"), str(exc)))
            continue
        for run in items:
            found = MARKER.match(run.marker or "")
            if not found or found.group(2) != repository[:8] or not wanted(int(found.group(1))) or run.id in seen:
                continue
            seen.add(run.id)
            name = f"pr-{found.group(1)}"
            if run.state == "pending":
                _withdraw(backend, name, run, result)
            elif run.state not in ("withdrawn", "finished", "failed", "crashed", "stopped"):
                result.running.append((name, run.id, run.state))


def _close(branch: Branch, repository: str, prs: Iterable[int], withdrawn: set[str]) -> None:
    """Mark each pull request closed on the branch, with the withdrawn items' state recorded."""
    for pr in sorted(set(prs)):
        record = _read_record(branch.files, pr)
        specs = {k: {**v, "queued_runs": [{**r, "state": "withdrawn"} if r.get("id") in withdrawn else r
                                          for r in v.get("queued_runs", [])]} for k, v in record.specs.items()}
        closed = replace(record, state="closed", specs=specs)
        if closed != record:
            _save(branch, closed, repository, f"launchops: preview of pull request #{pr} closed\n")


def _idle(settings: Settings, branch: Branch, result: Outcome) -> bool:
    """Previews are off and none was ever recorded: nothing to clean, and no reason to ask the queue
    (the sync workflow sweeps in every repository)."""
    if settings.preview.enabled or branch.tip is not None:
        return False
    result.notes.append("preview launches are off and none is recorded; nothing to clean up")
    return True


def cleanup(settings: Settings, pr: int, backend: Backend, remote: str | None = "origin") -> Outcome:
    """`launchops preview cleanup --pr N`: withdraw what is still pending, report what runs, mark
    the pull request closed. Running it again changes nothing."""
    result = Outcome(pr)
    branch = _branch(settings, remote)
    if _idle(settings, branch, result):
        return result
    repository = branch.repository(settings)
    _scan(settings, branch, backend, repository, lambda n: n == pr, result)
    _close(branch, repository, [pr] if _path(pr) in branch.files else [], {q for _, q in result.withdrawn})
    return result


def sweep(settings: Settings, open_prs: Sequence[int], backend: Backend, remote: str | None = "origin") -> Outcome:
    """`launchops preview sweep --open N,M,…`: clean up every pull request not in the list."""
    result = Outcome()
    branch = _branch(settings, remote)
    if _idle(settings, branch, result):
        return result
    repository = branch.repository(settings)
    keep = set(open_prs)
    _scan(settings, branch, backend, repository, lambda n: n not in keep, result)
    recorded = {int(m.group(1)) for name in branch.files if (m := re.match(r"^pr-(\d+)/ledger\.json$", name))}
    stale = {pr for pr in recorded if pr not in keep and _read_record(branch.files, pr).state != "closed"}
    stale |= {int(n[3:]) for n, _ in result.withdrawn if int(n[3:]) in recorded}
    _close(branch, repository, stale, {q for _, q in result.withdrawn})
    return result
