"""GitHub Actions workflow commands: one `::error` annotation per problem, shown on the PR diff."""
from __future__ import annotations

from typing import Any

from reconciler.render.escape import github_data as _data, github_property as _prop


def validate(doc: dict[str, Any]) -> str:
    lines = []
    for e in doc["errors"]:
        where = f"file={_prop(e['file'])}"
        if e["line"]:
            where += f",line={e['line']},col={e['column']}"
        message = f"{e['path']}: {e['message']}" if e["path"] else e["message"]
        lines.append(f"::error {where},title=launchops validate::{_data(message)}")
    if doc["valid"]:
        lines.append(f"{doc['specs']} specs valid.")
    return "\n".join(lines) + "\n"
