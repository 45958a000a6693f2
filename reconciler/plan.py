"""A plan is a value: what apply would do, computed from files alone (no backend, no writes).

Desired specs and ledger entries are paired by id first (a missing side means create or remove),
then compared by digest, then classified. Field diffs explain an update; they never drive it.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from reconciler.ledger import RETRYABLE, Ledger
from reconciler.problems import dotted

if TYPE_CHECKING:
    from reconciler.specs import Spec


class Action(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    RETRY = "retry"
    REMOVE = "remove"

    @property
    def enqueues(self) -> bool:
        return self is not Action.REMOVE


@dataclass(frozen=True)
class FieldDiff:
    parts: tuple[str | int, ...]  # ("launch", "config", …)
    old: Any  # None where the field was absent
    new: Any

    @property
    def path(self) -> str:
        return dotted(self.parts)


@dataclass(frozen=True)
class Change:
    id: str
    action: Action
    source: str
    digest: str
    change: int  # which change of this id this is; with id and digest it makes the enqueue marker
    launch: Mapping[str, Any]
    diff: tuple[FieldDiff, ...] = ()
    prior_status: str | None = None  # the ledger status a retry or update starts from
    reason: str = ""  # an explanation for people, never used to decide anything


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    unchanged: int
    specs: Mapping[str, Spec] = field(default_factory=dict)

    @property
    def summary(self) -> dict[str, int]:
        counts = {a.value: 0 for a in Action}
        for change in self.changes:
            counts[change.action.value] += 1
        return {**counts, "unchanged": self.unchanged}

    @property
    def empty(self) -> bool:
        return not self.changes


def field_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[FieldDiff, ...]:
    """Leaf-level differences between two launch mappings, paths starting at `launch`."""
    from deepdiff import DeepDiff  # only plans with updates pay for the import

    tree = DeepDiff(dict(old), dict(new), view="tree", verbose_level=2)
    out = []
    for levels in tree.values():
        for level in levels:
            parts = ("launch", *level.path(output_format="list"))
            old_value = None if _missing(level.t1) else level.t1
            new_value = None if _missing(level.t2) else level.t2
            out.append(FieldDiff(parts, old_value, new_value))
    return tuple(sorted(out, key=lambda d: d.path))


def added_fields(launch: Mapping[str, Any], prefix: tuple[str | int, ...] = ("launch",)) -> tuple[FieldDiff, ...]:
    """Every leaf of a new spec as an added field, so a reviewer sees all of what will be enqueued."""
    out: list[FieldDiff] = []
    for key, value in launch.items():
        if isinstance(value, dict) and value:
            out.extend(added_fields(value, (*prefix, key)))
        else:
            out.append(FieldDiff((*prefix, key), None, value))
    return tuple(sorted(out, key=lambda d: d.path)) if prefix == ("launch",) else tuple(out)


def _missing(value: Any) -> bool:
    return type(value).__name__ == "NotPresent"


def make_plan(specs: Mapping[str, Spec], ledger: Ledger) -> Plan:
    changes: list[Change] = []
    unchanged = 0
    for spec_id in sorted(set(specs) | set(ledger.specs)):
        spec, entry = specs.get(spec_id), ledger.specs.get(spec_id)
        if spec is None:
            if entry is not None and entry.status != "removed":
                changes.append(Change(spec_id, Action.REMOVE, entry.source, entry.digest, entry.change, entry.launch,
                                      prior_status=entry.status, reason="its spec file is gone"))
            continue
        if entry is None or entry.status == "removed":
            number = entry.change + 1 if entry else 1
            changes.append(Change(spec_id, Action.CREATE, spec.source, spec.digest, number, spec.launch,
                                  diff=added_fields(spec.launch),
                                  reason="new spec" if entry is None else "spec added again after removal"))
        elif entry.digest != spec.digest:
            changes.append(Change(spec_id, Action.UPDATE, spec.source, spec.digest, entry.change + 1, spec.launch,
                                  diff=field_diff(entry.launch, spec.launch), prior_status=entry.status,
                                  reason="launch arguments changed"))
        elif entry.status in RETRYABLE:
            changes.append(Change(spec_id, Action.RETRY, spec.source, spec.digest, entry.change, spec.launch,
                                  prior_status=entry.status, reason=f"last attempt is {entry.status}"
                                  + (f": {entry.error}" if entry.error else "")))
        else:
            unchanged += 1
    return Plan(tuple(changes), unchanged, specs)


def touched(kept: Mapping[str, Sequence[str]], changed: Iterable[str], specs: Mapping[str, Spec]) -> set[str]:
    """The ids changed files declared when `kept` was made, and those they declare now."""
    return {spec_id for rel in changed for spec_id in kept.get(rel, ())} | set(specs)


def plan_since(kept: Mapping[str, Sequence[str]], changed: Iterable[str], specs: Mapping[str, Spec],
               ledger: Ledger) -> Plan | None:
    """The plan when every spec file in `kept` (file -> ids) made a no-op plan against this same
    ledger, and only the files in `changed` differ since: their specs now are `specs`. Files that
    did not change still plan to nothing, so only the `touched` ids are paired (`ledger` needs no
    other entries). None: an id is now declared in a changed and in an unchanged file (the full
    load reports where)."""
    changed = set(changed)
    others = {spec_id for rel, ids in kept.items() if rel not in changed for spec_id in ids}
    if others & set(specs):
        return None
    wanted = touched(kept, changed, specs)
    sub = make_plan(specs, Ledger({k: e for k, e in ledger.specs.items() if k in wanted}, ledger.version))
    return Plan(sub.changes, len(others) + sub.unchanged, specs)


def noop_plan(specs: Mapping[str, Spec], recorded: Mapping[str, tuple[str, str, int]]) -> Plan | None:
    """The plan when the ledger's index alone settles it: every spec recorded with its digest and a
    settled status, and no live entry without a spec. None: there is something to show, and
    `make_plan` needs the full ledger (an update's diff needs the old launch)."""
    live = 0
    for spec_id, (digest, status, _) in recorded.items():
        spec = specs.get(spec_id)
        if status == "removed":
            if spec is not None:
                return None  # added again
            continue
        if spec is None or spec.digest != digest or status in RETRYABLE:
            return None
        live += 1
    if live != len(specs):
        return None  # a spec the ledger does not know: a create
    return Plan((), len(specs), specs)
