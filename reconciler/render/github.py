"""GitHub Actions workflow commands: one `::error` annotation per problem, shown on the PR diff."""
from __future__ import annotations

from typing import Any

from reconciler.render.escape import github_data as _data, github_property as _prop
from reconciler.render.text import plural


def validate(doc: dict[str, Any]) -> str:
    lines = [_annotation("error", e) for e in doc["errors"]]
    lines += [_annotation("warning", w) for w in doc.get("warnings", [])]
    if doc["valid"]:
        lines.append(f"{plural(doc['specs'], 'spec')} valid.")
    return "\n".join(lines) + "\n"


def _annotation(kind: str, e: dict[str, Any]) -> str:
    where = f"file={_prop(e['file'])}"
    if e["line"]:
        where += f",line={e['line']},col={e['column']}"
    message = f"{e['path']}: {e['message']}" if e["path"] else e["message"]
    return f"::{kind} {where},title=launchops validate::{_data(message)}"
