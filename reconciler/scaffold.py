"""`launchops init`: a working repository in one step, never overwriting a file.

What it writes, all from package data (`reconciler/templates/`):

  launchops.toml                       settings: backend "wandb", the other keys as comments
  <specs_dir>/_defaults.yaml           folder defaults
  <specs_dir>/example/hello.yaml       one example spec, whose `$schema` comment points at
  schemas/launch-spec.v1.schema.json   the spec schema (`launchops schema` prints the same)
  .github/workflows/launchops-*.yml    this repository's own apply, preview and sync workflows

One source of truth for the workflows: `reconciler/templates/github/workflows/` holds byte-for-byte
copies of this repository's `.github/workflows/launchops-*.yml` (tests/test_init.py fails when they
differ), and the only change made on the way out is the composite action's `uses:` line, from this
repository's `./.github/actions/launchops` to the launchops repository pinned at a ref
(`--action OWNER/REPO@REF`, by default the commit pip installed this launchops from: PEP 610's
`direct_url.json`). With no ref to pin, the workflows are skipped and the report says how to get
them: a workflow that names no action would fail on its first run.

Every file is created with O_EXCL, so one that exists (also a symlink, also one made a moment ago
by someone else) is skipped and reported, never overwritten. A `launchops.toml` is skipped too when
pyproject.toml has `[tool.launchops]`, which it would shadow; the specs go where the settings say.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

from reconciler.checks import SCHEMA_FILE
from reconciler.settings import SettingsError, load_settings

# the step lines only, not the comments that tell a person what to replace
LOCAL_ACTION = re.compile(r"^(\s+)uses: \./\.github/actions/launchops$", re.M)
WORKFLOWS = ("launchops-apply.yml", "launchops-preview.yml", "launchops-preview-launch.yml", "launchops-sync.yml")
SCHEMA = "schemas/launch-spec.v1.schema.json"
_ACTION = re.compile(r"^(?P<repo>[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100})@(?P<ref>[A-Za-z0-9._/-]+)$")
_GITHUB = re.compile(r"^(?:git\+)?(?:https://|ssh://git@|git@)github\.com[/:](?P<repo>[^/]+/[^/]+?)(?:\.git)?/?$")


class ScaffoldError(Exception):
    """init cannot start (unreadable settings, a bad --action); nothing was written."""


@dataclass(frozen=True)
class Scaffold:
    """The files launchops init writes."""

    written: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]  # (path, why)
    notes: tuple[str, ...]


def action_from_direct_url(text: str | None) -> str | None:
    """OWNER/REPO@COMMIT when pip installed launchops from a GitHub git URL at the repository's
    root (PEP 610 `direct_url.json`); None for a wheel, a local folder or anything else."""
    try:
        data = json.loads(text or "null")
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("subdirectory"):
        return None
    vcs = data.get("vcs_info")
    match = _GITHUB.match(str(data.get("url", "")))
    if not isinstance(vcs, dict) or vcs.get("vcs") != "git" or not match:
        return None
    commit = str(vcs.get("commit_id", ""))
    return f"{match['repo']}@{commit}" if re.fullmatch(r"[0-9a-f]{40}", commit) else None


def _template(*parts: str) -> str:
    return resources.files("reconciler").joinpath("templates", *parts).read_text(encoding="utf-8")


def workflow(name: str, action: str) -> str:
    """A shipped workflow with the composite action pinned to `action` (OWNER/REPO@REF)."""
    repo, ref = action.split("@", 1)
    return LOCAL_ACTION.sub(lambda m: f"{m[1]}uses: {repo}/.github/actions/launchops@{ref}",
                            _template("github", "workflows", name))


def _files(root: Path, action: str | None) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[str]]:
    """(path, content) to write, (path, why) skipped before trying, notes."""
    try:
        settings = load_settings(root)
    except SettingsError as exc:
        raise ScaffoldError(f"{exc}; fix it first (nothing was written)") from None
    specs = settings.specs_dir.strip("/") or "."
    example = f"{specs}/example/hello.yaml"
    schema_ref = os.path.relpath(SCHEMA, os.path.dirname(example)).replace(os.sep, "/")
    files: list[tuple[str, str]] = []
    skipped: list[tuple[str, str]] = []
    notes: list[str] = []
    pyproject = root / "pyproject.toml"
    if not (root / "launchops.toml").exists() and pyproject.is_file() and "[tool.launchops]" in pyproject.read_text(
            encoding="utf-8", errors="replace"):
        skipped.append(("launchops.toml", "pyproject.toml has [tool.launchops], which it would shadow"))
    else:
        files.append(("launchops.toml", _template("launchops.toml")))
    files.append((f"{specs}/_defaults.yaml", _template("launches", "_defaults.yaml")))
    files.append((example, _template("launches", "example", "hello.yaml").replace("@SCHEMA@", schema_ref)))
    files.append((SCHEMA, resources.files("reconciler").joinpath(SCHEMA_FILE).read_text("utf-8")))
    if action is None:
        try:
            action = action_from_direct_url(metadata.distribution("launchops").read_text("direct_url.json"))
        except metadata.PackageNotFoundError:
            pass
    if action is None:
        skipped.extend((f".github/workflows/{name}", "no launchops action to pin") for name in WORKFLOWS)
        notes.append("this launchops was not installed from a GitHub git URL, so the workflows have no action "
                     "to pin: run `launchops init --action OWNER/launchops@COMMIT` to write them")
    else:
        files.extend((f".github/workflows/{name}", workflow(name, action)) for name in WORKFLOWS)
        if not re.search(r"@[0-9a-f]{40}$", action):
            notes.append(f"the workflows use the action at {action}: pin a full commit SHA, which cannot be moved")
        if specs != "launches":
            notes.append(f"the workflows' `paths:` filters name launches/: change them to {specs}/")
    return files, skipped, notes


def scaffold(root: Path, action: str | None = None) -> Scaffold:
    """Write what is missing under `root`; skip, and say why, whatever exists."""
    if action is not None and not _ACTION.match(action):
        raise ScaffoldError(f"--action {action!r}: expected OWNER/REPO@REF, such as acme/launchops@<40-hex commit> "
                            "(nothing was written)")
    files, skipped, notes = _files(root, action)
    written: list[str] = []
    for rel, content in files:
        path = root / rel
        if os.path.lexists(path):
            skipped.append((rel, "exists"))
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "x", encoding="utf-8", newline="\n") as handle:  # O_EXCL: made meanwhile, kept
                handle.write(content)
        except OSError as exc:  # a file where a folder should be, a read-only folder: the others go on
            skipped.append((rel, "exists" if isinstance(exc, FileExistsError) and os.path.lexists(path)
                            else f"cannot write it: {exc.strerror or exc}"))
            continue
        written.append(rel)
    return Scaffold(tuple(written), tuple(skipped), tuple(notes))
