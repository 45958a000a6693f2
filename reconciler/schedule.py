"""Schedules: which slots of a scheduled spec are due, and the record its shard keeps (SPEC "Schedules").

A *slot* is a fire time of the spec's cron expression(s), computed in the schedule's local time
and keyed by its UTC instant. CI ticks are not slots: an apply enqueues the slots that fell due in
(the last slot recorded, now], whenever it runs, so a late, doubled or dropped tick neither loses
nor repeats one. A slot is a change of its own (kind `slot`, the instant in its identity), and the
record below travels with the slot's intent: the run that records the intent has taken the slot,
and a second apply, in this clone or another after the compare-and-swap push, finds it taken.

The record (`schedule` in the spec's ledger entry):
  spec         the schedule as last seen, so a plan in a fresh clone needs no spec file to find
               what is due (reconciler.cost)
  fingerprint  what moves the window when edited: cron, timezone, start, suspend
  since        when an apply first saw this fingerprint: the first slot of a new or edited schedule
               is after it (no surprise backfill; commit dates are not used, a shallow clone lacks them)
  last_slot    the newest slot taken: enqueued, or recorded missed
  next_slot    the first slot after the apply that wrote the record
  missed       the newest MISSED_KEPT slots not enqueued, each with why

The cron library is cronsim, behind `fires_between`, `next_fire` and `check` only: it follows
Debian cron across DST (a time the spring jump skips fires at the jump; a time in the repeated
autumn hour fires once), where croniter fires a repeated time twice (measured; see the README).
"""
from __future__ import annotations

import datetime
import hashlib
import heapq
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

UTC = datetime.UTC
MAX_CATCHUP_DEFAULT = 10
MISSED_KEPT = 20  # the newest missed slots a record lists; git history keeps the rest
NOW_ENV = "LAUNCHOPS_NOW"
# Queue states in which the previous slot's item still counts as running, for concurrency: forbid.
ACTIVE_STATES = ("pending", "claimed", "leased", "running", "queued", "unknown")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class ScheduleError(Exception):
    """A schedule value that cannot be used; the message says what is wrong."""


@dataclass(frozen=True)
class Schedule:
    """A spec's schedule: when its slots fall due."""

    crons: tuple[str, ...]
    timezone: str = "UTC"
    start: datetime.datetime | None = None
    end: datetime.datetime | None = None
    catchup: str = "latest"
    max_catchup: int = MAX_CATCHUP_DEFAULT
    starting_deadline: int | None = None  # seconds
    concurrency: str = "allow"
    suspend: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"cron": list(self.crons), "timezone": self.timezone, "start": iso(self.start), "end": iso(self.end),
                "catchup": self.catchup, "max_catchup": self.max_catchup,
                "starting_deadline": self.starting_deadline, "concurrency": self.concurrency,
                "suspend": self.suspend}

    @property
    def fingerprint(self) -> str:
        """Edits that move the window of due slots: a new one starts it at the apply that sees it."""
        moving = [list(self.crons), self.timezone, iso(self.start), self.suspend]
        return hashlib.sha256(json.dumps(moving).encode()).hexdigest()[:16]


# ---- time ----------------------------------------------------------------------------------------

def iso(when: datetime.datetime | None) -> str | None:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when is not None else None


def parse_time(value: Any) -> datetime.datetime:
    """A timestamp with a UTC offset (YAML may have read it as a datetime already)."""
    if isinstance(value, datetime.datetime):
        when = value
    elif isinstance(value, str):
        try:
            when = datetime.datetime.fromisoformat(value.strip().replace("z", "Z"))
        except ValueError:
            raise ScheduleError(f"{value!r} is not an ISO 8601 timestamp; write it as 2026-12-01T00:00:00Z") from None
    else:
        raise ScheduleError("must be a timestamp such as 2026-12-01T00:00:00Z")
    if when.tzinfo is None:
        raise ScheduleError(f"{when.isoformat()} has no UTC offset; add Z (UTC) or one such as +01:00")
    return when.astimezone(UTC)


def now(explicit: str | None = None) -> datetime.datetime:
    """The clock slots are judged by: --now, else LAUNCHOPS_NOW, else the real one."""
    given = explicit or os.environ.get(NOW_ENV)
    if not given:
        return datetime.datetime.now(UTC).replace(microsecond=0)
    try:
        return parse_time(given)
    except ScheduleError as exc:
        raise ScheduleError(f"--now / {NOW_ENV}: {exc}") from None


def duration(value: Any) -> int:
    """Seconds of `starting_deadline`: a whole number of seconds, or 90s, 15m, 6h, 2d."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = _DURATION.match(value) if isinstance(value, str) else None
    if not match or int(match.group(1)) <= 0:
        raise ScheduleError("must be a duration such as 300 (seconds), 15m, 6h or 2d")
    return int(match.group(1)) * _UNITS[match.group(2)]


# ---- the cron library, behind three functions ----------------------------------------------------

def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown timezone {name!r}; use an IANA name such as Europe/Berlin or UTC") from None


def check_cron(expr: str) -> str | None:
    """Why `expr` cannot be a schedule, or None."""
    fields = expr.split()
    if len(fields) != 5:
        return (f"{expr!r} has {len(fields)} fields; a schedule has five (minute hour day-of-month month "
                "day-of-week), without seconds or years")
    try:
        next(CronSim(expr, datetime.datetime(2000, 1, 1, tzinfo=UTC)))
    except CronSimError as exc:
        return f"{expr!r} can never fire or is not a cron expression ({exc})"
    except StopIteration:
        return f"{expr!r} can never fire"
    return None


def fires_between(schedule: Schedule, after: datetime.datetime,
                  until: datetime.datetime) -> Iterator[datetime.datetime]:
    """Fire times in (after, until], newest first, as UTC instants (duplicates across expressions
    once). Newest first: a plan needs the newest few, and a window may be years of minutes."""
    zone = _zone(schedule.timezone)
    top = (until + datetime.timedelta(seconds=1)).astimezone(zone)  # cronsim's reverse start is exclusive
    streams = [(w.astimezone(UTC) for w in CronSim(expr, top, reverse=True)) for expr in schedule.crons]
    last: datetime.datetime | None = None
    for when in heapq.merge(*streams, key=lambda d: -d.timestamp()):
        if when <= after:
            return
        if when != last and when <= until:
            yield when
        last = when


def next_fire(schedule: Schedule, after: datetime.datetime) -> datetime.datetime | None:
    start = after.astimezone(_zone(schedule.timezone))
    first = min([next(CronSim(expr, start)).astimezone(UTC) for expr in schedule.crons], default=None)
    if first is not None and schedule.end is not None and first > schedule.end:
        return None
    return first


# ---- validation ----------------------------------------------------------------------------------

Found = tuple[tuple[str | int, ...], str]  # (path below the document, message)


def check(raw: Mapping[str, Any]) -> list[Found]:
    """Problems of a `schedule:` mapping the schema let through, each at its key's path."""
    out: list[Found] = []
    crons = raw.get("cron")
    for i, expr in enumerate(crons if isinstance(crons, list) else [crons]):
        problem = check_cron(expr) if isinstance(expr, str) else None
        if problem:
            out.append((("schedule", "cron", i) if isinstance(crons, list) else ("schedule", "cron"), problem))
    for key, read in (("timezone", _zone), ("start", parse_time), ("end", parse_time), ("starting_deadline", duration)):
        if key in raw and (key != "timezone" or isinstance(raw[key], str)):
            try:
                read(raw[key])
            except ScheduleError as exc:
                out.append((("schedule", key), str(exc)))
    if not out and "start" in raw and "end" in raw and parse_time(raw["end"]) <= parse_time(raw["start"]):
        out.append((("schedule", "end"), "is not after start: the schedule would never fire"))
    return out


def parse(raw: Any) -> Schedule | None:
    """The Schedule of a checked `schedule:` mapping (None without one)."""
    if not isinstance(raw, Mapping):
        return None
    crons = raw["cron"] if isinstance(raw["cron"], list) else [raw["cron"]]
    return Schedule(crons=tuple(" ".join(c.split()) for c in crons), timezone=raw.get("timezone", "UTC"),
                    start=parse_time(raw["start"]) if raw.get("start") is not None else None,
                    end=parse_time(raw["end"]) if raw.get("end") is not None else None,
                    catchup=raw.get("catchup", "latest"), max_catchup=raw.get("max_catchup", MAX_CATCHUP_DEFAULT),
                    starting_deadline=duration(raw["starting_deadline"]) if raw.get("starting_deadline") else None,
                    concurrency=raw.get("concurrency", "allow"), suspend=bool(raw.get("suspend", False)))


def from_record(record: Any) -> Schedule | None:
    """The schedule a ledger record was made for (a plan that did not load the spec file)."""
    if not isinstance(record, Mapping) or not isinstance(record.get("spec"), Mapping):
        return None
    try:
        return parse({k: v for k, v in record["spec"].items() if v is not None})
    except (ScheduleError, KeyError, TypeError):
        return None


# ---- what is due ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Due:
    """A slot that fell due."""

    slots: tuple[str, ...]  # to enqueue now, oldest first (UTC instants)
    record: Mapping[str, Any]  # the record after this apply
    changed: bool  # the record differs from the ledger's: an apply writes it


def due(schedule: Schedule, record: Mapping[str, Any] | None, at: datetime.datetime) -> Due:
    """Which slots an apply at `at` enqueues, which it records missed, and the record it leaves."""
    record = dict(record or {})
    same = record.get("fingerprint") == schedule.fingerprint and isinstance(record.get("since"), str)
    since = parse_time(record["since"]) if same else at
    last = parse_time(record["last_slot"]) if isinstance(record.get("last_slot"), str) else None
    lower = since if last is None else max(since, last)
    if schedule.start is not None:
        before_start = schedule.start - datetime.timedelta(seconds=1)
        # an explicit start may be in the past (a backfill asked for); never a slot before it
        lower = before_start if last is None and schedule.start <= since else max(lower, before_start)
    upper = min(at, schedule.end) if schedule.end is not None else at
    within: list[datetime.datetime] = []
    late: list[datetime.datetime] = []
    need = schedule.max_catchup if schedule.catchup == "all" else 1
    if not schedule.suspend and upper > lower:
        for slot in fires_between(schedule, lower, upper):
            if schedule.starting_deadline is not None and (at - slot).total_seconds() > schedule.starting_deadline:
                late.append(slot)
            else:
                within.append(slot)
            if len(within) + len(late) >= need + MISSED_KEPT:
                break  # older ones are neither enqueued nor listed
    take, skipped = _by_policy(schedule, within, late)
    missed = sorted([(iso(s) or "", why) for s, why in skipped] + [(iso(s) or "", "starting_deadline") for s in late],
                    reverse=True)
    newest = max(within + late, default=None)
    record.pop("taken", None)  # a chain of slots an earlier apply took (planned), resolved by now
    last_slot = iso(newest) if newest is not None else record.get("last_slot")
    new = _with_missed({**record, "spec": schedule.to_json(), "fingerprint": schedule.fingerprint, "since": iso(since),
                        "last_slot": last_slot}, missed)
    after = max(at, schedule.start - datetime.timedelta(seconds=1)) if schedule.start is not None else at
    new["next_slot"] = iso(None if schedule.suspend else next_fire(schedule, after))
    if not new["missed"]:
        del new["missed"]
    return Due(tuple(iso(s) or "" for s in sorted(take)), new, new != record)


def _by_policy(schedule: Schedule, within: list[datetime.datetime],
               late: list[datetime.datetime]) -> tuple[list[datetime.datetime], list[tuple[datetime.datetime, str]]]:
    """(slots to enqueue, slots skipped with why) of the due slots `within` the deadline, newest first."""
    if schedule.catchup == "latest":
        return within[:1], [(s, "catchup: latest") for s in within[1:]]
    if schedule.catchup == "all":
        n = schedule.max_catchup
        return within[:n], [(s, "max_catchup") for s in within[n:]]
    # none: only an apply that is not behind enqueues: exactly one slot fell due since the last one
    if len(within) == 1 and not late:
        return within, []
    return [], [(s, "catchup: none") for s in within]


def is_active(state: Any) -> bool:
    """Whether a previous slot's item still counts as pending or running (concurrency: forbid)."""
    return isinstance(state, str) and state.lower() in ACTIVE_STATES


# ---- what a plan does with a scheduled spec ------------------------------------------------------

@dataclass(frozen=True)
class Upkeep:
    """A scheduled spec's record after a plan: written by apply when `changed` (first seen, edited,
    slots missed) and no slot is enqueued (a slot's intent carries the record itself)."""

    id: str
    source: str
    digest: str
    launch: Mapping[str, Any]
    change: str  # the identity of the entry the record belongs to
    previous: str | None
    record: Mapping[str, Any]
    changed: bool
    cell: Mapping[str, Any] | None = None

    @property
    def next_slot(self) -> str | None:
        found = self.record.get("next_slot")
        return found if isinstance(found, str) else None

    def event(self) -> Any:
        from reconciler.ledger import Event

        return Event("scheduled", self.id, self.change, {
            "digest": self.digest, "source": self.source, "launch": dict(self.launch), "previous": self.previous,
            "cell": dict(self.cell) if self.cell is not None else None, "schedule": dict(self.record)})


def planned(spec: Any, entry: Any, basis: str | None, at: datetime.datetime) -> tuple[list[Any], Upkeep]:
    """The plan's changes for one scheduled spec (reconciler.specs.Spec; its ledger entry or None):
    a retry of a slot whose attempt is uncertain or failed, else one `slot` change per due slot,
    chained (each follows from the one before, so every clone computes the same identities)."""
    from reconciler.ledger import UNCERTAIN, identity
    from reconciler.plan import Action, Change

    schedule: Schedule = spec.schedule
    cell = getattr(spec, "cell", None)
    live = entry is not None and entry.status != "removed"
    record = entry.extra.get("schedule") if live else None
    found = due(schedule, record if isinstance(record, Mapping) else None, at)
    this = entry.change if live else identity("slot", spec.id, basis, spec.digest, f"seen {found.record['since']}")
    upkeep = Upkeep(spec.id, spec.source, entry.digest if live else spec.digest,
                    entry.launch if live else spec.launch, this, entry.previous if live else basis,
                    found.record, found.changed, cell)
    last_slot = _slot_of(entry) if live else None
    if live and (entry.status in UNCERTAIN or (entry.status == "failed" and not found.slots)):
        # the slot already taken is resolved first; slots due meanwhile stay due (the record is not moved)
        retry = Change(spec.id, Action.RETRY, spec.source, entry.digest, entry.change, entry.launch,
                       prior_status=entry.status, previous=entry.previous, marker=entry.marker,
                       reason=f"slot {last_slot or '?'}: last attempt is {entry.status}"
                       + (f": {entry.error}" if entry.error else ""), slot=last_slot, cell=cell)
        older = _taken_with(entry, record, spec) if entry.status in UNCERTAIN else []
        return [*older, retry], replace(upkeep, changed=found.changed and entry.status == "failed")
    changes: list[Change] = []
    previous = entry.basis if live else basis
    chain = []
    for slot in found.slots:
        chain.append((slot, identity("slot", spec.id, previous, spec.digest, slot), previous))
        previous = chain[-1][1]
    # The entry follows the newest slot of a chain; the others are named in the record, so an apply
    # stopped between their sends is resolved for each of them (_taken_with), not only the newest.
    carried = {**found.record, "taken": [{"slot": s, "change": i} for s, i, _ in chain]} if len(chain) > 1 \
        else found.record
    # a schedule that has taken a slot before is "already applied": its slots do not count against
    # max_enqueue (SPEC), its first ones do (a new matrix schedule may be thousands of items)
    before = "applied" if isinstance(record, Mapping) and record.get("last_slot") else None
    for slot, ident, after in chain:
        changes.append(Change(spec.id, Action.SLOT, spec.source, spec.digest, ident, spec.launch, prior_status=before,
                              previous=after, reason=f"slot {slot} is due", slot=slot, schedule=carried,
                              cell=cell, withdraw=None if changes else _replace_target(schedule, entry)))
    return changes, replace(upkeep, changed=found.changed and not changes)


def _taken_with(entry: Any, record: Any, spec: Any) -> list[Any]:
    """Retries of the older slots an interrupted apply took with the entry's current one and has no
    run recorded for: each is looked up by its marker, adopted if found, sent if not (as any retry
    of a pending attempt)."""
    from reconciler.plan import Action, Change

    taken = record.get("taken") if isinstance(record, Mapping) else None
    recorded = {r.get("change") for r in entry.queued_runs}
    return [Change(spec.id, Action.RETRY, spec.source, entry.digest, t["change"], entry.launch,
                   prior_status=entry.status, slot=str(t["slot"]), cell=getattr(spec, "cell", None),
                   reason=f"slot {t['slot']}: taken by an apply that was stopped before recording it")
            for t in (taken if isinstance(taken, list) else [])
            if isinstance(t, Mapping) and isinstance(t.get("change"), str) and t["change"] != entry.change
            and t["change"] not in recorded]


def _slot_of(entry: Any) -> str | None:
    for run in reversed(entry.queued_runs):
        if run.get("change") == entry.change and isinstance(run.get("slot"), str):
            return str(run["slot"])
    record = entry.extra.get("schedule")
    last = record.get("last_slot") if isinstance(record, Mapping) else None
    return last if isinstance(last, str) else None


def _replace_target(schedule: Schedule, entry: Any) -> str | None:
    """concurrency: replace: the previous slot's item, when launchops enqueued it and the ledger
    last saw it pending (apply reads it again before it deletes it)."""
    if schedule.concurrency != "replace" or entry is None:
        return None
    run = replace_run(entry)
    return str(run["id"]) if run is not None else None


def replace_run(entry: Any) -> Mapping[str, Any] | None:
    for run in reversed(entry.queued_runs):
        if isinstance(run.get("slot"), str):
            own = isinstance(run.get("marker"), str) and not run.get("adopted")
            return run if own and run.get("state", "pending") in ("pending", "withdrawing") else None
    return None


def forbidden(schedule: Schedule | None, entry: Any) -> Mapping[str, Any] | None:
    """concurrency: forbid: the previous slot's run, which apply asks the queue about; None when
    there is nothing to ask (allow, replace, no earlier slot)."""
    if schedule is None or schedule.concurrency != "forbid" or entry is None:
        return None
    return next((r for r in reversed(entry.queued_runs) if isinstance(r.get("slot"), str)), None)


def skipped_record(record: Mapping[str, Any], slot: str, why: str) -> dict[str, Any]:
    """The record after a slot that was taken but not enqueued (concurrency: forbid)."""
    return _with_missed(record, [(slot, why)])


def _with_missed(record: Mapping[str, Any], missed: list[tuple[str, str]]) -> dict[str, Any]:
    """The record with `missed` (slot, why) before the ones it lists, keeping the newest MISSED_KEPT."""
    listed: list[Mapping[str, Any]] = [{"slot": s, "why": w} for s, w in missed]
    listed += [m for m in record.get("missed", []) if isinstance(m, Mapping)]
    return {**record, "missed": sorted(listed, key=lambda m: str(m.get("slot")), reverse=True)[:MISSED_KEPT]}
