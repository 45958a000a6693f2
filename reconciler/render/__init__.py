"""Renderings of launchops's results; nothing outside this package and the CLI prints.

Each result first becomes one JSON-able document (`documents`), masked for secrets there once;
the json, text, markdown and github renderers all draw from it, so every format shows the same
facts. FORMATS lists which formats each command offers (it also feeds click.Choice).
"""
from __future__ import annotations

FORMATS = {
    "validate": ("text", "json", "github"),
    "plan": ("text", "json", "markdown"),
    "status": ("text", "json", "markdown"),
    "queue": ("text", "json"),
    "apply": ("text", "json", "markdown"),
}
