"""The machine-readable document of each result (`--format json`); text and markdown render these.

FORMAT_VERSION changes only for a breaking change; keys may be added.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reconciler import secrets
from reconciler.ledger import UNCERTAIN, Ledger

if TYPE_CHECKING:
    from reconciler.apply import Result
    from reconciler.plan import FieldDiff, Plan
    from reconciler.problems import Problem
    from reconciler.specs import SpecSet

FORMAT_VERSION = 1
# `status` 2: `queued_runs` is the list of QueuedRun IDs, as in apply's outcomes (it was their count)
STATUS_FORMAT_VERSION = 2


def plan(plan: Plan) -> dict[str, Any]:
    changes = []
    seen: dict[int, dict[str, Any]] = {}
    for change in plan.changes:
        changes.append({
            "id": change.id, "action": change.action.value, "source": change.source, "digest": change.digest,
            "reason": change.reason,
            # a FieldDiff the cells of a matrix spec share is rendered once (plan.added_fields)
            "diff": [seen[id(d)] if id(d) in seen else seen.setdefault(id(d), _diff(d)) for d in change.diff],
            **({"matrix": change.matrix, "cell": dict(change.cell)} if change.cell is not None else {}),
            # the QueuedRun ID apply withdraws if it is still pending (plan reads no backend)
            "withdraw": change.withdraw,
            **({"moved_from": change.moved_from} if change.moved_from else {}),
            **({"slot": change.slot} if change.slot else {}),
        })
    return {"format_version": FORMAT_VERSION, "valid": True, "errors": [], "summary": plan.summary,
            "changes": changes, "notes": list(plan.notes),
            "causes": [{"file": c.file, "paths": list(c.paths), "ids": list(c.ids), "count": len(c.ids),
                        "text": c.sentence()} for c in plan.causes],
            # each scheduled spec's next slot (and last and missed), said only where there are schedules
            **({"schedules": [_schedule(u.id, u.record) for u in plan.schedules]} if plan.schedules else {})}


def _schedule(spec_id: str, record: Mapping[str, Any]) -> dict[str, Any]:
    found = record.get("spec")
    spec: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    return {"id": spec_id, "cron": spec.get("cron"), "timezone": spec.get("timezone"),
            "suspend": bool(spec.get("suspend")), "next_slot": record.get("next_slot"),
            "last_slot": record.get("last_slot"), "missed": list(record.get("missed", []))}


def invalid_plan(specs: SpecSet) -> dict[str, Any]:
    """The plan document when specs are invalid: no summary (there is no plan), and every problem,
    so the pull-request comment says what to fix and where."""
    return {"format_version": FORMAT_VERSION, "valid": False, "errors": _problems(specs.problems),
            "summary": None, "changes": []}


def _problems(problems: Sequence[Problem]) -> list[dict[str, Any]]:
    return [{"file": p.file, "line": p.line, "column": p.column, "path": p.path, "message": p.message}
            for p in problems]


def _diff(d: FieldDiff) -> dict[str, Any]:
    """One field's change, masked; `secret`: the field is under a secret-named key, so renderings
    say that it changed and never what it was or became."""
    out = {"path": d.path, "old": secrets.mask(d.old, d.parts), "new": secrets.mask(d.new, d.parts)}
    return {**out, "secret": True} if secrets.is_secret_path(d.parts) else out


def validate(result: SpecSet) -> dict[str, Any]:
    return {"format_version": FORMAT_VERSION, "valid": result.valid, "specs": len(result.specs) + result.unread,
            "files": result.files, "errors": _problems(result.problems), "warnings": _problems(result.warnings)}


def status(ledger: Ledger) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for spec_id, entry in sorted(ledger.specs.items()):
        run = entry.latest_run
        rows.append({"id": spec_id, "status": entry.status, "digest": entry.digest, "source": entry.source,
                     "uncertain": entry.status in UNCERTAIN, "error": entry.error,
                     "queued_runs": [str(r["id"]) for r in entry.queued_runs if r.get("id")],
                     "queued_run": dict(run) if run else None,
                     **({"schedule": _schedule(spec_id, entry.extra["schedule"])}
                        if isinstance(entry.extra.get("schedule"), Mapping) else {})})
    from collections import Counter

    return {"format_version": STATUS_FORMAT_VERSION, "summary": dict(Counter(row["status"] for row in rows)),
            "specs": rows}


def apply(result: Result) -> dict[str, Any]:
    return {"format_version": FORMAT_VERSION, "ok": result.ok, "summary": result.counts,
            "commit": result.commit, "pushed": result.pushed, "notes": list(result.notes),
            "plan": result.plan.summary,
            "outcomes": [{"id": o.id, "action": o.action.value, "result": o.result,
                          "queued_runs": list(o.queued_runs), "error": o.error, "notes": list(o.notes),
                          "withdraw": o.withdraw}
                         for o in result.outcomes]}


def queue(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"format_version": FORMAT_VERSION,
            "items": [{**item, "launch": secrets.mask(item["launch"], ["launch"])} for item in items]}
