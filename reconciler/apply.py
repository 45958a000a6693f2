"""Apply consumes a plan: record intents, enqueue, record results, materialise and commit the ledger.

Order of writes, so that no kill point can enqueue a change twice or lose a QueuedRun ID:
  1. the intent (`pending`, with the change's marker) is durable before the backend is called:
     in the local journal, and with --push also committed and pushed (CI machines vanish);
  2. a retry of a `pending` or `unknown` attempt first looks the item up on the backend by marker
     and adopts what it finds;
  3. each QueuedRun ID goes to the journal the moment the backend returns it;
  4. the ledger is written once from the journal (only the shards that changed, none fsynced by
     itself: the journal can write them all again), committed, one `sync` puts files and commit on
     disk, and only then is the journal cleared.
With --push the ledger push is the compare-and-swap between racing runs: a rejected push means
another run got there first, so catch up with the remote, re-plan, and enqueue only what is left.

Three holes that order alone does not close, and how they are closed:
  - a `pending` intent another run pushed and is still enqueueing looks, to a second run, like a
    crash to retry; its marker is not on the queue yet, so the second run would enqueue it too.
    Every intent carries a claim (lock.claim); a retry skips a claim that lock.claimed_elsewhere
    calls live (same machine: the pid is alive; another machine: within `claim_lease` seconds)
    and reports it as in progress elsewhere. A later run retries it once the claim is dead.
  - an update or removal of a spec whose last attempt is uncertain would forget that attempt's
    marker; it is looked up (in the queue that attempt named) before the new intent is recorded.
  - a lookup that fails says nothing: the change is not enqueued again, it stays uncertain.
  - a ledger can go back: a branch switch, a detached HEAD left behind, a reverted ledger commit.
    The journal folds only the events of the checked-out history (journal.py), and a create,
    update or retry whose marker an intent of this clone or a ledger in git history named before
    is looked up by marker before it is sent, and adopted when found.
  - a claim from another machine is honoured for `claim_lease` seconds from its time. A live
    claimant renews its claims (an intent commit, pushed) before they are half that old, and sends
    nothing more when the renewal push is rejected: a run that may have taken them over pushed
    first. So a send starts only while its claim has half a lease to run.
  - SIGINT/SIGTERM (a Ctrl-C, a CI cancel) and a journal that cannot be written stop the sending,
    not the run: what is in flight finishes and is recorded, the rest is left for the next apply,
    and the ledger is committed.
Limits: clocks of claimant and retrier that differ by more than half a lease, or one send that
hangs longer than that, can still race a retry; on W&B a marker is found only while the queue
lists the item (see backends/wandb.py).
"""
from __future__ import annotations

import datetime
import gc
import json
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler import ledger as ledger_mod
from reconciler.backends.base import Backend, BackendError, EnqueueFailed, EnqueueRequest, QueuedRun
from reconciler.journal import Journal, explain
from reconciler.ledger import UNCERTAIN, Event, Ledger, intent, marker
from reconciler.lock import claim, claim_age, claimed_elsewhere, describe_claim, renewed
from reconciler.plan import Action, Change, Plan
from reconciler.settings import Settings
from reconciler.specs import SpecSet

if TYPE_CHECKING:  # git is imported only by commands that commit
    from reconciler.engine import Planned
    from reconciler.gitrepo import Repo

FAULT_ENV = "LAUNCHOPS_DIE_AT"  # tests name a step (optionally step:N) to be SIGKILLed at
PAUSE_ENV = "LAUNCHOPS_PAUSE_AT"  # tests name step:FILE to hold still at until FILE exists, to make races certain


def _pause(release: str) -> None:
    """Hold still until the test creates `release`; `<release>.paused` tells it this run got here."""
    Path(f"{release}.paused").touch()
    deadline = time.monotonic() + 120  # a test that died must not leave this process behind for ever
    while not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.05)


def checkpoint(step: str, _counts: dict[str, int] = {}) -> None:  # noqa: B006 - a per-process counter
    """A step boundary: the fault-injection tests can arm a SIGKILL (or a pause) here."""
    for entry in os.environ.get(PAUSE_ENV, "").split(","):  # several step:FILE, comma-separated
        paused, _, release = entry.partition(":")
        if paused == step and release:
            _pause(release)
    armed = os.environ.get(FAULT_ENV)
    if not armed:
        return
    name, _, nth = armed.partition(":")
    if name != step:
        return
    _counts[step] = _counts.get(step, 0) + 1
    if _counts[step] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class Options:
    """How apply runs: what the CLI asked for."""

    commit: bool = True
    push: bool = False
    remote: str = "origin"
    fail_fast: bool = False
    push_attempts: int = 5
    replace: tuple[str, ...] = ()  # apply --replace: specs enqueued again although unchanged
    max_enqueue: int | None = None  # a plan made again after a rejected push is held to it too (None: no limit)
    clock: datetime.datetime | None = None  # the one clock an apply judges slots by (None: the real one)


@dataclass(frozen=True)
class Outcome:
    """What became of one change of a plan."""

    id: str
    action: Action
    result: str  # enqueued | adopted | failed | unknown | removed | skipped | elsewhere
    queued_runs: tuple[str, ...] = ()
    error: str | None = None
    notes: tuple[str, ...] = ()
    withdraw: str | None = None  # what became of the item this change superseded (lifecycle.outcome_of)
    moved_from: str | None = None  # a move's old id

    @property
    def ok(self) -> bool:
        # `elsewhere`: another live apply is enqueueing it and will record it; nothing failed here.
        return self.result in ("enqueued", "adopted", "removed", "elsewhere", "moved")


@dataclass(frozen=True)
class Result:
    """What an apply did: every outcome, the commit, and whether it was pushed."""

    plan: Plan
    outcomes: tuple[Outcome, ...]
    ledger: Ledger
    commit: str | None = None
    pushed: bool = False
    notes: tuple[str, ...] = ()
    interrupted: int | None = None  # the signal that stopped the sending (SIGINT, SIGTERM)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes) and self.interrupted is None

    @property
    def counts(self) -> dict[str, int]:
        return count_results(self.outcomes)


Progress = Callable[[Outcome, int, int], None]


class Interrupts:
    """SIGINT and SIGTERM while apply runs are noted, not raised: a KeyboardInterrupt in the middle
    would leave the sends already handed to the pool going out with no ID recorded. The applier
    stops sending, records what is in flight, commits; the CLI exits 128 + the signal."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None
        self._before: dict[int, object] = {}

    def _note(self, signum: int, frame: object) -> None:
        self.received = self.received or signum

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():  # only there can handlers be set
            for sig in self.SIGNALS:
                self._before[sig] = signal.signal(sig, self._note)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._before.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._before.clear()


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """The cyclic collector off while a run sends and writes (and, in the CLI, reports): the specs,
    the plan and the ledger are millions of objects, and each full collection walked them all
    again (3 s of an apply of 10,000 creates, profile) for garbage that reference counting frees.
    What the run made is frozen when the collector comes back, or its first collection would
    walk it all once more."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.enable()


def _request(change: Change, repository: str) -> EnqueueRequest:
    return EnqueueRequest(change.id, change.digest, change.marker or marker(repository, change.change), change.launch)


def intents(plan: Plan, repository: str, commit: str | None, claimant: dict[str, object] | None = None) -> list[Event]:
    return [intent(c.id, c.change, c.previous, c.digest, c.source, c.launch, commit, claimant, c.marker,
                   mark=_request(c, repository).marker, cell=c.cell,
                   kind={Action.SLOT: "slot", Action.REPLACE: "replace"}.get(c.action, "change"),
                   schedule=c.schedule)
            for c in plan.changes if c.action.enqueues]


def _with_slot(event: Event, slot: str) -> Event:
    if event.kind != "enqueued":
        return event
    return Event(event.kind, event.spec_id, event.change, {**event.data, "queued_run": {**event.data["queued_run"],
                                                                                        "slot": slot}})


def _schedules_message(plan: Plan) -> str | None:
    """A ledger commit that enqueued nothing but a schedule's record (first seen, edited, slots missed)."""
    kept = [u for u in plan.schedules if u.changed]
    if not kept:
        return None
    lines = "".join(f"{u.id}: next slot {u.next_slot or 'none'}\n" for u in kept)
    return f"launchops: record {len(kept)} schedule{'s' if len(kept) != 1 else ''} [skip ci]\n\n{lines}"


def commit_message(result_outcomes: Sequence[Outcome], phase: str = "apply") -> str:
    lines = [f"launchops: {phase} " + ", ".join(f"{n} {k}" for k, n in sorted(count_results(result_outcomes).items()))
             + " [skip ci]", ""]
    for outcome in result_outcomes:
        runs = ", ".join(outcome.queued_runs) or (f"moved from {outcome.moved_from}" if outcome.moved_from
                                                  else outcome.result)
        said = [w for w in ("replace" if outcome.action is Action.REPLACE else None, outcome.withdraw) if w]
        lines.append(f"{outcome.id} -> {runs}" + (f" ({'; '.join(said)})" if said else ""))
    return "\n".join(lines) + "\n"


def count_results(outcomes: Sequence[Outcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.result] = counts.get(o.result, 0) + 1
    return counts


class Applier:
    """Runs one apply. Owns the journal and the ledger file; the CLI owns the lock and the prompt."""

    def __init__(self, settings: Settings, repo: Repo | None, backend: Backend, journal: Journal,
                 options: Options, reload_specs: Callable[[], SpecSet]) -> None:
        self.settings = settings
        self.repo = repo
        self.backend = backend
        self.journal = journal
        self.options = options
        self.reload_specs = reload_specs
        self.name = settings.ledger_dir
        self._base: Ledger | None = None  # the ledger as last read or written here; None: read it again
        # what the shards a write touches are made from (reconciler.cost), once the specs are known
        self.shard_inputs: ledger_mod.Inputs | None = None
        self._indexed: str | None = None  # the specs tree the index last written describes
        self._unjournalled: list[Event] = []  # events the journal refused: still folded into the ledger
        self._folded: tuple[Ledger, object, Ledger] | None = None  # current_ledger's last answer, and what from
        self.journal_error: str | None = None
        self._maybe_sent: set[str] = set()  # markers that may have been sent before: looked up first
        self._claim: dict[str, object] | None = None
        self._lost = False  # a renewal push was rejected: nothing more is sent
        self._gate = threading.RLock()  # the journal, git and the stop checks: one thread at a time
        self.interrupts = Interrupts()

    # ---- ledger ----------------------------------------------------------------------------------
    def current_ledger(self) -> Ledger:
        """The committed ledger with every journalled event folded in: recovery after a crash."""
        if self._base is None:
            self._base = ledger_mod.load(self.settings, self.journal.v1_events())
        # asked for many times per apply with nothing recorded in between: folding 10,000 changes'
        # events again each time was a seventh of an apply (profile)
        made_from = (self.journal.state(), len(self._unjournalled))
        if self._folded is not None and self._folded[0] is self._base and self._folded[1] == made_from:
            return self._folded[2]
        journalled = [event for _, event in self.journal.events()]
        ledger = ledger_mod.fold(ledger_mod.fold(self._base, journalled), self._unjournalled)
        self._folded = (self._base, made_from, ledger)
        return ledger

    @property
    def repository(self) -> str:
        # events change entries, never the id: the base ledger says it without folding the journal
        # (which for each enqueue batch was a twentieth of an apply, profile)
        if self._base is None:
            self.current_ledger()
        assert self._base is not None
        found = self._base.repository
        assert found, "the repository id is made before anything is planned to be sent (ensure_version_2)"
        return found

    def _write(self, ledger: Ledger) -> None:
        """Write the ledger files that differ; what is on disk is then this ledger (the journal
        folds onto it again, which changes nothing). In a repository `_ledger.json` gets the index
        of every shard (reconciler.cost), which the next commit's stamp vouches for."""
        from reconciler import cost

        def index(written: Ledger) -> dict[str, Any] | None:
            found = cost.index(self.settings, written) if self.repo is not None else None
            self._indexed = found[1] if found else None
            return found[0] if found else None

        _, self._base = ledger_mod.write(self.settings.ledger_path, ledger, self.settings.specs_dir,
                                         self.shard_inputs, self._base, index)

    def _commit(self, message: str) -> str:
        """Commit the ledger files that differ from HEAD, stamped when the index `_ledger.json`
        holds describes the commit's specs (gitrepo.STAMP)."""
        assert self.repo is not None
        stamp = (self.settings.specs_dir, self._indexed) if self._indexed else None
        return self.repo.commit_only(self._files_to_commit(), message, stamp)

    def ensure_version_2(self, notes: list[str]) -> None:
        """Before anything is planned to be sent: a version 1 ledger is migrated (one ledger commit,
        nothing enqueued; with --push pushed first), a new one gets its repository id (on disk at
        once: the markers of the intents that follow derive from it)."""
        ledger = self.current_ledger()
        if ledger.repository and not ledger.legacy:
            self._check_remote(ledger, notes)
            return
        if not ledger.legacy:
            self._write(replace(ledger, repository=self._repository_id(), remote=self._remote_url()))
            return
        self.migrate(notes)

    def _repository_id(self, fresh: bool = False) -> str:
        """The id this clone gives a ledger it makes. Kept in the journal: a ledger made on a
        detached HEAD or another branch and left behind there gives the same markers as the one
        made again here, so what the first sent is looked up, not sent again."""
        known = None if fresh else self.journal.fact("repository") or self._repository_in_history()
        made = known or ledger_mod.new_repository_id()
        if made != known:
            self.journal.remember("repository", made)
        return made

    def _repository_in_history(self) -> str | None:
        """The repository id of the newest `_ledger.json` in HEAD's history: a revert of the commit
        that made the ledger takes the file away, not the items its markers named on the queue."""
        if self.repo is None:
            return None
        meta = f"{self.settings.ledger_dir}/{ledger_mod.META}"
        # then the remote's, as last fetched: a clone whose first apply comes after CI's takes its id
        tip = self.repo.tracking(self.options.remote)
        for commit in [c for c, _ in self.repo.history([meta])] + ([tip] if tip else []):
            text = self.repo.files_at(commit, [meta]).get(meta)
            try:
                found = json.loads(text or "null")
            except ValueError:
                continue
            if isinstance(found, dict) and isinstance(found.get("repository"), str) and found["repository"]:
                return str(found["repository"])
        return None

    def migrate(self, notes: list[str], new_id: bool = False) -> str | None:
        """Write version 2 in one ledger commit that enqueues nothing (SPEC "Migration"); with
        `new_id`, give a version 2 ledger a repository id of its own (a fork or a copy). Returns
        the commit. With --push it is pushed, compare-and-swap: a clone that lost the race takes
        the winner's ledger (and so its repository id)."""
        for _ in range(self.options.push_attempts):
            ledger = self.current_ledger()
            if not ledger.legacy and not new_id:
                return None
            seq = self.journal.last_seq()
            if new_id and not ledger.legacy:
                assert ledger.repository
                # sends already made carry the old id's markers: those of uncertain entries are kept
                old = ledger.repository
                ledger = replace(ledger, specs={k: replace(e, marker=e.marker_in(old)) if e.status in
                                                ledger_mod.RETRYABLE else e for k, e in ledger.specs.items()})
                what = "give this copy of the ledger a repository id of its own"
            else:
                what = "migrate the ledger to version 2"
            ledger = replace(ledger, repository=self._repository_id(fresh=new_id), remote=self._remote_url(),
                             legacy=False)
            self._write(ledger)
            if self.settings.legacy_path.exists():  # a launchops that reads only version 1 refuses it now
                self.settings.legacy_path.write_text(ledger_mod.tombstone(self.settings.ledger_dir), encoding="utf-8")
            ensure_gitignore(self.settings)
            commit = None
            if self.options.commit and self.repo is not None:
                commit = self._commit(f"launchops: {what} [skip ci]\n\n"
                                               "Nothing was enqueued.\n")
            self._forget(seq)
            new_id = False
            if not (self.options.push and self.options.commit and self.repo is not None):
                notes.append(f"{what}" + (f" (commit {commit[:12]})" if commit else ""))
                return commit
            checkpoint("before-push")
            if self._push("Nothing was enqueued: the migration is in a local ledger commit, not pushed"):
                notes.append(f"{what} (commit {(commit or '')[:12]}, pushed)")
                return commit
            notes.append("the migration push was rejected (another clone pushed first): took its ledger")
            self._catch_up()
        raise ApplyAborted(f"the ledger push was rejected {self.options.push_attempts} times; nothing was "
                           "enqueued; run apply again")

    def _remote_url(self) -> str | None:
        return self.repo.remote_url(self.options.remote) if self.repo is not None else None

    def _check_remote(self, ledger: Ledger, notes: list[str]) -> None:
        url = self._remote_url()
        if url and ledger.remote and url != ledger.remote:
            notes.append(f"warning: this ledger was made under the remote {ledger.remote}, and {self.options.remote} "
                         f"is {url} now: if this is a fork or a copy, run launchops migrate --new-repository-id so "
                         "its enqueues carry markers of their own")

    def _record(self, events: list[Event]) -> None:
        """Journal `events`. When the journal cannot be written they are kept for this run's ledger
        write, and nothing more is sent (`_why_stop`)."""
        with self._gate:
            if self.journal_error is None:
                try:
                    self.journal.extend(events)
                    return
                except sqlite3.Error as exc:
                    self.journal_error = explain(self.journal.path, exc)
            self._unjournalled.extend(events)

    def _own_files(self) -> list[str]:
        """What launchops commits: the only files its unpushed commits may touch (a folder ends in /)."""
        ignore = (self.settings.state_dir / ".gitignore").relative_to(self.settings.root).as_posix()
        return [self.settings.ledger_dir + "/", self.settings.legacy_ledger, ignore]

    def _files_to_commit(self) -> list[str]:
        """The ledger files (and .gitignore) that differ from HEAD: written, or removed."""
        assert self.repo is not None
        return self.repo.dirty(self._own_files())

    # ---- the run ---------------------------------------------------------------------------------
    def run(self, plan: Plan, head: str | None, progress: Progress | None = None,
            loaded: SpecSet | None = None) -> Result:
        """Apply `plan`; `loaded`: the specs it was made from (their shards record what they were
        loaded from, so the next plan reads only what changed)."""
        if loaded is not None:
            from reconciler import cost

            self.shard_inputs = cost.shard_inputs(self.settings, loaded)
        with self.interrupts:  # the cyclic collector is the caller's: the CLI turns it off (no_cycle_collection)
            result = self._run(plan, head, progress)
        notes = list(result.notes)
        if self.journal_error:
            notes.append(self.journal_error + "; what was sent is recorded in this ledger commit, the rest "
                         "was not sent")
        if self.interrupts.received:
            name = signal.Signals(self.interrupts.received).name
            counts = result.counts
            notes.append(f"interrupted by {name}: sent nothing new, recorded the {counts.get('enqueued', 0)} "
                         f"enqueued; {counts.get('skipped', 0)} not sent (the next apply sends them)")
        return replace(result, notes=tuple(notes), interrupted=self.interrupts.received)

    def _run(self, plan: Plan, head: str | None, progress: Progress | None) -> Result:
        notes: list[str] = []
        recovered = self.journal.last_seq() > 0
        if recovered:
            notes.append("recorded the results of an interrupted apply from the journal")
        migrating = self.current_ledger().legacy
        self.ensure_version_2(notes)
        if migrating and self.options.push:  # the remote's ledger may have won the race: plan on it
            plan = self._replan()
        recovered = recovered and self.journal.last_seq() > 0  # a migration records what it left
        if not plan.changes and not recovered and not self.options.push and not any(u.changed for u in plan.schedules):
            return Result(plan, (), self.current_ledger(), notes=tuple(notes))
        # With --push even a run with nothing to enqueue publishes: an earlier run may have left
        # ledger commits unpushed (killed, rejected, or run without --push).
        claimant = self._claim = claim()
        self._move(plan)
        plan, early = self._prepare(plan)
        work = [c for c in plan.changes if c.action.enqueues]
        repository = self.repository if work else ""  # one fold of the journal, not one per change
        refused = self.backend.preflight([_request(c, repository) for c in work]) if work else {}
        if self.options.push:
            plan, early = self._push_intents(plan, early, head, claimant, notes)
        else:
            self._maybe_sent = self._sent_before(plan)
            self._record(intents(plan, self.repository, head, claimant))
        if self.journal_error:
            raise ApplyAborted(self.journal_error + "; nothing was enqueued")
        checkpoint("after-intent")
        targets = self._withdraw_targets(plan)
        outcomes = early + self._execute(plan, progress, refused, targets)
        removed = [c for c in plan.changes if c.action is Action.REMOVE]
        for c in removed:  # one at a time: each withdraw is journalled before and after its delete
            gone = self._withdraw(c, targets.get(c.id))
            self._record([Event("removed", c.id, c.change)])
            outcomes.append(Outcome(c.id, c.action, "removed", notes=(gone,) if gone else (), withdraw=gone))
        # a move first: its spec's update (if any) follows it
        outcomes = [Outcome(c.id, c.action, "moved", moved_from=c.moved_from) for c in plan.changes
                    if c.action is Action.MOVE] + outcomes
        outcomes.sort(key=lambda o: o.id)
        message = (commit_message(outcomes) if outcomes else "launchops: record an interrupted apply [skip ci]\n"
                   if recovered else _schedules_message(plan) or "launchops: publish the ledger [skip ci]\n")
        if self.options.push and self.options.commit and self.repo is not None:
            ledger, commit = self.publish(message, notes)
            return Result(plan, tuple(outcomes), ledger, commit, True, tuple(notes))
        seq, ledger, commit = self.materialise(message)
        self._forget(seq)
        return Result(plan, tuple(outcomes), ledger, commit, False, tuple(notes))

    def _forget(self, seq: int) -> None:
        os.sync()  # the ledger files (written without fsync) and git's commit reach the disk first
        try:
            self.journal.forget(seq)
        except sqlite3.Error:
            pass  # the ledger holds them: folding them again next time changes nothing

    def _sent_before(self, plan: Plan) -> set[str]:
        """The markers of this plan's sends that may have gone out before: named by an intent in this
        clone's journal (on any history), or by a ledger in git history the current one went back from."""
        repository = self.repository  # one fold of the journal, not one per change
        wanted = {_request(c, repository).marker for c in plan.changes if c.action.enqueues}
        if not wanted:
            return set()
        if self.repo is not None and self.repo.behind(self.options.remote, [self.settings.ledger_dir]):
            # the remote's ledger is ahead (another clone or CI applied): the same change has the
            # same identity and marker there, so what it sent is looked up, not sent again
            return wanted
        return self.journal.sent_before(wanted) | (self._history_markers(plan) & wanted)

    def _history_markers(self, plan: Plan) -> set[str]:
        """Every marker a ledger in HEAD's history recorded for this plan's sources, when the
        ledger's last change is not a launchops commit (a revert, a merge, a hand edit can take
        entries back; launchops' own commits only move forward). Read only then, and only the
        shards (and version 1 ledgers) of the sources the plan sends."""
        if self.repo is None:
            return set()
        own = [self.settings.ledger_dir, self.settings.legacy_ledger]
        last = self.repo.history(own, limit=1)
        if not last or last[0][1].startswith("launchops:"):
            return set()
        sources = {c.source for c in plan.changes if c.action.enqueues}
        shards = [f"{self.settings.ledger_dir}/{ledger_mod.shard_name(s, self.settings.specs_dir)}" for s in sources]
        found: set[str] = set()
        for commit, _ in self.repo.history(own):
            files = self.repo.files_at(commit, [f"{self.settings.ledger_dir}/{ledger_mod.META}",
                                                self.settings.legacy_ledger, *shards])
            try:
                old = ledger_mod.from_texts(files, self.settings, commit[:12])
            except ledger_mod.LedgerError:
                continue
            if old is None:
                continue
            for entry in old.specs.values():
                found.add(entry.marker or (marker(old.repository, entry.change) if old.repository else ""))
                found.update(r["marker"] for r in entry.queued_runs if isinstance(r.get("marker"), str))
        return found - {""}

    def _prepare(self, plan: Plan) -> tuple[Plan, list[Outcome]]:
        """Set aside what must not be attempted now; returns the plan to act on and their outcomes.

        - a retry of a `pending` change that another live applier claimed: it is enqueueing it now,
          and its marker is not on the queue yet, so a lookup would miss it and we would duplicate it;
        - an update or removal whose last attempt is uncertain: that attempt's marker is looked up
          first (the plan forgets it once the new intent is recorded) and what it left is adopted;
          when the lookup fails the change waits for a later run."""
        ledger = self.current_ledger()
        keep: list[Change] = []
        early: list[Outcome] = []
        adopted: list[Event] = []
        for change in plan.changes:
            entry = ledger.specs.get(change.id)
            if entry is None:
                keep.append(change)
                continue
            if (change.action is Action.RETRY and entry.status == "pending"
                    and claimed_elsewhere(entry.claim, self.settings.claim_lease)):
                assert entry.claim is not None
                early.append(Outcome(change.id, change.action, "elsewhere", notes=(
                    f"in progress elsewhere: claimed by {describe_claim(entry.claim)}; a later apply retries it "
                    "if that one does not finish",)))
                continue
            if change.action in (Action.UPDATE, Action.REMOVE) and entry.status in UNCERTAIN:
                old = EnqueueRequest(change.id, entry.digest, entry.marker_in(self.repository), entry.launch)
                found = self._find(old)
                if found is None:
                    early.append(Outcome(change.id, change.action, "unknown", error=(
                        f"could not look up its earlier {entry.status} attempt on the backend, so it was left "
                        "for the next apply (nothing was enqueued for it)")))
                    continue
                adopted.extend(Event("enqueued", change.id, entry.change, {"queued_run": run.to_json()})
                               for run in found)
            keep.append(change)
        # An earlier attempt's IDs are durable before anything new is attempted for that spec.
        self._record(adopted)
        keep, skipped = self._forbid(plan, keep, ledger)
        # a schedule's record without a slot (first seen, edited, slots missed), with the intents
        self._record([u.event() for u in plan.schedules if u.changed] + skipped)
        return replace(plan, changes=tuple(keep)), early

    def _forbid(self, plan: Plan, changes: list[Change], ledger: Ledger) -> tuple[list[Change], list[Event]]:
        """concurrency: forbid: the slots of a spec whose previous slot's item is still pending or
        running on the queue are taken and recorded missed, not enqueued. The queue is read here,
        before the intent; an item that cannot be read counts as running (sending could run two)."""
        from reconciler import schedule

        held: dict[str, str] = {}  # spec id -> why its due slots are skipped
        for change in changes:
            entry = ledger.specs.get(change.id)
            spec = plan.specs.get(change.id)
            run = (schedule.forbidden(spec.schedule, entry) if change.action is Action.SLOT and spec is not None
                   and change.id not in held else None)
            if run is None:
                continue
            try:
                state = self.backend.refresh(QueuedRun.from_json(run)).state
            except (BackendError, EnqueueFailed):
                state = "unknown"
            if schedule.is_active(state):
                held[change.id] = f"concurrency: forbid ({run.get('id')} is {state})"
        events: list[Event] = []
        for spec_id, why in sorted(held.items()):
            slots = [c for c in changes if c.id == spec_id and c.action is Action.SLOT]
            record = dict(slots[-1].schedule or {})  # the record after every due slot
            for change in slots:
                record = schedule.skipped_record(record, change.slot or "", why)
            entry = ledger.specs[spec_id]
            events.append(Event("scheduled", spec_id, entry.change, {
                "digest": entry.digest, "source": entry.source, "launch": dict(entry.launch),
                "previous": entry.previous, "cell": entry.cell, "schedule": record}))
        return [c for c in changes if not (c.id in held and c.action is Action.SLOT)], events


    def materialise(self, message: str) -> tuple[int, Ledger, str | None]:
        """Write the ledger from the journal and commit it; the caller forgets the journal when safe."""
        seq = self.journal.last_seq()
        ledger, dropped = ledger_mod.compacted(self.current_ledger())
        if dropped:
            message += ("\nCompacted out of the ledger (runs of earlier changes; git history keeps them):\n"
                        + "".join(f"{spec_id} -> {run}\n" for spec_id, run in dropped))
        checkpoint("before-ledger-write")
        self._write(ledger)
        commit = None
        if self.options.commit and self.repo is not None:
            checkpoint("before-commit")
            commit = self._commit(message)
        return seq, ledger, commit

    def commit_verb(self, ledger: Ledger | None, events: list[Event], message: str) -> str | None:
        """A lifecycle verb's ledger commit (forget, adopt): `events` are journalled first (what
        adopt records survives a kill), then `ledger` (None: the current one with them folded in)
        is written and committed, and the journal forgotten: the commit holds everything in it."""
        self._record(events)
        if self.journal_error:
            raise ApplyAborted(self.journal_error + "; nothing was recorded")
        seq = self.journal.last_seq()
        self._write(ledger if ledger is not None else self.current_ledger())
        commit = None
        if self.options.commit and self.repo is not None:
            commit = self._commit(message)
        self._forget(seq)
        return commit

    def _push_intents(self, plan: Plan, early: list[Outcome], head: str | None, claimant: dict[str, object],
                      notes: list[str]) -> tuple[Plan, list[Outcome]]:
        """Commit and push the intents before any enqueue; re-plan when another run got there first."""
        assert self.repo is not None
        for _ in range(self.options.push_attempts):
            events = intents(plan, self.repository, head, claimant)
            self._maybe_sent = self._sent_before(plan)
            if not events:
                return plan, early
            self._write(ledger_mod.fold(self.current_ledger(), events))
            pending = [Outcome(e.spec_id, Action.CREATE, "pending") for e in events]
            self._commit(commit_message(pending, "intend"))
            checkpoint("before-push")
            if self._push("Nothing was enqueued: the intents are in a local ledger commit, not pushed"):
                self._record(events)  # the pushed ledger holds them already: folding again changes nothing
                return plan, early
            notes.append("the ledger push was rejected (another apply pushed first): re-planned on its ledger")
            self._catch_up()  # drops our unpushed intent commit
            head = self.repo.head()
            plan = self._replan()
            self._move(plan)
            plan, early = self._prepare(plan)
        raise ApplyAborted(f"the ledger push was rejected {self.options.push_attempts} times; nothing was "
                           "enqueued; run apply again")

    def _move(self, plan: Plan) -> None:
        """Record the plan's moves before anything else looks at its entries: a retry or update of a
        moved spec is then judged (a live claim, an uncertain attempt) on the entry under its new id."""
        self._record([Event("moved", c.id, c.change, {"from": c.moved_from, "source": c.source})
                      for c in plan.changes if c.action is Action.MOVE])

    def _replan(self) -> Plan:
        """The plan again, on the remote's specs and ledger after catching up, held to the same
        checks as the first (protect, max_enqueue): the remote may have removed or moved a
        protected spec, or added many. Its moves are resolved again against the ledger now."""
        from reconciler import engine

        ledger = self.current_ledger()
        if not ledger.repository and not ledger.legacy:  # the remote had no ledger yet: ours went
            self._write(replace(ledger, repository=self._repository_id(), remote=self._remote_url()))
            ledger = self.current_ledger()
        from reconciler import cost

        specs = engine.with_moves(self.settings, self.reload_specs(), ledger)
        if not specs.valid:
            raise ApplyAborted("after catching up with the remote the specs are invalid; nothing was enqueued")
        self.shard_inputs = cost.shard_inputs(self.settings, specs)
        return self._applying(specs, ledger, "after catching up with the remote: ")

    def plan_again(self, planned: Planned) -> Plan:
        """The plan apply showed, or the same recipe on the ledger now when something was recorded
        since it was made (another apply in this clone, a migration): what a plan reads of the
        ledger is otherwise the same, and so would be the plan."""
        assert planned.plan is not None and planned.ledger is not None
        now, then = self.current_ledger(), planned.ledger
        if (now.specs, now.forgotten, now.legacy) == (then.specs, then.forgotten, then.legacy):
            return planned.plan
        return self._applying(planned.specs, now)

    def _applying(self, specs: SpecSet, ledger: Ledger, why: str = "") -> Plan:
        """engine.applying, its refusal (protect, max_enqueue) ending the run: nothing was sent."""
        from reconciler import engine

        try:
            return engine.applying(self.settings, specs, ledger, self.options)
        except engine.EngineError as exc:
            raise ApplyAborted(f"{why}{exc}") from None

    def _catch_up(self) -> None:
        """Move to the remote's tip; what our unpushed ledger commits held is journalled first.

        Those commits may hold IDs recorded nowhere else (an earlier apply without --push, whose
        journal was cleared once its ledger was committed): as events they fold onto the remote's.
        Journalled before the reset, so a kill in between loses nothing."""
        assert self.repo is not None
        fetched = self.repo.fetch(self.options.remote)
        try:
            theirs = ledger_mod.from_texts(self.repo.files_at(fetched, [self.settings.ledger_dir,
                                                                        self.settings.legacy_ledger]),
                                           self.settings, self.options.remote)
            ours = ledger_mod.load(self.settings)
        except ledger_mod.LedgerError as exc:
            raise ApplyAborted(f"cannot merge with the remote's ledger: {exc}") from None
        if not ours.legacy:  # a version 1 ledger of ours holds nothing the journal does not
            self._record(ledger_mod.as_events(ours, theirs))
        folding = self.journal.folding()
        self.repo.catch_up(fetched, self._own_files())
        # the specs loaded before are not the files on disk now: no shard written from here on may
        # claim to be made from them (a re-plan loads the new ones and says what they are)
        self.shard_inputs = None
        self._base = None
        self.journal.follow(folding, self.repo.head())  # what folded before the move still folds

    def _push(self, kept: str | None) -> bool:
        """Push the ledger commit; False when another run pushed first (a race). A refusal for any
        other reason (a hook, branch protection) ends the run, since retrying cannot help; `kept`
        says where what happened is kept (None: answer False, and the run stops sending)."""
        from reconciler.gitrepo import PushRefused  # a repository is open, so git is imported already

        assert self.repo is not None
        try:
            return self.repo.push(self.options.remote)
        except PushRefused as exc:
            if kept is None:
                return False
            raise ApplyAborted(f"{exc}. {kept}; once the remote accepts launchops' ledger commits, run apply "
                               "--push again to publish them") from None

    def publish(self, message: str, notes: list[str]) -> tuple[Ledger, str | None]:
        """Commit and push the results; on a rejected push, fold the journal onto the remote's ledger."""
        assert self.repo is not None
        for _ in range(self.options.push_attempts):
            seq, ledger, commit = self.materialise(message)
            checkpoint("before-push")
            if self._push(f"Every QueuedRun ID this apply got is in the local ledger commit {(commit or '')[:12]} "
                          "(git show lists them), not pushed"):
                self._forget(seq)
                return ledger, commit
            notes.append("the ledger push was rejected (another apply pushed first): merged onto its ledger")
            self._catch_up()
        raise ApplyAborted(f"the ledger push was rejected {self.options.push_attempts} times; every QueuedRun ID "
                           "is in the local journal and ledger: run apply --push again to publish them")

    def _withdraw_targets(self, plan: Plan) -> dict[str, QueuedRun]:
        """The items this plan's changes supersede, read once from the ledger as it is now (after
        _prepare adopted what uncertain attempts left): spec id -> the run to withdraw."""
        from reconciler.lifecycle import withdraw_target

        wanted = [c for c in plan.changes if c.withdraw]
        if not wanted:
            return {}
        ledger = self.current_ledger()
        out: dict[str, QueuedRun] = {}
        for change in wanted:
            entry = ledger.specs.get(change.id)
            run = withdraw_target(entry, None if change.action is Action.REMOVE else change.change) if entry else None
            if change.action is Action.SLOT and entry is not None:  # concurrency: replace (reconciler.schedule)
                from reconciler.schedule import replace_run

                run = replace_run(entry)

            if run is not None and run.get("backend", self.settings.backend) == self.settings.backend:
                out[change.id] = QueuedRun.from_json(run)
        return out

    def _withdraw(self, change: Change, run: QueuedRun | None) -> str | None:
        """Withdraw the item `change` supersedes while it is still pending: a journalled step, so
        a kill between the delete and what follows loses nothing (the next apply reads the item
        again). Returns what became of it, for people and the commit message."""
        from reconciler.lifecycle import outcome_of

        if run is None or self._why_stop():
            return None
        entry_change = change.change  # a `refreshed` event is folded by run id, whichever change it names
        self._record([Event("refreshed", change.id, entry_change, {"id": run.id, "fields": {"state": "withdrawing"}})])
        if self.journal_error:
            return None
        checkpoint("before-withdraw")
        try:
            said = self.backend.withdraw(run)
        except (BackendError, EnqueueFailed) as exc:
            return f"could not withdraw {run.id}: {exc} (the next apply looks again)"
        checkpoint("after-withdraw")
        judged = outcome_of(run.id, said, run.state)
        if judged.state is not None:
            self._record([Event("refreshed", change.id, entry_change, {"id": run.id,
                                                                       "fields": {"state": judged.state}})])
        return judged.note

    def _execute(self, plan: Plan, progress: Progress | None, refused: dict[str, str],
                 targets: dict[str, QueuedRun] | None = None) -> list[Outcome]:
        """Enqueue every create, update and retry; a failure does not stop the others unless fail_fast."""
        work = [c for c in plan.changes if c.action.enqueues]
        workers = max(1, int(getattr(self.backend, "parallel", 1) or 1))
        # read here, once: the sending threads neither fold the journal per change nor read it at all
        repository = self.repository if work else ""
        outcomes: list[Outcome] = []
        stopped = threading.Event()

        def attempt(change: Change) -> tuple[Change, Outcome, list[Event]]:
            error = ("not tried: an earlier enqueue failed and --fail-fast was given" if stopped.is_set()
                     else self._why_stop())
            if error:
                # Never started, so certainly not enqueued: the next apply retries it. After a lost
                # claim nothing is recorded: the run that took it over may be enqueueing it.
                return change, Outcome(change.id, change.action, "skipped", error=error), [
                    Event("failed", change.id, change.change, {"error": error})] if error != _LOST else []
            if change.id in refused:
                done = self._refuse(change, refused[change.id])
            else:  # the superseded item goes first: while it is pending both would run
                gone = self._withdraw(change, (targets or {}).get(change.id) if change.withdraw else None)
                done = self._one(change, repository)
                if gone:
                    done = (done[0], replace(done[1], notes=(gone, *done[1].notes), withdraw=gone), done[2])
            if change.slot is not None:  # the ledger keeps each slot's run and its state
                done = (done[0], done[1], [_with_slot(e, change.slot) for e in done[2]])
            if self.options.fail_fast and not done[1].ok:
                stopped.set()  # here, not where results are read: this worker takes the next change at once
            return done

        with ThreadPoolExecutor(workers, thread_name_prefix="enqueue") as pool:
            # one worker: in this thread, lazily (each send recorded before the next); a pool of one
            # handed each change over and back, a tenth of an apply of 10,000 creates (profile)
            done = (map(attempt, work) if workers == 1 else
                    (future.result() for future in [pool.submit(attempt, change) for change in work]))
            for _, outcome, events in done:
                self._record(events)
                checkpoint("after-record")
                outcomes.append(outcome)
                if progress:
                    progress(outcome, len(outcomes), len(work))
        return outcomes

    def _why_stop(self) -> str | None:
        """Why nothing more may be sent now, checked before each send (in the sending thread)."""
        with self._gate:
            if self.interrupts.received:
                return f"not sent: apply was interrupted ({signal.Signals(self.interrupts.received).name})"
            if self.journal_error:
                return "not sent: the journal cannot be written"
            if self._claim is None or not self.options.push or self.repo is None:
                return None
            if self._lost:
                return _LOST
            age = claim_age(self._claim)
            if age is not None and age < self.settings.claim_lease / 2:
                return None
            if self._renew():
                return None
            self._lost = True
            return _LOST

    def _renew(self) -> bool:
        """Take this run's claims again: an intent commit, pushed. False when the push is rejected:
        another run pushed first, and may have taken over what the claims held."""
        assert self._claim is not None and self.repo is not None
        fresh = renewed(self._claim)
        ledger = self.current_ledger()
        events = [intent(spec_id, e.change, e.previous, e.digest, e.source, e.launch, e.applied_commit, fresh,
                         e.marker, e.kind, e.marker_in(self.repository), e.cell)
                  for spec_id, e in sorted(ledger.specs.items()) if e.status == "pending" and e.claim == self._claim]
        self._claim = fresh
        if not events:
            return True
        self._record(events)
        self._write(ledger_mod.fold(ledger, events))
        pending = [Outcome(e.spec_id, Action.CREATE, "pending") for e in events]
        self._commit(commit_message(pending, "renew the claims of"))
        if not self._push(None):
            return False
        checkpoint("after-renew")
        return True

    def _refuse(self, change: Change, reason: str) -> tuple[Change, Outcome, list[Event]]:
        """The backend's preflight said this change cannot succeed: nothing is sent."""
        return change, Outcome(change.id, change.action, "failed", error=reason), [
            Event("failed", change.id, change.change, {"error": reason})]

    def _one(self, change: Change, repository: str) -> tuple[Change, Outcome, list[Event]]:
        """Resolve or enqueue one change; returns the events to journal (the caller writes them)."""
        request = _request(change, repository)
        if (change.action is Action.RETRY and change.prior_status in UNCERTAIN) or request.marker in self._maybe_sent:
            found = self._find(request)
            if found is None:
                # No answer is not "not there": enqueueing now could queue it twice.
                error = "could not look up its earlier attempt on the backend; not enqueued again (next apply retries)"
                return change, Outcome(change.id, change.action, "unknown", error=error), [
                    Event("unknown", change.id, change.change, {"error": error})]
            if found:
                notes: list[str] = []
                events = self._adopt(change, found[0], found[1:], notes)
                return change, Outcome(change.id, change.action, "adopted", tuple(r.id for r in found),
                                       notes=tuple(notes)), events
        checkpoint("before-enqueue")
        try:
            run = self.backend.enqueue(request)
        except EnqueueFailed as exc:
            if exc.uncertain:
                found = self._find(request)
                if found:
                    notes = [f"the backend reported {exc}, but the item is queued"]
                    events = self._adopt(change, found[0], found[1:], notes)
                    return change, Outcome(change.id, change.action, "adopted", tuple(r.id for r in found),
                                           notes=tuple(notes)), events
                return change, Outcome(change.id, change.action, "unknown", error=str(exc)), [
                    Event("unknown", change.id, change.change, {"error": str(exc)})]
            return change, Outcome(change.id, change.action, "failed", error=str(exc)), [
                Event("failed", change.id, change.change, {"error": str(exc)})]
        checkpoint("after-enqueue")
        duplicates = [str(d) for d in run.extra.get("duplicates") or ()]
        if duplicates:
            # The SDK retried a push the server had committed: one call, several items. Keep the one
            # it returned; every other ID is recorded too, and removed while still pending.
            kept = replace(run, extra={k: v for k, v in run.extra.items() if k != "duplicates"})
            notes = []
            events = self._adopt(change, kept, [replace(kept, id=d) for d in duplicates], notes)
            return change, Outcome(change.id, change.action, "enqueued", (kept.id, *duplicates),
                                   notes=tuple(notes)), events
        return change, Outcome(change.id, change.action, "enqueued", (run.id,)), [
            Event("enqueued", change.id, change.change, {"queued_run": run.to_json()})]

    def _find(self, request: EnqueueRequest) -> list[QueuedRun] | None:
        """Items carrying the request's marker; None when the backend could not say."""
        try:
            return self.backend.find(request)
        except EnqueueFailed:
            return None

    def _adopt(self, change: Change, kept: QueuedRun, extras: Sequence[QueuedRun], notes: list[str]) -> list[Event]:
        """Record every item of one change; remove the extras while still pending.

        The kept item is recorded last, so it is the entry's latest run (what status shows)."""
        events: list[Event] = []
        for extra in extras:
            events.append(Event("enqueued", change.id, change.change, {"queued_run": extra.to_json()}))
            if extra.state == "pending" and self.backend.delete(extra):
                events.append(Event("refreshed", change.id, change.change,
                                    {"id": extra.id, "fields": {"state": "deleted"}}))
                notes.append(f"removed duplicate {extra.id} (kept {kept.id})")
            else:
                notes.append(f"duplicate {extra.id} could not be removed (it is {extra.state}); both are recorded")
        events.append(Event("enqueued", change.id, change.change, {"queued_run": kept.to_json()}))
        return events


    # ---- status --refresh ------------------------------------------------------------------------
    def refresh(self) -> tuple[Ledger, list[Event], list[str]]:
        """Ask the backend for each spec's latest QueuedRun state (and run id); record what changed.

        Returns the ledger, the refresh events and warnings for items that could not be read: one
        unreadable item must not hide the others' states."""
        ledger = self.current_ledger()
        events: list[Event] = []
        warnings: list[str] = []
        for spec_id, entry in sorted(ledger.specs.items()):
            run = entry.latest_run
            if not run or run.get("backend", self.settings.backend) != self.settings.backend:
                continue
            try:
                fresh = self.backend.refresh(QueuedRun.from_json(run)).to_json()
            except BackendError as exc:
                warnings.append(f"{spec_id}: could not refresh {run['id']}: {exc}")
                continue
            changed = {k: fresh[k] for k in ("state", "run_id") if k in fresh and run.get(k) != fresh[k]}
            if changed:
                events.append(Event("refreshed", spec_id, entry.change, {"id": run["id"], "fields": changed}))
        if not events:
            return ledger, events, warnings
        self._record(events)
        message = f"launchops: refresh {len(events)} queue states [skip ci]\n\n" + "".join(
            f"{e.spec_id} -> {e.data['id']}: {e.data['fields'].get('state')}\n" for e in events)
        if self.options.push and self.options.commit and self.repo is not None:
            return self.publish(message, [])[0], events, warnings
        seq, ledger, _ = self.materialise(message)
        self.journal.forget(seq)
        return ledger, events, warnings


_LOST = ("not sent: this run's claim could not be renewed (another apply pushed first and may be "
         "enqueueing it); the next apply resolves it")


class ApplyAborted(Exception):
    """Apply stopped before enqueueing (or before publishing); the message says what to do."""


GITIGNORE_HEAD = "# written by launchops"


def ensure_gitignore(settings: Settings) -> None:
    """`.launchops/` holds the queue, journal, lock and cache: only the ledger (its folder, and the
    version 1 file or its tombstone) is committed. A .gitignore launchops wrote for version 1 is
    rewritten so the shards are tracked; one a person wrote is left alone."""
    state_dir = settings.state_dir
    path = state_dir / ".gitignore"
    folder = Path(settings.ledger_dir).name
    text = (f"{GITIGNORE_HEAD}: only the ledger is committed\n*\n!.gitignore\n!{folder}/\n!{folder}/**\n"
            f"!{folder}.json\n")
    try:
        current = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        current = None
    if current == text or (current is not None and not current.startswith(GITIGNORE_HEAD)):
        return
    state_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
