"""Markdown for pull-request comments and job summaries.

GitHub caps a comment at 65,535 characters and one step's job summary at 1 MiB: the comment keeps
the whole specs that fit and says where the rest is; the summary gets the whole plan when it fits.
Every string from a spec, a file name or the ledger goes through `escape.markdown`: it renders as
text, never as a table cell, tag, heading, link or mention of its own.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from reconciler.matrix import cells_line, grouped
from reconciler.render.escape import markdown as md
from reconciler.render.text import SYMBOLS, plural, summary_line

MARKER = "<!-- launchops-plan -->"
LIMIT = 65_535  # characters, in a pull-request comment
SUMMARY_LIMIT = 1_048_576  # bytes, in one step's $GITHUB_STEP_SUMMARY


def _cell(v: Any) -> str:
    if v is None:
        return "<code>_absent_</code>"
    return f"<code>{md(json.dumps(v, ensure_ascii=False, sort_keys=True))}</code>"


def _diff_row(d: dict[str, Any]) -> str:
    """One field's table row; a secret's values are never shown."""
    secret = d.get("secret") and d["old"] is not None and d["new"] is not None
    return f"| <code>{md(d['path'])}</code> | {_cell(d['old'])} | {'(secret changed)' if secret else _cell(d['new'])} |"


def _details(summary: str, lines: list[str], rows: list[str]) -> str:
    """A spec's block: folded under its summary, what is said of it, then its fields' table if any."""
    table = ["| field | old | new |", "|---|---|---|", *rows, ""] if rows else []
    return "\n".join([f"<details><summary>{summary}</summary>", "", *lines, *table, "</details>", ""]) + "\n"


def _counts(summary: dict[str, Any], columns: tuple[str, ...]) -> list[str]:
    return ["| " + " | ".join(columns) + " |", "|" + "---:|" * len(columns),
            "| " + " | ".join(str(summary.get(c, 0)) for c in columns) + " |"]


def plan(doc: dict[str, Any], limit: int = LIMIT) -> str:
    """The pull-request comment: at most `limit` characters."""
    head, blocks = _plan_parts(doc)
    whole = _utf8(head) + sum(_utf8(b) for b in blocks) <= SUMMARY_LIMIT
    rest = ("run `launchops plan` or see the job summary for the full plan" if whole else
            "run `launchops plan` for the full plan (it passes the job summary's 1 MiB limit too)")
    return _fit(head, blocks, limit, note=f"the comment would pass GitHub's {limit:,}-character limit): {rest}.")


def summary(command: str, doc: dict[str, Any], room: int = SUMMARY_LIMIT) -> str:
    """What goes to the job summary: the whole plan, unless it passes the `room` (bytes) left there."""
    if command != "plan":
        return str(globals()[command](doc))
    head, blocks = _plan_parts(doc)
    return _fit(head, blocks, room, size=_utf8,
                note="the job summary would pass GitHub's 1 MiB limit): run `launchops plan` for the full plan.")


def _utf8(text: str) -> int:
    return len(text.encode("utf-8"))


def _plan_parts(doc: dict[str, Any]) -> tuple[str, list[str]]:
    if not doc.get("valid", True):
        return _problem_parts(doc["errors"])
    s = doc["summary"]
    title = "### launchops plan: " + (summary_line(s, unchanged=False) if doc["changes"] else "no changes")
    causes = [f"- {c['count']} spec{'s change' if c['count'] != 1 else ' changes'} because "
              f"<code>{md(c['file'])}</code> changed {', '.join(f'<code>{md(p)}</code>' for p in c['paths'])}"
              for c in doc.get("causes", [])]
    # a schedule's due slots, replaces, moves and withdraws: a column each, only when there are some
    extra = tuple(k for k in ("slot", "replace", "move", "withdraw") if s.get(k))
    columns = ("create", "update", "retry", "remove", *extra, "unchanged")
    head = "\n".join([MARKER, title, "", *_counts(s, columns), "", *causes, *([""] if causes else [])]) + "\n"
    blocks = []
    for change in grouped(doc["changes"]):  # a matrix spec's cells: one block per spec and action
        if "cells" in change:
            blocks.append(_group(change))
            continue
        withdraw = [f"withdraw (if still pending) <code>{md(change['withdraw'])}</code>", ""] \
            if change.get("withdraw") else []
        blocks.append(_details(f"{SYMBOLS[change['action']]} {change['action']} <code>{md(change['id'])}</code> "
                               f"({md(change['source'])})", [md(change["reason"]), "", *withdraw],
                               [_diff_row(d) for d in change["diff"]]))
    return head, blocks


def _group(group: dict[str, Any]) -> str:
    """A matrix spec's cells of one action: the diff they share, the fields that differ by cell;
    a few hundred characters whatever the number of cells."""
    lines = [md(group["reason"]), "", f"cells: <code>{md(cells_line(group))}</code>", ""]
    if group["withdraw"]:
        lines += [f"withdraw (if still pending) {plural(len(group['withdraw']), 'item')} of these cells", ""]
    rows = [_diff_row(d) for d in group["diff"]]
    rows += [f"| <code>{md(path)}</code> | differs by cell | differs by cell |" for path in group["varies"]]
    return _details(f"{SYMBOLS[group['action']]} {group['action']} {plural(len(group['cells']), 'cell')} of "
                    f"<code>{md(group['id'])}</code> ({md(group['source'])})", lines, rows)


def _problem_parts(errors: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """An invalid plan's comment: every problem, located, one list item each."""
    files = len({e["file"] for e in errors})
    title = (f"### launchops plan: the specs are invalid ({plural(len(errors), 'problem')} in "
             f"{plural(files, 'file')})")
    head = "\n".join([MARKER, title, "", "Nothing can be planned until these are fixed:", ""]) + "\n"
    blocks = []
    for e in errors:
        where = f"{e['file']}:{e['line']}:{e['column']}" if e["line"] else e["file"]
        at = f"<code>{md(e['path'])}</code>: " if e["path"] else ""
        blocks.append(f"- <code>{md(where)}</code> {at}{md(e['message'])}\n")
    return head, blocks


def _fit(head: str, blocks: list[str], limit: int, size: Callable[[str], int] = len,
         note: str = "the comment would pass GitHub's limit): run `launchops plan` for the full plan.") -> str:
    """Keep whole blocks while they fit; say how many were left out (`note`: why, and where to see them)."""
    kept, used = [head], size(head)
    for i, block in enumerate(blocks):
        cut = f"\n**{len(blocks) - i} more specs not shown** ({note}\n"
        if used + size(block) + size(cut) > limit:
            return "".join(kept) + cut
        kept.append(block)
        used += size(block)
    return "".join(kept)


def status(doc: dict[str, Any]) -> str:
    lines = ["### launchops status", "", "| id | status | queued run | state | enqueued |", "|---|---|---|---|---|"]
    for s in doc["specs"]:
        run = s["queued_run"] or {}
        lines.append(f"| <code>{md(s['id'])}</code> | {md(s['status'])} | {md(str(run.get('id', '-')))} | "
                     f"{md(str(run.get('state', '-')))} | {md(str(run.get('enqueued_at', '-')))} |")
    return "\n".join(lines) + "\n"


def apply(doc: dict[str, Any]) -> str:
    lines = ["### launchops apply: " + ("complete" if doc["ok"] else "finished with failures"), ""]
    if not doc["outcomes"]:
        return "\n".join(lines + ["No changes: nothing to enqueue."]) + "\n"
    lines += ["| id | action | result | queued run | error |", "|---|---|---|---|---|"]
    for o in doc["outcomes"]:
        lines.append(f"| <code>{md(o['id'])}</code> | {md(o['action'])} | {md(o['result'])} | "
                     f"{md(', '.join(o['queued_runs']) or '-')} | {md(o['error'] or '')} |")
    if doc["commit"]:
        lines += ["", f"Ledger commit `{doc['commit'][:12]}`" + (" pushed." if doc["pushed"] else ".")]
    return "\n".join(lines) + "\n"
