"""Lifecycle rules beside "enqueue what is new or changed": withdraw and the blast radius.

- Withdraw (SPEC "Lifecycle"): when a spec changes or is removed, the item its earlier change left
  on the queue is deleted while it is still pending, so the superseded run never executes (Argo
  CD's prune, Terraform's replace). Only items launchops enqueued (they carry its marker; an adopted
  one never counts), never a schedule's slots (only its `concurrency: replace` may). `plan` reads
  no backend, so it can only say "withdraw (if still pending)"; apply reads the state before and
  after the delete (outcome_of).
- The blast radius: apply refuses a plan that would enqueue more than `max_enqueue` items, saying
  how many and why; `causes` names the `_defaults.yaml` edits that made many specs change at once.
Nothing here reads a backend or writes a file.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from reconciler.specs import DEFAULTS_NAMES, Spec

if TYPE_CHECKING:
    from reconciler.backends.base import QueuedRun
    from reconciler.ledger import Entry, Event, Ledger
    from reconciler.plan import Change, Plan
    from reconciler.problems import Problem

# `withdrawing`: the delete was journalled as about to happen; a kill may have cut it short, so the
# next apply reads the item again. It is as unsettled as `pending`.
WITHDRAWABLE = ("pending", "withdrawing")
KINDS_NEVER_WITHDRAWN = ("slot",)  # a schedule's items go only through its `concurrency: replace`


def withdraw_target(entry: Entry, superseded_by: str | None) -> Mapping[str, Any] | None:
    """The item a change supersedes and may withdraw: the entry's latest run that was not sent for
    `superseded_by` (None: a removal, which supersedes the latest run), when launchops enqueued it
    and the ledger last saw it pending. None when there is nothing to withdraw."""
    if entry.kind in KINDS_NEVER_WITHDRAWN:
        return None
    for run in reversed(entry.queued_runs):
        if superseded_by is not None and run.get("change") == superseded_by:
            continue  # an attempt of the new change itself
        launchops_own = isinstance(run.get("marker"), str) and not run.get("adopted")
        return run if launchops_own and run.get("state", "pending") in WITHDRAWABLE else None
    return None


@dataclass(frozen=True)
class Withdrawal:
    """What apply learnt withdrawing one item: the state to record, and what to tell people."""

    state: str | None  # recorded on the run (None: leave it as it is)
    note: str
    ok: bool = True  # False: the item is still queued and will run


def outcome_of(run_id: str, result: str, was: str | None) -> Withdrawal:
    """Judge one withdraw from what Backend.withdraw said (it reads the item before and after the
    delete). `was`: the state the ledger held; `withdrawing` when an earlier apply was stopped in
    the middle of this very withdraw."""
    if result == "withdrawn":
        return Withdrawal("withdrawn", f"withdrew {run_id} (it was still pending)")
    if result == "gone":
        if was == "withdrawing":  # that apply's delete landed; it was killed before recording it
            return Withdrawal("withdrawn", f"withdrew {run_id} (an interrupted apply had withdrawn it)")
        return Withdrawal("gone", f"{run_id} is not on the queue any more (nothing to withdraw)")
    if result == "unknown":  # left `withdrawing`: the next apply reads it again
        return Withdrawal(None, f"could not read {run_id} on the queue: not known to be withdrawn (the next apply "
                          "looks again)", ok=False)
    if result == "pending":  # read again after the delete, and still there
        return Withdrawal("pending", f"withdraw not honoured (state=pending): {run_id} is still queued", ok=False)
    return Withdrawal(result, f"kept {run_id}: it is {result} already, so it was not withdrawn (it will run)")


# ---- moves (Terraform's `moved` block) ----------------------------------------------------------------

@dataclass(frozen=True)
class Move:
    """One declared move: an id (or, ending in `/`, every id under a prefix) to another."""

    old: str
    new: str
    file: str  # where it was declared (the moves file, or the spec with moved_from)
    line: int  # 1-based; 0: the whole file


def parse_moves(text: str, rel: str) -> tuple[list[Move], list[Problem]]:
    """`<specs_dir>/_moved.yaml`: a list of {from, to}, each an id or a prefix ending in `/`."""
    import yaml

    from reconciler.problems import Problem

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return [], [Problem(rel, mark.line + 1 if mark else 0, mark.column + 1 if mark else 0,
                            f"not YAML: {getattr(exc, 'problem', exc)}")]
    if node is None:
        return [], []
    if not isinstance(node, yaml.SequenceNode):
        return [], [Problem(rel, node.start_mark.line + 1, node.start_mark.column + 1,
                            "the moves file is a list of {from: ID or PREFIX/, to: ID or PREFIX/}")]
    moves: list[Move] = []
    problems: list[Problem] = []
    for item in node.value:
        line, column = item.start_mark.line + 1, item.start_mark.column + 1
        pairs = ({k.value: v.value for k, v in item.value if isinstance(k, yaml.ScalarNode)}
                 if isinstance(item, yaml.MappingNode) else {})
        old, new = pairs.get("from"), pairs.get("to")
        if (not isinstance(old, str) or not isinstance(new, str) or not old or not new or set(pairs) != {"from", "to"}
                or old.endswith("/") != new.endswith("/")):
            problems.append(Problem(rel, line, column, "a move is {from: ID, to: ID} or {from: PREFIX/, to: PREFIX/}"))
            continue
        moves.append(Move(old, new, rel, line))
    return moves, problems


def resolve(declared: Sequence[Move], specs: Mapping[str, Spec], ledger: Ledger) -> tuple[dict[str, str],
                                                                                         list[Problem], list[Problem]]:
    """The moves to make (old id -> new id), the errors (each at its line) and the warnings.

    Errors: `from` still exists as a spec; `to` is not a spec, or already has a ledger entry of its
    own; two moves to one id; a cycle. A `from` with no ledger entry (the move was applied, or
    never needed) is a warning: that line is safe to delete."""
    from reconciler.problems import Problem

    declared_edges = {m.old: m.new for m in declared}  # a cycle is wrong whatever the ledger holds
    cycles = [m for m in declared if _cycle(m.old, declared_edges)]
    pairs, problems, warnings = _expand([m for m in declared if m not in cycles], ledger)
    problems += [Problem(m.file, m.line, 1, f"the moves of {m.old} go round in a cycle") for m in cycles]
    edges = {o: n for o, (n, _) in pairs.items()}
    targets: dict[str, Move] = {}
    for old, (new, move) in sorted(pairs.items()):
        problems.extend(_refused(old, new, move, targets.get(new), specs, ledger, edges))
        targets[new] = move
    return edges, sorted(set(problems)), warnings


def _expand(declared: Sequence[Move], ledger: Ledger) -> tuple[dict[str, tuple[str, Move]], list[Problem],
                                                                 list[Problem]]:
    """Each ledger id a move names (a prefix: every id under it), with the move that names it."""
    from reconciler.problems import Problem

    pairs: dict[str, tuple[str, Move]] = {}
    problems: list[Problem] = []
    warnings: list[Problem] = []
    for move in declared:
        if move.old.endswith("/"):
            found = {i: move.new + i[len(move.old):] for i in ledger.specs if i.startswith(move.old)}
        else:
            found = {move.old: move.new} if move.old in ledger.specs else {}
        if not found:
            warnings.append(Problem(move.file, move.line, 1, f"no ledger entry to move from {move.old!r} (the move is "
                                    "done, or was never needed): this line is safe to delete", warning=True))
        for old, new in found.items():
            if old in pairs:
                other = pairs[old][1]
                problems.append(Problem(move.file, move.line, 1, f"{old} is moved twice ({other.file}:{other.line} "
                                        "moves it too)"))
            pairs[old] = (new, move)
    return pairs, problems, warnings


def _refused(old: str, new: str, move: Move, other: Move | None, specs: Mapping[str, Spec], ledger: Ledger,
             edges: Mapping[str, str]) -> list[Problem]:
    """Why this move of one ledger id cannot be made (empty: it can)."""
    from reconciler.problems import Problem

    out = []
    if other is not None:
        out.append(f"two moves to {new} (the other at {other.file}:{other.line})")
    if old in specs:
        out.append(f"cannot move {old} to {new}: {old} still exists as a spec (delete or rename it first)")
    elif new not in specs:
        out.append(f"cannot move {old} to {new}: there is no spec {new}")
    elif new in ledger.specs and new not in edges and ledger.specs[new].status != "removed":
        out.append(f"cannot move {old} onto {new}: {new} has a ledger entry of its own")
    return [Problem(move.file, move.line, 1, message) for message in out]


def _cycle(start: str, edges: Mapping[str, str]) -> bool:
    seen = {start}
    at = edges.get(start)
    while at is not None:
        if at in seen:
            return at == start
        seen.add(at)
        at = edges.get(at)
    return False


def moved(ledger: Ledger, moves: Mapping[str, str], specs: Mapping[str, Spec]) -> tuple[Ledger, list[Change]]:
    """The ledger as it is after the moves (each entry, its history and its change identity under
    its new id, in its new file's shard) and one `move` change per move; the plan then compares
    digests as for any entry: the same digest enqueues nothing, another is an update."""
    from reconciler.plan import Action, Change

    entries = dict(ledger.specs)
    changes: list[Change] = []
    for old, new in sorted(moves.items()):
        entry = ledger.specs.get(old)
        spec = specs.get(new)
        if entry is None or spec is None:
            continue
        entries.pop(old, None)
        entries[new] = replace(entry, source=spec.source)
        changes.append(Change(new, Action.MOVE, spec.source, entry.digest, entry.change, entry.launch,
                              prior_status=entry.status, reason=f"move {old} → {new}", previous=entry.previous,
                              marker=entry.marker, moved_from=old, moved_source=entry.source))
    return replace(ledger, specs=entries), changes


def rename_hints(changes: Sequence[Change]) -> tuple[str, ...]:
    """A remove and a create of one digest in one plan: probably a rename without moved_from."""
    from reconciler.plan import Action

    gone: dict[str, str] = {}
    for c in sorted(changes, key=lambda c: c.id):
        if c.action is Action.REMOVE:
            gone.setdefault(c.digest, c.id)  # the first by id: deterministic
    return tuple(f"{c.id} looks like a rename of {gone[c.digest]}; add moved_from: [{gone[c.digest]}] to its spec "
                 "(or a line to the moves file) to keep its history instead of enqueueing it again"
                 for c in changes if c.action is Action.CREATE and c.digest in gone)


# ---- lifecycle: {protect, withdraw} of a removed spec -------------------------------------------------

def guarded(plan: Plan, last: Mapping[str, Mapping[str, Any]]) -> Plan:
    """The plan with each removal held to the `lifecycle:` its spec had last (`last`: id -> that
    mapping, read from git since the file is gone): `protect: true` is an error naming the spec,
    `withdraw: false` keeps its item. Raise LifecycleError when a protected spec would go."""
    from reconciler.plan import Action

    removed = sorted(f"{c.id} has lifecycle.protect: it would be removed" for c in plan.changes
                     if c.action is Action.REMOVE and last.get(c.id, {}).get("protect"))
    moved = sorted(f"{c.moved_from} has lifecycle.protect: it would be moved to {c.id}" for c in plan.changes
                   if c.action is Action.MOVE and c.moved_from and last.get(c.moved_from, {}).get("protect"))
    if removed or moved:
        raise LifecycleError("; ".join(removed + moved) + ". Put its spec back, or remove `protect: true` in a commit "
                             "of its own first, then remove or move it; nothing was enqueued")
    changes = tuple(replace(c, withdraw=None) if c.action is Action.REMOVE and c.withdraw
                    and last.get(c.id, {}).get("withdraw") is False else c for c in plan.changes)
    return replace(plan, changes=changes)


def lifecycle_of(texts: Iterable[str], spec_id: str, default_id: str) -> Mapping[str, Any]:
    """The `lifecycle:` mapping of the document that declared `spec_id` (a matrix cell: its spec)
    in a spec file's text, as it was; empty when there is none or the text does not parse."""
    import yaml

    base = spec_id.split("[", 1)[0]
    for text in texts:
        try:
            docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
        except yaml.YAMLError:
            continue
        for doc in docs:  # the first text that declares the id says it (a later one is older)
            if doc.get("id", default_id) in (spec_id, base):
                own = doc.get("lifecycle")
                return dict(own) if isinstance(own, dict) else {}
    return {}


# ---- apply --replace ---------------------------------------------------------------------------------

def replaces(changes: list[Change], unchanged: int, specs: Mapping[str, Any], ledger: Ledger,
             ids: Sequence[str]) -> tuple[list[Change], int]:
    """Terraform's `-replace`: each named spec that is applied and unchanged is enqueued again, as
    a change of kind `replace` (its own identity, so its own marker). A spec the plan already
    enqueues, or whose last attempt is unsettled, needs no replace and is left as planned."""
    from reconciler.ledger import identity
    from reconciler.plan import Action, Change

    planned = {c.id for c in changes}
    out = list(changes)
    for spec_id in sorted(set(ids)):
        spec, entry = specs.get(spec_id), ledger.specs.get(spec_id)
        if (spec is None or entry is None or spec_id in planned or entry.status != "applied"
                or entry.digest != spec.digest):
            continue
        out.append(Change(spec_id, Action.REPLACE, spec.source, spec.digest,
                          identity("replace", spec_id, entry.basis, spec.digest), spec.launch,
                          prior_status=entry.status, previous=entry.basis,
                          reason="apply --replace: enqueued again although its digest did not change"))
        unchanged -= 1
    return sorted(out, key=lambda c: c.id), unchanged


def unknown_replaces(ids: Sequence[str], specs: Mapping[str, Any]) -> str | None:
    """Why `--replace` cannot be done, or None: every id must be a spec."""
    missing = sorted({i for i in ids if i not in specs})
    if not missing:
        return None
    return f"--replace: there is no spec {', '.join(missing)} (ids are as plan shows them); nothing was enqueued"


# ---- launchops forget and adopt ------------------------------------------------------------------------

class LifecycleError(Exception):
    """A lifecycle verb cannot be done as asked; nothing was written. The message says why."""


def forgotten(ledger: Ledger, ids: Sequence[str], force: bool) -> tuple[Ledger, str]:
    """Terraform's `state rm`: the ledger without these entries, and the commit message listing every
    QueuedRun ID dropped. Each id's last identity stays in `forgotten`, so a spec added again is a
    new change. No queue item is touched. An uncertain entry (`pending`, `unknown`: its item may be
    on the queue with no ID recorded) is refused without `force`."""
    from reconciler.ledger import UNCERTAIN

    missing = sorted({i for i in ids if i not in ledger.specs})
    if missing:
        raise LifecycleError(f"forget: the ledger has no entry {', '.join(missing)}; nothing was written")
    unsure = sorted(i for i in set(ids) if ledger.specs[i].status in UNCERTAIN)
    if unsure and not force:
        raise LifecycleError("forget: " + ", ".join(f"{i} is {ledger.specs[i].status}" for i in unsure)
                             + " (an attempt that may have enqueued an item whose ID is not recorded yet): run apply "
                             "to resolve it first, or pass --force to drop it anyway; nothing was written")
    specs = {k: e for k, e in ledger.specs.items() if k not in ids}
    kept = dict(ledger.forgotten)
    lines = []
    for spec_id in sorted(set(ids)):
        entry = ledger.specs[spec_id]
        if entry.basis:
            kept[spec_id] = entry.basis
        runs = ", ".join(str(r.get("id")) for r in entry.queued_runs) or "no QueuedRun"
        lines.append(f"{spec_id} -> forgotten ({entry.status}; dropped {runs})")
    count = len(set(ids))
    message = (f"launchops: forget {count} entr{'y' if count == 1 else 'ies'} [skip ci]\n\n"
               "No queue item was touched; git history keeps what was dropped.\n\n" + "\n".join(lines) + "\n")
    return replace(ledger, specs=specs, forgotten=kept), message


def adopt_request(spec: Spec, queued_run: str, backend: str) -> QueuedRun:
    """The item `launchops adopt` looks for: the id given, on the queue the spec's launch names."""
    from reconciler.backends.base import QueuedRun, utc_now

    launch = spec.launch
    return QueuedRun(id=queued_run, backend=backend, queue_name=launch.get("queue_name") or "default",
                     entity=launch.get("entity"), project_queue=launch.get("project_queue") or "model-registry",
                     priority=launch.get("priority"), digest=spec.digest, enqueued_at=utc_now(),
                     extra={"project": launch.get("project")} if launch.get("project") else {})


def adopt_events(spec: Spec, ledger: Ledger, found: QueuedRun | None, queued_run: str,
                 commit: str | None) -> tuple[list[Event], str]:
    """Terraform's `import`: the events that record `found` as the applied state of the spec's
    current digest (a change of its own when the digest is new to the ledger), marked `adopted`
    so that no withdraw ever touches it, and the commit message. Nothing is enqueued."""
    from reconciler.ledger import UNCERTAIN, Event, identity, intent

    if found is None:
        queue = spec.launch.get("queue_name") or "default"
        raise LifecycleError(f"adopt: there is no queue item {queued_run} on the queue {queue!r} that {spec.id} "
                             "names; nothing was recorded")
    entry = ledger.specs.get(spec.id)
    if entry is not None and entry.status in UNCERTAIN:
        raise LifecycleError(f"adopt: {spec.id} is {entry.status} (an attempt whose item may be on the queue): run "
                             "apply to resolve it first; nothing was recorded")
    if entry is not None and any(r.get("id") == found.id for r in entry.queued_runs):
        raise LifecycleError(f"adopt: {found.id} is recorded for {spec.id} already; nothing was recorded")
    run = {**found.to_json(), "adopted": True, "digest": spec.digest}
    events: list[Event] = []
    if entry is not None and entry.status == "applied" and entry.digest == spec.digest:
        change = entry.change
    else:
        basis = ledger.basis(spec.id)
        change = identity("change", spec.id, basis, spec.digest)
        events.append(intent(spec.id, change, basis, spec.digest, spec.source, spec.launch, commit, None))
    events.append(Event("enqueued", spec.id, change, {"queued_run": run}))
    message = (f"launchops: adopt {found.id} for {spec.id} [skip ci]\n\nNothing was enqueued: the item was on the "
               f"queue already ({found.state}).\n\n{spec.id} -> {found.id} (adopted)\n")
    return events, message


# ---- the blast radius ----------------------------------------------------------------------------

def enqueue_count(plan: Plan) -> int:
    """What counts against max_enqueue: creates and updates (and replaces), and the slots of a schedule
    that has taken none before; retries and the slots of schedules already applied do not."""
    from reconciler.plan import Action

    return sum(1 for c in plan.changes if c.action in (Action.CREATE, Action.UPDATE, Action.REPLACE)
               or (c.action is Action.SLOT and c.prior_status is None))


@dataclass(frozen=True)
class Cause:
    """Specs that change because one `_defaults.yaml` changed these fields."""

    file: str  # repository-relative path of the _defaults.yaml
    paths: tuple[str, ...]  # dotted, starting at `launch`
    ids: tuple[str, ...]

    def sentence(self) -> str:
        count = len(self.ids)
        return (f"{count} spec{'s' if count != 1 else ''} change{'s' if count == 1 else ''} because {self.file} "
                f"changed {', '.join(self.paths)}")


def causes(changes: Sequence[Change], defaults: Mapping[str, Mapping[str, Any]],
           own: Mapping[str, Iterable[Mapping[str, Any]]]) -> list[Cause]:
    """Group updates by the `_defaults.yaml` whose fields they changed.

    `defaults`: each `_defaults.yaml` (repository-relative) -> its document; `own`: each spec file
    -> its documents. A changed field is the defaults' doing when the spec file does not set it and
    the nearest `_defaults.yaml` above the spec that sets it (now) is that file."""
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for change in changes:
        if change.action.value != "update" or not change.diff:
            continue
        found: dict[str, list[str]] = {}
        for d in change.diff:
            file = _setter(d.parts, change.source, defaults, own.get(change.source, ()))
            if file is None:
                found = {}
                break  # part of the change is the spec's own: it is not the defaults' alone
            found.setdefault(file, []).append(d.path)
        if len(found) == 1:
            (file, paths), = found.items()
            groups.setdefault((file, tuple(sorted(set(paths)))), []).append(change.id)
    out = [Cause(file, paths, tuple(sorted(ids))) for (file, paths), ids in groups.items()]
    return sorted(out, key=lambda c: (-len(c.ids), c.file, c.paths))


def _setter(parts: tuple[str | int, ...], source: str, defaults: Mapping[str, Mapping[str, Any]],
            docs: Iterable[Mapping[str, Any]]) -> str | None:
    if any(_sets(doc, parts) for doc in docs):
        return None
    folder = PurePosixPath(source).parent
    for above in (folder, *folder.parents):
        for base in DEFAULTS_NAMES:
            name = (above / base).as_posix()
            if name in defaults and _sets(defaults[name], parts):
                return name
    return None


def _sets(doc: Any, parts: tuple[str | int, ...]) -> bool:
    """Whether `doc` sets the field at `parts` (or a mapping above it that replaces it)."""
    node = doc
    for part in parts:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
        if not isinstance(node, Mapping):
            return True  # a list or scalar replaces everything below it
    return True


def refusal(plan: Plan, limit: int, found: Sequence[Cause]) -> str | None:
    """Why apply refuses this plan (max_enqueue), or None."""
    count = enqueue_count(plan)
    if count <= limit:
        return None
    why = "; ".join(c.sentence() for c in found[:3]) or "that many specs are new or changed"
    return (f"this plan would enqueue {count} items, more than max_enqueue ({limit}): {why}. If that is meant, "
            f"run apply --max-enqueue {count} (or raise the setting max_enqueue); nothing was enqueued")
