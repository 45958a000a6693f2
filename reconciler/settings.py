"""Repository settings: defaults < launchops.toml or [tool.launchops] < LAUNCHOPS_<KEY> env < CLI flags."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from functools import cache
from pathlib import Path
from typing import Any


class SettingsError(Exception):
    """A settings file or value that cannot be used; the message names where."""


# Settings that also act as repository-wide launch defaults, under every _defaults.yaml.
LAUNCH_DEFAULT_KEYS = ("entity", "project", "queue_name", "project_queue")
BACKENDS = ("local", "wandb")
PREVIEW_MATRIX = ("first", "none", "all")
LEDGER_META = "_ledger.json"  # the ledger folder's own file (reconciler.ledger.META), known before ledger is imported


@dataclass(frozen=True)
class PreviewSettings:
    """The `[preview]` table: pull-request preview launches (reconciler.preview)."""

    enabled: bool = False
    label: str = "launch-preview"
    max_launches: int = 5
    matrix: str = "first"  # first (the lowest cell id) | none | all


@dataclass(frozen=True)
class Settings:
    """The repository's settings, with the paths they imply."""

    root: Path
    specs_dir: str = "launches"
    ledger: str = ".launchops/ledger"  # a folder; the version 1 file (`….json`) is still read and migrated
    backend: str = "local"
    entity: str | None = None
    project: str | None = None
    queue_name: str | None = None
    project_queue: str | None = None
    max_spec_bytes: int = 1048576
    local_queue: str | None = None  # default: queue.db beside the ledger; relative to the root, or absolute
    claim_lease: int = 600  # seconds another host's `pending` claim is honoured (see apply.py)
    parallel: int = 8  # concurrent requests on the wandb backend: job checks and pushes (--parallel)
    preview: PreviewSettings = PreviewSettings()
    max_enqueue: int = 256  # apply refuses a plan that would enqueue more (--max-enqueue overrides)
    withdraw: bool = True  # withdraw a changed or removed spec's still-pending item launchops enqueued

    @property
    def specs_path(self) -> Path:
        return self.root / self.specs_dir

    @property
    def ledger_dir(self) -> str:
        """The ledger folder, repository-relative; the version 1 setting named the file, `<folder>.json`."""
        return self.ledger.rstrip("/").removesuffix(".json")

    @property
    def ledger_path(self) -> Path:
        """The ledger folder (version 2)."""
        return self.root / self.ledger_dir

    @property
    def legacy_ledger(self) -> str:
        """Where version 1 kept the whole ledger; after migration, the tombstone."""
        return self.ledger_dir + ".json"

    @property
    def legacy_path(self) -> Path:
        return self.root / self.legacy_ledger

    @property
    def state_dir(self) -> Path:
        """Where the ledger folder lives; the journal, lock, cache and local queue live beside it."""
        return self.ledger_path.parent

    @property
    def journal_path(self) -> Path:
        """The append-only journal the ledger is materialised from (never committed)."""
        return self.state_dir / "journal.db"

    @property
    def lock_path(self) -> Path:
        return self.state_dir / "apply.lock"

    @property
    def local_queue_path(self) -> Path:
        if self.local_queue is None:
            return self.state_dir / "queue.db"  # with the other local state, git-ignored there
        return self.root / self.local_queue  # an absolute local_queue replaces the root: clones may share one

    @property
    def launch_defaults(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in LAUNCH_DEFAULT_KEYS if getattr(self, k) is not None}


_NUMBERS = {"max_spec_bytes": "bytes", "claim_lease": "seconds", "parallel": "threads", "max_enqueue": "items"}
_BOOLS = {"withdraw"}
MAX_PARALLEL = 64  # also the range of --parallel: threads sharing one W&B client
_KEYS = {f.name: f for f in fields(Settings) if f.name != "root"}


def _preview(value: Any, where: str) -> PreviewSettings:
    if not isinstance(value, dict):
        raise SettingsError(f"{where}: preview must be a table ([preview])")
    known = {f.name for f in fields(PreviewSettings)}
    for key in value:
        if key not in known:
            raise SettingsError(f"{where}: unknown setting preview.{key}; known keys: {', '.join(sorted(known))}")
    out = PreviewSettings(**value)
    if not isinstance(out.enabled, bool):
        raise SettingsError(f"{where}: preview.enabled must be true or false")
    if not isinstance(out.label, str) or not out.label:
        raise SettingsError(f"{where}: preview.label must be a non-empty string")
    if isinstance(out.max_launches, bool) or not isinstance(out.max_launches, int) or out.max_launches <= 0:
        raise SettingsError(f"{where}: preview.max_launches must be a positive whole number")
    if out.matrix not in PREVIEW_MATRIX:
        raise SettingsError(f"{where}: preview.matrix must be one of {', '.join(PREVIEW_MATRIX)}, not {out.matrix!r}")
    return out


def _bool(key: str, value: Any, where: str) -> bool:
    # TOML gives a bool; the environment gives text
    words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and (word := value.strip().lower()) in words:
        return words[word]
    raise SettingsError(f"{where}: {key} must be true or false, not {value!r}")


def _coerce(key: str, value: Any, where: str) -> Any:
    if key == "preview":
        return _preview(value, where)
    if key in _BOOLS:
        return _bool(key, value, where)
    if key in _NUMBERS:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise SettingsError(f"{where}: {key} must be a whole number of {_NUMBERS[key]}, not {value!r}") from None
        if number <= 0:
            raise SettingsError(f"{where}: {key} must be positive")
        if key == "parallel" and number > MAX_PARALLEL:
            raise SettingsError(f"{where}: parallel must be at most {MAX_PARALLEL}, not {number}")
        return number
    if not isinstance(value, str) or not value:
        raise SettingsError(f"{where}: {key} must be a non-empty string")
    if key == "backend" and value not in BACKENDS:
        raise SettingsError(f"{where}: backend must be one of {', '.join(BACKENDS)}, not {value!r}")
    return value


def _from_file(root: Path) -> tuple[dict[str, Any], str]:
    toml_path = root / "launchops.toml"
    if toml_path.is_file():
        name = "launchops.toml"
        data = _read_toml(toml_path, name)
    else:
        pyproject = root / "pyproject.toml"
        if not pyproject.is_file():
            return {}, ""
        name = "pyproject.toml [tool.launchops]"
        data = _read_toml(pyproject, "pyproject.toml").get("tool", {}).get("launchops", {})
    for key in data:
        if key not in _KEYS:
            import difflib  # only a mistyped setting needs it

            close = difflib.get_close_matches(key, list(_KEYS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(_KEYS)}"
            raise SettingsError(f"{name}: unknown setting {key!r}{hint}")
    return dict(data), name


def _read_toml(path: Path, name: str) -> dict[str, Any]:
    import tomllib  # a repository without a settings file never needs it

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{name}: not valid TOML: {exc}") from None


@cache
def specs_prefix(specs_dir: str) -> str:
    """What the repository-relative paths under specs_dir start with: "" at the root, else "folder/"."""
    top = Path(specs_dir).as_posix()
    return "" if top == "." else top + "/"


def find_root(start: Path) -> Path:
    """The repository root as git finds it: the nearest folder at or above `start` holding `.git`
    (a folder, or a file in a worktree or submodule); `start` itself when there is none, so
    validate and plan also work on specs outside git."""
    start = start.absolute()
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def load_settings(root: Path, overrides: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}  # where each value came from, for the message that refuses it
    data, name = _from_file(root)
    for key, value in data.items():
        values[key], origin[key] = _coerce(key, value, name), name
    for key in _KEYS:
        env = f"LAUNCHOPS_{key.upper()}"
        if key != "preview" and (env_value := environ.get(env)):  # preview is a table: no one value holds it
            values[key], origin[key] = _coerce(key, env_value, env), env
    for key, value in (overrides or {}).items():
        if value is not None:
            flag = f"--{key.replace('_', '-')}"
            values[key], origin[key] = _coerce(key, value, flag), flag
    settings = Settings(root=root.resolve(), **values)
    for key in ("specs_dir", "ledger"):
        target = (settings.root / getattr(settings, key)).resolve()
        if not target.is_relative_to(settings.root):
            raise SettingsError(f"{origin.get(key, 'settings')}: {key} {getattr(settings, key)!r} is outside the "
                                "repository")
    problem = _state_dir_problem(settings)
    if problem:
        raise SettingsError(f"{origin.get('ledger', 'settings')}: ledger {settings.ledger!r} {problem}; give the "
                            "ledger a folder of its own, such as the default '.launchops/ledger'")
    return settings


def _state_dir_problem(settings: Settings) -> str | None:
    """Why the ledger's folder cannot hold launchops' local state, or None.

    That folder gets a `.gitignore` of `*`, the journal, the lock and the caches: at the root it
    would hide the user's new files from git (and a ledger commit would take the root .gitignore);
    where specs are read it would hide specs. Discovery never enters a hidden folder, so a hidden
    folder under specs_dir is fine, also with specs_dir = "."."""
    root = settings.root
    state = settings.ledger_path.resolve().parent
    specs = settings.specs_path.resolve()
    if state == root:
        return "puts launchops' local state (journal, lock, cache, .gitignore) in the repository root"
    if state == root / ".git" or (root / ".git") in state.parents:
        return "is inside .git, which git never commits"
    if state == specs or specs in state.parents:
        if not any(part.startswith(".") for part in state.relative_to(specs).parts):
            return (f"puts launchops' local state among the specs (specs_dir {settings.specs_dir!r}); "
                    "a hidden folder such as .launchops/ is never read for specs")
    elif state in specs.parents:
        return f"would hide the specs (specs_dir {settings.specs_dir!r} is inside the ledger's folder) from git"
    return None


def with_backend(settings: Settings, backend: str | None) -> Settings:
    return settings if backend is None else replace(settings, backend=_coerce("backend", backend, "--backend"))
