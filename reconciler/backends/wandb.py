"""W&B Launch through the wandb SDK: the only module of launchops that imports `wandb`.

`wandb` is imported lazily, on the first call that needs the network (`preflight`, `enqueue`,
`find`, `refresh`, `delete`), never at import time: `validate`, `plan` and `--help` stay free of it.

How an enqueue is made. `launch_add` opens two API sessions per call (a `Viewer` round trip each),
looks up the default entity again, and checks a `job` artifact only *after* pushing, so an unknown
job leaves an orphan item. This backend keeps one `LaunchApi` client for its lifetime, checks each
distinct job once before the first push (`preflight`), and then makes exactly one round trip per
spec: the SDK's own `construct_launch_spec` builds the run spec (so its quirks are kept: it mutates
`config`, drops `repository` when there is no `config`, prefers `template_variables` over
`resource_args`) and the SDK's own `LaunchApi.push_to_run_queue` sends it. What reaches the server
(runSpec, priority, template variables, queue, entity, project_queue) is identical to what
`launch_add` sends for the same arguments; tests/test_wandb_backend.py compares the two on the wire.
`build: true` is refused before anything is sent: wandb 0.31's `launch_add` builds only from a
`uri`, which it never passes on, so every build fails (an `AssertionError`) before its push;
tests/test_wandb_backend.py checks that a by-hand `launch_add(build=True)` still sends nothing.

The marker. Every enqueue carries `request.marker` as a top-level key of the run spec,
`"launchops_marker": "<marker>"`, put into the `config` mapping that `construct_launch_spec` turns
into the run spec. The server keeps the run spec verbatim on the queue item and returns it in
`runQueueItems { edges { node { runSpec } } }`; launch agents ignore keys they do not know. It works
whether or not the spec sets `run_id` and leaves the run's identity alone (a deterministic `run_id`
would change which W&B run the item becomes, and cannot be used when the spec sets its own).
`find` searches the queue the spec names (queue entity, `project_queue`, `queue_name`) page by page
(`first: 100, after: <cursor>`, up to `MAX_FIND_PAGES` pages), because `RunQueue.items` returns only
the first 100 ids and no run spec; each item counts once, by id. The answer is "not there" only
when the listing reached the end of the queue: a request that fails on any page (an error the SDK
gave up on, whatever its text) makes the lookup unknown, and so does a listing cut short (more than
`MAX_FIND_PAGES` pages, or a server without paging whose one page is full) that holds no match;
an unknown lookup sends nothing and removes nothing, and the change stays uncertain. `after:`,
`pageInfo` and the items' `runSpec` and `createdAt` appear in no query of the SDK (so nothing but
W&B's web UI proves they exist): a server that refuses paging or `createdAt` on the first request
is listed without them; one that does not show `runSpec` cannot be searched, and every lookup is
unknown. Limits: items an agent has already taken and that the server no longer lists are not
found (by then the item has run: the next apply would enqueue it again only if its ledger entry
was still `pending`/`unknown`).

Uncertain failures. wandb 0.31 reports every failed push with a priority as a bare
`LaunchError("Error adding run to queue")`, and wandb-core retries 5xx responses on its own, so a
failed push may have landed (even twice). Every failure from the push on is
`EnqueueFailed(..., uncertain=True)`, with the cause the transport saw when there is one; failures
certain to have enqueued nothing (missing job, `uri`, bad arguments the SDK refuses before pushing,
missing credentials) are `uncertain=False` or `BackendError`. A push that took longer than the
SDK's first retry delay may have been retried after the server committed it: the backend then
searches by marker at once and reports the other items in `QueuedRun.extra["duplicates"]`.

Threads. One `LaunchApi` is shared by all threads: its requests go through wandb-core's
asynchronous mailbox, which serves concurrent requests. `enqueue` is safe to call from several
threads (a test checks 120 parallel pushes each land with their own marker, priority and config);
`parallel` is the pool size apply uses.
Measured against the test server with 20 ms added latency per request (job launches): serial
`launch_add` 146-151 ms per spec (6 round trips); this backend 22.8 ms per spec with one thread (one
round trip), 2.9 ms with 8 threads, 2.3 ms with 16; 1,000 creates with 8 threads, client start-up
and job check included, 4.9 ms per spec: 31x the serial `launch_add` loop.
"""
from __future__ import annotations

import contextlib
import copy
import itertools
import netrc
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from .base import Backend, BackendError, EnqueueFailed, EnqueueRequest, QueuedRun, utc_now

PIP_INSTALL = "pip install 'launchops[wandb]'"
MARKER_KEY = "launchops_marker"
DEFAULT_PROJECT_QUEUE = "model-registry"  # wandb's LAUNCH_DEFAULT_PROJECT
DEFAULT_QUEUE = "default"  # what launch_add uses when queue_name is None
DEFAULT_BASE_URL = "https://api.wandb.ai"
MAX_FIND_PAGES = 50
# wandb-core's first retry of a 5xx comes ~2 s after the first attempt; a push slower than this
# may have been sent twice.
RETRY_SUSPECT_SECONDS = 1.5
BUILD_UNSUPPORTED = (
    "build is not supported by the wandb backend: wandb's launch_add builds only from a uri, which it "
    "drops, so it fails before enqueueing anything; build and push the image yourself and set docker_image"
)

# launch_add's keyword arguments, in the SPEC's names (which are the SDK's).
LAUNCH_KEYS = (
    "job", "docker_image", "uri", "queue_name", "entity", "project", "priority",
    "template_variables", "config", "resource", "resource_args", "entry_point", "name", "version",
    "project_queue", "run_id", "build", "repository", "sweep_id", "author",
)

PAGE_SIZE = 100  # what the SDK's own RunQueue.items asks for


def _find_query(*, paged: bool, created: bool) -> str:
    """The queue listing. `paged` asks for `after:` and `pageInfo`, `created` for the items'
    `createdAt`: neither is in an SDK query, so each has a fallback for a server without it."""
    declared = "$entityName: String!, $projectName: String!, $runQueue: String!, $first: Int"
    arguments = "first: $first"
    page_info = ""
    if paged:
        declared += ", $after: String"
        arguments += ", after: $after"
        page_info = "pageInfo { hasNextPage endCursor } "
    node = "id state associatedRunId runSpec" + (" createdAt" if created else "")
    return (
        f"query LaunchopsRunQueueItems({declared}) {{\n"
        "    project(name: $projectName, entityName: $entityName) {\n"
        "        runQueue(name: $runQueue) {\n"
        f"            runQueueItems({arguments}) {{ {page_info}edges {{ node {{ {node} }} }} }}\n"
        "        }\n"
        "    }\n"
        "}\n"
    )


# Every GraphQL document this module writes itself (the SDK's own are sent by the SDK's code),
# by the features it needs: tests validate each against the W&B test server's schema.
FIND_QUERIES: dict[tuple[bool, bool], str] = {
    (paged, created): _find_query(paged=paged, created=created) for paged in (True, False) for created in (True, False)
}

# The validation errors of a server without one of those features (graphql-js, graphql-core and
# graphql-go word them alike); anything else, "after" in its text or not, is not one of them.
_MISSING_FEATURE = {
    "paging": re.compile(r"""Unknown argument ["']after["'] on field|Cannot query field ["']pageInfo["'] on type"""),
    "createdAt": re.compile(r"""Cannot query field ["']createdAt["'] on type ["']RunQueueItem"""),
    "runSpec": re.compile(r"""Cannot query field ["']runSpec["'] on type ["']RunQueueItem"""),
}


def launch_problems(launch: Mapping[str, Any]) -> list[str]:
    """What makes a launch impossible on this backend, checked at its edge before any enqueue
    (without importing wandb). validate and plan refuse the same launches through checks.py."""
    problems: list[str] = []
    unknown = sorted(set(launch) - set(LAUNCH_KEYS))
    if unknown:
        problems.append(f"launch_add has no argument {', '.join(unknown)}")
    if launch.get("uri") is not None:
        problems.append(
            "uri is not supported by the wandb backend: wandb's launch_add drops it and then refuses "
            "the launch; use job or docker_image"
        )
    elif bool(launch.get("job")) == bool(launch.get("docker_image")):
        problems.append("exactly one of job or docker_image must be set for the wandb backend")
    if launch.get("build"):
        problems.append(BUILD_UNSUPPORTED)
    priority = launch.get("priority")
    if priority is not None and (isinstance(priority, bool) or priority not in (0, 1, 2, 3)):
        problems.append(f"priority must be 0..3 (critical..low), not {priority!r}")
    return problems


class _Silenced:
    """Mute the SDK's terminal output (it prints each launch spec) while our calls run.

    Reference-counted, because several threads may be inside at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._saved: tuple[bool, bool] = (True, True)

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        from wandb.errors import term

        with self._lock:
            if self._depth == 0:
                self._saved = (term._show_info, term._show_warnings)
                term._show_info = term._show_warnings = False
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    term._show_info, term._show_warnings = self._saved


class WandbBackend(Backend):
    name = "wandb"

    def __init__(self, *, settings: Mapping[str, Any] | None = None, parallel: int = 1) -> None:
        self.settings = dict(settings or {})
        self.parallel = max(1, int(parallel))
        self._lock = threading.Lock()
        self._api: Any = None  # wandb.sdk.launch.api.LaunchApi, made on first use
        self._jobs: dict[str, str | None] = {}  # job -> None when it exists, else why not
        self._job_locks: dict[str, threading.Lock] = {}
        self._silenced = _Silenced()
        self._last_error = threading.local()

    # ------------------------------------------------------------------------------------------
    # The client

    def _base_url(self) -> str:
        url = os.environ.get("WANDB_BASE_URL")
        if url:
            return url
        with contextlib.suppress(Exception):  # settings files are optional
            from wandb.sdk import wandb_setup

            return str(wandb_setup.singleton().settings.base_url or DEFAULT_BASE_URL)
        return DEFAULT_BASE_URL

    def _check_credentials(self, base_url: str) -> None:
        """Fail before any request when there is no key at all; never show the key."""
        if os.environ.get("WANDB_API_KEY"):
            return
        url = urlsplit(base_url)
        path = os.environ.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
        with contextlib.suppress(netrc.NetrcParseError, OSError):
            stored = netrc.netrc(path)
            entry = stored.authenticators(url.netloc) or stored.authenticators(url.hostname or "")
            if entry and entry[2]:
                return
        raise BackendError(
            f"no W&B credentials for {base_url}: set WANDB_API_KEY (and WANDB_BASE_URL for a "
            f"dedicated W&B server), or run `wandb login` to store a key in {path}"
        )

    def _client(self) -> Any:
        """The one LaunchApi this backend uses; BackendError when it cannot be made."""
        if self._api is not None:
            return self._api
        with self._lock:
            if self._api is not None:  # another thread made it while this one waited
                return self._api  # type: ignore[unreachable]  # mypy does not see the other thread
            try:
                import wandb  # noqa: F401  (the extra may be missing: say how to get it)
                from wandb.sdk.launch import api as launch_api
            except ImportError as e:
                raise BackendError(
                    f"the wandb backend needs the wandb extra ({e.name or 'wandb'} is not installed): "
                    f"run {PIP_INSTALL}"
                ) from None
            from wandb.errors import AuthenticationError, Error as WandbError, UsageError

            base_url = self._base_url()
            self._check_credentials(base_url)
            # WANDB_HTTP_TIMEOUT is read by the SDK when it is imported; read it again here so a
            # value set later (a test, a CI step) still bounds every call of this client.
            timeout_env = os.environ.get("WANDB_HTTP_TIMEOUT")
            timeout = int(timeout_env) if timeout_env and timeout_env.isdigit() else None
            try:
                with self._silenced():
                    api = launch_api.LaunchApi(timeout=timeout)
            except (AuthenticationError, UsageError) as e:
                if _is_transport(e):  # the SDK says "credentials" for any failed check, an unanswered one too
                    waited = f"{timeout} s" if timeout else "the SDK's timeout"
                    raise BackendError(
                        f"could not connect to W&B at {base_url}: no answer within {waited} "
                        f"({_clean(e.__cause__ or e)}); check WANDB_BASE_URL and the network (proxy, firewall), "
                        "or raise WANDB_HTTP_TIMEOUT; the credentials were not checked"
                    ) from None
                raise BackendError(
                    f"W&B at {base_url} refused the credentials ({_clean(e)}): check WANDB_API_KEY "
                    "or run `wandb login`"
                ) from None
            except (WandbError, ValueError) as e:
                raise BackendError(f"cannot reach W&B at {base_url}: {_clean(e)}") from None
            self._wrap_service_api(api)
            self._api = api
            return api

    def _wrap_service_api(self, api: Any) -> None:
        """Remember the last transport error per thread: the SDK swallows it on a failed push,
        and it is the only way to say *why* a push failed."""
        service = api._service_api
        execute = service.execute_graphql
        last = self._last_error

        def recording(*args: Any, **kwargs: Any) -> Any:
            try:
                return execute(*args, **kwargs)
            except Exception as e:
                last.error = e
                raise

        service.execute_graphql = recording

    # ------------------------------------------------------------------------------------------
    # Preflight and job checks

    def preflight(self, requests: Sequence[EnqueueRequest]) -> dict[str, str]:
        reasons = {r.spec_id: "; ".join(problems) for r in requests if (problems := launch_problems(r.launch))}
        jobs = sorted({str(r.launch["job"]) for r in requests if r.spec_id not in reasons and r.launch.get("job")})
        self._client()  # BackendError (extra, credentials) before anything else
        if jobs:
            with ThreadPoolExecutor(max_workers=min(self.parallel, len(jobs))) as pool:
                results = dict(zip(jobs, pool.map(self._job_problem, jobs), strict=True))
            for r in requests:
                job = r.launch.get("job")
                if r.spec_id not in reasons and job and results.get(str(job)):
                    reasons[r.spec_id] = str(results[str(job)])
        return reasons

    def _job_problem(self, job: str) -> str | None:
        """None when the job artifact exists; checked once per job for this backend's lifetime."""
        with self._lock:
            lock = self._job_locks.setdefault(job, threading.Lock())
        with lock:
            if job in self._jobs:
                return self._jobs[job]
            api = self._client()
            from wandb.errors import CommError

            try:
                with self._silenced():
                    api._artifact(job, type="job")  # what launch_add checks, after its push
                problem = None
            except (ValueError, CommError) as e:
                text = _clean(e)
                if _is_transport(e):
                    # could not tell: do not remember, so a later call asks again
                    return f"could not check job {job} on W&B: {text}"
                problem = f"job {job} was not found on W&B ({text}); nothing was enqueued"
            self._jobs[job] = problem
            return problem

    # ------------------------------------------------------------------------------------------
    # Enqueue

    def enqueue(self, request: EnqueueRequest) -> QueuedRun:
        problems = launch_problems(request.launch)
        if problems:
            raise EnqueueFailed("; ".join(problems), uncertain=False)
        try:
            api = self._client()
        except BackendError as e:
            raise EnqueueFailed(str(e), uncertain=False) from None
        launch = self.sdk_arguments(request)
        job = launch.get("job")
        if job:
            problem = self._job_problem(str(job))
            if problem:
                raise EnqueueFailed(problem, uncertain=False)
        from wandb.sdk.launch.errors import LaunchError

        try:
            spec, template_variables, queue_name, project_queue = self._build_spec(api, launch)
        except (LaunchError, ValueError, TypeError) as e:
            # construct_launch_spec and the source check run before any push
            raise EnqueueFailed(f"W&B refused the launch arguments: {_clean(e)}", uncertain=False) from None
        except Exception as e:  # the default-entity lookup: a request, but not a push
            raise EnqueueFailed(f"could not prepare the launch: {_clean(e)}", uncertain=False) from None
        priority = launch.get("priority")
        self._last_error.error = None
        started = time.monotonic()
        try:
            with self._silenced():
                result = api.push_to_run_queue(queue_name, spec, template_variables, project_queue, priority)
        except Exception as e:
            raise EnqueueFailed(self._push_failure(queue_name, e), uncertain=True) from None
        elapsed = time.monotonic() - started
        if not result or "runQueueItemId" not in result:
            raise EnqueueFailed(self._push_failure(queue_name, None), uncertain=True)
        where = (spec.get("queue_entity") or spec["entity"], project_queue, queue_name)
        run = self._node_run({"id": result["runQueueItemId"]}, spec, where, request.marker, priority, request.digest)
        if elapsed >= RETRY_SUSPECT_SECONDS:
            run = self._with_duplicates(request, run)
        return run

    @staticmethod
    def sdk_arguments(request: EnqueueRequest) -> dict[str, Any]:
        """launch_add's keyword arguments for a request: a deep copy (the SDK mutates `config`),
        with the marker in `config`."""
        launch = copy.deepcopy(dict(request.launch))
        config = launch.get("config")
        config = dict(config) if isinstance(config, Mapping) else {}
        config[MARKER_KEY] = request.marker
        launch["config"] = config
        return launch

    def _build_spec(self, api: Any, launch: Mapping[str, Any]) -> tuple[dict[str, Any], Any, str, str]:
        """The run spec, template variables, queue and project_queue, exactly as `_launch_add`
        computes them (wandb 0.31 `_launch_add.py`), without its second session and job fetch."""
        from wandb.sdk.launch.utils import construct_launch_spec, validate_launch_spec_source

        with self._silenced():
            spec = construct_launch_spec(
                None,
                launch.get("job"),
                api,
                launch.get("name"),
                launch.get("project"),
                launch.get("entity"),
                launch.get("docker_image"),
                launch.get("resource"),
                launch.get("entry_point"),
                launch.get("version"),
                launch.get("resource_args"),
                launch.get("config"),
                launch.get("run_id"),
                launch.get("repository"),
                launch.get("author"),
                launch.get("sweep_id"),
            )
        queue_name = launch.get("queue_name") or DEFAULT_QUEUE
        project_queue = launch.get("project_queue") or DEFAULT_PROJECT_QUEUE
        template_variables = launch.get("template_variables")
        in_spec = spec.get("template_variables")
        if isinstance(in_spec, dict):
            spec.pop("template_variables")
            template_variables = in_spec if template_variables is None else {**in_spec, **template_variables}
        validate_launch_spec_source(spec)
        return spec, template_variables, queue_name, project_queue

    def _push_failure(self, queue_name: str, error: BaseException | None) -> str:
        cause = error or getattr(self._last_error, "error", None)
        why = f": {_clean(cause)}" if cause is not None else ""
        return (
            f"W&B did not confirm the push to queue {queue_name}{why}; the item may still have "
            "been enqueued (the next apply looks for it by its marker before trying again)"
        )

    def _with_duplicates(self, request: EnqueueRequest, run: QueuedRun) -> QueuedRun:
        with contextlib.suppress(EnqueueFailed, BackendError):
            others = [r.id for r in self.find(request) if r.id != run.id]
            if others:
                return replace(run, extra={**run.extra, "duplicates": others})
        return run

    # ------------------------------------------------------------------------------------------
    # Find, refresh, delete

    def _queue_of(self, request: EnqueueRequest) -> tuple[str, str, str]:
        """(queue entity, project_queue, queue_name) as the push computes them."""
        launch = request.launch
        config = launch["config"] if isinstance(launch.get("config"), Mapping) else {}
        entity = launch.get("entity") or config.get("entity") or self._client().default_entity
        queue_entity = config.get("queue_entity") or entity
        return (
            str(queue_entity),
            str(launch.get("project_queue") or DEFAULT_PROJECT_QUEUE),
            str(launch.get("queue_name") or DEFAULT_QUEUE),
        )

    def find(self, request: EnqueueRequest) -> list[QueuedRun]:
        """Items whose run spec carries request.marker, oldest first, each once. request.launch must
        name the queue the enqueue used (queue_name, entity, project_queue; defaults as
        launch_add's). EnqueueFailed(uncertain=True) whenever the answer is not known: a failed
        request, or a listing that could not reach the end of the queue and holds no match."""
        try:
            api = self._client()
            entity, project_queue, queue_name = self._queue_of(request)
        except Exception as e:  # BackendError, or the default-entity lookup failing
            raise EnqueueFailed(f"could not search W&B for {request.spec_id}: {_clean(e)}", uncertain=True) from None
        found, incomplete = self._marked_runs(api, (entity, project_queue, queue_name), lambda m: m == request.marker,
                                              request.launch.get("priority"), request.digest)
        if not found and incomplete:
            raise EnqueueFailed(f"could not search queue {queue_name} on W&B to its end: {incomplete}", uncertain=True)
        return found

    def _marked_runs(self, api: Any, where: tuple[str, str, str], wanted: Callable[[str], bool], priority: Any,
                     digest: str) -> tuple[list[QueuedRun], str | None]:
        """The listed items whose run spec's marker is `wanted`, oldest first (stable: server order
        breaks ties), and why the listing stopped short of the end (None when it did not)."""
        nodes, incomplete = self._queue_items(api, *where)
        found: list[QueuedRun] = []
        for node in nodes:
            spec = _json(node.get("runSpec"))
            mark = spec.get(MARKER_KEY) if isinstance(spec, Mapping) else None
            if isinstance(mark, str) and wanted(mark):
                found.append(self._node_run(node, spec, where, mark, priority, digest))
        return sorted(found, key=lambda r: r.enqueued_at), incomplete

    def _queue_items(self, api: Any, entity: str, project_queue: str,
                     queue_name: str) -> tuple[list[dict[str, Any]], str | None]:
        """Every item of the queue, once per id, and why the listing stopped short of the end
        (None when it did not). Any failed request raises EnqueueFailed(uncertain=True): a page
        that could not be read may hold the item, so the lookup is unknown, never "absent", and
        never starts again from page 1."""
        base = {"entityName": entity, "projectName": project_queue, "runQueue": queue_name, "first": PAGE_SIZE}
        features = {"paging", "createdAt"}
        nodes: dict[str, dict[str, Any]] = {}  # by id: a page boundary that moved cannot repeat an item
        after: str | None = None
        for pages in range(1, MAX_FIND_PAGES + 1):
            page = self._list_page(api._service_api, base, features, after, queue_name, first=pages == 1)
            edges = page.get("edges") or []
            for edge in edges:
                node = (edge or {}).get("node")
                if node and node.get("id") is not None:
                    nodes.setdefault(str(node["id"]), node)
            if "paging" not in features:
                full = len(edges) >= PAGE_SIZE
                return list(nodes.values()), f"this server lists only the first {PAGE_SIZE} items" if full else None
            info = page.get("pageInfo") or {}
            cursor = info.get("endCursor")
            if not info.get("hasNextPage"):
                return list(nodes.values()), None
            if not cursor or cursor == after:
                return list(nodes.values()), "the server gave no new cursor for the next page"
            after = cursor
        return list(nodes.values()), f"searched only the first {MAX_FIND_PAGES} pages"

    def _list_page(self, service: Any, base: Mapping[str, Any], features: set[str], after: str | None,
                   queue_name: str, *, first: bool) -> dict[str, Any]:
        """One page of the listing. Only on the first request, a server's refusal of a feature
        launchops uses beyond the SDK's own queries (paging, createdAt) removes it from `features`
        and the page is asked again without it; every other error is an unknown lookup."""
        while True:
            paged = "paging" in features
            query = FIND_QUERIES[paged, "createdAt" in features]
            try:
                with self._silenced():
                    res = service.execute_graphql(query, {**base, "after": after} if paged else dict(base))
            except Exception as e:
                missing = next((n for n, p in _MISSING_FEATURE.items() if p.search(str(e))), None) if first else None
                if missing in features:
                    features.discard(str(missing))
                    continue
                why = _clean(e)
                if missing == "runSpec":
                    why = f"this W&B server does not show queue items' run specs, so no marker can be seen ({why})"
                raise EnqueueFailed(f"could not search queue {queue_name} on W&B: {why}", uncertain=True) from None
            page = (((res or {}).get("project") or {}).get("runQueue") or {}).get("runQueueItems")
            return page if isinstance(page, dict) else {}

    def _sdk_queued_run(self, run: QueuedRun) -> Any:
        from wandb.apis.public import QueuedRun as SdkQueuedRun

        api = self._client()
        return SdkQueuedRun(
            api._service_api,
            run.entity or "",
            str(run.extra.get("project") or ""),
            run.queue_name or DEFAULT_QUEUE,
            run.id,
            project_queue=run.project_queue or DEFAULT_PROJECT_QUEUE,
            priority=run.priority,
            api_key=api.api_key,
        )

    def _item(self, run: QueuedRun) -> dict[str, Any] | None:
        """The queue item as QueuedRun.state reads it (with associatedRunId); None when gone."""
        queued = self._sdk_queued_run(run)
        try:
            with self._silenced():
                item: dict[str, Any] | None = queued._get_item()
                return item
        except Exception as e:
            raise BackendError(f"could not read queue item {run.id} from W&B: {_clean(e)}") from None

    def refresh(self, run: QueuedRun) -> QueuedRun:
        """The item's state (lower-case, as QueuedRun.state gives it) and associated run id."""
        item = self._item(run)
        return _read(run, item, run.state) if item else run

    def lookup(self, run: QueuedRun) -> QueuedRun | None:
        """The item by id on the queue `run` names (BackendError when W&B cannot be read)."""
        item = self._item(run)
        return _read(run, item, "pending") if item else None

    def delete(self, run: QueuedRun) -> bool:
        """Remove a duplicate only while it is still pending (an agent may have taken it since);
        "withdrawn" is no state of a W&B queue item, so only a delete that took can answer it."""
        return self.withdraw(run) == "withdrawn"

    def withdraw(self, run: QueuedRun) -> str:
        """Delete the item only while it is pending, reading it before and after (the SDK's
        QueuedRun.delete: queue id, then deleteFromRunQueue)."""
        try:
            item = self._item(run)
            if not item:
                return "gone"
            state = str(item.get("state") or "unknown").lower()
            if state != "pending":
                return state
            with self._silenced():
                self._sdk_queued_run(run).delete()
            after = self._item(run)
        except Exception:
            return "unknown"
        return "withdrawn" if after is None else str(after.get("state") or "unknown").lower()

    def marked(self, queue: Mapping[str, Any], prefix: str) -> list[QueuedRun]:
        """Items of one queue whose run spec's marker starts with `prefix`, paged as `find` pages;
        EnqueueFailed(uncertain=True) when a page cannot be read or the listing stops short."""
        api = self._client()
        entity, project_queue, queue_name = self._queue_of(EnqueueRequest("", "", "", queue))
        found, incomplete = self._marked_runs(api, (entity, project_queue, queue_name), lambda m: m.startswith(prefix),
                                              None, "")
        if incomplete:
            raise EnqueueFailed(f"could not list queue {queue_name} on W&B to its end: {incomplete}", uncertain=True)
        return found

    def _node_run(self, node: Mapping[str, Any], spec: Mapping[str, Any], where: tuple[str, str, str], marker: str,
                  priority: Any, digest: str) -> QueuedRun:
        """A listed queue item (`where`: entity, project_queue, queue_name) as a QueuedRun."""
        entity, project_queue, queue_name = where
        return QueuedRun(id=str(node["id"]), backend=self.name, queue_name=queue_name, entity=entity,
                         project_queue=project_queue, priority=priority, digest=digest,
                         enqueued_at=_iso(node.get("createdAt")) or utc_now(),
                         state=str(node.get("state") or "pending").lower(), marker=marker,
                         run_id=node.get("associatedRunId"), extra={"project": spec.get("project")})

    def close(self) -> None:
        self._api = None  # wandb-core frees the session when the client is collected


# ------------------------------------------------------------------------------------------------


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and what it wraps: CommError keeps the original in .exc, others in __cause__."""
    cause: BaseException | None = error
    while cause is not None:
        yield cause
        cause = getattr(cause, "exc", None) or cause.__cause__


def _http_status(error: BaseException) -> int | None:
    """The HTTP status wandb-core saw, within five links of the error's chain."""
    for cause in itertools.islice(_causes(error), 5):
        status = getattr(getattr(cause, "response", None), "http_status", None)
        if status:
            return int(status)
    return None


def _clean(error: BaseException) -> str:
    """A one-line description of an SDK error (no key ever appears in these)."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    status = _http_status(error)
    if status and str(status) not in text:
        text = f"HTTP {status}: {text}"
    key = os.environ.get("WANDB_API_KEY")
    if key and key in text:  # belt and braces: never echo a credential
        text = text.replace(key, "***")
    return text[:500]


def _is_transport(error: BaseException) -> bool:
    """True when the lookup got no authoritative answer (timeout, no response, 5xx)."""
    for cause in _causes(error):
        if type(cause).__name__ == "WandbApiFailedError":
            status = getattr(getattr(cause, "response", None), "http_status", None)
            return not status or status >= 500 or status in (408, 429)
    return False


def _read(run: QueuedRun, item: Mapping[str, Any], state: str) -> QueuedRun:
    """`run` with the state (`state` when the item has none) and run id of its queue item."""
    return replace(run, state=str(item.get("state") or state).lower(), run_id=item.get("associatedRunId") or run.run_id)


def _json(value: Any) -> Any:
    if isinstance(value, str):
        import json

        with contextlib.suppress(ValueError):
            return json.loads(value)
        return None
    return value


def _iso(value: Any) -> str | None:
    """The server's createdAt (`2026-11-29T19:00:00` or with a fraction/zone) as `...Z`."""
    if not isinstance(value, str) or len(value) < 19:
        return None
    return value[:19] + "Z"

