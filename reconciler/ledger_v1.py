"""Version 1 of the ledger (one file, `.launchops/ledger.json`), kept only to be read and migrated.

Version 1 numbered the changes of an id with a counter each clone kept by itself, and derived the
marker from (id, digest, counter). Every command still reads it: the entries (with the events an
interrupted version 1 apply left in the journal, folded as version 1 folded them) become version 2
entries whose identity is derived from that same triple, so every clone that migrates the same
version 1 ledger computes the same identities, and each `pending` or `unknown` entry keeps its
version 1 marker: it is looked up by the marker its earlier attempt carried.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from reconciler.ledger import UNCERTAIN, Entry, LedgerError, add_run, check_fields, claim_ok, identity

VERSION = 1


def marker(spec_id: str, digest: str, change: int) -> str:
    """The marker a version 1 enqueue carried."""
    return "lo-" + hashlib.sha256(f"{spec_id}\n{digest}\n{change}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class V1Entry:
    """An entry of a version 1 ledger."""

    digest: str
    source: str
    launch: Mapping[str, Any]
    status: str
    change: int
    applied_commit: str | None
    queued_runs: tuple[Mapping[str, Any], ...]
    error: str | None
    claim: Mapping[str, Any] | None


def parse(data: Any, name: str) -> dict[str, V1Entry]:
    """The entries of a decoded version 1 ledger; LedgerError names what is wrong."""
    fix = f"restore it from git (git log -p -- {name}) or remove the bad part by hand"
    specs = data.get("specs")
    if not isinstance(specs, dict):
        raise LedgerError(f"{name}: \"specs\" must be an object; {fix}")
    return {spec_id: _entry(raw, f"{name}: specs[{spec_id!r}]", fix) for spec_id, raw in specs.items()}


def _entry(raw: Any, where: str, fix: str) -> V1Entry:
    from reconciler.specs import digest_of

    check_fields(raw, where, fix, (("digest", str), ("source", str), ("launch", dict), ("status", str),
                                   ("queued_runs", list)))
    if digest_of(raw["launch"]) != raw["digest"]:
        raise LedgerError(f"{where}.digest does not match its launch (was the launch edited by hand?); {fix}")
    change = raw.get("change", 1)
    if not isinstance(change, int) or isinstance(change, bool) or change < 1:
        raise LedgerError(f"{where}.change must be a positive whole number; {fix}")
    claim = raw.get("claim")
    if claim is not None and not claim_ok(claim):
        raise LedgerError(f"{where}.claim must be an object of host and machine (strings), pid (a whole number) "
                          f"and at (an ISO 8601 time with its zone); {fix}")
    return V1Entry(raw["digest"], raw["source"], raw["launch"], raw["status"], change, raw.get("applied_commit"),
                   tuple(raw["queued_runs"]), raw.get("error"), claim)


# ---- version 1 events (an interrupted version 1 apply's journal) ---------------------------------

def fold(specs: Mapping[str, V1Entry], events: Iterable[tuple[str, str, int, Mapping[str, Any]]]) -> dict[str, V1Entry]:
    """Version 1's fold of (kind, spec_id, change number, data) events, as version 1 did it."""
    out = dict(specs)
    for kind, spec_id, change, data in events:
        entry = out.get(spec_id)
        if kind == "intent":
            if entry is None or change > entry.change or (change == entry.change and entry.status != "applied"):
                out[spec_id] = V1Entry(data["digest"], data["source"], data["launch"], "pending", change,
                                       data.get("commit"), entry.queued_runs if entry else (), None, data.get("claim"))
            continue
        if entry is None:
            continue
        current = change == entry.change
        if kind == "enqueued":
            entry = replace(entry, queued_runs=add_run(entry.queued_runs, data["queued_run"]))
            if current and entry.status != "removed":
                entry = replace(entry, status="applied", error=None, claim=None)
        elif kind in ("failed", "unknown") and current and entry.status in UNCERTAIN + ("failed",):
            entry = replace(entry, status=kind, error=data.get("error"), claim=None)
        elif kind == "removed" and current:
            entry = replace(entry, status="removed", error=None, claim=None)
        elif kind == "refreshed":
            entry = replace(entry, queued_runs=tuple({**r, **data["fields"]} if r.get("id") == data["id"] else r
                                                     for r in entry.queued_runs))
        out[spec_id] = entry
    return out


def to_v2(spec_id: str, old: V1Entry) -> Entry:
    """The version 2 entry of a version 1 one: its identity derives from (id, digest, counter), as its
    marker did; an uncertain entry keeps that marker (it is looked up by the one its attempt carried)."""
    change = identity("v1", spec_id, str(old.change), old.digest)
    keep = marker(spec_id, old.digest, old.change) if old.status in UNCERTAIN + ("failed",) else None
    runs = tuple({**r, "change": change} if r.get("marker") == marker(spec_id, old.digest, old.change) else dict(r)
                 for r in old.queued_runs)
    return Entry(digest=old.digest, source=old.source, launch=old.launch, status=old.status, change=change,
                 applied_commit=old.applied_commit, queued_runs=runs, error=old.error, claim=old.claim,
                 marker=keep)
