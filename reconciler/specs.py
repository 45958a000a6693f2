"""The desired state: spec files under specs_dir, folder defaults, effective specs and digests.

The effective spec is the repository defaults, then every `_defaults.yaml` from the top folder
down, then the file (mappings deep-merge; lists and scalars replace). Its digest covers only the
normalised `launch` mapping, so cosmetic edits never enqueue anything. Reading and checking the
files is reconciler.loader's, imported only by a load that reads one (a plan of nothing reads none).
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from reconciler.problems import Problem
from reconciler.settings import Settings, specs_prefix

if TYPE_CHECKING:
    from reconciler.loader import Loader
    from reconciler.schedule import Schedule

SPEC_SUFFIXES = (".yaml", ".yml")
DEFAULTS_NAMES = ("_defaults.yaml", "_defaults.yml")
DEFAULTS_KEYS = ("launch", "labels", "preview")
MOVED_NAME = "_moved.yaml"  # the moves file of ledger version 2 (SPEC): an input like the specs


@dataclass(frozen=True)
class Spec:
    """One valid spec: its id, its file and the launch it enqueues."""

    id: str
    source: str  # repository-relative path of the file
    launch: Mapping[str, Any]  # effective and normalised: exactly what is enqueued
    digest: str
    description: str | None = None
    labels: Mapping[str, Any] = field(default_factory=dict)
    preview: Mapping[str, Any] | None = None  # the effective `preview:` mapping (reconciler.preview merges it)
    cell: Mapping[str, Any] | None = None  # a matrix cell's values (reconciler.matrix); `id` is the cell's id
    schedule: Schedule | None = None  # enqueued once per slot of this schedule (reconciler.schedule)
    lifecycle: Mapping[str, Any] = field(default_factory=dict)  # `lifecycle:` (withdraw, protect): reconciler.lifecycle
    moved_from: tuple[str, ...] = ()  # ids this spec had before: their entries move to it (reconciler.lifecycle)

    @property
    def matrix(self) -> str | None:
        """The id of the matrix spec a cell belongs to."""
        return self.id[: self.id.rindex("[")] if self.cell is not None else None


@dataclass(frozen=True)
class SpecSet:
    """Every spec of a load, with the problems and warnings found."""

    specs: Mapping[str, Spec]  # by id, sorted
    problems: tuple[Problem, ...]
    files: int
    warnings: tuple[Problem, ...] = ()  # shown by validate and plan; they do not make a spec invalid
    moves: Mapping[str, str] = field(default_factory=dict)  # old id -> new id, resolved (engine.specs)
    unread: int = 0  # valid specs counted but not held: the ledger vouches for their files (reconciler.cost)

    @property
    def valid(self) -> bool:
        return not self.problems


def digest_of(launch: Mapping[str, Any]) -> str:
    canonical = json.dumps(launch, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def discover(settings: Settings) -> tuple[list[Path], list[Problem]]:
    """Every spec file under specs_dir, sorted; folder symlinks are refused, never followed."""
    base = settings.specs_path
    problems: list[Problem] = []
    if not base.exists():
        return [], [Problem(settings.specs_dir, 0, 0, "no such folder; create it, or set specs_dir in launchops.toml")]
    if not base.resolve().is_relative_to(settings.root.resolve()):
        return [], [Problem(settings.specs_dir, 0, 0, "resolves outside the repository")]
    files: list[Path] = []
    for folder, dirs, names in os.walk(base):
        here = Path(folder)
        for name in list(dirs):
            if name.startswith("."):
                dirs.remove(name)
            elif (here / name).is_symlink():
                dirs.remove(name)
                rel = (here / name).relative_to(settings.root).as_posix()
                problems.append(Problem(rel, 0, 0, "is a symlink to a folder, which launchops does not follow "
                                                   "(it could leave the repository or read specs twice); "
                                                   "move the specs into the folder"))
        dirs.sort()
        files.extend(here / n for n in sorted(names) if _is_spec_name(n))
    return files, problems


def _present(settings: Settings, rels: Sequence[str]) -> list[Path]:
    """The spec files among `rels` that discover would find on disk, in its order."""
    from reconciler.ledger import walk_order

    return [settings.root / rel for rel in sorted(set(rels), key=walk_order) if is_spec(settings, rel)
            and os.path.lexists(settings.root / rel) and not os.path.isdir(settings.root / rel)]


def is_spec(settings: Settings, rel: str) -> bool:
    """Whether discover would load the repository-relative path `rel` as a spec file."""
    return is_input(settings, rel) and _is_spec_name(rel.rsplit("/", 1)[-1])


def default_id(settings: Settings, source: str) -> str:
    """The id of a spec that declares none: its file's path under specs_dir, without the suffix
    (by string: apply asks it of every file). ValueError for a path not under specs_dir."""
    prefix = specs_prefix(settings.specs_dir)
    if not source.startswith(prefix):
        raise ValueError(f"{source} is not under {settings.specs_dir}")
    under = source[len(prefix):]
    suffix = next((s for s in SPEC_SUFFIXES if under.endswith(s)), None)
    return under[: -len(suffix)] if suffix else PurePosixPath(under).with_suffix("").as_posix()


def _is_spec_name(name: str) -> bool:
    return name.endswith(SPEC_SUFFIXES) and not name.startswith(("_", "."))


def _is_input_name(name: str) -> bool:
    return _is_spec_name(name) or name in DEFAULTS_NAMES or name == MOVED_NAME


def input_files(settings: Settings) -> list[str]:
    """Every file under specs_dir that a load may read (specs, folder defaults, the moves file),
    repository-relative, wherever git is told to look or not: apply compares each with HEAD."""
    out: list[str] = []
    for folder, dirs, names in os.walk(settings.specs_path):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (here / d).is_symlink())
        rel = here.relative_to(settings.root).as_posix()
        out.extend(n if rel == "." else f"{rel}/{n}" for n in sorted(names) if _is_input_name(n))
    return out


def is_input(settings: Settings, rel: str) -> bool:
    """Whether a load would read the repository-relative path `rel` (were it on disk)."""
    prefix = specs_prefix(settings.specs_dir)
    if not rel.startswith(prefix):
        return False
    parts = rel[len(prefix):].split("/")
    return not any(part.startswith(".") for part in parts[:-1]) and _is_input_name(parts[-1])


def _scope(loader: Loader, paths: Iterable[Path]) -> Callable[[str], bool]:
    """Which reported files the given paths ask about: the files, everything under the folders,
    and the _defaults files above any of them (their values are part of those specs)."""
    exact: set[str] = set()
    folders: set[str] = set()
    for path in paths:
        path = path.absolute()
        rel = loader.rel(path)
        if path.is_dir() and path.is_symlink():  # as discover: a linked folder is refused, never followed
            loader.problems.append(Problem(rel, 0, 0, "is a symlink to a folder, which launchops "
                                           "does not follow; move the specs into the folder"))
        elif path.is_dir():
            folders.add(rel.rstrip("/") + "/" if rel != "." else "")
        elif not path.exists():
            loader.problems.append(Problem(rel, 0, 0, "no such file"))
        elif path.name in DEFAULTS_NAMES:
            folders.add(path.parent.relative_to(loader.root).as_posix() + "/")
        elif not path.parent.resolve().is_relative_to(loader.root.resolve()):
            loader.problems.append(Problem(rel, 0, 0, "is reached through a symlinked folder outside the "
                                           "repository; copy the file into the repository instead"))
        elif not path.parent.resolve().is_relative_to(loader.base.resolve()):
            loader.problems.append(Problem(rel, 0, 0, f"is not under specs_dir ({loader.settings.specs_dir}/)"))
        else:
            exact.add(rel)
    asked = exact | folders

    def relevant(file: str) -> bool:
        if file in exact or any(file.startswith(f) for f in folders):
            return True
        folder, slash, name = file.rpartition("/")
        return name in DEFAULTS_NAMES and any(a.startswith(folder + slash) for a in asked)
    return relevant


def load_specs(settings: Settings, paths: Iterable[Path] | None = None, backend: str | None = None,
               known: Mapping[str, Sequence[Spec]] | None = None, only: Sequence[str] | None = None) -> SpecSet:
    """Load and check every spec; with `paths`, report only on those files and folders.

    Everything is checked either way: ids must be unique across all of specs_dir, and a spec's
    folder defaults are part of it. `known`: repository-relative spec file -> its specs, for files
    whose every input is what the ledger recorded them from (reconciler.cost): those are not read,
    and the result is what reading them would give (a file whose id another file also declares is
    read after all, so the duplicate is reported with its line). `only`: these repository-relative
    spec files (those on disk), in place of every file under specs_dir (reconciler.cost)."""
    known = known or {}
    paths = list(paths) if paths is not None else None
    from reconciler.loader import Loader  # YAML and the checks: imported by a load that reads a file

    loader = Loader(settings, backend or settings.backend)
    files, problems = discover(settings) if only is None else (_present(settings, only), [])
    loader.problems.extend(problems)
    extra = len(loader.problems)
    relevant = _scope(loader, paths) if paths is not None else None
    extra_problems = loader.problems[extra:]
    declared: dict[str, list[tuple[Spec, tuple[int, int]]]] = {}
    to_load = [f for f in files if loader.rel(f) not in known]
    for spec_list in (known[loader.rel(f)] for f in files if loader.rel(f) in known):
        for spec in spec_list:
            declared.setdefault(spec.id, []).append((spec, (0, 0)))
    for found, file_problems in loader.load_files(to_load):
        loader.problems.extend(file_problems)
        for spec, where in found:
            declared.setdefault(spec.id, []).append((spec, where))
    unread = {spec.source for found in declared.values() if len(found) > 1 for spec, _ in found} & set(known)
    if unread:
        return load_specs(settings, paths, backend, {k: v for k, v in known.items() if k not in unread}, only)
    specs: dict[str, Spec] = {}
    for spec_id, found in declared.items():
        if len(found) == 1:
            specs[spec_id] = found[0][0]
            continue
        for spec, (line, col) in found:
            others = ", ".join(f"{o.source}:{w[0]}" for o, w in found if (o, w) != (spec, (line, col)))
            loader.problems.append(Problem(spec.source, line, col, f"id {spec_id!r} is also declared in {others}; "
                                                                  "ids must be unique: set a different id", "id"))
    found_problems = set(loader.problems)
    if relevant is not None:
        found_problems = {p for p in found_problems if relevant(p.file)} | set(extra_problems)
        specs = {k: v for k, v in specs.items() if relevant(v.source)}
        files = [f for f in files if relevant(loader.rel(f))]
    errors = {p for p in found_problems if not p.warning}
    # a value that is already an error (a number where a string must be) is said once, as the error
    located = {(p.file, p.line, p.column) for p in errors}
    warnings = {p for p in found_problems if p.warning and (p.file, p.line, p.column) not in located}
    return SpecSet(dict(sorted(specs.items())), tuple(sorted(errors)), len(files), tuple(sorted(warnings)))
