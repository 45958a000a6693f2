"""The parse-and-validate cache: plan cost grows with the files changed, not with the files kept.

Loading a spec file (read, parse, merge its folder defaults, check, digest) gives the same specs
and the same problems whenever its inputs are the same. The inputs are hashed into a key:
  - the file's git blob hash (`sha1("blob <size>\\0" + bytes)`) and repository-relative path,
  - the blob hash of every `_defaults.yaml`/`_defaults.yml` from specs_dir down to its folder,
  - the repository defaults from the settings, the backend, `max_spec_bytes`, `specs_dir`,
  - the schema, the source of every module that reads or checks a spec, the launchops and Python
    versions, and where and when PyYAML, jsonschema and fastjsonschema were installed.
A result is reused only when the key is equal, so an edit to a spec, to a defaults file above
it, to the schema or to launchops makes it load again. A file's blob hash is recomputed unless
its stat (device, inode, size, mtime, ctime) equals the recorded one *and* it was last changed
more than two seconds before it was hashed (git's guard against "racily clean" files).

Symlinks, files larger than `max_spec_bytes`, unreadable files and files outside specs_dir
bypass the cache. The cache is one JSON file under `.launchops/cache/` (ignored by git, by its
own `.gitignore`); a missing, corrupt or foreign file is ignored and rebuilt; a directory that
cannot be written is fine (nothing is saved), and so is a repository without `.launchops/` yet:
the cache is written only beside an existing ledger folder, so `plan` and `validate` never create
one. Deleting the cache is always safe.

Two more answers are kept beside it: the index of a ledger text that passed every check, and the
verdict of a plan that found nothing to do, trusted only while git vouches that no input changed.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler import __version__
from reconciler.problems import Problem

if TYPE_CHECKING:  # specs imports this module; settings is a plain value here
    from collections.abc import Callable, Sequence

    from reconciler.settings import Settings
    from reconciler.specs import Spec, _Loader

    _Loaded = list[tuple[Spec, tuple[int, int]]]  # one file's specs, each with where its id is

FORMAT = 1
CACHE_DIR = "cache"
CACHE_FILE = "specs.json"
RACY_NS = 2_000_000_000  # a file changed this close to its hashing is hashed again next time
_INPUT_MODULES = ("yamlload.py", "specs.py", "checks.py", "secrets.py", "problems.py", "cache.py",
                  "launch-spec.v1.schema.json")


def blob_hash(data: bytes) -> str:
    """Git's object id of a blob with this content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _libraries() -> str:
    """launchops, Python, and where and when each library that parses or checks a spec was
    installed: an upgrade or a reinstall changes it (found without importing them)."""
    import importlib.util

    out = [f"launchops {__version__}", f"python {sys.version}"]
    for name in ("yaml", "jsonschema", "fastjsonschema"):
        found = importlib.util.find_spec(name)
        origin = found.origin if found else None
        st = os.stat(origin) if origin else None
        out.append(f"{name} {origin} {st and (st.st_size, st.st_mtime_ns, st.st_ino)}")
    return "\n".join(out)


def _add_sources(digest: Any, here: Path, names: Sequence[str]) -> None:
    """Each named file of the package, its name and its bytes, into `digest` (a missing one as such)."""
    for name in names:
        try:
            data = (here / name).read_bytes()
        except OSError:
            data = b"missing"
        digest.update(name.encode() + b"\0" + data + b"\0")


def environment_key(settings: Settings, backend: str, sources: Path | None = None) -> str:
    """Everything besides the files themselves that a loaded spec depends on."""
    from reconciler import yamlload

    digest = hashlib.sha256()
    digest.update(f"format {FORMAT}\n{_libraries()}\nloader {yamlload._Base.__name__}\n".encode())
    _add_sources(digest, sources or Path(__file__).resolve().parent, _INPUT_MODULES)
    digest.update(json.dumps({"backend": backend, "max_spec_bytes": settings.max_spec_bytes,
                              "specs_dir": settings.specs_dir, "root": str(settings.root),
                              "defaults": settings.launch_defaults}, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _stat_key(st: os.stat_result) -> list[int]:
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


class SpecCache:
    """Wraps one loader (`specs._Loader`) for one run: `load_files` answers from the cache or loads."""

    def __init__(self, settings: Settings, loader: _Loader, make_spec: Callable[..., Spec]) -> None:
        self.settings = settings
        from reconciler.specs import DEFAULTS_NAMES  # loaded already: specs is what makes a SpecCache

        self.loader = loader
        self.make_spec = make_spec
        self.defaults_names = DEFAULTS_NAMES
        self.base = settings.specs_path
        # String prefixes instead of Path.parents/relative_to: a warm run did little else (profile)
        self._base_prefix = str(self.base) + os.sep
        self._root_prefix = str(settings.root) + os.sep
        self.dir = settings.state_dir / CACHE_DIR
        self.path = self.dir / CACHE_FILE
        self.env = environment_key(settings, loader.backend)
        self.started_ns = time.time_ns()
        self.old_files, self.old_folders = self._read()
        self.files: dict[str, dict[str, Any]] = {}
        self.folders: dict[str, dict[str, Any]] = {}
        self._chains: dict[Path, str | None] = {}
        self._chains_by_text: dict[str, str | None] = {}

    # ---- the cache file ---------------------------------------------------------------------------
    def _read(self) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            data = json.loads(self.path.read_bytes())
            if data.get("format") != FORMAT or data.get("env") != self.env:
                return {}, {}
            files, folders = data["files"], data["folders"]
            if isinstance(files, dict) and isinstance(folders, dict):
                return files, folders
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            pass  # missing, corrupt or foreign: rebuilt from the files
        return {}, {}

    def save(self, complete: bool) -> None:
        """Write the cache when it changed; a full run drops entries of files that are gone."""
        files = self.files if complete else {**self.old_files, **self.files}
        folders = self.folders if complete else {**self.old_folders, **self.folders}
        if files == self.old_files and folders == self.old_folders:
            return
        _write(self.dir, [(CACHE_FILE, json.dumps({"format": FORMAT, "env": self.env, "files": files,
                                                  "folders": folders}, separators=(",", ":"), ensure_ascii=False))])

    # ---- keys -------------------------------------------------------------------------------------
    def _blob(self, path: Path, rel: str, old: dict[str, Any] | None) -> tuple[str, list[int]] | None:
        """The file's blob hash and stat, or None when the file must bypass the cache."""
        try:
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode) or st.st_size > self.settings.max_spec_bytes:
                return None  # symlinks, and anything but a regular file, are loaded the usual way
            sig = _stat_key(st)
            if (old and old.get("stat") == sig and isinstance(old.get("blob"), str)
                    and max(st.st_mtime_ns, st.st_ctime_ns) < old.get("hashed_ns", 0) - RACY_NS):
                return old["blob"], sig
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError:
            return None
        return blob_hash(data), sig

    def _chain(self, folder: Path) -> str | None:
        """A hash of every defaults file from specs_dir down to `folder`; None: do not cache."""
        if folder in self._chains:
            return self._chains[folder]
        parent: str | None
        if folder == self.base:
            parent = self.env
        elif self.base in folder.parents:
            parent = self._chain(folder.parent)
        else:
            parent = None
        chain: str | None = None
        if parent is not None:
            digest = hashlib.sha256(parent.encode())
            rel_folder = self.loader.rel(folder)
            old = self.old_folders.get(rel_folder) or {}
            blobs: dict[str, Any] = {}
            ok = True
            for name in self.defaults_names:
                path = folder / name
                if not os.path.lexists(path):
                    continue
                found = self._blob(path, f"{rel_folder}/{name}", (old.get("blobs") or {}).get(name))
                if found is None:
                    ok = False
                    break
                blobs[name] = {"blob": found[0], "stat": found[1], "hashed_ns": self._hashed_ns(
                    (old.get("blobs") or {}).get(name), found)}
                digest.update(f"\0{name}\0{found[0]}".encode())
            if ok:
                chain = digest.hexdigest()
                self._folder(folder, rel_folder, chain, blobs, old)
        self._chains[folder] = chain
        return chain

    def _hashed_ns(self, old: dict[str, Any] | None, found: tuple[str, list[int]]) -> int:
        """When the blob hash was computed: kept while the stat is unchanged, so it ages out of racy."""
        if old and old.get("stat") == found[1] and old.get("blob") == found[0]:
            return int(old.get("hashed_ns", self.started_ns))
        return self.started_ns

    def _folder(self, folder: Path, rel_folder: str, chain: str, blobs: dict[str, Any], old: dict[str, Any]) -> None:
        """The folder's own defaults problems, from the cache or by reading its defaults files."""
        if old.get("chain") == chain and isinstance(old.get("problems"), list):
            problems = old["problems"]
            self.loader.problems.extend(Problem(*p) for p in problems)
        else:
            if folder != self.base:
                self.loader.defaults_for(folder.parent)  # the parents' problems are recorded as theirs
            before = len(self.loader.problems)
            self.loader.defaults_for(folder)
            problems = [list(_problem_row(p)) for p in self.loader.problems[before:]]
        self.folders[rel_folder] = {"chain": chain, "blobs": blobs, "problems": problems}

    def _root_rel(self, text: str) -> str:
        """`loader.rel(path)` for a path under specs_dir (so under the root)."""
        rel = text[len(self._root_prefix):]
        return rel if os.sep == "/" else rel.replace(os.sep, "/")

    # ---- loading ----------------------------------------------------------------------------------
    def load_files(self, paths: Sequence[Path]) -> list[_Loaded]:
        """`loader.load_file` of each path, answered from the cache when every input is unchanged;
        the others are loaded together (`loader.load_files`), so a cold load can use every core."""
        out: list[_Loaded] = []
        todo: list[tuple[int, Path, str, dict[str, Any] | None]] = []  # (position, path, rel, record)
        for path in paths:
            specs, rel, record = self._cached(path)
            if specs is None:
                todo.append((len(out), path, rel, record))
            out.append(specs or [])
        self._load(todo, out)
        return out

    def _cached(self, path: Path) -> tuple[_Loaded | None, str, dict[str, Any] | None]:
        """The file's specs from the cache (problems go to the loader), or None with its
        repository-relative path ("" outside specs_dir) and the record to keep once it is loaded
        (None: not cached)."""
        text = str(path)
        if not text.startswith(self._base_prefix) or ".." in path.parts:
            return None, "", None  # reported as outside specs_dir by the loader
        rel = self._root_rel(text)
        old = self.old_files.get(rel)
        # by the folder's text: hashing a new Path per file was a tenth of a warm plan (profile)
        folder = text[:text.rindex(os.sep)]
        chain = self._chains_by_text[folder] if folder in self._chains_by_text else \
            self._chains_by_text.setdefault(folder, self._chain(path.parent))
        found = self._blob(path, rel, old) if chain is not None else None
        if found is None:
            return None, rel, None
        blob, sig = found
        key = hashlib.sha256(f"{chain}\0{rel}\0{blob}".encode()).hexdigest()
        record = {"stat": sig, "blob": blob, "hashed_ns": self._hashed_ns(old, found), "key": key}
        if not old or old.get("key") != key:
            return None, rel, record
        try:
            specs = [(self.make_spec(*row[:6]), (row[6], row[7])) for row in old["specs"]]
            problems = [Problem(*row) for row in old["problems"]]
        except (TypeError, KeyError, IndexError):
            return None, rel, record  # a damaged record: load the file again
        self.loader.problems.extend(problems)
        self.files[rel] = {**record, "specs": old["specs"], "problems": old["problems"]}
        return specs, rel, record

    def _load(self, todo: list[tuple[int, Path, str, dict[str, Any] | None]], out: list[_Loaded]) -> None:
        """Load the files the cache could not answer for, into their places in `out`, and record them."""
        loaded = self.loader.load_files([path for _, path, _, _ in todo])
        for (position, path, rel, record), (specs, problems) in zip(todo, loaded, strict=True):
            self.loader.problems.extend(problems)
            out[position] = specs
            if record is None:
                continue
            try:
                if _stat_key(os.lstat(path)) != record["stat"]:
                    continue  # changed while it was loaded: what was read may not be what was hashed
            except OSError:
                continue
            self.files[rel] = {**record, "problems": [list(_problem_row(p)) for p in problems],
                               "specs": [[s.id, s.source, s.launch, s.digest, s.description, s.labels, w[0], w[1]]
                                         for s, w in specs]}


def _write(folder: Path, files: Sequence[tuple[str, str]]) -> None:
    """Write each (name, text) into the cache folder, in order, each atomically (temp file + rename).

    Only beside an existing `.launchops/`: plan and validate leave a fresh repository as it is. A
    folder that cannot be written is fine: the next run does the work again, nothing else changes."""
    if not folder.parent.is_dir():
        return
    import tempfile  # only a run that writes pays for its import

    try:
        folder.mkdir(exist_ok=True)
        ignore = folder / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# written by launchops: a cache, safe to delete\n*\n", encoding="utf-8")
        for name, text in files:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}-", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
                os.replace(tmp, folder / name)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
    except (OSError, ValueError):
        pass


def _problem_row(problem: Problem) -> Sequence[Any]:
    return (problem.file, problem.line, problem.column, problem.message, problem.path, problem.warning)


# ---- the ledger's verdict ------------------------------------------------------------------------------
# Parsing a ledger checks every entry's digest against its launch and every object for repeated
# keys: a third of a warm no-op plan over 10,000 specs (profile). The verdict depends on the text
# alone, so the hash of a text that parsed cleanly is kept, and exactly that text is not checked again.
LEDGER_OK = "ledger.ok"


def ledger_key(text: str) -> str:
    """What ledger.ok and the index are kept under: the text, and the code that checks it."""
    digest = hashlib.sha256(f"format {FORMAT}\n{__version__}\n".encode())
    _add_sources(digest, Path(__file__).resolve().parent, ["ledger.py"])
    digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def ledger_verified(ledger_path: Path, key: str) -> bool:
    """True when exactly the ledger text of `key`, read by exactly this launchops, parsed without error."""
    try:
        known = (ledger_path.parent / CACHE_DIR / LEDGER_OK).read_text(encoding="utf-8").strip()
    except (OSError, ValueError):
        return False
    return bool(known) and known == key


def remember_ledger(ledger_path: Path, key: str, index: dict[str, list[Any]] | None = None) -> None:
    """Record that the text of `key` passed every check; with `index`, also its id -> [digest, status, change]."""
    files = [] if index is None else [(LEDGER_INDEX, key + "\n" + json.dumps(index))]
    _write(ledger_path.parent / CACHE_DIR, files + [(LEDGER_OK, key + "\n")])  # ledger.ok vouches for both: last


# ---- the ledger's index --------------------------------------------------------------------------------
# A no-op plan needs of each ledger entry only its digest, status and change; decoding the whole
# ledger (every launch: 19 MB for 10,000 specs) was most of a warm plan (profile). The index is
# kept under the same key as ledger.ok, so it answers only for exactly the text that passed.
LEDGER_INDEX = "ledger.index"


def ledger_index(ledger_path: Path, key: str, decode: bool = True) -> dict[str, list[Any]] | None:
    """id -> [digest, status, change] of exactly the ledger text of `key`, when it passed and was
    indexed; with decode=False only whether it was ({} or None)."""
    folder = ledger_path.parent / CACHE_DIR
    try:
        if not ledger_verified(ledger_path, key):
            return None
        with open(folder / LEDGER_INDEX, encoding="utf-8") as handle:
            if handle.readline().rstrip("\n") != key:
                return None
            index = json.loads(handle.read()) if decode else {}
    except (OSError, ValueError):
        return None
    return index if isinstance(index, dict) else None


# ---- the ledger's layout -------------------------------------------------------------------------------
# Where each entry lies in a ledger text, and whether launchops wrote exactly that text: a plan
# decodes only the entries it needs, and a write copies the text of entries that did not change.
LEDGER_LAYOUT = "ledger.layout"


def ledger_layout(ledger_path: Path, key: str) -> tuple[bool, dict[str, list[int]]] | None:
    """(written by launchops, id -> [start, end]) for exactly the ledger text of `key`."""
    try:
        with open(ledger_path.parent / CACHE_DIR / LEDGER_LAYOUT, encoding="utf-8") as handle:
            if handle.readline().rstrip("\n") != key:
                return None
            data = json.loads(handle.read())
        return bool(data["written"]), dict(data["spans"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember_layout(ledger_path: Path, key: str, written: bool, spans: dict[str, Any]) -> None:
    _write(ledger_path.parent / CACHE_DIR, [(LEDGER_LAYOUT, key + "\n" + json.dumps(
        {"written": written, "spans": spans}, separators=(",", ":"), ensure_ascii=False))])


# ---- the plan's verdict ---------------------------------------------------------------------------------
# Even answered from specs.json, a warm no-op plan over 10,000 specs stat'ed, decoded and rebuilt
# every spec (profile: 1.0 s of 1.2 s). Git already knows which files differ from a tree, in C. So
# a plan that found nothing to do is kept as a verdict: the tree of specs_dir it was made from, the
# ids each spec file declared, and a base key naming every other input (launchops itself with the
# libraries it parses and checks with, the settings, HEAD's ledger blob). While git vouches for
# the files (no entry marked assume-unchanged or skip-worktree, no symlink or submodule, the ledger
# as committed), the next plan needs only the files that differ from that tree: none is a no-op.
PLAN_NOOP = "plan.noop"


@dataclass(frozen=True)
class GitView:
    """What git says about specs_dir and the ledger, asked in one round."""
    base: str  # launchops, the settings and HEAD's ledger blob
    tree: str  # HEAD's tree of specs_dir
    root: str  # HEAD's whole tree: what later files are compared with
    clean: bool  # nothing under specs_dir differs from HEAD, nor is untracked or ignored
    untracked: tuple[str, ...]  # untracked and ignored files under specs_dir, repository-relative


@dataclass(frozen=True)
class Verdict:
    """A plan that found nothing to do, and what it was made from."""
    base: str
    tree: str
    root: str
    unchanged: int
    ids_text: str = field(repr=False)  # decoded only by a plan that has files to compare

    @cached_property
    def ids(self) -> dict[str, list[str]] | None:
        """Spec file (repository-relative) -> the ids it declared; None when damaged."""
        try:
            ids = json.loads(self.ids_text)
        except ValueError:
            return None
        ok = isinstance(ids, dict) and all(isinstance(v, list) and all(isinstance(i, str) for i in v)
                                           for v in ids.values())
        return ids if ok else None


def _git(root: Path, *commands: Sequence[str]) -> list[str | None]:
    """The output of each git command, run side by side; None for one that failed. Plain git:
    GitPython's import alone costs more than this whole check. `git status` may refresh git's stat
    cache in .git/index, as any `git status` does."""
    import subprocess

    env = {**os.environ, "GIT_LITERAL_PATHSPECS": "1", "LC_ALL": "C"}
    try:
        running = [subprocess.Popen(["git", *args], cwd=root, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) for args in commands]
    except OSError:
        return [None] * len(commands)
    out: list[str | None] = []
    for proc in running:
        try:
            stdout, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            stdout = None
        out.append(stdout.decode("utf-8", "surrogateescape") if stdout is not None and proc.returncode == 0
                   else None)
    return out


def _code_stamp(sources: Path | None = None) -> str:
    """launchops's whole source (a plan also depends on how the ledger is read and paired), the
    schema, and the libraries."""
    digest = hashlib.sha256(f"format {FORMAT}\n{_libraries()}\n".encode())
    here = sources or Path(__file__).resolve().parent
    _add_sources(digest, here, [p.relative_to(here).as_posix()
                                for p in sorted(here.rglob("*.py")) + sorted(here.glob("*.json"))])
    return digest.hexdigest()


def git_view(settings: Settings) -> GitView | None:
    """What git vouches for; None when it cannot (not a work tree, no commit, the ledger differs
    from HEAD, a merge in progress, a flagged entry, a symlink or a submodule under specs_dir)."""
    root = settings.root
    paths = [settings.specs_dir, settings.ledger]
    if any((root / p).resolve() != root / p for p in paths):
        return None  # reached through a symlink: git sees the link, not what the specs are read from
    status, entries, objects = _git(
        root, ["status", "--porcelain=v2", "--branch", "-z", "--no-renames", "--untracked-files=all",
               "--ignored=matching", "--", *paths],
        ["ls-files", "-v", "-s", "-z", "--", settings.specs_dir],
        ["rev-parse", "HEAD", "HEAD^{tree}", *(f"HEAD:./{Path(p).as_posix()}" for p in paths)])
    if status is None or entries is None or objects is None:
        return None  # not a git work tree, no commit yet, or nothing committed at one of the paths
    head, root_tree, tree, ledger_blob = objects.split()
    lines = [line for line in status.split("\0") if line]
    if f"# branch.oid {head}" not in lines:
        return None  # HEAD moved while git was asked
    # Each entry reads "H 100644 <blob> 0\t<path>": a tag other than H is a file git was told not to
    # look at; a mode other than a plain file is a symlink (its target is not in the tree) or a submodule
    if any(not e.startswith(("H 100644 ", "H 100755 ")) for e in entries.split("\0") if e):
        return None
    ledger = Path(settings.ledger).as_posix()
    changed = [line for line in lines if not line.startswith("# ")]
    if any(line.startswith(("u ", "2 ")) or line.endswith(" " + ledger) or line[2:] == ledger for line in changed):
        return None  # a merge in progress, or the ledger differs from HEAD
    try:
        stamp = _code_stamp()
    except (OSError, ImportError, ValueError):
        return None
    settings_text = json.dumps(settings.__dict__, sort_keys=True, default=str)
    base = hashlib.sha256(f"{stamp}\n{settings_text}\n{ledger_blob}".encode()).hexdigest()
    untracked = tuple(line[2:] for line in changed if line.startswith(("? ", "! ")))
    return GitView(base, tree, root_tree, not changed, untracked)


def changed_since(settings: Settings, root_tree: str) -> tuple[str, ...] | None:
    """Tracked files under specs_dir that differ from `root_tree` now (committed, staged or not);
    None when git cannot compare (the tree is gone)."""
    out, = _git(settings.root, ["diff", "--name-only", "-z", "--no-renames", root_tree, "--", settings.specs_dir])
    return None if out is None else tuple(p for p in out.split("\0") if p)


def read_verdict(settings: Settings) -> Verdict | None:
    try:
        with open(settings.state_dir / CACHE_DIR / PLAN_NOOP, encoding="utf-8") as handle:
            head = json.loads(handle.readline())
            verdict = Verdict(head["base"], head["tree"], head["root"], head["unchanged"], handle.read())
        if (head["format"] == FORMAT and all(isinstance(v, str) for v in (verdict.base, verdict.tree, verdict.root))
                and isinstance(verdict.unchanged, int)):
            return verdict
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        pass  # missing, corrupt or foreign: the full plan
    return None


def remember_verdict(settings: Settings, view: GitView, ids: dict[str, list[str]]) -> None:
    """Keep a plan that found nothing to do, made from the clean tree `view` names: a header line,
    then the ids of each spec file (read only when some files changed)."""
    head = {"format": FORMAT, "base": view.base, "tree": view.tree, "root": view.root,
            "unchanged": sum(len(v) for v in ids.values())}
    _write(settings.state_dir / CACHE_DIR, [(PLAN_NOOP, json.dumps(head, sort_keys=True) + "\n" + json.dumps(
        ids, separators=(",", ":"), sort_keys=True, ensure_ascii=False))])
