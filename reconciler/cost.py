"""What changed: the committed ledger is the cache, locally and in a fresh CI clone alike.

Each shard records what its spec file was loaded from when launchops last wrote it (`made_from`):
the git blob hash of the spec file, of every `_defaults.yaml`/`.yml` from specs_dir down to its
folder, and a key of the repository settings and launchops' own rules (its version, the schema
and the code that reads and checks a spec). A plan or validate asks git for HEAD's blobs under
specs_dir (`git ls-tree`) and for the files whose content git cannot vouch is HEAD's (`git
status`, flagged entries); a file whose inputs all equal its shard's record is not read: its specs
are the shard's entries (the effective, normalised launch, and so the digest, are exactly what a
load gives). Every other file is loaded. The result is exactly that of a full load: a record is
written only for a file whose load gave exactly its shard's entries and no warning, and a shard
whose seal does not hold (edited by hand, or in a pull request) vouches for nothing: it is checked
in full when the ledger is read, named in the plan, and its spec file is loaded.

Nothing here is kept outside git: there is no cache to go stale, be corrupt or be missing.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from reconciler import __version__, gitrepo
from reconciler.ledger import META, RETRYABLE, SUFFIX, Inputs, Ledger, read_folder, shard_name, source_of
from reconciler.settings import Settings, specs_prefix
from reconciler.specs import (
    DEFAULTS_NAMES,
    MOVED_NAME,
    SPEC_SUFFIXES,
    Spec,
    SpecSet,
    default_id,
    is_input,
    is_spec,
    load_specs,
)

# What reads or checks a spec: a change to any of them may change what a file loads to.
_RULES = ("yamlload.py", "specs.py", "loader.py", "checks.py", "secrets.py", "problems.py", "matrix.py",
          "schedule.py", "cost.py", "launch-spec.v1.schema.json")  # cost.py: what a record may vouch for


def blob_hash(data: bytes) -> str:
    """Git's object id of a blob with this content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@cache
def _rules_digest() -> str:
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(f"launchops {__version__}\n".encode())
    for name in _RULES:
        try:
            data = (here / name).read_bytes()
        except OSError:
            data = b"missing"
        digest.update(name.encode() + b"\0" + data + b"\0")
    return digest.hexdigest()


def rules_key(settings: Settings) -> str:
    """The settings a load depends on and launchops' rules; the same on every machine."""
    shared = json.dumps({"backend": settings.backend, "max_spec_bytes": settings.max_spec_bytes,
                         "specs_dir": settings.specs_dir, "defaults": settings.launch_defaults}, sort_keys=True)
    return hashlib.sha256(f"{_rules_digest()}\n{shared}".encode()).hexdigest()[:32]


def _defaults_above(settings: Settings, source: str) -> list[list[str]]:
    """The defaults files that may sit above `source`, repository-relative, a list per folder from
    specs_dir down to the source's."""
    prefix = specs_prefix(settings.specs_dir)
    folders = [prefix[:-1] or "."]
    for part in source[len(prefix):].split("/")[:-1]:
        folders.append(part if folders[-1] == "." else f"{folders[-1]}/{part}")
    return [[name if folder == "." else f"{folder}/{name}" for name in DEFAULTS_NAMES] for folder in folders]


def _defaults_of(settings: Settings, source: str, exists: Mapping[str, str],
                 memo: dict[str, dict[str, str]]) -> dict[str, str]:
    """rel -> blob of each defaults file above `source`, among `exists` (`memo`: by folder)."""
    folder = source.rpartition("/")[0]
    if folder in memo:
        return memo[folder]
    out = memo.setdefault(folder, {})
    for level in _defaults_above(settings, source):
        out.update((rel, exists[rel]) for rel in level if rel in exists)
    return out


def record(settings: Settings, sources: Iterable[str]) -> dict[str, dict[str, Any]]:
    """What each spec file is made from now, hashed from the files on disk (apply writes it into
    the shards it writes; the files are what it loaded)."""
    key = rules_key(settings)
    blobs: dict[str, str] = {}

    def blob(rel: str) -> str | None:
        if rel not in blobs:
            try:
                path = settings.root / rel
                blobs[rel] = "" if path.is_symlink() else blob_hash(path.read_bytes())
            except OSError:
                blobs[rel] = ""
        return blobs[rel] or None

    above: dict[str, dict[str, str]] = {}  # folder -> its defaults files: 10,000 files share ~200 folders
    out: dict[str, dict[str, Any]] = {}
    for source in sources:
        spec = blob(source)
        if spec is not None:
            out[source] = {"spec": spec, "defaults": _defaults_on_disk(settings, source, blob, above), "rules": key}
    return out


def _defaults_on_disk(settings: Settings, source: str, blob: Callable[[str], str | None],
                      above: dict[str, dict[str, str]]) -> dict[str, str]:
    folder = source.rpartition("/")[0]
    if folder not in above:
        above[folder] = {}
        for level in _defaults_above(settings, source):
            for rel in level:
                if os.path.lexists(settings.root / rel):
                    found = blob(rel)
                    if found is None:
                        break
                    above[folder][rel] = found
    return dict(above[folder])


def _vouched(settings: Settings, made_from: Mapping[str, Mapping[str, Any]], head: Mapping[str, str]) -> set[str]:
    """The sources whose shard's record equals their inputs in `head` (path -> blob)."""
    key = rules_key(settings)
    above: dict[str, dict[str, str]] = {}  # folder -> the defaults above it: 10,000 files share ~200 folders
    return {source for source, made in made_from.items()
            if made.get("rules") == key and head.get(source) == made.get("spec")
            and _defaults_of(settings, source, head, above) == made.get("defaults")}


def known_specs(settings: Settings, ledger: Ledger, sources: Sequence[str] | None = None,
                differ: set[str] | None = None) -> dict[str, list[Spec]]:
    """Spec file -> its specs, for every file whose inputs are exactly what its shard recorded;
    {} when git cannot vouch for the files (not a work tree, no commit). `sources`: only these
    files; `differ`: what git cannot vouch for, when it was asked already (gitrepo.unlike_head)."""
    if not ledger.made_from:
        return {}
    root = settings.root
    if (root / settings.specs_dir).resolve() != root / settings.specs_dir:
        return {}  # reached through a symlink: git sees the link, not what the specs are read from
    wanted = [settings.specs_dir] if sources is None else _with_defaults(settings, sources)
    head = gitrepo.tree_blobs(root, "HEAD", wanted) if wanted else {}
    differ = gitrepo.unlike_head(root, [settings.specs_dir]) if differ is None else differ
    if head is None or differ is None:
        return {}
    if not _defaults_from_disk(root, differ, head):
        return {}
    from reconciler.schedule import from_record  # only a plan that reads a shard needs it

    by_source: dict[str, list[Spec]] = {}
    for spec_id, entry in ledger.specs.items():
        if entry.status != "removed":
            by_source.setdefault(entry.source, []).append(
                Spec(spec_id, entry.source, entry.launch, entry.digest, cell=entry.cell,
                     # the shard records its schedule: due slots are found without the spec file
                     schedule=from_record(entry.extra.get("schedule"))))
    fresh = {source: made for source, made in ledger.made_from.items() if source not in differ}
    return {source: sorted(by_source.get(source, []), key=lambda s: s.id)
            for source in _vouched(settings, fresh, head)}


def _with_defaults(settings: Settings, sources: Iterable[str]) -> list[str]:
    """The sources and every defaults file that may sit above them."""
    out = set(sources)
    for source in sources:
        for level in _defaults_above(settings, source):
            out.update(level)
    return sorted(out)


def _defaults_from_disk(root: Path, differ: set[str], blobs: dict[str, str]) -> bool:
    """A defaults file git cannot vouch for is hashed from disk (a spec file is simply loaded);
    False when one is not a plain file (loaded in full then)."""
    for rel in differ:
        if rel.rsplit("/", 1)[-1] in DEFAULTS_NAMES:
            path = root / rel
            blobs.pop(rel, None)
            if os.path.lexists(path):
                if path.is_symlink() or not path.is_file():
                    return False
                blobs[rel] = blob_hash(path.read_bytes())
    return True


def shard_inputs(settings: Settings, specs: SpecSet) -> Inputs:
    """For apply: given the SpecSet it loaded, source -> what each written shard is made from, or
    None where the shard may not vouch for its file (its entries are not exactly the file's specs,
    the file had a warning that only a load shows, or a spec in it says what its entry does not
    hold: `moved_from`, whose warnings depend on the ledger, or `lifecycle:`, which decides a
    retry's withdraw)."""
    warned = {w.file for w in specs.warnings}
    warned |= {spec.source for spec in specs.specs.values() if spec.moved_from or spec.lifecycle}
    by_source: dict[str, dict[str, str]] = {}
    for spec_id, spec in specs.specs.items():
        by_source.setdefault(spec.source, {})[spec_id] = spec.digest

    def inputs(ledger: Ledger, sources: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        wanted = list(sources)
        asked = set(wanted)  # a list here made an apply of 10,000 creates quadratic
        entries: dict[str, dict[str, str]] = {}
        for spec_id, entry in ledger.specs.items():
            if entry.status != "removed" and entry.source in asked:
                entries.setdefault(entry.source, {})[spec_id] = entry.digest
        fine = [s for s in wanted if s not in warned and entries.get(s, {}) == by_source.get(s, {}) and s in by_source]
        made = record(settings, fine)
        return {s: made.get(s) for s in wanted}
    return inputs


# ---- the index: what a plan knows of every shard without reading it --------------------------------
#
# Reading 10,000 shards is most of a plan of nothing. So each ledger commit keeps, in
# `_ledger.json`, an index of every shard as of that commit's specs tree, and names in a trailer
# (gitrepo.STAMP) the tree it committed: a commit amended since holds another, and is not believed.
# A plan starts from the newest stamped commit in HEAD's history, asks git what differs from it
# (commits since, and the working tree), and reads only those shards and files, the shards the
# index says need a look (a retry, a schedule, a file they do not vouch for) and the ones holding
# an id that a file read declares; the rest are counted, unread. The index changes only when ids,
# files or such needs do: a commit of ten updates still touches ten shards.

PLAIN = 1  # a shard that vouches for its file and holds one applied spec under the file's own id


def index(settings: Settings, ledger: Ledger) -> tuple[dict[str, Any], str] | None:
    """The index of `ledger` (as written) and the specs tree (HEAD's) it describes; None when a
    plan must read everything anyway (no commit yet, a link or submodule under specs_dir, whose
    meaning only a walk of the folder knows)."""

    found = gitrepo.tree_rows(settings.root, "HEAD", settings.specs_dir)
    if found is None:
        return None
    tree, rows = found
    head: dict[str, str] = {}
    for mode, _, obj, rel in rows:
        if mode in ("100644", "100755"):
            head[rel] = obj
        elif not any(part.startswith(".") for part in rel.split("/")):
            return None
    files = {rel for rel in head if is_spec(settings, rel)}
    vouched = _vouched(settings, ledger.made_from, head)
    by_source: dict[str, dict[str, Any]] = {}
    for spec_id, entry in ledger.specs.items():
        by_source.setdefault(entry.source, {})[spec_id] = entry
    shards: dict[str, Any] = {}
    for source in sorted(files | set(by_source)):
        entries = by_source.get(source, {})
        live = [i for i, e in entries.items() if e.status != "removed"]
        read = (any(e.status in RETRYABLE or "schedule" in e.extra for e in entries.values())
                or (source not in vouched and (source in files or bool(live))))
        if not read and source in files and len(entries) == 1 and live == [default_id(settings, source)]:
            shards[source] = PLAIN
        else:
            shards[source] = {"file": source in files, "ids": sorted(entries), "live": len(live), "read": read}
    return {"rules": rules_key(settings), "shards": shards}, tree


@dataclass(frozen=True)
class Scope:
    """What a plan of what changed reads: these spec files and shards; the index counts the rest."""

    files: frozenset[str]
    shards: frozenset[str]  # relative to the ledger folder
    differ: frozenset[str]  # what git cannot vouch is HEAD's under specs_dir
    meta: Mapping[str, Any]  # `_ledger.json`, decoded: the stamped commit's own

    @property
    def index(self) -> Mapping[str, Any]:
        """source -> PLAIN or its record, as of the stamped commit."""
        shards: Mapping[str, Any] = self.meta["index"]["shards"]
        return shards


def scope(settings: Settings, asking: gitrepo.SinceStamp) -> Scope | None:
    """The files and shards that differ from the newest stamped ledger commit, and those its index
    says need a look; None when everything must be read (no stamp, the index is not the one on
    disk, settings or launchops' rules changed, a moves file, links, or most of it changed).
    `asking`: git's answers about specs_dir and the ledger folder (engine asks before it imports)."""

    root, specs_dir, ledger_dir = settings.root, settings.specs_dir, settings.ledger_dir
    found = asking.answer()
    if found is None or (root / specs_dir).resolve() != root / specs_dir \
            or os.path.lexists(settings.specs_path / MOVED_NAME):
        return None  # no stamp; specs reached through a link; moves are resolved against the whole ledger
    try:
        # the stamped commit's own: _touched refuses a `_ledger.json` that differs from it since
        text = (settings.ledger_path / META).read_bytes()
    except OSError:
        return None
    meta = _index_of(text, rules_key(settings))
    kept: dict[str, Any] = meta["index"]["shards"] if meta is not None else {}
    touched = None if meta is None else _touched(settings, set(found.since) | found.unlike_head, kept)
    if meta is None or touched is None:
        return None
    files, names = touched
    files |= {source for source, known in kept.items() if known != PLAIN and known["read"]}
    files |= {source_of(name, specs_dir) for name in names}
    if len(files) > max(256, len(kept) // 4):
        return None  # as much as everything: a full load answers as fast
    names |= {shard_name(source, specs_dir) for source in files}
    inside = ledger_dir + "/"
    differ = frozenset(r for r in found.unlike_head if not r.startswith(inside))
    return Scope(frozenset(files), frozenset(names), differ, meta)


def _touched(settings: Settings, paths: set[str], kept: Mapping[str, Any]) -> tuple[set[str], set[str]] | None:
    """(spec files, shard names) among the paths that differ; None when one changes more than
    itself (`_ledger.json`, the moves file, a link or a folder)."""

    files: set[str] = set()
    names: set[str] = set()
    inside = settings.ledger_dir + "/"
    for rel in paths:
        if rel.startswith(inside):
            name = rel[len(inside):]
            if name == META:
                return None
            if name.endswith(SUFFIX) and not name.rsplit("/", 1)[-1].startswith("."):
                names.add(name)
            continue
        if os.path.islink(settings.root / rel) or os.path.isdir(settings.root / rel):
            return None  # a link or a folder: what it means, only a walk of the folder says
        if not is_input(settings, rel):
            continue  # a load never reads it
        last = rel.rsplit("/", 1)[-1]
        if last == MOVED_NAME:
            return None
        if last in DEFAULTS_NAMES:  # every spec below it
            folder = rel[: len(rel) - len(last)]
            files.update(source for source in kept if source.startswith(folder))
        else:
            files.add(rel)
    return files, names


def _index_of(text: bytes, key: str) -> dict[str, Any] | None:
    """`_ledger.json`, decoded, when its index is well formed and made under `key`."""
    try:
        data: dict[str, Any] = json.loads(text)
    except ValueError:
        return None
    found = data.get("index") if isinstance(data, dict) else None
    if not isinstance(found, dict) or found.get("rules") != key or not isinstance(found.get("shards"), dict):
        return None
    shards: dict[str, Any] = found["shards"]
    for known in shards.values():
        if known != PLAIN and not (isinstance(known, dict) and isinstance(known.get("ids"), list)
                                   and isinstance(known.get("live"), int) and isinstance(known.get("file"), bool)
                                   and isinstance(known.get("read"), bool)):
            return None
    return data


def load(settings: Settings, asking: gitrepo.SinceStamp, also: Iterable[str] = ()) -> tuple[Ledger, SpecSet] | None:
    """The ledger and the specs a plan or validate needs, reading only what changed since the
    newest stamped ledger commit (`also`: ids to hold as well, as apply --replace names them);
    the specs count every unread one. None when everything must be read."""

    found = scope(settings, asking)
    if found is None:
        return None
    holders = _holders(settings, found.index)
    files, names = set(found.files), set(found.shards)
    for _ in range(4):
        partial = read_folder(settings.ledger_path, settings.ledger_dir, sorted(names), found.meta)
        known = known_specs(settings, partial, sorted(files), set(found.differ))
        # a plan of nothing has no file to look at: YAML and the checks are not even imported
        loaded = load_specs(settings, known=known, only=sorted(files)) if files else SpecSet({}, (), 0)
        # an id a file read declares, or held by a shard read, may also be in a shard not read:
        # that one is read too, so a duplicate, a move or a previous change is seen as a full load sees it
        ids = {*loaded.specs, *partial.specs, *also, *(old for s in loaded.specs.values() for old in s.moved_from)}
        more = {source for spec_id in ids for source in holders(spec_id)} - files
        if not more:
            break
        files |= more
        names |= {shard_name(source, settings.specs_dir) for source in more}
    else:
        return None
    unread = unread_files = 0  # the unread specs and files, in one pass over the index
    for source, known in found.index.items():
        if source not in files:
            unread += 1 if known == PLAIN else known["live"]
            unread_files += 1 if known == PLAIN or known["file"] else 0
    return partial, replace(loaded, unread=unread, files=loaded.files + unread_files)


def _holders(settings: Settings, shards: Mapping[str, Any]) -> Callable[[str], list[str]]:
    """id -> the sources whose shard may hold it, by the index: a plain shard holds its file's own id
    (and a matrix spec's shard, at its file's id, its cells)."""

    prefix = specs_prefix(settings.specs_dir)
    named: dict[str, list[str]] = {}
    for source, known in shards.items():
        if known != PLAIN:
            for spec_id in known["ids"]:
                named.setdefault(spec_id, []).append(source)

    def holders(spec_id: str) -> list[str]:
        own = [prefix + spec_id + suffix for suffix in SPEC_SUFFIXES if prefix + spec_id + suffix in shards]
        return own + named.get(spec_id, [])
    return holders
