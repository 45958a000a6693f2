"""Markdown for pull-request comments and job summaries (GitHub caps a comment at 65,535 characters)."""
from __future__ import annotations

import html
import json
from typing import Any

from reconciler.render.text import SYMBOLS

MARKER = "<!-- launchops-plan -->"
LIMIT = 65_535
_COLUMNS = ("create", "update", "retry", "remove", "unchanged")


def _cell(v: Any) -> str:
    text = "_absent_" if v is None else json.dumps(v, ensure_ascii=False, sort_keys=True)
    return "<code>" + html.escape(text).replace("|", "&#124;").replace("\n", " ") + "</code>"


def _secret_changed(d: dict[str, Any]) -> bool:
    return bool(d.get("secret")) and d["old"] is not None and d["new"] is not None


def _counts(summary: dict[str, Any], columns: tuple[str, ...]) -> list[str]:
    return ["| " + " | ".join(columns) + " |", "|" + "---:|" * len(columns),
            "| " + " | ".join(str(summary.get(c, 0)) for c in columns) + " |"]


def plan(doc: dict[str, Any], limit: int = LIMIT) -> str:
    s = doc["summary"]
    title = ("### launchops plan: no changes" if not doc["changes"] else
             f"### launchops plan: {s['create']} to create, {s['update']} to update, {s['retry']} to retry, "
             f"{s['remove']} to remove")
    head = "\n".join([MARKER, title, "", *_counts(s, _COLUMNS), ""]) + "\n"
    blocks = []
    for change in doc["changes"]:
        lines = [f"<details><summary>{SYMBOLS[change['action']]} {change['action']} "
                 f"<code>{html.escape(change['id'])}</code> ({html.escape(change['source'])})</summary>", "",
                 f"{html.escape(change['reason'])}", ""]
        if change["diff"]:
            lines += ["| field | old | new |", "|---|---|---|"]
            lines += [f"| <code>{html.escape(d['path'])}</code> | {_cell(d['old'])} | "
                      f"{'(secret changed)' if _secret_changed(d) else _cell(d['new'])} |" for d in change["diff"]]
            lines.append("")
        lines += ["</details>", ""]
        blocks.append("\n".join(lines) + "\n")
    return _fit(head, blocks, limit)


def _fit(head: str, blocks: list[str], limit: int) -> str:
    """Keep whole blocks while they fit; say how many were left out and where to see them."""
    out = head
    for i, block in enumerate(blocks):
        rest = len(blocks) - i
        note = (f"\n**{rest} more specs not shown** (the comment would pass GitHub's {limit:,}-character limit): "
                "run `launchops plan` or see the job summary for the full plan.\n")
        if len(out) + len(block) + len(note) > limit:
            return out + note
        out += block
    return out


def status(doc: dict[str, Any]) -> str:
    lines = ["### launchops status", "", "| id | status | queued run | state | enqueued |", "|---|---|---|---|---|"]
    for s in doc["specs"]:
        run = s["queued_run"] or {}
        lines.append(f"| <code>{html.escape(s['id'])}</code> | {s['status']} | {run.get('id', '-')} | "
                     f"{run.get('state', '-')} | {run.get('enqueued_at', '-')} |")
    return "\n".join(lines) + "\n"


def apply(doc: dict[str, Any]) -> str:
    lines = ["### launchops apply: " + ("complete" if doc["ok"] else "finished with failures"), ""]
    if not doc["outcomes"]:
        return "\n".join(lines + ["No changes: nothing to enqueue."]) + "\n"
    lines += ["| id | action | result | queued run | error |", "|---|---|---|---|---|"]
    for o in doc["outcomes"]:
        lines.append(f"| <code>{html.escape(o['id'])}</code> | {o['action']} | {o['result']} | "
                     f"{', '.join(o['queued_runs']) or '-'} | {html.escape(o['error'] or '')} |")
    if doc["commit"]:
        lines += ["", f"Ledger commit `{doc['commit'][:12]}`" + (" pushed." if doc["pushed"] else ".")]
    return "\n".join(lines) + "\n"
