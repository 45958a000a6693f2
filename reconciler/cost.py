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
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from reconciler import __version__, gitrepo
from reconciler.ledger import Inputs, Ledger
from reconciler.schedule import from_record
from reconciler.settings import Settings
from reconciler.specs import DEFAULTS_NAMES, Spec, SpecSet

# What reads or checks a spec: a change to any of them may change what a file loads to.
_RULES = ("yamlload.py", "specs.py", "checks.py", "secrets.py", "problems.py", "matrix.py", "schedule.py",
          "launch-spec.v1.schema.json")


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


def _folders(settings: Settings, source: str) -> list[str]:
    """specs_dir and every folder below it down to the source's, repository-relative."""
    top = Path(settings.specs_dir).as_posix()
    prefix = "" if top == "." else top + "/"
    parts = source[len(prefix):].split("/")[:-1]
    out = [top]
    for part in parts:
        out.append(part if out[-1] == "." else f"{out[-1]}/{part}")
    return out


def _defaults_of(settings: Settings, source: str, exists: Mapping[str, str],
                 memo: dict[str, dict[str, str]]) -> dict[str, str]:
    """rel -> blob of each defaults file above `source`, among `exists` (`memo`: by folder)."""
    folder = source.rpartition("/")[0]
    if folder in memo:
        return memo[folder]
    out = memo.setdefault(folder, {})
    for above in _folders(settings, source):
        for name in DEFAULTS_NAMES:
            rel = name if above == "." else f"{above}/{name}"
            if rel in exists:
                out[rel] = exists[rel]
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
        for level in _folders(settings, source):
            for name in DEFAULTS_NAMES:
                rel = name if level == "." else f"{level}/{name}"
                if os.path.lexists(settings.root / rel):
                    found = blob(rel)
                    if found is None:
                        break
                    above[folder][rel] = found
    return dict(above[folder])


def known_specs(settings: Settings, ledger: Ledger) -> dict[str, list[Spec]]:
    """Spec file -> its specs, for every file whose inputs are exactly what its shard recorded;
    {} when git cannot vouch for the files (not a work tree, no commit)."""
    if not ledger.made_from:
        return {}
    root = settings.root
    if (root / settings.specs_dir).resolve() != root / settings.specs_dir:
        return {}  # reached through a symlink: git sees the link, not what the specs are read from
    head = gitrepo.tree_blobs(root, "HEAD", [settings.specs_dir])
    differ = gitrepo.unlike_head(root, [settings.specs_dir])
    if head is None or differ is None:
        return {}
    key = rules_key(settings)
    if not _defaults_from_disk(root, differ, head):
        return {}
    by_source: dict[str, list[Spec]] = {}
    for spec_id, entry in ledger.specs.items():
        if entry.status != "removed":
            by_source.setdefault(entry.source, []).append(
                Spec(spec_id, entry.source, entry.launch, entry.digest, cell=entry.cell,
                     # the shard records its schedule: due slots are found without the spec file
                     schedule=from_record(entry.extra.get("schedule"))))
    out: dict[str, list[Spec]] = {}
    above: dict[str, dict[str, str]] = {}  # folder -> the defaults above it: 10,000 files share ~200 folders
    for source, made in ledger.made_from.items():
        if (source in differ or made.get("rules") != key or head.get(source) != made.get("spec")
                or _defaults_of(settings, source, head, above) != made.get("defaults")):
            continue
        out[source] = sorted(by_source.get(source, []), key=lambda s: s.id)
    return out


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
    or the file had a warning that only a load shows)."""
    warned = {w.file for w in specs.warnings}
    by_source: dict[str, dict[str, str]] = {}
    for spec_id, spec in specs.specs.items():
        by_source.setdefault(spec.source, {})[spec_id] = spec.digest

    def inputs(ledger: Ledger, sources: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        wanted = list(sources)
        entries: dict[str, dict[str, str]] = {}
        for spec_id, entry in ledger.specs.items():
            if entry.status != "removed" and entry.source in wanted:
                entries.setdefault(entry.source, {})[spec_id] = entry.digest
        fine = [s for s in wanted if s not in warned and entries.get(s, {}) == by_source.get(s, {}) and s in by_source]
        made = record(settings, fine)
        return {s: made.get(s) for s in wanted}
    return inputs
