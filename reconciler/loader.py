"""Reading and checking spec files: YAML, folder defaults, the schema and launchops' own rules,
and every problem with its line. reconciler.specs says which files and what they make; this
module reads them, in forked children when there are many.
"""
from __future__ import annotations

import dataclasses
import gc
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler import checks, secrets
from reconciler.problems import Problem, dotted
from reconciler.settings import Settings
from reconciler.specs import DEFAULTS_KEYS, DEFAULTS_NAMES, Spec, deep_merge, default_id, digest_of
from reconciler.yamlload import Document, load_documents, locate, read_text

if TYPE_CHECKING:
    from reconciler.schedule import Schedule


def _schedule_of(effective: Mapping[str, Any]) -> Schedule | None:
    """The spec's schedule; its module (cronsim, zoneinfo: 6 ms) is imported for a spec that has one."""
    if "schedule" not in effective:
        return None
    from reconciler import schedule

    return schedule.parse(effective["schedule"])


def _has(data: Any, path: Sequence[str | int]) -> bool:
    for part in path:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return False
    return True


@dataclass(frozen=True)
class _Layer:
    """One source of values in an effective spec, kept to say where a bad value came from."""

    rel: str
    path: Path | None  # None: launchops.toml settings
    doc_index: int
    data: Mapping[str, Any]


class Loader:
    """Loads one repository's specs; remembers each folder's defaults so each is read once."""

    def __init__(self, settings: Settings, backend: str) -> None:
        self.settings = settings
        self.backend = backend
        self.root = settings.root
        self.base = settings.specs_path
        self.problems: list[Problem] = []
        self._defaults: dict[Path, list[_Layer]] = {}
        self._root_prefix = str(self.root) + os.sep
        self._inside: dict[str, bool] = {}  # folders that resolve inside the root (read_text's memo)
        # a folder (by its text: hashing a Path was too dear) -> its layers and their merge, which
        # is never changed (a spec's merge copies what it changes): merging the layers again for
        # every spec was a twentieth of a cold load (profile)
        self._folders: dict[str, tuple[list[_Layer], dict[str, Any]]] = {}
        repo_defaults = settings.launch_defaults
        self._repo_layer = [_Layer("launchops.toml", None, 0, {"launch": repo_defaults})] if repo_defaults else []

    def rel(self, path: Path) -> str:
        # by string prefix when it is one: Path.relative_to was a tenth of a cold load (profile)
        text = str(path)
        if text.startswith(self._root_prefix):
            rel = text[len(self._root_prefix):]
            return rel if os.sep == "/" else rel.replace(os.sep, "/")
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def read(self, path: Path, rel: str | None = None) -> list[Document]:
        rel = rel or self.rel(path)
        text, problem = read_text(path, rel, self.root, self.settings.max_spec_bytes, self._inside)
        if problem:
            self.problems.append(problem)
            return []
        documents, problems = load_documents(text or "", rel)
        self.problems.extend(problems)
        return documents

    def problem(self, layer: _Layer, path: Sequence[str | int], message: str, at_key: bool = False) -> Problem:
        if layer.path is None:
            return Problem(layer.rel, 0, 0, message, dotted(path))
        text = layer.path.read_text(encoding="utf-8-sig")
        line, col, _ = locate(text, layer.doc_index, path, at_key)
        return Problem(layer.rel, line, col, message, dotted(path))

    def defaults_for(self, folder: Path) -> list[_Layer]:
        """Layers from the repository settings and every _defaults file from the top folder down."""
        if folder in self._defaults:
            return self._defaults[folder]
        layers = list(self._repo_layer) if folder == self.base else list(self.defaults_for(folder.parent))
        for name in DEFAULTS_NAMES:
            path = folder / name
            if path.is_file():
                layers.extend(self._read_defaults(path))
        self._defaults[folder] = layers
        return layers

    def _read_defaults(self, path: Path) -> list[_Layer]:
        documents = self.read(path)
        if len(documents) > 1:
            self.problems.append(Problem(self.rel(path), documents[1].line, 1,
                                         "a defaults file holds one document; remove the extra '---'"))
        layers = []
        for doc in documents[:1]:
            layer = _Layer(self.rel(path), path, doc.index, doc.data)
            for key, value in doc.data.items():
                if key not in DEFAULTS_KEYS:
                    self.problems.append(self.problem(layer, [key], f"unknown key {key!r}: a _defaults file holds "
                                                                   "only launch:, labels: and preview: (apiVersion "
                                                                   "and id belong in specs)", at_key=True))
                elif not isinstance(value, dict):
                    self.problems.append(self.problem(layer, [key], "must be a mapping"))
            # the keys that are right still merge: the specs below then report the file's other
            # mistakes (in launch:) in the same run, not after this one is fixed
            good = {k: v for k, v in doc.data.items() if k in DEFAULTS_KEYS and isinstance(v, dict)}
            layers.append(_Layer(layer.rel, path, doc.index, good))
        return layers

    def load_file(self, path: Path) -> list[tuple[Spec, tuple[int, int]]]:
        """Valid specs of one file with the line and column of their id, for duplicate reports."""
        rel = self.rel(path)
        text = str(path)
        try:
            own_id = default_id(self.settings, rel)
        except ValueError:
            self.problems.append(Problem(rel, 0, 0, f"is not under specs_dir ({self.settings.specs_dir}/)"))
            return []
        documents = self.read(path, rel)
        folder = self._folders.get(os.path.dirname(text))
        if folder is None:
            layers = self.defaults_for(path.parent)
            merged: dict[str, Any] = {}
            for source in layers:
                merged = deep_merge(merged, source.data)
            folder = self._folders[os.path.dirname(text)] = (layers, merged)
        folder_layers, merged = folder
        out: list[tuple[Spec, tuple[int, int]]] = []
        for doc in documents:
            layer = _Layer(rel, path, doc.index, doc.data)
            nameless = "id" not in doc.data and len(documents) > 1
            if nameless:
                self.problems.append(Problem(rel, doc.line, 1, f"document {doc.index + 1} needs an id: a file "
                                                              "with several documents names each one"))
            found = self._effective(layer, folder_layers, merged, own_id)  # checked either way: every problem at once
            if not nameless:
                out.extend((spec, doc.id_at if "id" in doc.data else (doc.line, 1)) for spec in found)
        return out

    def load_files(self, paths: Sequence[Path]) -> list[tuple[list[tuple[Spec, tuple[int, int]]], list[Problem]]]:
        """`load_file` of each path, in order, each with the problems it found (not added to
        `self.problems`: the caller records them); a folder's defaults are read with the first
        file that needs them, and their problems come with that file's. With many files, the files
        are spread over forked workers (a cold load is CPU-bound, and no file needs another's
        result); a defaults file two workers need is read by both, and its problems, said twice,
        are one (load_specs keeps a set). Reading every folder's defaults here first, before
        forking, was waited for: 33 ms of a 2,000-spec load with 164 defaults files, ~5 ms of the
        whole load once each process reads its own (measured)."""
        workers = min(_cpus(), len(paths) // PARALLEL_MIN_FILES)
        # Forking is safe only while this process runs one thread: a fork copies held locks but
        # not their holders (a reload after a rejected push runs beside the backend's threads).
        if workers > 1 and threading.active_count() == 1 and hasattr(os, "fork"):
            return _load_forked(self, paths, workers)
        return [self._load_one(path) for path in paths]

    def _load_one(self, path: Path) -> tuple[list[tuple[Spec, tuple[int, int]]], list[Problem]]:
        before = len(self.problems)
        found = self.load_file(path)
        problems = self.problems[before:]
        del self.problems[before:]
        return found, problems

    def _effective(self, layer: _Layer, folder_layers: list[_Layer], merged: dict[str, Any],
                   own_id: str) -> list[Spec]:
        effective = deep_merge(merged, layer.data)
        effective.setdefault("id", own_id)
        if "matrix" in effective:
            return self._cells(layer, folder_layers, effective)
        findings = checks.check_spec(effective, self.backend)
        if findings:
            self._report(layer, folder_layers, findings)
            return []
        return [_spec(layer, effective, effective["id"], effective["launch"], None,
                      _schedule_of(effective), tuple(effective.get("moved_from") or ()))]

    def _report(self, layer: _Layer, folder_layers: list[_Layer], findings: Iterable[checks.Finding]) -> None:
        for finding in findings:
            if finding.whole:
                self.problems.append(self._whole_problem(layer, folder_layers, finding))
                continue
            owner = next((s for s in reversed((*folder_layers, layer)) if _has(s.data, finding.path)), layer)
            self.problems.append(self._finding_problem(owner, finding))

    def _cells(self, layer: _Layer, folder_layers: list[_Layer], effective: dict[str, Any]) -> list[Spec]:
        """The cells of a matrix spec (reconciler.matrix), each checked as the spec it stands for; a
        finding a cell's value caused is said at its placeholder, naming the cell."""
        from reconciler import matrix

        values, found = matrix.check(effective)
        if effective.get("moved_from"):  # which cell would it move to? the moves file names the cell
            self.problems.append(self.problem(layer, ("moved_from",), "a matrix spec cannot say moved_from: move an "
                                              "id onto one of its cells in the moves file (_moved.yaml, with `to:` "
                                              "the cell's id, e.g. team/grid[lr=0.1])", True))
        for item in found:
            if item.warning and self._quoted(layer, item.path):
                continue  # quoted on purpose: a string that looks like a number
            problem = self.problem(layer, item.path, item.message, item.at_key)
            self.problems.append(dataclasses.replace(problem, warning=item.warning))
        base = {k: v for k, v in effective.items() if k != "matrix"}
        spec_id = effective["id"] if isinstance(effective["id"], str) else ""
        if not values:
            # the rest of the document is still checked, with the placeholders left out of launch
            bare = matrix.substitute(effective.get("launch"), _Blank()) if isinstance(effective.get("launch"),
                                                                                     dict) else None
            rest = checks.check_spec({**base, "launch": bare} if bare is not None else base, self.backend)
            placed = matrix.placeholder_paths(effective.get("launch"))
            self._report(layer, folder_layers, [f for f in rest if not _under(f.path, placed)])
            return []
        placed = matrix.placeholder_paths(effective["launch"])
        made = matrix.cells(spec_id, effective, values)
        findings: dict[checks.Finding, None] = {}
        for cell in made:
            for f in checks.check_spec({**base, "launch": cell.launch}, self.backend):
                if _under(f.path, placed):  # the cell's value, not the file's text: no quoting hint
                    f = checks.Finding(f.path, f"{f.message} (in cell {cell.id[len(spec_id):]})", f.at_key,
                                       False, f.whole)
                findings[f] = None
        if findings:
            self._report(layer, folder_layers, findings)
            return []
        when = _schedule_of(effective)  # once for all cells: they share it
        return [_spec(layer, effective, cell.id, cell.launch, cell.values, when, ()) for cell in made]

    def _quoted(self, layer: _Layer, path: Sequence[str | int]) -> bool:
        if layer.path is None:
            return False
        text = layer.path.read_text(encoding="utf-8-sig")
        line, col, _ = locate(text, layer.doc_index, path)
        lines = text.splitlines()
        return 0 < line <= len(lines) and 0 < col <= len(lines[line - 1]) and lines[line - 1][col - 1] in "'\""

    def _whole_problem(self, layer: _Layer, folder_layers: list[_Layer], finding: checks.Finding) -> Problem:
        """A finding about the merged mapping is the spec file's to fix; the layers that gave parts
        of that mapping are named as a note, so nobody goes looking for the fault in them."""
        problem = self.problem(layer, finding.path, finding.message, finding.at_key)
        gave = [s.rel for s in folder_layers if finding.path and _has(s.data, finding.path)]
        if not gave:
            return problem
        where, others = dotted(finding.path), ", ".join(dict.fromkeys(gave))
        note = (f"; note: {others} also sets {where}" if _has(layer.data, finding.path) else
                f"; note: this file sets no {where}: (all of it comes from {others})")
        return Problem(problem.file, problem.line, problem.column, problem.message + note, problem.path)

    def _finding_problem(self, layer: _Layer, finding: checks.Finding) -> Problem:
        problem = self.problem(layer, finding.path, finding.message, finding.at_key)
        if not finding.quote_hint or layer.path is None or secrets.is_secret_path(finding.path):
            return problem
        _, _, raw = locate(layer.path.read_text(encoding="utf-8-sig"), layer.doc_index, finding.path)
        if raw is None:
            return problem
        key = finding.path[-1] if finding.path else "value"
        message = f"{finding.message}: YAML 1.1 read `{raw}` that way; quote it: {key}: \"{raw}\""
        return Problem(problem.file, problem.line, problem.column, message, problem.path)


# Below this many files to parse per worker, starting processes costs more than it saves.
PARALLEL_MIN_FILES = 200


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _load_forked(loader: Loader, paths: Sequence[Path],
                 workers: int) -> list[tuple[list[tuple[Spec, tuple[int, int]]], list[Problem]]]:
    """`loader._load_one` over `paths`, in their order: this process loads the first share while
    `workers - 1` forked children load the others and send them back pickled through a pipe. A
    child that cannot be started or does not answer leaves its share to this process: the same
    result, later. (A process pool cost more than it saved here: its imports, a schema compiled
    again in every worker, a result handler thread; measured.)"""
    import pickle

    checks.prepare()  # compiled once, here: the children inherit it
    share = -(-len(paths) // workers)
    chunks = [paths[i:i + share] for i in range(0, len(paths), share)]
    children: list[tuple[int, int] | None] = []
    for chunk in chunks[1:]:
        try:
            read_end, write_end = os.pipe()
            pid = os.fork()
        except OSError:
            children.append(None)
            continue
        if pid == 0:  # pragma: no cover - the child (coverage does not follow it)
            code = 1
            try:
                os.close(read_end)
                # it exits when done: its garbage goes with it, and the cyclic collector's passes
                # over the parsed trees were pure cost (a tenth of parsing, measured)
                gc.disable()
                data = pickle.dumps([loader._load_one(path) for path in chunk], pickle.HIGHEST_PROTOCOL)
                with os.fdopen(write_end, "wb") as pipe:
                    pipe.write(data)
                code = 0
            finally:
                os._exit(code)  # no atexit handlers, no flush of the parent's buffers
        os.close(write_end)
        children.append((pid, read_end))
    waiting = [child for child in children if child is not None]
    try:
        results = [loader._load_one(path) for path in chunks[0]]
        for chunk, child in zip(chunks[1:], children, strict=True):
            got = None
            if child is not None:
                waiting.remove(child)
                pid, read_end = child
                with os.fdopen(read_end, "rb") as pipe:
                    data = pipe.read()
                if os.waitpid(pid, 0)[1] == 0:
                    got = pickle.loads(data)
            results.extend(got if got is not None else [loader._load_one(path) for path in chunk])
        return results
    finally:  # stopped early (an exception here): no child is left unwaited for
        for pid, read_end in waiting:
            os.close(read_end)
            os.waitpid(pid, 0)


def _spec(layer: _Layer, effective: Mapping[str, Any], spec_id: str, raw_launch: Any,
          cell: Mapping[str, Any] | None, when: Schedule | None, moved_from: tuple[str, ...]) -> Spec:
    """A checked spec (or matrix cell) with its launch normalised and digested."""
    launch = checks.normalise(raw_launch)
    return Spec(id=spec_id, source=layer.rel, launch=launch, digest=digest_of(launch),
                description=effective.get("description"), labels=effective.get("labels") or {},
                preview=effective.get("preview"), cell=cell, schedule=when,
                lifecycle=effective.get("lifecycle") or {}, moved_from=moved_from)


class _Blank(dict):  # type: ignore[type-arg]
    """Placeholder values while a matrix is invalid: each placeholder reads as an empty string."""

    def __missing__(self, key: str) -> str:
        return ""


def _under(path: Sequence[str | int], placed: set[tuple[str | int, ...]]) -> bool:
    return any(tuple(path[: len(p)]) == p for p in placed)
