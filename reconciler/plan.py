"""A plan is a value: what apply would do, computed from files alone (no backend, no writes).

Desired specs and ledger entries are paired by id first (a missing side means create or remove),
then compared by digest, then classified. Field diffs explain an update; they never drive it.
"""
from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING, Any

from reconciler.ledger import RETRYABLE, Ledger, identity
from reconciler.problems import dotted

if TYPE_CHECKING:
    from reconciler.lifecycle import Cause
    from reconciler.schedule import Upkeep
    from reconciler.specs import Spec


class Action(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    RETRY = "retry"
    REMOVE = "remove"
    SLOT = "slot"  # a schedule's slot fell due (reconciler.schedule)
    REPLACE = "replace"  # apply --replace: enqueued again although its digest did not change
    MOVE = "move"  # an entry and its history go to a new id (moved_from, the moves file)

    @property
    def enqueues(self) -> bool:
        return self not in (Action.REMOVE, Action.MOVE)


@dataclass(frozen=True)
class FieldDiff:
    """One field of a launch that changes."""

    parts: tuple[str | int, ...]  # ("launch", "config", …)
    old: Any  # None where the field was absent
    new: Any

    @property
    def path(self) -> str:
        return dotted(self.parts)


@dataclass(frozen=True)
class Change:
    """One thing apply would do, and why."""

    id: str
    action: Action
    source: str
    digest: str
    change: str  # the change's identity (ledger.identity); with the repository id it makes the marker
    launch: Mapping[str, Any]
    diff: tuple[FieldDiff, ...] = ()
    prior_status: str | None = None  # the ledger status a retry or update starts from
    reason: str = ""  # an explanation for people, never used to decide anything
    previous: str | None = None  # the identity this change follows from
    marker: str | None = None  # a marker kept from before (version 1): a retry looks up and sends with it
    withdraw: str | None = None  # the QueuedRun ID this change supersedes: apply withdraws it if still pending
    moved_from: str | None = None  # a move's old id (action move)
    moved_source: str | None = None  # the file the old id was in: its `lifecycle:` may protect it
    cell: Mapping[str, Any] | None = None  # a matrix cell's values (the entry keeps them)
    matrix: str | None = None  # the matrix spec a cell belongs to: plans show its cells as one line
    slot: str | None = None  # a slot's UTC instant (action slot, or a retry of one)
    schedule: Mapping[str, Any] | None = None  # the schedule's record the slot's intent carries


@dataclass(frozen=True)
class Plan:
    """What apply would do: the changes and how many specs stay as they are."""

    changes: tuple[Change, ...]
    unchanged: int
    specs: Mapping[str, Spec] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # said with the plan (a migration it implies, shards checked in full)
    causes: tuple[Cause, ...] = ()  # updates grouped under the _defaults.yaml edit that caused them
    schedules: tuple[Upkeep, ...] = ()  # every scheduled spec's record after this plan (reconciler.schedule)

    @property
    def summary(self) -> dict[str, int]:
        counts = {a.value: 0 for a in Action}
        for change in self.changes:
            counts[change.action.value] += 1
        if not counts["slot"]:  # said only when there is one: documents without schedules stay as they were
            del counts["slot"]
        if not counts["replace"]:  # likewise, only when apply --replace asked for one
            del counts["replace"]
        if not counts["move"]:  # and only when a spec moved
            del counts["move"]
        # the items apply withdraws if still pending: not an action of their own, a part of one
        withdraws = sum(1 for change in self.changes if change.withdraw)
        return {**counts, **({"withdraw": withdraws} if withdraws else {}), "unchanged": self.unchanged}

    @property
    def empty(self) -> bool:
        return not self.changes


def field_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[FieldDiff, ...]:
    """Leaf-level differences between two launch mappings, paths starting at `launch`."""
    out: list[FieldDiff] = []
    _mapping_diff(old, new, ("launch",), out)
    return tuple(sorted(out, key=lambda d: d.path))


def _mapping_diff(old: Mapping[str, Any], new: Mapping[str, Any], at: tuple[str | int, ...],
                  out: list[FieldDiff]) -> None:
    """Mappings and scalars walked here (DeepDiff took a millisecond a launch: 25 s for a matrix
    edit of 25,600 cells); a list that differs goes to DeepDiff, whose index pairing it keeps."""
    for key in old.keys() | new.keys():
        if key not in new:
            out.append(FieldDiff((*at, key), old[key], None))
        elif key not in old:
            out.append(FieldDiff((*at, key), None, new[key]))
        else:
            a, b = old[key], new[key]
            if a is b:
                continue  # a subtree the cells of one matrix share
            if isinstance(a, dict) and isinstance(b, dict):
                _mapping_diff(a, b, (*at, key), out)
            elif isinstance(a, list) and isinstance(b, list):
                if a != b or any(type(x) is not type(y) for x, y in zip(a, b, strict=False)):
                    out.extend(_deep_diff(a, b, (*at, key)))
            elif type(a) is not type(b) or a != b:
                out.append(FieldDiff((*at, key), a, b))


def _deep_diff(old: Any, new: Any, at: tuple[str | int, ...]) -> list[FieldDiff]:
    from deepdiff import DeepDiff  # only plans with a changed list pay for the import

    tree = DeepDiff(old, new, view="tree", verbose_level=2)
    out = []
    for levels in tree.values():
        for level in levels:
            parts = (*at, *level.path(output_format="list"))
            old_value = None if _missing(level.t1) else level.t1
            new_value = None if _missing(level.t2) else level.t2
            out.append(FieldDiff(parts, old_value, new_value))
    return out


def added_fields(launch: Mapping[str, Any], prefix: tuple[str | int, ...] = ("launch",),
                 memo: dict[tuple[int, tuple[str | int, ...]], tuple[Any, tuple[FieldDiff, ...]]] | None = None,
                 ) -> tuple[FieldDiff, ...]:
    """Every leaf of a new spec as an added field, so a reviewer sees all of what will be enqueued.
    `memo` (one per plan): a value the cells of a matrix spec share (the same object) is listed
    once and its FieldDiffs shared, so 64,000 new cells do not hold a million copies."""
    out: list[FieldDiff] = []
    for key, value in launch.items():
        at = (*prefix, key)
        if memo is not None and (id(value), at) in memo:
            out.extend(memo[id(value), at][1])
            continue
        found = added_fields(value, at, memo) if isinstance(value, dict) and value else (FieldDiff(at, None, value),)
        if memo is not None:
            memo[id(value), at] = (value, found)  # the value is kept: its id stays its own
        out.extend(found)
    return tuple(sorted(out, key=lambda d: d.path)) if prefix == ("launch",) else tuple(out)


def _missing(value: Any) -> bool:
    return type(value).__name__ == "NotPresent"


MIGRATION_NOTE = ("the ledger is version 1: the first apply (or launchops migrate) writes version 2 in one "
                  "ledger commit that enqueues nothing")


def make_plan(specs: Mapping[str, Spec], ledger: Ledger, notes: tuple[str, ...] = (),
              withdraw: bool = True, now: datetime.datetime | None = None, replace_ids: Sequence[str] = (),
              moves: Mapping[str, str] | None = None) -> Plan:
    """Pair desired specs with ledger entries by id, then compare digests, then classify.
    `withdraw`: the setting; updates and removals then name the item they supersede. A
    scheduled spec is enqueued per due slot at `now` (default: --now / LAUNCHOPS_NOW / the clock), never
    because its file changed. `moves`: old id -> new id (reconciler.lifecycle.resolve)."""
    ledger, moving = _moved(ledger, moves, specs)
    changes: list[Change] = []
    unchanged = 0
    schedules: list[Upkeep] = []
    shared: dict[tuple[int, tuple[str | int, ...]], tuple[Any, tuple[FieldDiff, ...]]] = {}  # added_fields' memo
    for spec_id in sorted(set(specs) | set(ledger.specs)):
        spec, entry = specs.get(spec_id), ledger.specs.get(spec_id)
        if spec is None:
            if entry is not None and entry.status != "removed":
                changes.append(Change(spec_id, Action.REMOVE, entry.source, entry.digest, entry.change, entry.launch,
                                      prior_status=entry.status, reason="its spec file is gone",
                                      previous=entry.previous, marker=entry.marker))
            continue
        if spec.schedule is not None:
            from reconciler import schedule

            now = now or schedule.now()
            slots, upkeep = schedule.planned(spec, entry, ledger.basis(spec_id), now)
            changes.extend(slots)
            schedules.append(upkeep)
            unchanged += not slots
            continue
        if entry is None or entry.status == "removed":
            basis = ledger.basis(spec_id)
            changes.append(Change(spec_id, Action.CREATE, spec.source, spec.digest,
                                  identity("change", spec_id, basis, spec.digest), spec.launch,
                                  diff=added_fields(spec.launch, memo=shared), previous=basis,
                                  reason="new spec" if entry is None else "spec added again after removal"))
        elif entry.digest != spec.digest:
            changes.append(Change(spec_id, Action.UPDATE, spec.source, spec.digest,
                                  identity("change", spec_id, entry.basis, spec.digest), spec.launch,
                                  diff=field_diff(entry.launch, spec.launch), prior_status=entry.status,
                                  reason="launch arguments changed", previous=entry.basis))
        elif entry.status in RETRYABLE:
            changes.append(Change(spec_id, Action.RETRY, spec.source, spec.digest, entry.change, spec.launch,
                                  prior_status=entry.status, reason=f"last attempt is {entry.status}"
                                  + (f": {entry.error}" if entry.error else ""), previous=entry.previous,
                                  marker=entry.marker))
        else:
            unchanged += 1
    if ledger.legacy:
        notes = (MIGRATION_NOTE, *notes)
    changes, unchanged = _lifecycle(changes, unchanged, specs, ledger, withdraw, replace_ids)
    changes = _with_cells(sorted(moving + changes, key=lambda c: c.id), specs, ledger)
    return Plan(tuple(changes), unchanged, specs, (*notes, *_rename_hints(changes)), schedules=tuple(schedules))


def _moved(ledger: Ledger, moves: Mapping[str, str] | None, specs: Mapping[str, Spec]) -> tuple[Ledger, list[Change]]:
    """Moves first: each moved entry is then compared under its new id (reconciler.lifecycle)."""
    if not moves:
        return ledger, []
    from reconciler.lifecycle import moved

    return moved(ledger, moves, specs)


def _rename_hints(changes: list[Change]) -> tuple[str, ...]:
    if not changes:
        return ()
    from reconciler.lifecycle import rename_hints

    return rename_hints(changes)


def _with_cells(changes: list[Change], specs: Mapping[str, Spec], ledger: Ledger) -> list[Change]:
    """Each matrix cell's change carries its values and its spec (reconciler.matrix)."""
    if not any(s.cell is not None for s in specs.values()) and not any(e.cell is not None
                                                                        for e in ledger.specs.values()):
        return changes
    from reconciler.matrix import base_id

    sources = {s.source for s in specs.values()}
    out = []
    for change in changes:
        spec, entry = specs.get(change.id), ledger.specs.get(change.id)
        cell = spec.cell if spec is not None else entry.cell if entry is not None else None
        if cell is None:
            out.append(change)
            continue
        reason = ("no longer a cell of its matrix" if change.action is Action.REMOVE and change.source in sources
                  else "new cell" if change.reason == "new spec" else change.reason)
        out.append(replace(change, cell=cell, matrix=base_id(change.id), reason=reason))
    return out


def _lifecycle(changes: list[Change], unchanged: int, specs: Mapping[str, Spec], ledger: Ledger, withdraw: bool,
               replace_ids: Sequence[str]) -> tuple[list[Change], int]:
    """apply --replace (an unchanged, applied spec enqueued again) and withdraw (the item each
    change supersedes), as reconciler.lifecycle decides them."""
    if replace_ids:
        from reconciler.lifecycle import replaces

        changes, unchanged = replaces(changes, unchanged, specs, ledger, replace_ids)
    if withdraw:
        # a spec's own `lifecycle: {withdraw: false}` or `protect: true` keeps its items
        changes = [c if _kept(specs.get(c.id)) else _with_withdraw(c, ledger) for c in changes]
    return changes, unchanged


def _kept(spec: Spec | None) -> bool:
    own = spec.lifecycle if spec is not None else {}
    return own.get("withdraw") is False or own.get("protect") is True


def _with_withdraw(change: Change, ledger: Ledger) -> Change:
    from reconciler.lifecycle import withdraw_target

    entry = ledger.specs.get(change.id)
    if entry is None or change.action in (Action.CREATE, Action.MOVE) or change.slot is not None:
        return change  # a schedule's items are withdrawn only by its concurrency: replace (reconciler.schedule)
    run = withdraw_target(entry, None if change.action is Action.REMOVE else change.change)
    return replace(change, withdraw=str(run["id"])) if run is not None else change
