"""The applied-state ledger (version 2): what was enqueued for which change, committed beside the specs.

Layout (SPEC "The ledger"): a folder, `.launchops/ledger/`, with `_ledger.json` (the version, the
repository's id, the remote it was made under, the last identities of forgotten ids) and one
*shard* per spec source file, at the file's path under specs_dir plus `.json`. Every file is JSON
with sorted keys, two-space indent and one trailing newline, so a ledger commit touches only the
shards whose specs changed and diffs like the spec change that caused it.

A change's *identity* is a hash of its kind, the id, the identity of the previous change of that
id that may have been enqueued, and the new digest (and a slot's instant): every clone that reaches
the same change from the same recorded state computes the same identity. The *marker* an enqueue
carries is derived from the repository's id and the identity, so two repositories never share one.

The ledger is never edited in place: apply and status record Events (in the journal first), and
`fold` applies them. An event changes an entry's status only when its identity is the entry's
current change (or, for an intent, when it follows from it); any other event only adds the
QueuedRun IDs it carries: an ID a backend returned is never dropped. Folding is idempotent.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from json.encoder import encode_basestring as _quote  # json's own (C) string encoder
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from reconciler.settings import LEDGER_META, Settings, specs_prefix

VERSION = 2
META = LEDGER_META
SUFFIX = ".json"
STATUSES = ("pending", "applied", "failed", "unknown", "removed")
# Attempts that may or may not have reached the queue: looked up by marker before any retry.
UNCERTAIN = ("pending", "unknown")
RETRYABLE = ("pending", "unknown", "failed")
# Entry keys this launchops writes; any other key (written by a later minor release: schedule
# slots, preview namespaces) is kept as it was read.
_ENTRY_KEYS = ("applied_commit", "cell", "change", "claim", "digest", "error", "kind", "launch", "marker",
               "previous", "queued_runs", "status")


class LedgerError(Exception):
    """The ledger cannot be read; the message names the file and the fix. Nothing is written then."""


def identity(kind: str, spec_id: str, previous: str | None, digest: str, slot: str | None = None) -> str:
    """The identity of a change (SPEC "A change and its identity")."""
    parts = ["launchops change", kind, spec_id, previous or "", digest] + ([slot] if slot else [])
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def marker(repository: str, change: str) -> str:
    """The key every enqueue of one change carries, so a retry can find what an earlier try left."""
    return "lo-" + hashlib.sha256(f"{repository}\0{change}".encode()).hexdigest()[:24]


def new_repository_id() -> str:
    import secrets  # apply's, once per repository: a plan need not import it

    return secrets.token_hex(16)


@dataclass(frozen=True)
class Entry:
    """One spec's (or matrix cell's) applied state."""

    digest: str
    source: str  # repository-relative path of the spec file: which shard holds the entry
    launch: Mapping[str, Any]
    status: str
    change: str  # the identity of the entry's current change
    previous: str | None = None  # the identity `change` followed from (the last that may have been enqueued)
    applied_commit: str | None = None
    queued_runs: tuple[Mapping[str, Any], ...] = ()
    error: str | None = None
    # Who is enqueueing a `pending` change (host, pid, machine, at): another run that sees the
    # claim of a live applier leaves the change to it instead of racing it to the queue.
    claim: Mapping[str, Any] | None = None
    marker: str | None = None  # kept from version 1 (or an earlier repository id): what this change's sends carry
    kind: str = "change"  # change | replace | slot | preview:pr-N
    cell: Mapping[str, Any] | None = None  # a matrix cell's values
    extra: Mapping[str, Any] = field(default_factory=dict)  # keys of a later release, kept as read

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {**self.extra, "digest": self.digest, "launch": dict(self.launch),
                                "status": self.status, "change": self.change, "applied_commit": self.applied_commit,
                                "queued_runs": [dict(r) for r in self.queued_runs]}
        optional = {"previous": self.previous, "error": self.error, "claim": dict(self.claim) if self.claim else None,
                    "marker": self.marker, "kind": None if self.kind == "change" else self.kind,
                    "cell": dict(self.cell) if self.cell is not None else None}
        data.update({k: v for k, v in optional.items() if v is not None})
        return data

    @property
    def latest_run(self) -> Mapping[str, Any] | None:
        return self.queued_runs[-1] if self.queued_runs else None

    @property
    def basis(self) -> str | None:
        """The identity the next change of this id follows from: the last that may have been
        enqueued (a `failed` attempt sent nothing, so the one before it)."""
        return self.previous if self.status == "failed" else self.change

    def marker_in(self, repository: str) -> str:
        return self.marker or marker(repository, self.change)


@dataclass(frozen=True)
class Ledger:
    """The applied state of every spec, as the shards hold it."""

    specs: Mapping[str, Entry] = field(default_factory=dict)
    repository: str | None = None  # made once, by the first apply (or migrate)
    remote: str | None = None  # the remote URL the repository id was made under
    forgotten: Mapping[str, str] = field(default_factory=dict)  # id -> its last identity
    # source -> what its shard was made from (reconciler.cost); kept for shards not rewritten
    made_from: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    legacy: bool = False  # read from version 1: the next apply (or migrate) writes version 2
    unsealed: tuple[str, ...] = ()  # shards launchops did not write as they are (edited by hand): checked in full

    def basis(self, spec_id: str) -> str | None:
        entry = self.specs.get(spec_id)
        return entry.basis if entry is not None else self.forgotten.get(spec_id)


@dataclass(frozen=True)
class Event:
    """One durable fact about an apply, in the order it happened."""

    kind: str  # intent | enqueued | failed | unknown | removed | refreshed | scheduled | moved
    spec_id: str
    change: str  # the identity of the change it is about
    data: Mapping[str, Any] = field(default_factory=dict)


def add_run(runs: tuple[Mapping[str, Any], ...], run: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    """`runs` with `run` added, unless a run of its QueuedRun ID is there already."""
    return runs if any(r.get("id") == run.get("id") for r in runs) else (*runs, dict(run))


def fold(ledger: Ledger, events: Iterable[Event]) -> Ledger:
    specs = dict(ledger.specs)
    owners: dict[str, str] = {}  # change identity -> the id whose entry holds it; made when needed
    for event in events:
        entry = specs.get(event.spec_id)
        if entry is None and event.kind != "moved":
            event = _after_move(specs, owners, event)
            entry = specs.get(event.spec_id)
        if event.kind == "intent":
            folded = _fold_intent(entry, event, ledger.forgotten.get(event.spec_id))
        elif event.kind == "scheduled":
            folded = _fold_schedule(entry, event)
        elif event.kind == "moved":
            folded = _fold_move(specs, event)
        elif entry is None:
            continue
        else:
            folded = _fold_outcome(entry, event)
        if folded is not None:
            specs[event.spec_id] = folded
            if owners:
                owners[folded.change] = event.spec_id
    return replace(ledger, specs=specs)


def _after_move(specs: Mapping[str, Entry], owners: dict[str, str], event: Event) -> Event:
    """An event for an id the ledger does not hold whose change it holds under another id: that id
    was moved (a move keeps the change identity, which is unique to the id it was made for), say on
    the remote while this clone applied. The event goes to the new id, so the old one is not
    resurrected and no QueuedRun ID it got is lost. `owners` is filled on first use."""
    if not owners:
        owners.update((e.change, i) for i, e in specs.items())
    known = (event.change, event.data.get("previous"))  # an intent of an update that follows the move: its previous
    moved_to = next((owners[c] for c in known if isinstance(c, str) and c and c in owners), None)
    if moved_to is None or moved_to not in specs or moved_to == event.spec_id:
        return event
    data = {**event.data, "source": specs[moved_to].source} if "source" in event.data else event.data
    return replace(event, spec_id=moved_to, data=data)


def _fold_intent(entry: Entry | None, event: Event, forgotten: str | None) -> Entry | None:
    """The pending entry an intent starts; None when it does not follow from the entry's state
    (another clone's change took its place, or the change is applied already)."""
    after = event.data.get("previous")
    if entry is not None and event.change == entry.change:
        if entry.status == "applied" or entry.status == "removed":
            return None
        return replace(entry, status="pending", claim=event.data.get("claim"), error=None,
                       applied_commit=event.data.get("commit", entry.applied_commit))
    follows = (after == entry.basis or after == entry.change) if entry is not None else after == forgotten
    if not follows or not isinstance(event.change, str):
        return None
    return Entry(digest=event.data["digest"], source=event.data["source"], launch=event.data["launch"],
                 status="pending", change=event.change, previous=after, applied_commit=event.data.get("commit"),
                 queued_runs=entry.queued_runs if entry else (), claim=event.data.get("claim"),
                 marker=event.data.get("marker_kept"), kind=event.data.get("kind", "change"),
                 cell=event.data.get("cell"), extra=_with_schedule(entry.extra if entry else {}, event))


def _with_schedule(extra: Mapping[str, Any], event: Event) -> Mapping[str, Any]:
    """A slot's intent (or a schedule's upkeep) carries the schedule's record (reconciler.schedule):
    the run that records the intent has taken the slot."""
    record = event.data.get("schedule")
    return {**extra, "schedule": dict(record)} if isinstance(record, Mapping) else extra


def _fold_schedule(entry: Entry | None, event: Event) -> Entry:
    """A schedule's record without an enqueue (first seen, edited, slots missed). A scheduled spec
    that no slot has fired for yet gets an entry that has sent nothing: `applied`, no runs."""
    if entry is not None and entry.status != "removed":
        return replace(entry, extra=_with_schedule(entry.extra, event))
    return Entry(digest=event.data["digest"], source=event.data["source"], launch=event.data["launch"],
                 status="applied", change=event.change, previous=event.data.get("previous"),
                 queued_runs=entry.queued_runs if entry else (), kind="slot", cell=event.data.get("cell"),
                 extra=_with_schedule(entry.extra if entry else {}, event))


def _fold_move(specs: dict[str, Entry], event: Event) -> Entry | None:
    """An entry, its history and its change identity go to a new id (a move: reconciler.lifecycle);
    None when there is nothing to move: moved already, or the new id has an entry of its own."""
    old = specs.get(event.data["from"])
    taken = specs.get(event.spec_id)
    if old is None or old.change != event.change or (taken is not None and taken.status != "removed"):
        return None
    del specs[event.data["from"]]
    return replace(old, source=event.data["source"])


def _fold_outcome(entry: Entry, event: Event) -> Entry | None:
    """The entry after what happened to one of its changes; None when it is left as it is."""
    current = event.change == entry.change
    if event.kind == "enqueued":
        run = event.data["queued_run"]
        run = run if "change" in run or not isinstance(event.change, str) else {**run, "change": event.change}
        entry = replace(entry, queued_runs=add_run(entry.queued_runs, run))
        if current and entry.status != "removed":
            entry = replace(entry, status="applied", error=None, claim=None)
        return entry
    if event.kind in ("failed", "unknown"):
        if current and entry.status in RETRYABLE:
            return replace(entry, status=event.kind, error=event.data.get("error"), claim=None)
    elif event.kind == "removed":
        if current:
            return replace(entry, status="removed", error=None, claim=None)
    elif event.kind == "refreshed":
        runs = tuple({**r, **event.data["fields"]} if r.get("id") == event.data["id"] else r
                     for r in entry.queued_runs)
        return replace(entry, queued_runs=runs)
    return None


def intent(spec_id: str, change: str, previous: str | None, digest: str, source: str, launch: Mapping[str, Any],
           commit: str | None, claim: Mapping[str, Any] | None, marker_kept: str | None = None,
           kind: str = "change", mark: str = "", cell: Mapping[str, Any] | None = None,
           schedule: Mapping[str, Any] | None = None) -> Event:
    data: dict[str, Any] = {"digest": digest, "source": source, "launch": dict(launch), "commit": commit,
                            "claim": dict(claim) if claim else None, "previous": previous, "marker": mark}
    if cell is not None:
        data["cell"] = dict(cell)
    if schedule is not None:
        data["schedule"] = dict(schedule)
    if marker_kept:
        data["marker_kept"] = marker_kept
    if kind != "change":
        data["kind"] = kind
    return Event("intent", spec_id, change, data)


def as_events(ledger: Ledger, beside: Ledger | None = None) -> list[Event]:
    """Events that fold `ledger` into `beside` (another clone's), keeping what only `ledger` knows.

    Before a clone's unpushed ledger commits are dropped to catch up with its remote, what they
    hold beyond the remote's ledger goes into the journal as these events, so it is folded onto the
    remote's ledger rather than lost with the commits (they may hold IDs recorded nowhere else).
    A change the remote already knows is not re-asserted: its intent could replace the claim of
    another run that is enqueueing it right now. A change of ours that does not follow from the
    remote's entry (the remote moved on another way) keeps only its QueuedRun IDs there."""
    other_specs = beside.specs if beside else {}
    events: list[Event] = []
    repository = ledger.repository or ""
    for spec_id, entry in sorted(ledger.specs.items()):
        other = other_specs.get(spec_id)
        newer = other is None or other.change != entry.change
        mine = entry.marker_in(repository)
        record = entry.extra.get("schedule")
        unsent = isinstance(record, Mapping) and not any(r.get("change") == entry.change for r in entry.queued_runs)
        if newer and unsent and entry.status == "applied":  # a schedule no slot fired for: nothing was sent
            events.append(Event("scheduled", spec_id, entry.change, {
                "digest": entry.digest, "source": entry.source, "launch": dict(entry.launch),
                "previous": entry.previous, "cell": entry.cell, "schedule": record}))
        elif newer:
            events.append(intent(spec_id, entry.change, entry.previous, entry.digest, entry.source, entry.launch,
                                 entry.applied_commit, entry.claim, entry.marker, entry.kind,
                                 mine, entry.cell,
                                 record if isinstance(record, Mapping) else None))
        known = {r.get("id") for r in other.queued_runs} if other else set()
        for run in entry.queued_runs:
            if run.get("id") in known:
                continue
            # a run without its change recorded (version 1) is the current change's only by marker
            change = run.get("change") or (entry.change if run.get("marker") == mine else "")
            events.append(Event("enqueued", spec_id, str(change), {"queued_run": dict(run)}))
        if newer and entry.status in ("failed", "unknown"):
            events.append(Event(entry.status, spec_id, entry.change, {"error": entry.error}))
        elif newer and entry.status == "removed":
            events.append(Event("removed", spec_id, entry.change))
    return events


# ---- where the files are -------------------------------------------------------------------------

def shard_name(source: str, specs_dir: str) -> str:
    """The shard of a spec file, relative to the ledger folder: its path under specs_dir plus
    `.json`. Each segment is percent-encoded where it would collide: `%` always, a folder whose
    name ends in `.json` (a shard of that name may sit beside it), a name starting with `_` at the
    top (`_ledger.json`); a file outside specs_dir goes under `%2F` (its repository path)."""
    prefix = specs_prefix(specs_dir)
    outside = not source.startswith(prefix)
    parts = (source if outside else source[len(prefix):]).split("/")
    escaped = [quote(p, safe="") if p != ".." else "%2E%2E" for p in parts]
    escaped = [e[:-5] + "%2Ejson" if e.endswith(".json") and i < len(escaped) - 1 else e
               for i, e in enumerate(escaped)]
    if escaped[0].startswith("_"):
        escaped[0] = "%5F" + escaped[0][1:]
    return "/".join((["%2F"] if outside else []) + escaped) + SUFFIX


def source_of(name: str, specs_dir: str) -> str:
    """The inverse of shard_name."""
    parts = name[: -len(SUFFIX)].split("/")
    outside = parts[0] == "%2F"
    rel = "/".join(unquote(p) for p in (parts[1:] if outside else parts))
    return rel if outside else specs_prefix(specs_dir) + rel


# ---- reading -------------------------------------------------------------------------------------

_CONFLICT = re.compile(r"^(<{7}|={7}|>{7})( |$)", re.M)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise LedgerError(f"the key {key!r} appears twice in one object")
        seen[key] = value
    return seen


def _not_json(constant: str) -> Any:
    # Python's json reads NaN and Infinity; no other JSON reader does, and no launch holds them
    raise LedgerError(f"{constant} is not JSON")


def _fix(name: str) -> str:
    return f"restore it from git (git checkout -- {name}, or git log -p -- {name}) or remove the bad part by hand"


def decode(text: str, name: str, trusted: bool = False) -> Any:
    """The JSON of one ledger file, with every check a hand edit may need; `trusted`: launchops
    wrote exactly this text (its seal holds), so only json itself."""
    if trusted:
        return json.loads(text)
    if _CONFLICT.search(text):
        raise LedgerError(f"{name}: holds git merge-conflict markers; resolve the conflict (keep the union of both "
                          f"sides' queued_runs), then run launchops again")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_not_json)
    except LedgerError as exc:
        raise LedgerError(f"{name}: {exc}; {_fix(name)}") from None
    except json.JSONDecodeError as exc:
        raise LedgerError(f"{name}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}); {_fix(name)}") from None


def check_version(data: Any, name: str) -> int:
    if not isinstance(data, dict) or "version" not in data:
        raise LedgerError(f"{name}: not a launchops ledger (no \"version\"); {_fix(name)}")
    version = data["version"]
    if not isinstance(version, int) or isinstance(version, bool):  # true == 1 in Python
        raise LedgerError(f"{name}: \"version\" must be the number {VERSION}, not {json.dumps(version)}; "
                          f"{_fix(name)}")
    if version > VERSION or version < 1:
        raise LedgerError(f"{name}: ledger version {version} is newer than this launchops reads (it reads "
                          f"versions 1 and {VERSION}); upgrade launchops, and never edit the version by hand"
                          if version > VERSION else f"{name}: ledger version {version} is not one this launchops "
                          f"reads (it reads versions 1 and {VERSION}); {_fix(name)}")
    return version


def parse_meta(data: Any, name: str) -> Ledger:
    if check_version(data, name) != VERSION:
        raise LedgerError(f"{name}: must say \"version\": {VERSION}; {_fix(name)}")
    repository = data.get("repository")
    if not isinstance(repository, str) or not re.fullmatch(r"[0-9a-f]{32}", repository):
        raise LedgerError(f"{name}: \"repository\" must be 32 hex digits (made once, never edited); {_fix(name)}")
    forgotten = data.get("forgotten", {})
    if not isinstance(forgotten, dict) or not all(isinstance(v, str) for v in forgotten.values()):
        raise LedgerError(f"{name}: \"forgotten\" must map ids to identities; {_fix(name)}")
    remote = data.get("remote")
    return Ledger({}, repository, remote if isinstance(remote, str) else None, forgotten)


def parse_shard(data: Any, name: str, trusted: bool = False) -> tuple[str, dict[str, Entry], Mapping[str, Any] | None]:
    """(source, entries by id, what the shard was made from) of one decoded shard."""
    fix = _fix(name)
    if check_version(data, name) != VERSION:
        raise LedgerError(f"{name}: a shard must say \"version\": {VERSION}; {fix}")
    source, specs = data.get("source"), data.get("specs")
    if not isinstance(source, str):
        raise LedgerError(f"{name}: \"source\" must be the spec file's path; {fix}")
    if not isinstance(specs, dict):
        raise LedgerError(f"{name}: \"specs\" must be an object; {fix}")
    if "matrix" in data:
        from reconciler.matrix import unpack

        specs = unpack(specs, data["matrix"])
    entries = {spec_id: _entry(raw, source, f"{name}: specs[{spec_id!r}]", fix, trusted)
               for spec_id, raw in specs.items()}
    made = data.get("made_from")
    return source, entries, made if isinstance(made, dict) else None


def _entry(raw: Any, source: str, where: str, fix: str, trusted: bool = False) -> Entry:
    if not trusted:  # a sealed shard is launchops' own output: it passed these checks when written
        _check_entry(raw, where, fix)
    cell = raw.get("cell")
    return Entry(digest=raw["digest"], source=source, launch=raw["launch"], status=raw["status"],
                 change=raw["change"], previous=raw.get("previous"), applied_commit=raw.get("applied_commit"),
                 queued_runs=tuple(raw["queued_runs"]), error=raw.get("error"), claim=raw.get("claim"),
                 marker=raw.get("marker"), kind=str(raw.get("kind") or "change"),
                 cell=cell if isinstance(cell, dict) else None,
                 extra={k: v for k, v in raw.items() if k not in _ENTRY_KEYS})


def check_fields(raw: Any, where: str, fix: str, fields: tuple[tuple[str, type[object]], ...]) -> None:
    """The checks an entry of either ledger version must pass: its `fields` with their types, a
    known status, and runs that carry an id."""
    if not isinstance(raw, dict):
        raise LedgerError(f"{where} must be an object; {fix}")
    for key, kind in fields:
        if not isinstance(raw.get(key), kind):
            what = {"str": "a string", "dict": "an object", "list": "a list"}.get(kind.__name__, kind.__name__)
            raise LedgerError(f"{where}.{key} is missing or not {what}; {fix}")
    if raw["status"] not in STATUSES:
        raise LedgerError(f"{where}.status {raw['status']!r} is not one of {', '.join(STATUSES)}; {fix}")
    if any(not isinstance(r, dict) or not isinstance(r.get("id"), str) for r in raw["queued_runs"]):
        raise LedgerError(f"{where}.queued_runs holds an item without a string \"id\"; {fix}")


def _check_entry(raw: Any, where: str, fix: str) -> None:
    check_fields(raw, where, fix, (("digest", str), ("launch", dict), ("status", str), ("queued_runs", list),
                                   ("change", str)))
    _optional_strings(raw, where, fix)
    from reconciler.specs import digest_of  # specs brings YAML and JSON Schema: only when checking

    if digest_of(raw["launch"]) != raw["digest"]:
        raise LedgerError(f"{where}.digest does not match its launch (was the launch edited by hand?); {fix}")
    claim = raw.get("claim")
    if claim is not None and not claim_ok(claim):
        raise LedgerError(f"{where}.claim must be an object of host and machine (strings), pid (a whole number) "
                          f"and at (an ISO 8601 time with its zone); {fix}")


def _optional_strings(raw: Mapping[str, Any], where: str, fix: str) -> None:
    for key in ("previous", "marker", "error", "applied_commit"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise LedgerError(f"{where}.{key} must be a string; {fix}")


def claim_ok(claim: Any) -> bool:
    """The shape lock.claim writes; lock.claimed_elsewhere compares its time with an aware now."""
    if not isinstance(claim, dict) or not all(isinstance(claim.get(k), str) for k in ("host", "machine", "at")):
        return False
    if not isinstance(claim.get("pid"), int) or isinstance(claim["pid"], bool):
        return False
    try:
        return datetime.datetime.fromisoformat(claim["at"]).tzinfo is not None
    except ValueError:
        return False


# ---- the seal: did launchops write exactly this shard? ------------------------------------------
# A shard records the hash of its own text without the seal line. A hand edit (or a merge, or a
# pull request) that changes any other byte breaks it: that shard is checked in full and its spec
# loaded (reconciler.cost). It is no defence against someone who means harm, only against mistakes.
_SEAL = re.compile(r'^  "seal": "([0-9a-f]{64})",?\n', re.M)


def _sealed_text(text: str) -> str:
    return _SEAL.sub("", text, count=1)


def seal_holds(text: str) -> bool:
    found = _SEAL.search(text)
    return found is not None and found.group(1) == hashlib.sha256(_sealed_text(text).encode("utf-8")).hexdigest()


def dumps(data: Mapping[str, Any]) -> str:
    """`json.dumps(indent=2, sort_keys=True, ensure_ascii=False)` and a newline, byte for byte.
    json encodes in pure Python whenever `indent` is set: this is ~2.5x faster (10,000 shards)."""
    out: list[str] = []
    try:
        _encode(data, out, "")
    except _Unusual:
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return "".join(out) + "\n"


class _Unusual(Exception):
    """A value _encode leaves to json.dumps (a key that is not a string, NaN, a subclass of dict, …)."""


def _encode(value: Any, out: list[str], indent: str) -> None:
    kind = type(value)
    if kind is str:
        out.append(_quote(value))
    elif (kind is dict or kind is list) and value:
        inner = indent + "  "
        between = ",\n" + inner
        out.append(("{" if kind is dict else "[") + "\n" + inner)
        for i, item in enumerate(sorted(value.items()) if kind is dict else value):
            if i:
                out.append(between)
            if kind is dict:
                out.append(_key(item[0]))
                item = item[1]
            _encode(item, out, inner)
        out.append("\n" + indent + ("}" if kind is dict else "]"))
    else:
        out.append(_scalar(value))


def _key(key: Any) -> str:
    if type(key) is not str:
        raise _Unusual
    return _quote(key) + ": "


def _scalar(value: Any) -> str:
    if value is None or value is True or value is False:
        return "null" if value is None else "true" if value else "false"
    if type(value) is int or (type(value) is float and math.isfinite(value)):
        return repr(value)
    if type(value) is dict or type(value) is list:
        return "{}" if type(value) is dict else "[]"
    raise _Unusual


def shard_text(source: str, entries: Mapping[str, Entry], made_from: Mapping[str, Any] | None) -> str:
    from reconciler.matrix import pack  # a matrix spec's cells share one launch (SPEC "Matrix specs")

    packed, shared = pack({k: e.to_json() for k, e in sorted(entries.items())})
    data: dict[str, Any] = {"version": VERSION, "source": source, "specs": packed}
    if shared:
        data["matrix"] = shared
    if made_from:
        data["made_from"] = dict(made_from)
    bare = dumps(data)
    # "seal" sorts just before the top-level "source" (indent 2: the only line of its kind)
    at = bare.index('\n  "source": ') + 1
    return f'{bare[:at]}  "seal": "{hashlib.sha256(bare.encode("utf-8")).hexdigest()}",\n{bare[at:]}'


def meta_text(ledger: Ledger, index: Mapping[str, Any] | None = None) -> str:
    data: dict[str, Any] = {"version": VERSION, "repository": ledger.repository}
    if ledger.remote:
        data["remote"] = ledger.remote
    if ledger.forgotten:
        data["forgotten"] = dict(sorted(ledger.forgotten.items()))
    if index is not None:
        data["index"] = dict(index)  # what a plan knows of every shard without reading it (reconciler.cost)
    return dumps(data)


@dataclass(frozen=True)
class Shard:
    """One shard as read: its text, whether launchops wrote exactly it, and what it holds."""

    name: str  # relative to the ledger folder
    source: str
    entries: Mapping[str, Entry]
    made_from: Mapping[str, Any] | None
    sealed: bool


def read_shard(path: str | Path, name: str, shown: str) -> Shard:
    try:
        with open(path, encoding="utf-8") as handle:  # not Path.read_text: 10,000 shards feel its overhead
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise LedgerError(f"{shown}: cannot be read: {exc}") from None
    return parse_shard_text(text, name, shown)


def parse_shard_text(text: str, name: str, shown: str) -> Shard:
    sealed = seal_holds(text)
    source, entries, made = parse_shard(decode(text, shown, sealed), shown, sealed)
    return Shard(name, source, entries, made, sealed)


def shard_files(folder: Path) -> list[str]:
    """Every shard under the ledger folder, relative to it, sorted."""
    out: list[str] = []
    for here, dirs, names in os.walk(folder):
        dirs.sort()
        rel = os.path.relpath(here, folder)
        prefix = "" if rel == "." else Path(rel).as_posix() + "/"
        for name in sorted(names):
            if name.endswith(SUFFIX) and not (rel == "." and name == META) and not name.startswith("."):
                out.append(prefix + name)
    return out


def walk_order(rel: str) -> tuple[tuple[int, str], ...]:
    """Sorts relative paths as a sorted `os.walk` meets them: a folder's files, then its folders."""
    parts = rel.split("/")
    return (*((1, part) for part in parts[:-1]), (0, parts[-1]))


def assemble(meta: Ledger, shards: Sequence[Shard], shown: str) -> Ledger:
    """The ledger of these shards; an id in two shards is refused (each id lives in one)."""
    specs: dict[str, Entry] = {}
    where: dict[str, str] = {}
    made: dict[str, Mapping[str, Any]] = {}
    for shard in shards:
        for spec_id, entry in shard.entries.items():
            if spec_id in specs:
                raise LedgerError(f"{shown}/{shard.name}: id {spec_id!r} is also in {shown}/{where[spec_id]}; each "
                                  "id lives in the shard of the file that declares it: remove the stale one "
                                  "(git log -p shows which)")
            specs[spec_id], where[spec_id] = entry, shard.name
        if shard.made_from is not None and shard.sealed:
            made[shard.source] = shard.made_from
    unsealed = tuple(f"{shown}/{s.name}" for s in shards if not s.sealed)
    return replace(meta, specs=specs, made_from=made, unsealed=unsealed)


def read_folder(folder: Path, shown: str, names: Sequence[str] | None = None, decoded: Any = None) -> Ledger:
    """The version 2 ledger in `folder` (which holds `_ledger.json`). `names`: only these shards
    (relative to the folder; one that is not there is skipped), the part of the ledger a plan of
    what changed needs (reconciler.cost); `decoded`: `_ledger.json` as that read it, launchops' own."""
    meta_path = folder / META
    try:
        data = decoded if decoded is not None else decode(meta_path.read_text(encoding="utf-8"), f"{shown}/{META}")
        meta = parse_meta(data, f"{shown}/{META}")
    except (OSError, UnicodeDecodeError) as exc:
        raise LedgerError(f"{shown}/{META}: cannot be read: {exc}") from None
    wanted = shard_files(folder) if names is None else [n for n in sorted(set(names), key=walk_order)
                                                         if os.path.isfile(os.path.join(folder, n))]
    return assemble(meta, [read_shard(os.path.join(folder, n), n, f"{shown}/{n}") for n in wanted], shown)


def tombstone(folder_rel: str) -> str:
    return dumps({"version": VERSION, "moved_to": folder_rel.rstrip("/") + "/"})


def read(folder: Path, legacy: Path, shown: str, legacy_shown: str,
         v1_events: Sequence[tuple[str, str, int, Mapping[str, Any]]] = ()) -> Ledger:
    """The ledger: version 2 in `folder`, else version 1 in `legacy` (with `v1_events`, an
    interrupted version 1 apply's journal, folded in), else an empty one."""
    if (folder / META).exists():
        return read_folder(folder, shown)
    try:
        text = legacy.read_text(encoding="utf-8")
    except FileNotFoundError:
        if folder.is_dir() and shard_files(folder):
            raise LedgerError(f"{shown}/{META} is missing beside the shards; restore it from git "
                              f"(git checkout -- {shown}/{META})") from None
        return Ledger()
    except (OSError, UnicodeDecodeError) as exc:
        raise LedgerError(f"{legacy_shown}: cannot be read: {exc}") from None
    found = _version_1(text, legacy_shown, v1_events)
    if found is None:
        raise LedgerError(f"{legacy_shown}: the ledger moved to {shown}/, which is missing; restore it from git "
                          f"(git checkout -- {shown})")
    return found


def _version_1(text: str, name: str, events: Sequence[tuple[str, str, int, Mapping[str, Any]]] = ()) -> Ledger | None:
    """A version 1 ledger file, converted (None: the tombstone a migration leaves)."""
    from reconciler import ledger_v1

    data = decode(text, name)
    if check_version(data, name) == VERSION:
        return None
    old = ledger_v1.fold(ledger_v1.parse(data, name), events)
    return Ledger({k: ledger_v1.to_v2(k, e) for k, e in old.items()}, legacy=True)


# ---- writing -------------------------------------------------------------------------------------

def _write_text(path: Path, text: str) -> None:
    """Atomically (temp file, rename), with the mode a new file gets under the user's umask. Not
    fsynced: the journal is the durable record, and apply syncs once before it forgets the journal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".ledger-{os.getpid()}-{path.name}.tmp")  # one applier at a time: the lock
    try:
        # 0o666 under the umask: a ledger file is as readable as any file the user makes
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666), "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _by_source(ledger: Ledger) -> dict[str, dict[str, Entry]]:
    out: dict[str, dict[str, Entry]] = {}
    for spec_id, entry in ledger.specs.items():
        out.setdefault(entry.source, {})[spec_id] = entry
    return out


def _digests(entries: Mapping[str, Entry]) -> dict[str, str]:
    return {k: e.digest for k, e in entries.items() if e.status != "removed"}


def _records(ledger: Ledger, changed: Sequence[str], made: Mapping[str, Mapping[str, Any] | None],
             mine: Mapping[str, Mapping[str, Entry]],
             theirs: Mapping[str, Mapping[str, Entry]] | None) -> dict[str, Mapping[str, Any]]:
    """What each shard is made from after a write: new records for the rewritten shards, an old
    one kept only while its shard's digests are the same."""
    records = dict(ledger.made_from)
    for source in changed:
        if source in made:
            new = made[source]
        elif theirs is not None and source in theirs and _digests(theirs[source]) == _digests(mine[source]):
            new = ledger.made_from.get(source)
        else:
            new = None
        if new is None:
            records.pop(source, None)
        else:
            records[source] = new
    return records


Inputs = Callable[[Ledger, Sequence[str]], Mapping[str, Mapping[str, Any] | None]]
Index = Callable[[Ledger], Mapping[str, Any] | None]


def write(folder: Path, ledger: Ledger, specs_dir: str, inputs: Inputs | None = None,
          base: Ledger | None = None, index: Index | None = None) -> tuple[list[str], Ledger]:
    """Write the shards whose entries differ from `base` (what is on disk; None: every shard) and
    remove those of sources with no entry left; returns the names written or removed (relative to
    the folder) and the ledger as written (with what each shard is made from). `inputs` says what
    the rewritten shards' files are made from now; without it a shard keeps its record only while
    its digests are the same (a record must never vouch for entries its file did not load to).
    `index` gives `_ledger.json`'s index of the ledger as written (None: it has none)."""
    mine = _by_source(ledger)
    theirs = _by_source(base) if base is not None and not base.legacy else None
    if theirs is None:
        changed = sorted(mine)
    else:
        changed = sorted(s for s, entries in mine.items() if s not in theirs or len(theirs[s]) != len(entries)
                         or any(theirs[s].get(k) is not e for k, e in entries.items()))
    records = _records(ledger, changed, dict(inputs(ledger, changed)) if inputs else {}, mine, theirs)
    final = replace(ledger, made_from={k: v for k, v in records.items() if k in mine})
    wanted = {META: meta_text(ledger, index(final) if index else None)}
    for source in changed:
        wanted[shard_name(source, specs_dir)] = shard_text(source, mine[source], records.get(source))
    gone = [shard_name(s, specs_dir) for s in (theirs or {}) if s not in mine]
    written: list[str] = []
    for name, text in sorted(wanted.items()):
        path = folder / name
        try:
            if path.read_text(encoding="utf-8") == text:
                continue
        except (OSError, UnicodeDecodeError):
            pass
        _write_text(path, text)
        written.append(name)
    if theirs is None and folder.is_dir():
        names = set(wanted) | {shard_name(s, specs_dir) for s in mine}
        gone = [n for n in shard_files(folder) if n not in names]
    for name in gone:
        (folder / name).unlink(missing_ok=True)
        written.append(name)
    return written, final


# A withdrawn run stays (SPEC): it says why the change it was sent for never ran; `withdrawing` is a
# withdraw an apply was stopped in the middle of, which the next apply finishes. A `claimed` or
# `running` run that a withdraw kept (it will run) stays visible until a refresh reads it settled.
_KEPT_STATES = ("withdrawn", "withdrawing", "claimed", "running")


def compacted(ledger: Ledger) -> tuple[Ledger, list[tuple[str, str]]]:
    """Runs of earlier changes that are settled (not pending or unknown on the queue, not of an
    uncertain change) leave the shard; git history keeps them, and the commit message lists them
    (id, QueuedRun ID). Runs without a recorded change (from version 1) stay."""
    specs: dict[str, Entry] = {}
    dropped: list[tuple[str, str]] = []
    for spec_id, entry in ledger.specs.items():
        keep = [r for r in entry.queued_runs
                if not r.get("change") or r.get("change") == entry.change or r.get("state") in UNCERTAIN
                or r.get("state") is None or r.get("state") in _KEPT_STATES]
        if len(keep) == len(entry.queued_runs):
            specs[spec_id] = entry
            continue
        dropped.extend((spec_id, str(r.get("id"))) for r in entry.queued_runs if r not in keep)
        specs[spec_id] = replace(entry, queued_runs=tuple(keep))
    return replace(ledger, specs=specs), dropped


def load(settings: Settings, v1_events: Sequence[tuple[str, str, int, Mapping[str, Any]]] = ()) -> Ledger:
    """The repository's ledger as the settings place it (version 1 read and converted, not written)."""
    return read(settings.ledger_path, settings.legacy_path, settings.ledger_dir, settings.legacy_ledger, v1_events)


def from_texts(files: Mapping[str, str], settings: Settings, where: str) -> Ledger | None:
    """The ledger in `files` (repository-relative path -> text: a commit's ledger folder and
    version 1 file); None when there is none. `where` names the commit in messages."""
    prefix = settings.ledger_dir + "/"
    meta = files.get(prefix + META)
    if meta is not None:
        shown = f"{where}:{settings.ledger_dir}"
        base = parse_meta(decode(meta, f"{shown}/{META}"), f"{shown}/{META}")
        shards = [parse_shard_text(text, rel[len(prefix):], f"{where}:{rel}") for rel, text in sorted(files.items())
                  if rel.startswith(prefix) and rel.endswith(SUFFIX) and rel != prefix + META]
        return assemble(base, shards, shown)
    legacy = files.get(settings.legacy_ledger)
    return None if legacy is None else _version_1(legacy, f"{where}:{settings.legacy_ledger}")
