"""The applied-state ledger: what was enqueued for which spec, committed beside the specs.

The ledger is never edited in place: apply and status record Events (in the journal first), and
`fold` applies them. Folding is idempotent, so replaying a journal after a crash, or twice, gives
the same ledger. An event about an older change of a spec only ever adds QueuedRun IDs: an ID a
backend returned is never dropped.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

VERSION = 1
STATUSES = ("pending", "applied", "failed", "unknown", "removed")
# Attempts that may or may not have reached the queue: looked up by marker before any retry.
UNCERTAIN = ("pending", "unknown")
RETRYABLE = ("pending", "unknown", "failed")


class LedgerError(Exception):
    """The ledger cannot be read; the message names it and the fix. Nothing is written then."""


@dataclass(frozen=True)
class Entry:
    digest: str
    source: str
    launch: Mapping[str, Any]
    status: str
    change: int = 1  # how many times this id has reached a new digest; part of the enqueue marker
    applied_commit: str | None = None
    queued_runs: tuple[Mapping[str, Any], ...] = ()
    error: str | None = None
    # Who is enqueueing a `pending` change (host, pid, machine, at): another run that sees the
    # claim of a live applier leaves the change to it instead of racing it to the queue.
    claim: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "digest": self.digest, "source": self.source, "launch": dict(self.launch), "status": self.status,
            "change": self.change, "applied_commit": self.applied_commit,
            "queued_runs": [dict(r) for r in self.queued_runs],
        }
        if self.error:
            data["error"] = self.error
        if self.claim:
            data["claim"] = dict(self.claim)
        return data

    @property
    def latest_run(self) -> Mapping[str, Any] | None:
        return self.queued_runs[-1] if self.queued_runs else None


@dataclass(frozen=True)
class Ledger:
    specs: Mapping[str, Entry] = field(default_factory=dict)
    version: int = VERSION
    # The text each entry was read from, when launchops wrote that file: an entry that is still the
    # same object is written by copying it. Encoding with indent is pure Python in json: 1.3 s for
    # 10,000 entries, on every apply, for the few entries that changed.
    read_as: Mapping[str, tuple[Entry, str]] = field(default_factory=dict, compare=False, repr=False)

    def to_text(self) -> str:
        return self.layout()[0]

    def layout(self) -> tuple[str, dict[str, tuple[int, int]]]:
        """The text `json.dumps(indent=2, sort_keys=True)` gives, and where each entry lies in it."""
        out = ['{\n  "specs": {']
        at = len(out[0])
        spans: dict[str, tuple[int, int]] = {}
        for n, (spec_id, entry) in enumerate(sorted(self.specs.items())):
            known = self.read_as.get(spec_id)
            body = known[1] if known and known[0] is entry else _entry_text(entry)
            head = f"{',' if n else ''}\n    {json.dumps(spec_id, ensure_ascii=False)}: "
            spans[spec_id] = (at + len(head), at + len(head) + len(body))
            out += [head, body]
            at = spans[spec_id][1]
        out.append(f"\n  }},\n  \"version\": {json.dumps(self.version)}\n}}\n" if spans else
                   f"}},\n  \"version\": {json.dumps(self.version)}\n}}\n")
        return "".join(out), spans


def _entry_text(entry: Entry) -> str:
    return json.dumps(entry.to_json(), indent=2, sort_keys=True, ensure_ascii=False).replace("\n", "\n    ")


@dataclass(frozen=True)
class Event:
    """One durable fact about an apply, in the order it happened."""

    kind: str  # intent | enqueued | failed | unknown | removed | refreshed
    spec_id: str
    change: int
    data: Mapping[str, Any] = field(default_factory=dict)


def marker(spec_id: str, digest: str, change: int) -> str:
    """The key every enqueue of one change carries, so a retry can find what an earlier try left."""
    return "lo-" + hashlib.sha256(f"{spec_id}\n{digest}\n{change}".encode()).hexdigest()[:24]


def _add_run(runs: tuple[Mapping[str, Any], ...], run: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    return runs if any(r.get("id") == run.get("id") for r in runs) else (*runs, dict(run))


def fold(ledger: Ledger, events: Iterable[Event]) -> Ledger:
    specs = dict(ledger.specs)
    for event in events:
        entry = specs.get(event.spec_id)
        if event.kind == "intent":
            folded = _fold_intent(entry, event)
        elif entry is None:
            continue
        else:
            folded = _fold_outcome(entry, event)
        if folded is not None:
            specs[event.spec_id] = folded
    return replace(ledger, specs=specs)  # read_as too: unchanged entries are written as they were read


def _fold_intent(entry: Entry | None, event: Event) -> Entry | None:
    """The pending entry an intent starts; None when the entry already holds this change applied
    (or a later one)."""
    current = entry is not None and event.change == entry.change
    if entry is None or event.change > entry.change or (current and entry.status != "applied"):
        return Entry(digest=event.data["digest"], source=event.data["source"], launch=event.data["launch"],
                     status="pending", change=event.change, applied_commit=event.data.get("commit"),
                     queued_runs=entry.queued_runs if entry else (), claim=event.data.get("claim"))
    return None


def _fold_outcome(entry: Entry, event: Event) -> Entry | None:
    """The entry after what happened to one of its changes; None when it is left as it is."""
    current = event.change == entry.change
    if event.kind == "enqueued":
        entry = replace(entry, queued_runs=_add_run(entry.queued_runs, event.data["queued_run"]))
        if current and entry.status != "removed":
            entry = replace(entry, status="applied", error=None, claim=None)
        return entry
    if event.kind in ("failed", "unknown"):
        if current and entry.status in UNCERTAIN + ("failed",):
            return replace(entry, status=event.kind, error=event.data.get("error"), claim=None)
    elif event.kind == "removed":
        if current:
            return replace(entry, status="removed", error=None, claim=None)
    elif event.kind == "refreshed":
        runs = tuple({**r, **event.data["fields"]} if r.get("id") == event.data["id"] else r
                     for r in entry.queued_runs)
        return replace(entry, queued_runs=runs)
    return None


def as_events(ledger: Ledger, beside: Ledger | None = None) -> list[Event]:
    """Events that fold `beside` into a ledger that also holds what only `ledger` knows.

    Before a clone's unpushed ledger commits are dropped to catch up with its remote, what they
    hold beyond the remote's ledger goes into the journal as these events, so it is folded onto the
    remote's ledger rather than lost with the commits (they may hold IDs recorded nowhere else).
    A change the remote already knows is not re-asserted: its intent could replace the claim of
    another run that is enqueueing it right now."""
    other_specs = beside.specs if beside else {}
    events: list[Event] = []
    for spec_id, entry in sorted(ledger.specs.items()):
        other = other_specs.get(spec_id)
        newer = other is None or other.change < entry.change
        if newer:
            events.append(Event("intent", spec_id, entry.change, {
                "digest": entry.digest, "source": entry.source, "launch": dict(entry.launch),
                "commit": entry.applied_commit, "claim": dict(entry.claim) if entry.claim else None}))
        known = {r.get("id") for r in other.queued_runs} if other else set()
        mine = marker(spec_id, entry.digest, entry.change)
        for run in entry.queued_runs:
            if run.get("id") in known:
                continue
            # A run of an earlier change must only add its ID: change 0 is never the current one.
            current = run.get("marker") == mine if run.get("marker") else run.get("digest") == entry.digest
            events.append(Event("enqueued", spec_id, entry.change if current else 0, {"queued_run": dict(run)}))
        if newer and entry.status in ("failed", "unknown"):
            events.append(Event(entry.status, spec_id, entry.change, {"error": entry.error}))
        elif newer and entry.status == "removed":
            events.append(Event("removed", spec_id, entry.change))
    return events


# ---- reading and writing -------------------------------------------------------------------------

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


def parse(text: str, name: str, trusted: bool = False) -> Ledger:
    """The ledger in `text`; `trusted`: exactly this text passed every check before (reconciler.cache)."""
    fix = f"restore it from git (git checkout -- {name}, or git log -p -- {name}) or remove the bad part by hand"
    if not trusted and _CONFLICT.search(text):
        raise LedgerError(f"{name}: holds git merge-conflict markers; resolve the conflict (keep the union of both "
                          f"sides' queued_runs), then run launchops again")
    try:
        data = json.loads(text) if trusted else json.loads(text, object_pairs_hook=_no_duplicates,
                                                             parse_constant=_not_json)
    except LedgerError as exc:
        raise LedgerError(f"{name}: {exc}; {fix}") from None
    except json.JSONDecodeError as exc:
        raise LedgerError(f"{name}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}); {fix}") from None
    if not isinstance(data, dict) or "version" not in data:
        raise LedgerError(f"{name}: not a launchops ledger (no \"version\"); {fix}")
    if not isinstance(data["version"], int) or isinstance(data["version"], bool):  # true == 1 in Python
        raise LedgerError(f"{name}: \"version\" must be the number {VERSION}, not {json.dumps(data['version'])}; "
                          f"{fix}")
    if data["version"] != VERSION:
        raise LedgerError(f"{name}: ledger version {data['version']!r} is not one this launchops reads "
                          f"(it reads version {VERSION}); upgrade launchops, and never edit the version by hand")
    specs = data.get("specs")
    if not isinstance(specs, dict):
        raise LedgerError(f"{name}: \"specs\" must be an object; {fix}")
    entries = {}
    for spec_id, raw in specs.items():
        entries[spec_id] = _entry(raw, f"{name}: specs[{spec_id!r}]", fix, trusted)
    return Ledger(entries, VERSION)


def _entry(raw: Any, where: str, fix: str, trusted: bool = False) -> Entry:
    if not isinstance(raw, dict):
        raise LedgerError(f"{where} must be an object; {fix}")
    for key, kind in (("digest", str), ("source", str), ("launch", dict), ("status", str), ("queued_runs", list)):
        if not isinstance(raw.get(key), kind):
            what = {str: "a string", dict: "an object", list: "a list"}[kind]
            raise LedgerError(f"{where}.{key} is missing or not {what}; {fix}")
    if raw["status"] not in STATUSES:
        raise LedgerError(f"{where}.status {raw['status']!r} is not one of {', '.join(STATUSES)}; {fix}")
    if any(not isinstance(r, dict) or not isinstance(r.get("id"), str) for r in raw["queued_runs"]):
        raise LedgerError(f"{where}.queued_runs holds an item without a string \"id\"; {fix}")
    if not trusted:
        from reconciler.specs import digest_of  # specs brings YAML and JSON Schema: only when checking

        if digest_of(raw["launch"]) != raw["digest"]:
            raise LedgerError(f"{where}.digest does not match its launch (was the launch edited by hand?); "
                              f"{fix}")
    change = raw.get("change", 1)
    if not isinstance(change, int) or isinstance(change, bool) or change < 1:
        raise LedgerError(f"{where}.change must be a positive whole number; {fix}")
    claim = raw.get("claim")
    if claim is not None and not _claim_ok(claim):
        raise LedgerError(f"{where}.claim must be an object of host and machine (strings), pid (a whole number) "
                          f"and at (an ISO 8601 time with its zone); {fix}")
    return Entry(digest=raw["digest"], source=raw["source"], launch=raw["launch"], status=raw["status"],
                 change=change, applied_commit=raw.get("applied_commit"),
                 queued_runs=tuple(raw["queued_runs"]), error=raw.get("error"), claim=claim)


def _claim_ok(claim: Any) -> bool:
    """The shape lock.claim writes; lock.claimed_elsewhere compares its time with an aware now."""
    if not isinstance(claim, dict) or not all(isinstance(claim.get(k), str) for k in ("host", "machine", "at")):
        return False
    if not isinstance(claim.get("pid"), int) or isinstance(claim["pid"], bool):
        return False
    try:
        return datetime.datetime.fromisoformat(claim["at"]).tzinfo is not None
    except ValueError:
        return False


def read(path: Path, name: str, to_update: bool = False) -> Ledger:
    """The ledger at `path`; an empty one when the file does not exist yet. `to_update`: it will be
    written back, so when launchops wrote exactly this text each entry carries its text along."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Ledger()
    except (OSError, UnicodeDecodeError) as exc:
        raise LedgerError(f"{name}: cannot be read: {exc}") from None
    from reconciler import cache  # an earlier clean parse of exactly this text spares the checks

    key = cache.ledger_key(text)
    trusted = cache.ledger_verified(path, key)
    ledger = parse(text, name, trusted)
    if not trusted or cache.ledger_index(path, key, decode=False) is None:
        cache.remember_ledger(path, key, {k: [e.digest, e.status, e.change] for k, e in ledger.specs.items()})
    layout = cache.ledger_layout(path, key) if to_update else None
    if layout and layout[0]:  # launchops wrote exactly this text: unchanged entries are copied back
        try:
            read_as = {k: (e, text[layout[1][k][0]:layout[1][k][1]]) for k, e in ledger.specs.items()}
        except (KeyError, IndexError, TypeError):
            read_as = {}
        if all(body[:1] == "{" and body[-1:] == "}" for _, body in read_as.values()):
            ledger = replace(ledger, read_as=read_as)
    return ledger


def read_index(path: Path) -> dict[str, tuple[str, str, int]] | None:
    """id -> (digest, status, change) of the ledger at `path` when exactly its text passed every
    check before and was indexed (reconciler.cache); None: read the ledger itself."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None  # `read` says what is wrong, or that there is no ledger yet
    from reconciler import cache

    index = cache.ledger_index(path, cache.ledger_key(text))
    if index is None:
        return None
    try:
        return {k: (v[0], v[1], v[2]) for k, v in index.items()}
    except (TypeError, IndexError, KeyError):
        return None


def read_entries(path: Path, ids: Iterable[str]) -> Ledger | None:
    """The ledger at `path` with only the entries of `ids`, each decoded on its own from where the
    index says it lies: exactly this text passed every check before. None: read the whole ledger.

    A plan after a few edits needs a few entries; decoding all of them (19 MB for 10,000 specs)
    was half of it (profile). Where each entry lies is found once per ledger text, by json's own
    decoder, and kept in the index."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    from reconciler import cache

    key = cache.ledger_key(text)
    index = cache.ledger_index(path, key)
    if index is None:
        return None
    try:
        layout = cache.ledger_layout(path, key)
        if layout is None:
            spans: dict[str, Any] = dict(_entry_spans(text))
            cache.remember_layout(path, key, False, spans)
        else:
            spans = layout[1]
        entries = {k: _entry(json.loads(text[spans[k][0]:spans[k][1]]), k, "", True) for k in ids if k in index}
    except (ValueError, TypeError, IndexError, KeyError, LedgerError):
        return None  # a layout from elsewhere: the whole ledger says what is wrong, if anything
    if any([e.digest, e.status, e.change] != index[k] for k, e in entries.items()):
        return None  # not the entry the index describes
    return Ledger(entries, VERSION)


_SPACE = re.compile(r"[ \t\n\r]*")


def _entry_spans(text: str) -> dict[str, tuple[int, int]]:
    """Where each entry of "specs" lies in a ledger text that parsed cleanly: (start, end)."""
    decode = json.JSONDecoder().raw_decode

    def skip(at: int) -> int:
        return _SPACE.match(text, at).end()  # type: ignore[union-attr]  # the pattern matches the empty string

    spans: dict[str, tuple[int, int]] = {}
    i = skip(skip(0) + 1)  # past the top-level {
    while text[i] != "}":
        key, i = decode(text, i)
        i = skip(skip(i) + 1)  # past :
        if key != "specs":
            _, i = decode(text, i)
        else:
            i = skip(i + 1)  # past {
            while text[i] != "}":
                spec_id, i = decode(text, i)
                start = skip(skip(i) + 1)
                _, i = decode(text, start)
                spans[spec_id] = (start, i)
                i = skip(i)
                i = skip(i + 1) if text[i] == "," else i
            i += 1
        i = skip(i)
        i = skip(i + 1) if text[i] == "," else i
    return spans


def write(path: Path, ledger: Ledger) -> bool:
    """Write atomically (temp file, fsync, rename); False when the file already says the same."""
    import tempfile  # only a run that writes pays for its import

    from reconciler import cache

    text, spans = ledger.layout()
    try:
        if path.read_text(encoding="utf-8") == text:
            cache.remember_layout(path, cache.ledger_key(text), True, spans)
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".ledger-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    cache.remember_layout(path, cache.ledger_key(text), True, spans)  # after the rename: it names this text
    return True
