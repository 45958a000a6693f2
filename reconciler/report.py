"""The status page's document: every spec's state on two axes, what needs attention, schedules and previews.

`build` is a pure function of the ledger, the specs as git has them, the spec problems and the
clock; `collect` is the I/O edge that reads those (and the preview ledger on its branch), and
reconciler/render/html.py turns the document into one self-contained page. `launchops report
--html DIR` writes both: `DIR/status.json` (this document) and `DIR/index.html`.

The two axes (SPEC "The status page"):
- git vs ledger: `in sync` (the ledger applied the digest git has), `changed` (git has a digest the
  ledger did not apply: an edit, or a spec never applied), `removed` (the spec file is gone),
  `invalid` (its file has problems: nothing of it can be applied until they are fixed);
- the ledger's status (applied, pending, failed, unknown, removed) and the latest queue item's state
  (pending, claimed, running, finished, withdrawn, …) as the last `status --refresh` recorded it.

Every launch mapping is masked for secrets here, once; the renderer escapes every string.
"""
from __future__ import annotations

import datetime
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from reconciler import secrets
from reconciler.ledger import Entry, Ledger
from reconciler.lifecycle import WITHDRAWABLE
from reconciler.schedule import iso

if TYPE_CHECKING:
    from reconciler.settings import Settings
    from reconciler.specs import Spec

FORMAT_VERSION = 1
GIT_STATES = ("in sync", "changed", "removed", "invalid")
STATUSES = ("applied", "pending", "failed", "unknown", "removed", "not applied")
STALE = datetime.timedelta(hours=24)  # a pending item older than this needs a look
DEFAULT_WANDB_APP = "https://wandb.ai"
INVALID = "invalid spec file: apply enqueues nothing, for any spec, until it is fixed (launchops validate)"


def _parse_time(value: Any) -> datetime.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def wandb_app_url(environ: Mapping[str, str] = os.environ) -> str:
    """Where people open W&B runs: WANDB_BASE_URL names the API (`https://api.wandb.ai`); the app
    is the same host without `api.`. Only http(s): the page links nothing else."""
    base = environ.get("WANDB_BASE_URL", "").rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return DEFAULT_WANDB_APP
    return f"{parts.scheme}://{parts.netloc.removeprefix('api.')}"


def run_url(run: Mapping[str, Any], launch: Mapping[str, Any], app: str) -> str | None:
    """The W&B run an item became, once a refresh recorded its run id (W&B items only)."""
    run_id, entity, project = run.get("run_id"), run.get("entity") or launch.get("entity"), launch.get("project")
    if run.get("backend") != "wandb" or not all(isinstance(v, str) and v for v in (run_id, entity, project)):
        return None
    return f"{app}/{quote(str(entity), safe='')}/{quote(str(project), safe='')}/runs/{quote(str(run_id), safe='')}"


def group_of(spec_id: str, cell: Mapping[str, Any] | None) -> str:
    """A matrix cell's spec id (`spec[lr=0.1]` -> `spec`): cell values percent-encode `[`, so the
    last one opens the cell part."""
    if cell is None or not spec_id.endswith("]") or "[" not in spec_id:
        return spec_id
    return spec_id[: spec_id.rindex("[")]


def _git_state(entry: Entry | None, spec: Spec | None, invalid: bool) -> str:
    if invalid:
        return "invalid"
    if spec is None:
        return "removed"
    if entry is None or entry.status == "removed" or entry.digest != spec.digest:
        return "changed"
    return "in sync"


def _target(run: Mapping[str, Any], launch: Mapping[str, Any]) -> str:
    """Where an item went: entity/project (or project_queue) and queue name."""
    entity = run.get("entity") or launch.get("entity") or ""
    where = run.get("project_queue") or launch.get("project_queue") or launch.get("project") or ""
    queue = run.get("queue_name") or launch.get("queue_name") or ""
    head = "/".join(str(p) for p in (entity, where) if p)
    return f"{head}: {queue}" if head and queue else str(head or queue)


def _unwithdrawn(entry: Entry) -> list[Mapping[str, Any]]:
    """Items launchops enqueued for an earlier change of this id (or for a spec since removed) that
    the ledger still sees pending: a withdraw that did not take (reconciler.lifecycle records the
    state it read after the delete), or one cut short (`withdrawing`). A schedule's earlier slots
    are not superseded by later ones, and a claimed or running item is kept on purpose."""
    if entry.kind == "slot" or "schedule" in entry.extra:
        return []
    out = []
    for run in entry.queued_runs:
        superseded = entry.status == "removed" or run.get("change") not in (None, entry.change)
        own = isinstance(run.get("marker"), str) and not run.get("adopted")
        if superseded and own and str(run.get("state") or "pending").lower() in WITHDRAWABLE:
            out.append(run)
    return out


def _attention(row: Mapping[str, Any], entry: Entry | None, now: datetime.datetime, withdraw: bool) -> list[str]:
    # an invalid spec anywhere stops every enqueue (SPEC "Never"), not only its own
    reasons: list[str] = [INVALID] if row["git"] == "invalid" else []
    if entry is None:
        return reasons
    if entry.status == "failed":
        reasons.append("failed" + (f": {entry.error}" if entry.error else ""))
    elif entry.status == "unknown":
        reasons.append("unknown: the enqueue may or may not have reached the queue; the next apply looks it up"
                       + (f" ({entry.error})" if entry.error else ""))
    elif entry.status == "pending":
        since = _parse_time((entry.claim or {}).get("at")) or _parse_time(row["applied_at"])
        if since is None or now - since > STALE:
            reasons.append("pending in the ledger for more than 24 h (an apply stopped half-way?)")
    run = entry.latest_run
    if run is not None and str(run.get("state") or "").lower() == "pending" and entry.status != "removed":
        since = _parse_time(run.get("enqueued_at"))
        if since is not None and now - since > STALE:
            reasons.append(f"queue item pending for more than 24 h (since {iso(since)}): is an agent polling "
                           f"{row['queue'] or 'its queue'}?")
    for run in _unwithdrawn(entry) if withdraw else ():
        reasons.append(f"withdraw not honoured: superseded item {run.get('id')} is still "
                       f"{str(run.get('state') or 'pending').lower()} on the queue")
    return reasons


def _schedule(spec_id: str, entry: Entry, now: datetime.datetime) -> dict[str, Any] | None:
    """A scheduled spec's slots as its entry's `schedule` record keeps them (reconciler.schedule):
    the next slot, the last one taken and the newest missed ones with why. Read leniently: a record
    of another release shows what it has."""
    raw = entry.extra.get("schedule")
    if not isinstance(raw, Mapping):
        return None
    found = raw.get("spec")
    spec: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    crons = spec.get("cron")
    missed = sorted(({"slot": str(m.get("slot")), "why": str(m.get("why") or "")} for m in raw.get("missed") or ()
                     if isinstance(m, Mapping)), key=lambda m: m["slot"])
    nxt = raw.get("next_slot") if isinstance(raw.get("next_slot"), str) else None
    due = _parse_time(nxt)
    return {"id": spec_id, "cron": ", ".join(crons) if isinstance(crons, list) else crons,
            "timezone": spec.get("timezone"), "next": nxt,
            "last": raw.get("last_slot") if isinstance(raw.get("last_slot"), str) else None,
            "missed": missed, "suspended": bool(spec.get("suspend")),
            "due": due is not None and due <= now}  # the next apply enqueues it


def build(ledger: Ledger, specs: Mapping[str, Spec], problems: Iterable[Any], now: datetime.datetime,
          previews: Sequence[Mapping[str, Any]] = (), app: str = DEFAULT_WANDB_APP,
          withdraw: bool = True) -> dict[str, Any]:
    """The status document (status.json). `problems`: the spec problems (objects with `.file`);
    `previews`: the open preview launches (see `preview_rows`); `withdraw`: the setting (off, a
    superseded item left pending is what was asked for)."""
    bad_files = {str(p.file) for p in problems}

    def row_of(spec_id: str, entry: Entry | None, spec: Spec | None, source: str = "") -> dict[str, Any]:
        source = spec.source if spec is not None else entry.source if entry is not None else source
        launch = entry.launch if entry is not None else spec.launch if spec is not None else {}
        run = entry.latest_run if entry is not None else None
        cell = entry.cell if entry is not None else getattr(spec, "cell", None)
        row: dict[str, Any] = {
            "id": spec_id, "group": group_of(spec_id, cell), "cell": dict(cell) if cell is not None else None,
            "source": source, "git": _git_state(entry, spec, source in bad_files),
            "status": entry.status if entry is not None else "not applied",
            "queue_state": str(run.get("state") or "pending").lower() if run else None,
            "kind": entry.kind if entry is not None else None,
            "digest": entry.digest if entry is not None else spec.digest if spec is not None else None,
            "applied_commit": entry.applied_commit if entry is not None else None,
            "applied_at": run.get("enqueued_at") if run else None,
            "queued_run": str(run["id"]) if run and run.get("id") else None,
            "queued_runs": len(entry.queued_runs) if entry is not None else 0,
            "run_url": run_url(run, launch, app) if run else None,
            "queue": _target(run or {}, launch),
            "error": entry.error if entry is not None else None,
            "launch": secrets.mask(dict(spec.launch if spec is not None else launch), ["launch"]),
        }
        # as plan decides: a spec's own `lifecycle: {withdraw: false}` or `protect: true` keeps its items
        own = spec.lifecycle if spec is not None else {}
        kept = own.get("withdraw") is False or own.get("protect") is True
        row["attention"] = _attention(row, entry, now, withdraw and not kept)
        return row

    rows = [row_of(spec_id, ledger.specs.get(spec_id), specs.get(spec_id))
            for spec_id in sorted(set(specs) | set(ledger.specs))]
    # an invalid file that declares nothing applied yet: a row of its own, under its name
    rows += [row_of(file, None, None, file) for file in sorted(bad_files - {r["source"] for r in rows})]
    attention = sorted(({"id": r["id"], "reason": reason, "status": r["status"]} for r in rows
                        for reason in r["attention"]), key=lambda a: (_severity(a["reason"]), a["id"]))
    schedules = [s for s in (_schedule(i, e, now) for i, e in sorted(ledger.specs.items())) if s is not None]
    summary = {
        "specs": len(rows),
        "git": {state: sum(1 for r in rows if r["git"] == state) for state in GIT_STATES},
        "status": {state: sum(1 for r in rows if r["status"] == state) for state in STATUSES},
        "queue": dict(sorted(Counter(r["queue_state"] for r in rows if r["queue_state"]).items())),
        "attention": len({a["id"] for a in attention}),
        "schedules": len(schedules), "previews": len(previews),
    }
    return {"format_version": FORMAT_VERSION, "generated_at": iso(now), "summary": summary,
            "attention": attention, "specs": rows, "schedules": schedules, "previews": list(previews)}


# The attention list, worst first: what stops every apply, what failed, what may have been sent,
# what is left running against the spec, then what waits.
_ORDER = ("invalid", "failed", "unknown", "withdraw", "pending", "queue item")


def _severity(reason: str) -> int:
    return next((i for i, start in enumerate(_ORDER) if reason.startswith(start)), len(_ORDER))


def preview_rows(records: Mapping[str, Mapping[str, Any]], app: str = DEFAULT_WANDB_APP) -> list[dict[str, Any]]:
    """Open previews: per pull request (`pr-N`: its preview ledger record, reconciler.preview),
    each spec's latest preview item."""
    rows = []
    for pr, record in sorted(records.items(), key=lambda kv: (len(kv[0]), kv[0])):
        specs = record.get("specs")
        for spec_id, entry in sorted(specs.items() if isinstance(specs, Mapping) else ()):
            if not isinstance(entry, Mapping):
                continue
            runs = [r for r in entry.get("queued_runs") or () if isinstance(r, Mapping)]
            run = runs[-1] if runs else None
            found = entry.get("launch")
            launch: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
            # the branch can be edited by hand: what is shown as text is made text
            rows.append({"pr": pr, "id": str(spec_id), "head": record.get("head"),
                         "status": str(entry["status"]) if entry.get("status") else None,
                         "queue_state": str(run.get("state") or "pending").lower() if run else None,
                         "queued_run": str(run["id"]) if run and run.get("id") else None,
                         "enqueued_at": str(run["enqueued_at"]) if run and run.get("enqueued_at") else None,
                         "run_url": run_url(run, launch, app) if run else None, "error": entry.get("error")})
    return rows


def collect(settings: Settings, now: datetime.datetime) -> dict[str, Any]:
    """The document for this repository: the ledger (with an interrupted apply's journal folded
    in), the specs as they are on disk, and the open previews on the preview branch."""
    from reconciler import engine

    current = engine.ledger(settings)
    loaded = engine.specs(settings, current)
    app = wandb_app_url()
    return build(current, loaded.specs, loaded.problems, now, preview_rows(_previews(settings), app), app,
                 settings.withdraw)


def _previews(settings: Settings) -> dict[str, Mapping[str, Any]]:
    """The preview ledgers of open pull requests (`pr-N/ledger.json` on the preview branch, this
    clone's copy or origin's), by `pr-N`; none when the clone has no such branch."""
    import json

    from reconciler.gitrepo import GitError, Repo
    from reconciler.preview import BRANCH

    try:
        repo = Repo(settings.root)
    except GitError:
        return {}
    tip = next(filter(None, (repo.resolve(ref) for ref in (f"refs/heads/{BRANCH}", f"refs/remotes/origin/{BRANCH}"))),
               None)
    out: dict[str, Mapping[str, Any]] = {}
    for name, text in (repo.files_at(tip, ["."]) if tip else {}).items():
        pr, _, rest = name.partition("/")
        if not (pr.startswith("pr-") and pr[3:].isdigit() and rest == "ledger.json"):
            continue
        try:
            record = json.loads(text)
        except ValueError:
            continue  # preview apply names a broken record; the status page shows what it can
        if isinstance(record, Mapping) and record.get("state", "open") == "open":
            out[pr] = record
    return out


def write(folder: Path, document: Mapping[str, Any]) -> list[Path]:
    """`folder/status.json` and `folder/index.html` (the folder is made); the paths written."""
    import json

    from reconciler.render.html import page

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("status.json", json.dumps(document, sort_keys=True, ensure_ascii=False,
                                                          separators=(",", ":")) + "\n"),
                       ("index.html", page(document))):
        path = folder / name
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text(text, encoding="utf-8", errors="backslashreplace")
        tmp.replace(path)  # a reader (a web server, the artifact upload) never sees half a page
        written.append(path)
    return written
