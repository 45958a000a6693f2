"""The `launchops` command: parses flags, calls the library, picks a renderer, sets the exit code.

Exit codes: 0 success, 1 failure (invalid specs, unreadable ledger, backend errors), 2 usage
errors (click's own); `plan --detailed-exitcode` exits 2 when there are changes; `apply` exits
130 / 143 when SIGINT / SIGTERM stopped it (after recording and committing what was sent).
"""
from __future__ import annotations

import datetime
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from reconciler import __version__
from reconciler.render import FORMATS, escape
from reconciler.settings import MAX_PARALLEL, Settings, SettingsError, find_root, load_settings, with_backend

if TYPE_CHECKING:
    from reconciler.apply import Applier, Options
    from reconciler.ledger import Ledger
    from reconciler.plan import Plan
    from reconciler.specs import SpecSet

# Modules are imported where a command needs them: a plan of nothing needs neither YAML nor JSON
# Schema nor the applier, and start-up is most of its time (profile).

@dataclass
class Ctx:
    """The repository root the command runs in."""

    root: Path

    def settings(self, backend: str | None = None) -> Settings:
        try:
            return with_backend(load_settings(self.root), backend)
        except SettingsError as exc:
            fail(str(exc))


def interactive() -> bool:
    """Whether a person can answer a prompt (never in CI, where apply needs --yes)."""
    return sys.stdin.isatty()


def fail(message: str) -> NoReturn:
    # messages name files, ids and ledger values: a pull request's strings (render/escape.py)
    click.echo(escape.lines(f"launchops: error: {message}"), err=True)
    raise SystemExit(1)


def render(command: str, fmt: str, document: dict[str, Any]) -> str:
    """The renderers escape every string from outside; the guard below is the last line of defence
    against a workflow command in the CI log (the github format's own `::error` lines are meant)."""
    if fmt == "json":
        return escape.json_text(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)) + "\n"
    from importlib import import_module

    rendered: str = getattr(import_module(f"reconciler.render.{fmt}"), command)(document)
    return rendered if fmt == "github" else escape.lines(rendered)


def step_summary(command: str, document: dict[str, Any]) -> None:
    """GitHub Actions shows what is appended to $GITHUB_STEP_SUMMARY on the run's page: the whole
    plan, not the comment's cut, within the 1 MiB a step's summary may hold."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        from reconciler.render import markdown

        used = os.path.getsize(path) if os.path.exists(path) else 0
        text = markdown.summary(command, document, markdown.SUMMARY_LIMIT - used - 1) + "\n"
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)


def format_option(command: str) -> Callable[[Any], Any]:
    return click.option("--format", "fmt", type=click.Choice(FORMATS[command]), default="text", show_default=True,
                        help="Output format.")


def _set_now(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--now sets the clock for the rest of this process (LAUNCHOPS_NOW): every plan it makes, the report."""
    if value is not None:
        from reconciler import schedule

        try:
            schedule.parse_time(value)
        except schedule.ScheduleError as exc:
            raise click.BadParameter(str(exc), param_hint="--now") from None
        os.environ[schedule.NOW_ENV] = value
    return value


now_option = click.option("--now", "now_text", default=None, metavar="TIME", expose_value=False, callback=_set_now,
                          help="The clock (what slots are due; on the status page, what is 24 h old), ISO 8601 "
                          "with an offset (default: LAUNCHOPS_NOW, then the real clock); for tests and replays.")


backend_option = click.option("--backend", type=click.Choice(["local", "wandb"]), default=None,
                              help="Queue backend (default: settings, then LAUNCHOPS_BACKEND, then local).")


def _report(specs: SpecSet, invalid: Callable[[SpecSet], NoReturn] | None, what: str) -> None:
    if specs.warnings or not specs.valid:
        from reconciler.render import documents, text

        for warning in documents.validate(specs)["warnings"]:
            click.echo(escape.lines(text.problem(warning, "warning: ")), err=True)
        if not specs.valid:
            if invalid is not None:
                invalid(specs)
            click.echo(text.validate({**documents.validate(specs), "warnings": []}), err=True, nl=False)
            fail(f"specs are invalid: {what}")


def _ledger_with_journal(settings: Settings) -> Ledger:
    from reconciler import engine

    try:
        return engine.ledger(settings)
    except engine.EngineError as exc:
        fail(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", "-V", prog_name="launchops")
@click.option("-C", "directory", type=click.Path(path_type=Path), default=None,
              help="Run as if started in DIR (default: the current folder); the repository root is found "
              "from there as git finds it.")
@click.pass_context
def main(ctx: click.Context, directory: Path | None) -> None:
    """GitOps for Weights & Biases Launch: launch specs in git, enqueued exactly once, every
    QueuedRun ID recorded in a committed ledger.

    \b
    launchops validate      check every spec
    launchops plan          show what apply would enqueue
    launchops apply --yes   enqueue, record, commit the ledger
    launchops status        what was applied, and its queue state
    """
    # exit 1, not click's usage error 2: `plan --detailed-exitcode` reads 2 as "there are changes"
    if directory is not None and not directory.is_dir():
        fail(f"-C {directory}: " + ("not a folder" if directory.exists() else "no such folder"))
    ctx.obj = Ctx(find_root(directory if directory is not None else Path.cwd()))


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@format_option("validate")
@click.option("--staged", is_flag=True, help="Check what git's index holds (what a commit would hold), not the "
              "working tree; the pre-commit hook uses it.")
@click.pass_obj
def validate(obj: Ctx, paths: tuple[Path, ...], fmt: str, staged: bool) -> None:
    """Check specs (all of specs_dir, or the given files and folders); report every problem."""
    if staged:
        _validate_staged(obj.root, paths, fmt)
    settings = obj.settings()
    if paths:
        from reconciler.specs import load_specs

        result = load_specs(settings, [Path(p) for p in paths])
    else:
        from reconciler import engine

        result = engine.checked(settings)
    from reconciler.render import documents  # after: git answers while it is imported

    click.echo(render("validate", fmt, documents.validate(result)), nl=False)
    raise SystemExit(0 if result.valid else 1)


def _validate_staged(root: Path, paths: tuple[Path, ...], fmt: str) -> NoReturn:
    """validate on the staged settings and specs; a given settings file stands for every spec."""
    from reconciler import staged
    from reconciler.render import documents
    from reconciler.specs import load_specs

    rels = [Path(os.path.relpath(Path(p).absolute(), root.absolute())) for p in paths]
    try:
        with staged.snapshot(root) as copy:
            settings = Ctx(copy).settings()
            staged.add_specs(root, copy, settings.specs_dir)
            everything = not rels or any(rel.as_posix() in staged.SETTINGS_FILES for rel in rels)
            result = load_specs(settings, None if everything else [copy / rel for rel in rels])
    except staged.StagedError as exc:
        fail(str(exc))
    click.echo(render("validate", fmt, documents.validate(result)), nl=False)
    raise SystemExit(0 if result.valid else 1)


def _plan(settings: Settings, invalid: Callable[[SpecSet], NoReturn] | None = None,
          replace_ids: tuple[str, ...] = ()) -> Plan:
    """The plan, its specs' warnings shown; invalid specs end the command (`invalid` says how)."""
    from reconciler import engine

    try:
        planned = engine.plan(settings, replace_ids)
    except engine.EngineError as exc:
        fail(str(exc))
    _report(planned.specs, invalid, "there is no plan until they are fixed")
    assert planned.plan is not None
    return planned.plan


@main.command()
@format_option("plan")
@backend_option
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 with no changes, 2 with changes, 1 on error.")
@click.option("--replace", "replace_ids", multiple=True, metavar="ID",
              help="Show this spec enqueued again although it did not change, as apply --replace would (repeatable).")
@now_option
@click.pass_obj
def plan(obj: Ctx, fmt: str, backend: str | None, detailed_exitcode: bool, replace_ids: tuple[str, ...]) -> None:
    """Show what apply would do. Reads files only: no backend, no credentials; writes nothing."""

    def invalid(specs: SpecSet) -> NoReturn:
        from reconciler.render import documents

        # the document still goes out, with every problem: the pull-request comment shows them
        document = documents.invalid_plan(specs)
        click.echo(render("plan", fmt, document), nl=False)
        step_summary("plan", document)
        raise SystemExit(1)

    # asked first: git answers while the renderer's modules are imported
    the_plan = _plan(obj.settings(backend), invalid if fmt != "text" else None, replace_ids)
    from reconciler.render import documents

    document = documents.plan(the_plan)
    click.echo(render("plan", fmt, document), nl=False)
    step_summary("plan", document)
    raise SystemExit(2 if detailed_exitcode and not the_plan.empty else 0)


@main.command()
@backend_option
@click.option("--yes", "-y", is_flag=True, help="Apply without asking (needed when not on a terminal).")
@click.option("--no-commit", is_flag=True, help="Write the ledger but do not commit it.")
@click.option("--push", is_flag=True, help="Push the ledger commits; intents are pushed before enqueueing.")
@click.option("--local", is_flag=True, help="Apply without pushing: this clone is the only one that applies "
              "(needed on the wandb backend in a clone with a remote, unless --push).")
@click.option("--remote", default="origin", show_default=True, help="Remote to push to.")
@click.option("--allow-dirty", is_flag=True, help="Apply although spec files differ from HEAD.")
@click.option("--fail-fast", is_flag=True, help="Stop at the first failed enqueue.")
@click.option("--parallel", type=click.IntRange(1, MAX_PARALLEL), default=None,
              help="Concurrent job checks and enqueues on the wandb backend (default: setting parallel, 8).")
@click.option("--lock-timeout", type=click.FloatRange(0), default=0, show_default=True,
              help="Seconds to wait for another apply in this clone to finish.")
@click.option("--max-enqueue", type=click.IntRange(0), default=None, metavar="N",
              help="Allow a plan that enqueues up to N items (default: setting max_enqueue, 256).")
@click.option("--replace", "replace_ids", multiple=True, metavar="ID",
              help="Enqueue this spec again although it did not change (repeatable), as terraform -replace.")
@format_option("apply")
@now_option
@click.pass_obj
def apply(obj: Ctx, backend: str | None, yes: bool, no_commit: bool, push: bool, local: bool, remote: str,
          allow_dirty: bool, fail_fast: bool, parallel: int | None, lock_timeout: float, fmt: str,
          max_enqueue: int | None, replace_ids: tuple[str, ...]) -> None:
    """Enqueue new and changed specs, record every QueuedRun ID, commit the ledger."""
    from reconciler import engine
    from reconciler.apply import Options, no_cycle_collection
    from reconciler.render import documents, text

    if push and no_commit:
        raise click.UsageError("--push needs a commit; drop --no-commit")
    if push and local:
        raise click.UsageError("--local says no other clone applies, --push publishes for them: pick one")
    settings = obj.settings(backend)
    options = Options(commit=not no_commit, push=push, remote=remote, fail_fast=fail_fast, replace=replace_ids,
                      max_enqueue=settings.max_enqueue if max_enqueue is None else max_enqueue, clock=_apply_clock())
    # Asked before the session writes anything (.launchops/.gitignore, the journal): a refusal or a
    # "no" leaves the repository as it was. The session enqueues only what was shown.
    def read(specs: SpecSet) -> None:  # their warnings and problems come before any refusal of the plan
        _report(specs, None, "nothing was enqueued")

    try:
        planned = engine.apply_plan(settings, options, local, read)
    except engine.EngineError as exc:
        fail(str(exc))
    assert planned.plan is not None
    asked = None if yes else _confirm(planned.plan, fmt)
    threads = parallel if parallel is not None else settings.parallel
    with no_cycle_collection():
        with _session(settings, options, "apply", lock_timeout, threads, allow_dirty) as runner:
            the_plan = runner.plan_again(planned)
            if yes and not the_plan.empty:
                click.echo(text.plan(documents.plan(the_plan)), err=fmt != "text", nl=False)
            if asked is not None and not {_shown(c) for c in the_plan.changes} <= asked:
                fail("the plan changed while apply asked for confirmation (another apply in this clone?); run "
                     "apply again to see it (nothing was enqueued)")
            result = runner.run(the_plan, runner.repo.head() if runner.repo else None, _progress(the_plan),
                                planned.specs)
        document = documents.apply(result)  # after the lock is let go; the collector still off
        report = render("apply", fmt, document)
    click.echo(report, nl=False)
    step_summary("apply", document)
    # 130 / 143: stopped by SIGINT / SIGTERM, after recording and committing what was sent
    raise SystemExit(128 + result.interrupted if result.interrupted else 0 if result.ok else 1)


def _apply_clock() -> datetime.datetime:
    """The one clock an apply judges slots by; a --now later than the real clock is refused (it
    would take slots that have not come yet, and they are never enqueued again)."""
    from reconciler import schedule

    try:
        clock = schedule.now()
    except schedule.ScheduleError as exc:
        fail(str(exc))
    real = datetime.datetime.now(datetime.UTC)
    if clock > real:
        fail(f"--now / {schedule.NOW_ENV} is {schedule.iso(clock)}, later than the real clock ({schedule.iso(real)}): "
             "apply takes the slots due by then, and a slot taken is never enqueued again; plan --now shows the "
             "future without taking anything")
    return clock


def _shown(change: Any) -> tuple[str, str, str]:
    return change.id, change.action.value, change.digest


def _confirm(the_plan: Plan, fmt: str) -> set[tuple[str, str, str]]:
    """Show the plan and ask; the changes agreed to. Refuses where nobody can answer."""
    from reconciler.render import documents, text

    if not the_plan.empty:
        click.echo(text.plan(documents.plan(the_plan)), err=fmt != "text", nl=False)
        if not interactive():
            fail("apply asks for confirmation, but this is not a terminal; pass --yes to apply "
                 "(nothing was enqueued)")
        click.confirm("Enqueue these changes?", abort=True)
    return {_shown(c) for c in the_plan.changes}


@contextmanager
def _session(settings: Settings, options: Options, command: str, lock_timeout: float = 0, parallel: int = 1,
             allow_dirty: bool = True) -> Iterator[Applier]:
    """engine.session, its notes on stderr and its errors as one message and exit 1."""
    from reconciler import engine

    try:
        with engine.session(settings, options, command, lock_timeout, parallel, allow_dirty,
                            say=lambda note: click.echo(escape.lines(note), err=True)) as runner:
            yield runner
    except engine.EngineError as exc:
        fail(str(exc))


def _progress(plan: Plan) -> Callable[..., None] | None:
    total = sum(1 for c in plan.changes if c.action.enqueues)
    if total <= 5:
        return None
    if sys.stderr.isatty():
        bar = click.progressbar(length=total, label="enqueueing", file=sys.stderr)

        def tick(outcome: Any, done: int, total: int) -> None:
            bar.update(1)
            if done == total:
                bar.render_finish()
        return tick

    def line(outcome: Any, done: int, total: int) -> None:
        runs = ", ".join(outcome.queued_runs)
        click.echo(escape.lines(f"[{done}/{total}] {outcome.result} {escape.text(outcome.id)}"
                                + (f" -> {runs}" if runs else "")
                                + (f": {escape.text(outcome.error)}" if outcome.error else "")), err=True)
    return line


@main.command()
@format_option("status")
@backend_option
@click.option("--refresh", is_flag=True, help="Ask the backend for each latest QueuedRun's state; commit it.")
@click.option("--no-commit", is_flag=True, help="With --refresh: write the ledger but do not commit it.")
@click.option("--push", is_flag=True, help="With --refresh: push the ledger commit.")
@click.pass_obj
def status(obj: Ctx, fmt: str, backend: str | None, refresh: bool, no_commit: bool, push: bool) -> None:
    """The ledger as a table: id, status, last QueuedRun ID, its state, when."""
    from reconciler.apply import Options
    from reconciler.render import documents

    if push and no_commit:
        raise click.UsageError("--push needs a commit; drop --no-commit")
    settings = obj.settings(backend)
    if refresh:
        with _session(settings, Options(commit=not no_commit, push=push), "status --refresh") as runner:
            current, _, warnings = runner.refresh()
        for warning in warnings:
            click.echo(escape.lines(f"warning: {warning}"), err=True)
    else:
        current = _ledger_with_journal(settings)
    click.echo(render("status", fmt, documents.status(current)), nl=False)


@main.command()
@click.option("--new-repository-id", is_flag=True, help="Give this ledger a repository id of its own (a fork or a "
              "copy of another repository), so its markers are never another's.")
@click.option("--no-commit", is_flag=True, help="Write the ledger but do not commit it.")
@click.option("--push", is_flag=True, help="Push the migration commit (compare-and-swap, as apply --push).")
@click.option("--remote", default="origin", show_default=True, help="Remote to push to.")
@click.option("--lock-timeout", type=click.FloatRange(0), default=0, show_default=True,
              help="Seconds to wait for another apply in this clone to finish.")
@click.pass_obj
def migrate(obj: Ctx, new_repository_id: bool, no_commit: bool, push: bool, remote: str, lock_timeout: float) -> None:
    """Write a version 1 ledger as version 2 in one ledger commit that enqueues nothing."""
    from reconciler import engine
    from reconciler.apply import Options

    if push and no_commit:
        raise click.UsageError("--push needs a commit; drop --no-commit")
    try:
        notes = engine.migrate(obj.settings(), Options(commit=not no_commit, push=push, remote=remote),
                               new_repository_id, lock_timeout, say=lambda n: click.echo(escape.lines(n), err=True))
    except engine.EngineError as exc:
        fail(str(exc))
    for note in notes:
        click.echo(escape.lines(note))


@main.command()
@click.argument("ids", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Also drop pending or unknown entries (their items may be on the queue).")
@click.option("--no-commit", is_flag=True, help="Write the ledger but do not commit it.")
@click.option("--lock-timeout", type=click.FloatRange(0), default=0, show_default=True,
              help="Seconds to wait for another apply in this clone to finish.")
@click.pass_obj
def forget(obj: Ctx, ids: tuple[str, ...], force: bool, no_commit: bool, lock_timeout: float) -> None:
    """Drop ledger entries without touching the queue (terraform state rm); a re-added spec is a new change."""
    from reconciler import engine
    from reconciler.apply import Options

    try:
        commit = engine.forget(obj.settings(), Options(commit=not no_commit), list(ids), force, lock_timeout,
                               say=lambda n: click.echo(escape.lines(n), err=True))
    except engine.EngineError as exc:
        fail(str(exc))
    where = f"ledger committed as {commit[:12]}" if commit else "ledger written (not committed)"
    click.echo(escape.lines(f"forgot {', '.join(escape.text(i) for i in ids)}; {where}"))


@main.command()
@click.argument("spec_id", metavar="ID")
@click.option("--queued-run", "queued_run", required=True, metavar="QRID",
              help="The QueuedRun ID of the item on the queue to record for this spec.")
@backend_option
@click.option("--no-commit", is_flag=True, help="Write the ledger but do not commit it.")
@click.option("--lock-timeout", type=click.FloatRange(0), default=0, show_default=True,
              help="Seconds to wait for another apply in this clone to finish.")
@click.pass_obj
def adopt(obj: Ctx, spec_id: str, queued_run: str, backend: str | None, no_commit: bool, lock_timeout: float) -> None:
    """Record an item already on the queue as the spec's applied state, enqueueing nothing (terraform import)."""
    from reconciler import engine
    from reconciler.apply import Options

    try:
        commit, what = engine.adopt(obj.settings(backend), Options(commit=not no_commit), spec_id, queued_run,
                                    lock_timeout, say=lambda n: click.echo(escape.lines(n), err=True))
    except engine.EngineError as exc:
        fail(str(exc))
    where = f"ledger committed as {commit[:12]}" if commit else "ledger written (not committed)"
    click.echo(escape.lines(f"{escape.text(what.removeprefix('launchops: ').removesuffix(' [skip ci]'))}; {where}"))


@main.group()
def preview() -> None:
    """Pull-request preview launches: enqueue what a pull request changes, clean up after it."""


def _preview_run(obj: Ctx, backend: str | None, fmt: str, call: Callable[..., Any]) -> None:
    from reconciler import preview as preview_mod
    from reconciler.backends import BackendError, LazyBackend, get_backend

    settings = obj.settings(backend)
    queue_backend = LazyBackend(lambda: get_backend(settings))
    try:
        outcome = call(preview_mod, settings, queue_backend)
    except (preview_mod.PreviewError, BackendError) as exc:
        fail(str(exc))
    finally:
        queue_backend.close()
    document = outcome.to_json()
    if fmt == "json":
        click.echo(render("plan", "json", document), nl=False)
    else:
        click.echo(escape.lines(_preview_text(document)))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:  # the run's page says what was enqueued and left out; every line inert markdown
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write("### launchops preview\n\n" + "".join(f"- {escape.markdown(line)}\n"
                                                            for line in _preview_text(document).splitlines()))
    if outcome.failed:
        raise SystemExit(1)


def _preview_text(doc: dict[str, Any]) -> str:
    where = f"pull request #{doc['pr']}: " if doc["pr"] is not None else ""
    lines = [f"{where}enqueued {e['id']} -> {e['queued_run']}" for e in doc["enqueued"]]
    lines += [f"{where}found {e['id']} already queued -> {e['queued_run']}" for e in doc["adopted"]]
    lines += [f"{where}left out {e['id']}: {e['reason']}" for e in doc["left_out"]]
    lines += [f"withdrew {e['id']} {e['queued_run']}" for e in doc["withdrawn"]]
    lines += [f"not withdrawn (already {e['state']}): {e['id']} {e['queued_run']}" for e in doc["running"]]
    lines += [f"failed: {e['id']}: {e['error']}" for e in doc["failed"]]
    lines += [f"note: {n}" for n in doc["notes"]]
    counts = (f"{len(doc['enqueued'])} enqueued, {len(doc['adopted'])} found queued, {len(doc['unchanged'])} "
              f"unchanged, {len(doc['left_out'])} left out, {len(doc['withdrawn'])} withdrawn, "
              f"{len(doc['running'])} running")
    return "\n".join([*lines, f"{where}{counts}"])


_pr_option = click.option("--pr", type=click.IntRange(1), required=True, help="The pull request's number.")
_remote_option = click.option("--remote", default="origin", show_default=True,
                              help="Remote of the launchops/previews branch (none: the local branch).")


@preview.command("apply")
@_pr_option
@click.option("--base", default="origin/HEAD", show_default=True, help="The pull request's base branch.")
@_remote_option
@backend_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_obj
def preview_apply(obj: Ctx, pr: int, base: str, remote: str, backend: str | None, fmt: str) -> None:
    """Enqueue the specs whose preview launch this pull request changes (once per change)."""
    _preview_run(obj, backend, fmt, lambda m, s, b: m.apply(s, pr, base, b, remote))


@preview.command("cleanup")
@_pr_option
@_remote_option
@backend_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_obj
def preview_cleanup(obj: Ctx, pr: int, remote: str, backend: str | None, fmt: str) -> None:
    """Withdraw the pull request's still-pending preview items, report running ones, mark it closed."""
    _preview_run(obj, backend, fmt, lambda m, s, b: m.cleanup(s, pr, b, remote))


@preview.command("sweep")
@click.option("--open", "open_prs", default="", help="Open pull requests' numbers, comma-separated (may be empty).")
@_remote_option
@backend_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_obj
def preview_sweep(obj: Ctx, open_prs: str, remote: str, backend: str | None, fmt: str) -> None:
    """Clean up every pull request's previews but the open ones', found by marker on the queue."""
    try:
        numbers = sorted({int(n) for n in open_prs.replace(" ", ",").split(",") if n.strip()})
    except ValueError:
        raise click.BadParameter(f"not a comma-separated list of numbers: {open_prs!r}", param_hint="--open") from None
    _preview_run(obj, backend, fmt, lambda m, s, b: m.sweep(s, numbers, b, remote))


@main.group()
def queue() -> None:
    """The embedded local queue (backend local)."""


@queue.command("list")
@format_option("queue")
@click.pass_obj
def queue_list(obj: Ctx, fmt: str) -> None:
    """Items of the embedded local queue, oldest first."""
    from reconciler.backends.local import LocalQueue
    from reconciler.render import documents

    settings = obj.settings()
    path = settings.local_queue_path
    items: list[dict[str, Any]] = []
    if path.exists():
        local = LocalQueue(path)
        items = local.items()
        local.close()
    click.echo(render("queue", fmt, documents.queue(items)), nl=False)


@main.command()
@click.pass_obj
def unlock(obj: Ctx) -> None:
    """Remove the apply lock left by a process that is no longer running."""
    from reconciler.lock import LockError, unlock as do_unlock

    try:
        click.echo(do_unlock(obj.settings().lock_path))
    except LockError as exc:
        fail(str(exc))


@main.command()
@click.option("--action", metavar="OWNER/REPO@REF", default=None,
              help="The launchops action the workflows use, pinned (default: the commit this launchops was "
              "installed from by pip from a GitHub git URL; without either the workflows are skipped).")
@click.pass_obj
def init(obj: Ctx, action: str | None) -> None:
    """Scaffold a repository: launchops.toml, folder defaults, an example spec, its schema, the
    workflows. Never overwrites a file: what exists is skipped, and said so."""
    from reconciler import scaffold

    try:
        done = scaffold.scaffold(obj.root, action)
    except scaffold.ScaffoldError as exc:
        fail(str(exc))
    lines = [f"wrote {rel}" for rel in done.written] + [f"skipped {rel}: {why}" for rel, why in done.skipped]
    lines += [f"note: {note}" for note in done.notes]
    if not done.written:
        lines.append("nothing written: every file exists or was skipped")
    click.echo(escape.lines("\n".join(lines)))


@main.command()
def schema() -> None:
    """Print the JSON Schema of a spec (for editors: yaml-language-server)."""
    from reconciler.checks import schema as load_schema

    click.echo(json.dumps(load_schema(), indent=2))

@main.command()
@click.option("--html", "folder", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Write the status page here: index.html (self-contained) and status.json.")
@now_option
@click.pass_obj
def report(obj: Ctx, folder: Path) -> None:
    """Write the status page: every spec's state, what needs attention, schedules, open previews.
    Reads files only (no backend): run status --refresh first for fresh queue states."""
    from reconciler import engine, report as report_mod, schedule

    try:
        document = report_mod.collect(obj.settings(), schedule.now())
    except (engine.EngineError, schedule.ScheduleError) as exc:
        fail(str(exc))
    for path in report_mod.write(folder, document):
        click.echo(escape.lines(f"wrote {escape.text(str(path))}"))
    summary = document["summary"]
    click.echo(f"{summary['specs']} specs, {summary['attention']} need attention")
