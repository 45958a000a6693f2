"""Plain text for people at a terminal or reading CI logs."""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from reconciler.render.escape import text as esc

SYMBOLS = {"create": "+", "update": "~", "retry": "↻", "remove": "-", "slot": "@", "replace": "±", "move": "→"}


def value(v: Any) -> str:
    return esc(json.dumps(v, ensure_ascii=False, sort_keys=True))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    # every row has a cell per header; a cell may come from a spec or the ledger
    rows = [[esc(str(c)) for c in row] for row in rows]
    widths = [max(len(x) for x in column) for column in zip(headers, *rows, strict=True)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in (headers, *rows)]
    return "\n".join(lines)


def counts(summary: dict[str, int]) -> str:
    return ", ".join(f"{n} {esc(k)}" for k, n in sorted(summary.items()))


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary_line(summary: dict[str, int], unchanged: bool = True) -> str:
    return (f"{summary['create']} to create, {summary['update']} to update, {summary['retry']} to retry, "
            f"{summary['remove']} to remove" + (f", {summary['unchanged']} unchanged" if unchanged else "")
            + (f", {plural(summary['slot'], 'slot')} due" if summary.get("slot") else "")
            + "".join(f", {summary[k]} to {k}" for k in ("replace", "move") if summary.get(k))
            + (f", {summary['withdraw']} to withdraw if still pending" if summary.get("withdraw") else ""))


def plan(doc: dict[str, Any]) -> str:
    lines = []
    for change in _grouped(doc["changes"]):  # a matrix spec's cells: one line per spec and action
        if "cells" in change:
            lines.extend(_group(change))
            continue
        lines.append(f"  {SYMBOLS[change['action']]} {esc(change['id'])}  ({change['action']}: "
                     f"{esc(change['reason'])}; {esc(change['source'])})")
        lines.extend(_diff_line(d) for d in change["diff"])
        if change.get("withdraw"):
            lines.append(f"      withdraw (if still pending) {esc(change['withdraw'])}")
    # plan compares the specs with the ledger; it never asks the queue
    head = "No changes: the ledger matches the specs." if not doc["changes"] else "launchops will:"
    notes = [f"note: {esc(n)}" for n in doc.get("notes", [])] + [
        f"note: {esc(c['text'])}" for c in doc.get("causes", [])]
    return "\n".join([*notes, head, *lines, *_schedules(doc.get("schedules", [])), "",
                      f"Plan: {summary_line(doc['summary'])}."]) + "\n"


def _schedules(schedules: Sequence[dict[str, Any]]) -> list[str]:
    """Each scheduled spec's slots: what decides what is enqueued, whenever apply runs."""
    if not schedules:
        return []
    lines = ["", "Schedules (slots, not runs of apply, decide what is enqueued):"]
    for s in schedules:
        cron = ", ".join(s.get("cron") or [])
        nxt = "suspended" if s.get("suspend") else f"next slot {s.get('next_slot') or 'none'}"
        lines.append(f"  {esc(s['id'])}  {esc(cron)} ({esc(s.get('timezone') or 'UTC')}): {nxt}; "
                     f"last slot {esc(s.get('last_slot') or 'none')}")
        lines.extend(f"      missed {esc(m.get('slot'))} ({esc(m.get('why'))})" for m in s.get("missed", [])[:5])
    return lines


def _diff_line(d: dict[str, Any]) -> str:
    """One field's change; a secret's values are never shown."""
    if d["old"] is None:
        return f"      + {esc(d['path'])}: {value(d['new'])}"
    if d["new"] is None:
        return f"      - {esc(d['path'])}: {value(d['old'])}"
    if d.get("secret"):
        return f"      ~ {esc(d['path'])}: (secret changed)"
    return f"      ~ {esc(d['path'])}: {value(d['old'])} -> {value(d['new'])}"


def _grouped(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not changes:
        return []  # a plan of nothing does not import matrix
    from reconciler import matrix

    return matrix.grouped(changes)


def _group(group: dict[str, Any]) -> list[str]:
    """A matrix spec's cells of one action: the diff they share, the fields that differ by cell."""
    from reconciler import matrix

    count = plural(len(group["cells"]), "cell")
    lines = [f"  {SYMBOLS[group['action']]} {esc(group['id'])}  ({group['action']} {count}: {esc(group['reason'])}; "
             f"{esc(group['source'])})", f"      cells: {esc(matrix.cells_line(group))}"]
    lines.extend(_diff_line(d) for d in group["diff"])
    lines.extend(f"      ~ {esc(path)}: (differs by cell)" for path in group["varies"])
    if group["withdraw"]:
        lines.append(f"      withdraw (if still pending) {plural(len(group['withdraw']), 'item')} of these cells")
    return lines


def validate(doc: dict[str, Any]) -> str:
    lines = [problem(e) for e in doc["errors"]] + [problem(w, "warning: ") for w in doc.get("warnings", [])]
    if doc["valid"]:
        lines.append(f"{plural(doc['specs'], 'spec')} valid.")
    else:
        files = len({e["file"] for e in doc["errors"]})
        lines.append(f"{plural(len(doc['errors']), 'problem')} in {plural(files, 'file')}.")
    return "\n".join(lines) + "\n"


def problem(e: dict[str, Any], kind: str = "") -> str:
    """`file:line:col: path: message`, as compilers and linters write it (editors link it)."""
    where = f"{esc(e['file'])}:{e['line']}:{e['column']}" if e["line"] else esc(e["file"])
    return f"{where}: {kind}{esc(e['path']) + ': ' if e['path'] else ''}{esc(e['message'])}"


def status(doc: dict[str, Any]) -> str:
    if not doc["specs"]:
        return "The ledger is empty: nothing applied yet.\n"
    rows = []
    for s in doc["specs"]:
        run = s["queued_run"] or {}
        status = s["status"] + (" (uncertain: next apply looks it up)" if s["uncertain"] else "")
        rows.append([s["id"], status, run.get("id", "-"), run.get("state", "-"), run.get("enqueued_at", "-")])
    errors = [f"  {esc(s['id'])}: {esc(s['error'])}" for s in doc["specs"] if s["error"]]
    out = table(["ID", "STATUS", "QUEUED RUN", "STATE", "ENQUEUED"], rows) + f"\n\n{counts(doc['summary'])}\n"
    out += "".join(line + "\n" for line in _schedules([s["schedule"] for s in doc["specs"] if s.get("schedule")]))
    return out + ("\nErrors:\n" + "\n".join(errors) + "\n" if errors else "")


def apply(doc: dict[str, Any]) -> str:
    if not doc["outcomes"]:
        return "No changes: nothing to enqueue.\n" + "".join(f"note: {esc(n)}\n" for n in doc["notes"])
    rows = [[o["id"], o["action"], o["result"], ", ".join(o["queued_runs"]) or "-", o["error"] or ""]
            for o in doc["outcomes"]]
    lines = [table(["ID", "ACTION", "RESULT", "QUEUED RUN", "ERROR"], rows), ""]
    for o in doc["outcomes"]:
        lines.extend(f"note: {esc(o['id'])}: {esc(n)}" for n in o["notes"])
    lines.extend(f"note: {esc(n)}" for n in doc["notes"])
    where = (f"ledger committed as {doc['commit'][:12]}" + (" and pushed" if doc["pushed"] else "")
             if doc["commit"] else "ledger written (not committed)")
    lines.append(f"Apply {'complete' if doc['ok'] else 'finished with failures'}: {counts(doc['summary'])}; {where}.")
    return "\n".join(lines) + "\n"


def queue(doc: dict[str, Any]) -> str:
    if not doc["items"]:
        return "The local queue is empty.\n"
    rows = [[i["id"], i["spec_id"], i["queue_name"], str(i["priority"] if i["priority"] is not None else "-"),
             i["state"], i["enqueued_at"]] for i in doc["items"]]
    return table(["ID", "SPEC", "QUEUE", "PRIORITY", "STATE", "ENQUEUED"], rows) + f"\n\n{plural(len(rows), 'item')}\n"
