"""The engine composes the concerns: desired state (specs) -> plan (against the ledger) -> apply.

gitops-engine's `pkg/engine` is the model: each concern answers to this module, and the CLI only
parses flags, calls one function here, renders what it returns and exits. Nothing here prints;
expected failures are `EngineError`s whose message says what to do, raised before anything is
written where that is possible. `say` callbacks carry notes meant for a person while a run goes on
(a lock taken over); results carry the rest.

  ledger(settings)            the committed ledger with an interrupted apply's events folded in
  specs(settings)             every spec, files the ledger vouches for taken from their shards
  plan(settings)              the specs and the plan, reading only what changed since the newest
                              stamped ledger commit (reconciler.cost); checked(settings) for validate
  ask_ahead(argv)             plan's questions to git, asked by the entry point before the CLI loads
  apply_plan(settings, ...)   what apply shows before it asks; applying(...), the one recipe of the
                              plan apply sends (shown, made again, after catching up with the remote)
  session(settings, ...)      git, the lock, the journal, the backend: an Applier to run
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.settings import Settings

if TYPE_CHECKING:
    from reconciler.apply import Applier, Options
    from reconciler.gitrepo import Repo, SinceStamp
    from reconciler.ledger import Ledger
    from reconciler.lifecycle import Cause
    from reconciler.plan import Plan
    from reconciler.problems import Problem
    from reconciler.specs import SpecSet


class EngineError(Exception):
    """An expected failure; the message names what is wrong and what to do."""


def ledger(settings: Settings) -> Ledger:
    """The ledger as the next apply would start from it: committed, plus what an interrupted
    apply left in the journal on this history (read without writing)."""
    from reconciler import journal, ledger as ledger_mod

    try:
        events, v1_events = journal.peek(settings.journal_path, journal.Lineage(settings.root))
        return ledger_mod.fold(ledger_mod.load(settings, v1_events), events)
    except (journal.JournalError, ledger_mod.LedgerError) as exc:
        raise EngineError(str(exc)) from None


@dataclass(frozen=True)
class Planned:
    """The specs, and their plan when they are valid."""

    specs: SpecSet  # when invalid there is no plan
    plan: Plan | None
    ledger: Ledger | None = None  # what the plan was made from


def specs(settings: Settings, current: Ledger | None = None, differ: set[str] | None = None) -> SpecSet:
    """Every spec, reading only the files whose inputs differ from what their shard recorded
    (reconciler.cost): the same result as reading them all. `differ`: what git cannot vouch for
    under specs_dir, when it was asked already."""
    from reconciler import cost
    from reconciler.specs import load_specs

    current = current or ledger(settings)
    known = cost.known_specs(settings, current, differ=differ)
    return with_moves(settings, load_specs(settings, known=known), current)


def with_moves(settings: Settings, loaded: SpecSet, current: Ledger) -> SpecSet:
    """The specs with their moves resolved against the ledger (`<specs_dir>/_moved.yaml` and each
    spec's moved_from): a wrong move is a problem at its line, a move with nothing to move a warning."""
    from reconciler.specs import MOVED_NAME

    path = settings.specs_path / MOVED_NAME
    if not path.is_file() and not any(spec.moved_from for spec in loaded.specs.values()):
        return loaded  # nothing moves: lifecycle's rules are not even imported
    from reconciler import lifecycle

    declared: list[lifecycle.Move] = []
    problems: list[Problem] = []
    if path.is_file():
        rel = path.relative_to(settings.root).as_posix()
        declared, problems = lifecycle.parse_moves(path.read_text(encoding="utf-8", errors="replace"), rel)
    declared += [lifecycle.Move(old, spec.id, spec.source, 0)
                 for spec in loaded.specs.values() for old in spec.moved_from]
    if not declared and not problems:
        return loaded
    moves, refused, warnings = lifecycle.resolve(declared, loaded.specs, current)
    if (refused or warnings) and any(m.line == 0 for m in declared):
        # a problem names a spec's moved_from (where it is, or as the other of two moves): found
        # again at its key's line, as the moves file's are; read only when there is one to report
        declared = [replace(m, line=_moved_from_line(settings, loaded.specs[m.new])) if m.line == 0 else m
                    for m in declared]
        moves, refused, warnings = lifecycle.resolve(declared, loaded.specs, current)
    return replace(loaded, problems=(*loaded.problems, *problems, *refused), warnings=(*loaded.warnings, *warnings),
                   moves=moves)


def _moved_from_line(settings: Settings, spec: Any) -> int:
    """The line of the `moved_from` key of the document that declares `spec` (0: not found)."""
    import yaml

    try:
        text = (settings.root / spec.source).read_text(encoding="utf-8")
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return 0
    from reconciler.specs import default_id

    own = default_id(settings, spec.source)
    for node in nodes:
        if not isinstance(node, yaml.MappingNode):
            continue
        keys = {k.value: (k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)}
        declared = keys["id"][1].value if "id" in keys and isinstance(keys["id"][1], yaml.ScalarNode) else own
        if declared == spec.id and "moved_from" in keys:
            return int(keys["moved_from"][0].start_mark.line) + 1
    return 0


_AHEAD: dict[tuple[Path, str, str], SinceStamp | None] = {}  # asked by ask_ahead, taken by _asked


def ask_ahead(argv: Sequence[str]) -> None:
    """Ask git what a plan or a validate will ask it (_asked), from the command line alone and
    before the CLI is imported, which takes as long as git's answers (a third of a plan of nothing).
    Only `[-C DIR] plan ...` and `[-C DIR] validate [--format F]` (files named, or --staged, need no
    such answer); anything else, or settings that do not load, asks nothing here (the command then
    says what is wrong)."""
    args = list(argv)
    directory = None
    while args and args[0].startswith("-C"):
        directory, args = (args[0][2:], args[1:]) if len(args[0]) > 2 else (args[1] if args[1:] else None, args[2:])
    if not args or args[0] not in ("plan", "validate"):
        return
    if args[0] == "validate" and ("--staged" in args or any(
            not arg.startswith("-") and before != "--format" for before, arg in zip(args, args[1:], strict=False))):
        return
    from reconciler.settings import find_root, load_settings

    try:
        settings = load_settings(find_root(Path(directory) if directory is not None else Path.cwd()))
    except Exception:  # only a head start: the command itself finds and says what is wrong
        return
    _AHEAD[settings.root, settings.specs_dir, settings.ledger_dir] = _asked(settings)


def _asked(settings: Settings) -> SinceStamp | None:
    """What a plan of what changed asks git (reconciler.cost), asked first: git answers while
    the modules a plan needs are imported, which takes as long. None without a version 2 ledger
    (never applied: every file is read, and git has nothing to say)."""
    key = (settings.root, settings.specs_dir, settings.ledger_dir)
    if key in _AHEAD:
        return _AHEAD.pop(key)
    from reconciler.gitrepo import SinceStamp
    from reconciler.settings import LEDGER_META

    if not (settings.ledger_path / LEDGER_META).is_file():
        return None
    return SinceStamp(settings.root, [settings.specs_dir, settings.ledger_dir])


def _read(settings: Settings, asking: SinceStamp | None, also: tuple[str, ...] = ()) -> tuple[Ledger, SpecSet]:
    """The ledger and the specs that plan and validate need: only what changed since the newest
    stamped ledger commit (reconciler.cost), else everything. Unread specs are counted, not held."""
    from reconciler import cost, journal, ledger as ledger_mod

    try:
        events, v1_events = journal.peek(settings.journal_path, journal.Lineage(settings.root))
        # an interrupted apply's events may name any shard: then everything is read
        scoped = None if events or v1_events or asking is None else cost.load(settings, asking, also)
        if scoped is None:  # as ledger() reads it, from the events just peeked
            current = ledger_mod.fold(ledger_mod.load(settings, v1_events), events)
    except (journal.JournalError, ledger_mod.LedgerError) as exc:
        raise EngineError(str(exc)) from None
    finally:
        if asking is not None:
            asking.close()
    if scoped is None:  # git's answers about the working tree serve the full load too (ledger
        # paths among them name no spec file and no defaults file: known_specs passes over them)
        return current, specs(settings, current, asking.unlike() if asking is not None else None)
    current, loaded = scoped
    return current, with_moves(settings, loaded, current)


def checked(settings: Settings) -> SpecSet:
    """What `validate` reports of every spec, reading only what changed; a ledger that cannot be
    read is no reason not to validate (every file is read then)."""
    try:
        return _read(settings, _asked(settings))[1]
    except EngineError:
        from reconciler.specs import load_specs

        return load_specs(settings)


def plan(settings: Settings, replace_ids: tuple[str, ...] = ()) -> Planned:
    """The specs and, when they are valid, the plan (`replace_ids`: as apply --replace would)."""
    asking = _asked(settings)
    from reconciler.plan import make_plan

    current, loaded = _read(settings, asking, replace_ids)
    notes = tuple(f"{name} is not as launchops wrote it (edited by hand?): checked in full, and its spec file "
                  "loaded" for name in current.unsealed)
    if not loaded.valid:
        return Planned(loaded, None)
    _refuse_unknown(replace_ids, loaded)
    made = guard(settings, make_plan(loaded.specs, current, notes, withdraw=settings.withdraw, moves=loaded.moves,
                                     replace_ids=replace_ids))
    # every unread spec is applied as it is now: unchanged
    return Planned(loaded, replace(made, unchanged=made.unchanged + loaded.unread, causes=causes(settings, made)),
                   current)


def apply_plan(settings: Settings, options: Options, local: bool,
               loaded_specs: Callable[[SpecSet], None] = lambda _: None) -> Planned:
    """What apply shows before it asks and before anything is written, refused first where it
    must not run (below); the session then sends it (Applier.plan_again). `loaded_specs` hears
    of the specs as soon as they are read, before the plan may be refused (their warnings)."""
    if options.push or (settings.backend == "wandb" and not local):
        _refuse_unsafe_remote(settings, options)
    current = ledger(settings)
    loaded = specs(settings, current)
    loaded_specs(loaded)
    if not loaded.valid:
        return Planned(loaded, None, current)
    _refuse_unknown(options.replace, loaded)
    return Planned(loaded, applying(settings, loaded, current, options), current)


def _refuse_unknown(replace_ids: tuple[str, ...], loaded: SpecSet) -> None:
    """--replace names only specs there are."""
    if replace_ids:
        from reconciler.lifecycle import unknown_replaces

        unknown = unknown_replaces(replace_ids, loaded.specs)
        if unknown:
            raise EngineError(unknown)


def applying(settings: Settings, loaded: SpecSet, current: Ledger, options: Options) -> Plan:
    """The plan apply sends, made one way whether shown, made again after another apply recorded
    meanwhile, or after catching up with the remote: at the apply's clock, with its --replace,
    held to protect and max_enqueue (vetted)."""
    from reconciler.plan import make_plan

    made = make_plan(loaded.specs, current, withdraw=settings.withdraw, now=options.clock,
                     replace_ids=options.replace, moves=loaded.moves)
    return vetted(settings, made, options.max_enqueue)


def _refuse_unsafe_remote(settings: Settings, options: Options) -> None:
    """--push names a remote, which must exist before an intent is written. Without --push on W&B,
    intents stay in this clone, invisible to every other applier (CI runs `apply --push`): both
    would enqueue the same change, so a clone with a remote must say which (--push or --local)."""
    from reconciler.gitrepo import GitError, Repo

    try:
        remotes = Repo(settings.root).remotes()
    except GitError:
        return  # not a repository: the session says so
    if options.push and options.remote not in remotes:
        have = f"this clone's remotes: {', '.join(remotes)}" if remotes else "this clone has no remote"
        raise EngineError(f"--push: there is no remote named {options.remote!r} ({have}); add it (git remote add "
                          f"{options.remote} URL) or name another with --remote (nothing was written or enqueued)")
    if not options.push and remotes:
        raise EngineError(
            f"this clone has a remote ({', '.join(remotes)}): on the wandb backend an apply without --push keeps "
            "its intents in this clone, so another clone or CI applying the same change cannot see them and "
            "would enqueue it again; pass --push (intents are pushed before anything is enqueued), or --local "
            "if this clone is the only one that applies (nothing was enqueued)")


def guard(settings: Settings, plan: Plan) -> Plan:
    """Hold each removal and each move to the `lifecycle:` (protect, withdraw) the spec had at its
    old id, read from git where the file or document is gone. EngineError when a protected spec
    would be removed or moved away."""
    gone = {c.id: c.source for c in plan.changes if c.action.value == "remove"}
    gone.update({c.moved_from: c.moved_source for c in plan.changes
                 if c.action.value == "move" and c.moved_from and c.moved_source})
    if not gone:
        return plan
    from reconciler.lifecycle import LifecycleError, guarded, lifecycle_of
    from reconciler.specs import default_id

    last = {i: lifecycle_of(_last_texts(settings, source), i, default_id(settings, source))
            for i, source in gone.items()}
    try:
        return guarded(plan, last)
    except LifecycleError as exc:
        raise EngineError(str(exc)) from None


def vetted(settings: Settings, plan: Plan, limit: int | None) -> Plan:
    """What apply checks of every plan it may send, the first and one made again after a rejected
    push alike: each removal and move held to its spec's `lifecycle:` (guard), then max_enqueue
    (`limit`; None: no limit). EngineError says why a plan is refused; nothing was enqueued."""
    from reconciler.lifecycle import enqueue_count, refusal

    plan = guard(settings, plan)
    if limit is not None and enqueue_count(plan) > limit:
        raise EngineError(str(refusal(plan, limit, causes(settings, plan))))
    return plan


def _last_texts(settings: Settings, source: str) -> Iterator[str]:
    """The spec file's text as it is, then as it was before the commit that last touched it (the
    file, or the document in it, is gone): read from git only when the first does not declare the id."""
    from reconciler.gitrepo import GitError, Repo

    path = settings.root / source
    if path.is_file():
        yield path.read_text(encoding="utf-8", errors="replace")
    try:
        repo = Repo(settings.root)
        touched = repo.history([source], limit=1)
        yield from (repo.files_at(f"{touched[0][0]}^", [source]).values() if touched else [])
    except GitError:
        return


def causes(settings: Settings, plan: Plan) -> tuple[Cause, ...]:
    """The plan's updates grouped under the `_defaults.yaml` edits that caused them; reads only the
    spec files that update and the folder defaults above them."""
    sources = sorted({c.source for c in plan.changes if c.action.value == "update" and c.diff})
    if not sources:
        return ()
    from pathlib import PurePosixPath

    import yaml

    from reconciler.lifecycle import causes as group
    from reconciler.specs import DEFAULTS_NAMES

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    def documents(rel: str) -> list[dict[str, Any]]:
        try:
            text = (settings.root / rel).read_text(encoding="utf-8")
            return [d for d in yaml.load_all(text, Loader=loader) if isinstance(d, dict)]  # noqa: S506 - a safe loader
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            return []  # loaded and checked already; a file that moved since explains nothing

    defaults: dict[str, dict[str, Any]] = {}
    for source in sources:
        for folder in PurePosixPath(source).parents:
            for name in DEFAULTS_NAMES:
                rel = (folder / name).as_posix()
                if rel not in defaults and (settings.root / rel).is_file():
                    defaults[rel] = next(iter(documents(rel)), {})
    return tuple(group(plan.changes, defaults, {s: documents(s) for s in sources}))


def _unwritable(settings: Settings, exc: OSError) -> str:
    where = settings.state_dir.relative_to(settings.root).as_posix()
    return (f"cannot write launchops' local state in {where}/ ({exc.strerror}: {exc.filename}); apply records "
            f"its intents there before it enqueues anything: make {where}/ writable by this user (or free disk "
            "space), then run apply again; nothing was enqueued")


@contextmanager
def session(settings: Settings, options: Options, command: str, lock_timeout: float = 0, parallel: int = 1,
            allow_dirty: bool = True, say: Callable[[str], None] = lambda _: None) -> Iterator[Applier]:
    """What apply, migrate and status --refresh share: git, the lock, the journal, the backend, in
    that order.

    The ledger is read before anything is written, so an unreadable one leaves the repository as it
    was; every expected failure inside becomes one EngineError."""
    from reconciler import journal, ledger as ledger_mod
    from reconciler.apply import Applier, ApplyAborted, ensure_gitignore
    from reconciler.backends import BackendError, LazyBackend, get_backend
    from reconciler.gitrepo import GitError, Repo
    from reconciler.lock import ApplyLock, LockError
    from reconciler.specs import load_specs

    try:
        repo = Repo(settings.root) if options.commit or command == "apply" else None
        if repo is not None and not allow_dirty:
            refuse_dirty(settings, repo)
        ledger(settings)  # readable, before anything is written
        lock = ApplyLock(settings.lock_path, command).acquire(lock_timeout)
    except (GitError, LockError) as exc:
        raise EngineError(str(exc)) from None
    except OSError as exc:
        raise EngineError(_unwritable(settings, exc)) from None
    with lock:
        if lock.stale:
            say(f"note: took over the lock of an apply that is no longer running (pid {lock.stale.get('pid')} on "
                f"{lock.stale.get('host')}, started {lock.stale.get('started')})")
        try:
            ensure_gitignore(settings)
        except OSError as exc:
            raise EngineError(_unwritable(settings, exc)) from None
        try:
            events = journal.Journal(settings.journal_path, journal.Lineage(settings.root) if repo else None)
        except journal.JournalError as exc:
            raise EngineError(f"{exc}; nothing was enqueued") from None
        backend = LazyBackend(lambda: get_backend(settings, parallel=parallel))
        try:
            applier = Applier(settings, repo, backend, events, options, reload_specs=lambda: load_specs(settings))
            yield applier
        except (ledger_mod.LedgerError, BackendError, GitError, ApplyAborted) as exc:
            raise EngineError(str(exc)) from None
        finally:
            backend.close()
            events.close()


def refuse_dirty(settings: Settings, repo: Repo) -> None:
    """Stop when a file apply reads is not exactly HEAD's: what git status reports, and by content
    what it does not (ignored files, files marked skip-worktree or assume-unchanged)."""
    from reconciler.specs import input_files, is_input

    if repo.head() is None:
        raise EngineError("this repository has no commits yet: commit the specs first (the ledger names the commit "
                          "it applied), or pass --allow-dirty")
    settings_files = ["launchops.toml", "pyproject.toml"]
    status = set(repo.dirty([settings.specs_dir] + [n for n in settings_files if (settings.root / n).exists()]))
    on_disk = input_files(settings) + [n for n in settings_files if (settings.root / n).is_file()]
    unlike = repo.unlike_head(on_disk, [settings.specs_dir, *settings_files],
                              lambda rel: rel in settings_files or is_input(settings, rel))
    dirty = {**{rel: "" for rel in status}, **unlike}
    if not dirty:
        return
    shown = [f"{rel} ({how})" if how else rel for rel, how in sorted(dirty.items())]
    unseen = len(set(unlike) - status)
    hint = (f"; git does not show {unseen} of them (ignored, or marked skip-worktree or assume-unchanged), "
            "but launchops reads them: `git update-index --no-skip-worktree --no-assume-unchanged FILE` "
            "lets git see an edit, `git check-ignore -v FILE` says which rule ignores a file") if unseen else ""
    raise EngineError("spec files differ from HEAD: " + ", ".join(shown[:10]) + (" …" if len(shown) > 10 else "")
                      + "; commit them first (the ledger names the commit it applied), or pass --allow-dirty"
                      + hint)


def migrate(settings: Settings, options: Options, new_repository_id: bool, lock_timeout: float = 0,
            say: Callable[[str], None] = lambda _: None) -> list[str]:
    """`launchops migrate`: version 1 -> 2 (or a repository id of its own); notes of what was done."""
    notes: list[str] = []
    with session(settings, options, "migrate", lock_timeout, say=say) as runner:
        current = runner.current_ledger()
        if not current.legacy and not new_repository_id:
            if current.repository is None:
                raise EngineError("there is no ledger to migrate yet: the first apply writes version 2")
            return ["the ledger is version 2 already; nothing to do"]
        if current.repository is None and not current.legacy:
            raise EngineError("there is no ledger yet: the first apply gives it a repository id")
        from reconciler import cost

        loaded = specs(settings, current)  # as apply's migration: the shards record what they were made from
        if loaded.valid:
            runner.shard_inputs = cost.shard_inputs(settings, loaded)
        runner.migrate(notes, new_id=new_repository_id)
    return notes


def forget(settings: Settings, options: Options, ids: list[str], force: bool, lock_timeout: float = 0,
           say: Callable[[str], None] = lambda _: None) -> str | None:
    """`launchops forget ID…`: drop ledger entries (no queue item is touched); the commit."""
    from reconciler.lifecycle import LifecycleError, forgotten

    with session(settings, options, "forget", lock_timeout, say=say) as runner:
        try:
            ledger, message = forgotten(runner.current_ledger(), ids, force)
        except LifecycleError as exc:
            raise EngineError(str(exc)) from None
        return runner.commit_verb(ledger, [], message)


def adopt(settings: Settings, options: Options, spec_id: str, queued_run: str, lock_timeout: float = 0,
          say: Callable[[str], None] = lambda _: None) -> tuple[str | None, str]:
    """`launchops adopt ID --queued-run QRID`: record an item that is on the queue (enqueued by hand)
    as the applied state of the spec's current digest; nothing is enqueued. The commit, and a note."""
    from reconciler.backends.base import BackendError
    from reconciler.lifecycle import LifecycleError, adopt_events, adopt_request

    loaded = specs(settings)
    if not loaded.valid:
        raise EngineError("the specs are invalid (launchops validate lists the problems); nothing was recorded")
    spec = loaded.specs.get(spec_id)
    if spec is None:
        raise EngineError(f"adopt: there is no spec {spec_id} (ids are as plan shows them); nothing was recorded")
    with session(settings, options, "adopt", lock_timeout, say=say) as runner:
        notes: list[str] = []
        runner.ensure_version_2(notes)
        current = runner.current_ledger()
        try:
            wanted = adopt_request(spec, queued_run, settings.backend)
            found = runner.backend.lookup(wanted)
        except BackendError as exc:
            raise EngineError(f"adopt: could not look up {queued_run} on the {settings.backend} backend: {exc}; "
                              "nothing was recorded") from None
        try:
            events, message = adopt_events(spec, current, found, queued_run, runner.repo.head() if runner.repo
                                           else None)
        except LifecycleError as exc:
            raise EngineError(str(exc)) from None
        commit = runner.commit_verb(None, events, message)
        return commit, message.splitlines()[0]
