"""A small W&B-compatible GraphQL server for tests of the wandb backend.

It answers what wandb 0.31 sends for `launch_add`, `QueuedRun.state`/`delete()`, `RunQueue.items`
and the job artifact lookup, records every enqueued item (so tests assert exactly what each
`launch_add` argument became on the wire), and injects faults on demand: HTTP 500 before or after
the item is committed, a GraphQL error, a slow answer, a dropped connection, HTTP 401.

The SDK's `operationName` is always "", so requests are routed on the root fields of the parsed
query text. Only 127.0.0.1 is ever bound.
"""
from __future__ import annotations

import base64
import contextlib
import copy
import json
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator, Mapping

DUMMY_API_KEY = "local" + "0123456789abcdef" * 3  # 53 characters: the SDK refuses keys under 40

# ---------------------------------------------------------------------------------------------
# A just-big-enough GraphQL reader: the selection tree of a document, fragments inlined.


@dataclass
class Field:
    name: str
    alias: str
    args: str  # raw argument text, enough to read literal arguments such as first: 100
    selections: list["Field"] = field(default_factory=list)

    def child(self, name: str) -> "Field | None":
        return next((f for f in self.selections if f.name == name), None)


_TOKEN = re.compile(r'\s+|#[^\n]*|"""(?:.|\n)*?"""|"(?:\\.|[^"\\])*"|\.\.\.|[A-Za-z_][A-Za-z0-9_]*|[{}():,!$=@\[\]]|[^\s]')


def _tokens(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text) if t.strip() and not t.startswith("#") and t != ","]


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.pos = 0
        self.fragments: dict[str, list[Field]] = {}

    def peek(self) -> str | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> str:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def skip_balanced(self, open_: str, close: str) -> str:
        depth, start = 0, self.pos
        while True:
            tok = self.take()
            if tok == open_:
                depth += 1
            elif tok == close:
                depth -= 1
                if depth == 0:
                    return " ".join(self.toks[start + 1 : self.pos - 1])

    def document(self) -> list[Field]:
        operations: list[list[Field]] = []
        while self.peek() is not None:
            tok = self.peek()
            if tok == "fragment":
                self.take()
                name = self.take()
                self.take()  # on
                self.take()  # type condition
                while self.peek() == "@":
                    self.take(), self.take()
                self.fragments[name] = self.selection_set()
            elif tok == "{":
                operations.append(self.selection_set())
            else:  # query/mutation Name($vars) @directives { ... }
                self.take()
                while self.peek() not in ("{", None):
                    if self.peek() == "(":
                        self.skip_balanced("(", ")")
                    else:
                        self.take()
                operations.append(self.selection_set())
        roots = operations[0] if operations else []
        return self.expand(roots)

    def selection_set(self) -> list[Field]:
        self.take()  # {
        fields: list[Field] = []
        while self.peek() != "}":
            if self.peek() == "...":
                self.take()
                if self.peek() == "on":
                    self.take(), self.take()
                    fields.append(Field("...", "...", "", self.selection_set()))
                else:
                    fields.append(Field("...spread", self.take(), ""))
                continue
            name = self.take()
            alias = name
            if self.peek() == ":":
                self.take()
                name = self.take()
            args = self.skip_balanced("(", ")") if self.peek() == "(" else ""
            while self.peek() == "@":
                self.take(), self.take()
                if self.peek() == "(":
                    self.skip_balanced("(", ")")
            subs = self.selection_set() if self.peek() == "{" else []
            fields.append(Field(name, alias, args, subs))
        self.take()  # }
        return fields

    def expand(self, fields: list[Field]) -> list[Field]:
        out: list[Field] = []
        for f in fields:
            if f.name == "...spread":
                out.extend(self.expand(self.fragments.get(f.alias, [])))
            elif f.name == "...":
                out.extend(self.expand(f.selections))
            else:
                out.append(Field(f.name, f.alias, f.args, self.expand(f.selections)))
        return out


def parse_query(text: str) -> list[Field]:
    """The root fields of the first operation, fragments inlined."""
    return _Parser(text).document()


def shape(value: Any, selections: list[Field]) -> Any:
    """Project a resolved value onto the requested selection (aliases, only asked-for keys)."""
    if not selections or value is None:
        return value
    if isinstance(value, list):
        return [shape(v, selections) for v in value]
    if not isinstance(value, Mapping):
        return value
    out: dict[str, Any] = {}
    for f in selections:
        if f.name == "__typename":
            out[f.alias] = value.get("__typename", "Object")
            continue
        v = value.get(f.name)
        out[f.alias] = v(f) if callable(v) else shape(v, f.selections)
    return out


# ---------------------------------------------------------------------------------------------
# Faults


@dataclass
class Fault:
    """One injected fault. `op` is a root field name (e.g. "pushToRunQueueByName") or "*";
    it fires on the `nth` matching request (1-based) and then `times` times in all."""

    op: str
    # "500-before" | "500-after" (committed, then 500) | "graphql-error" | "401" | "drop" |
    # "drop-after" (committed, then the connection closes) | "slow" (committed, answered after
    # `delay`) | "slow-before" (waits `delay`, then commits and answers)
    kind: str
    nth: int = 1
    times: int = 1
    delay: float = 0.0
    message: str = "injected failure"
    seen: int = 0
    fired: int = 0

    def matches(self, ops: list[str]) -> bool:
        if self.op != "*" and self.op not in ops:
            return False
        self.seen += 1
        if self.seen >= self.nth and self.fired < self.times:
            self.fired += 1
            return True
        return False


class _Dropped(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# State and resolvers


class WandbState:
    """Everything the server knows; guarded by one lock, since the HTTP server is threaded."""

    def __init__(self, *, viewer_entity: str = "viewer-ent") -> None:
        self.lock = threading.RLock()
        self.viewer_entity = viewer_entity
        self.jobs: set[str] = set()  # "entity/project/name" (any alias matches)
        self.queues: dict[tuple[str, str, str], str] = {}  # (entity, project_queue, name) -> id
        self.items: list[dict[str, Any]] = []
        self.deleted: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self.latency = 0.0  # added to every request, for benchmarks
        self.page_size_cap = 100  # the most runQueueItems one page returns
        self.auth_ok = True
        self.unknown_ops: list[str] = []
        self.server_errors: list[str] = []
        self._next = 1

    # -- helpers tests call --------------------------------------------------------------
    def add_job(self, path: str) -> None:
        with self.lock:
            self.jobs.add(path.split(":", 1)[0])

    def inject(self, op: str, kind: str, **kw: Any) -> Fault:
        fault = Fault(op=op, kind=kind, **kw)
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.deleted.clear()
            self.requests.clear()
            self.faults.clear()
            self.unknown_ops.clear()

    def ops(self) -> list[str]:
        with self.lock:
            return [op for r in self.requests for op in r["ops"]]

    def set_state(self, item_id: str, state: str, run_id: str | None = None) -> None:
        with self.lock:
            for it in self.items:
                if it["id"] == item_id:
                    it["state"] = state
                    it["associatedRunId"] = run_id

    # -- ids -------------------------------------------------------------------------------
    def _new_id(self, kind: str) -> str:
        n = self._next
        self._next += 1
        return base64.b64encode(f"{kind}:{n}".encode()).decode()

    def queue_id(self, entity: str, project: str, name: str) -> str:
        key = (entity, project, name)
        if key not in self.queues:
            self.queues[key] = self._new_id("RunQueue")
        return self.queues[key]

    # -- resolvers ---------------------------------------------------------------------------
    def viewer(self) -> dict[str, Any]:
        return {
            "id": "VXNlcjox",
            "entity": self.viewer_entity,
            "username": self.viewer_entity,
            "email": "viewer@example.invalid",
            "admin": False,
            "flags": "{}",
            "teams": {"edges": [{"node": {"name": self.viewer_entity}}]},
            "apiKeys": {"edges": []},
            "userInfo": None,
        }

    def push(self, variables: Mapping[str, Any], *, by_name: bool) -> dict[str, Any]:
        if by_name:
            entity = variables["entityName"]
            project = variables["projectName"]
            queue = variables["queueName"]
        else:
            entity, project, queue = next(
                (k for k, v in self.queues.items() if v == variables["queueID"]), ("?", "?", "?")
            )
        tv = variables.get("templateVariableValues")
        item = {
            "id": self._new_id("RunQueueItem"),
            "entity": entity,
            "project_queue": project,
            "queue_name": queue,
            "queue_id": self.queue_id(entity, project, queue),
            "runSpec": json.loads(variables["runSpec"]),
            "runSpec_raw": variables["runSpec"],
            "priority": variables.get("priority"),
            "has_priority": "priority" in variables,
            "templateVariableValues": json.loads(tv) if isinstance(tv, str) else tv,
            "state": "PENDING",
            "associatedRunId": None,
            "createdAt": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
            "via": "pushToRunQueueByName" if by_name else "pushToRunQueue",
        }
        self.items.append(item)
        return item

    def membership(self, entity: str, project: str, name: str) -> dict[str, Any] | None:
        base = name.split(":", 1)[0]
        alias = name.split(":", 1)[1] if ":" in name else "latest"
        if f"{entity}/{project}/{base}" not in self.jobs:
            return None
        art_id = base64.b64encode(f"Artifact:{entity}/{project}/{base}".encode()).decode()
        proj = {
            "__typename": "Project",
            "id": base64.b64encode(f"Project:{entity}/{project}".encode()).decode(),
            "internalId": "1",
            "name": project,
            "entity": {"__typename": "Entity", "name": entity},
        }
        coll = {"__typename": "ArtifactSequence", "name": base, "project": proj}
        alias_ = {"__typename": "ArtifactAlias", "id": f"alias-{base}-{alias}", "alias": alias, "artifactCollection": coll}
        artifact = {
            "__typename": "Artifact",
            "id": art_id,
            "artifactSequence": coll,
            "versionIndex": 0,
            "artifactType": {"__typename": "ArtifactType", "name": "job"},
            "description": None,
            "metadata": "{}",
            "ttlDurationSeconds": -2,
            "ttlIsInherited": True,
            "tags": [],
            "historyStep": None,
            "state": "COMMITTED",
            "size": 0,
            "digest": "0" * 32,
            "commitHash": "0" * 32,
            "fileCount": 0,
            "createdAt": "2026-11-29T00:00:00",
            "updatedAt": None,
            "aliases": [alias_],
        }
        return {
            "__typename": "ArtifactCollectionMembership",
            "id": art_id,
            "versionIndex": 0,
            "createdAt": "2026-11-29T00:00:00",
            "aliases": [alias_],
            "artifactCollection": coll,
            "artifact": artifact,
        }


def _arg(args: str, name: str, variables: Mapping[str, Any]) -> Any:
    """An argument's value: `$var` from variables, or a literal string/number."""
    m = re.search(rf"\b{name}\s*:\s*(\$\s*[A-Za-z_]\w*|\"(?:\\.|[^\"\\])*\"|-?\d+)", args)
    if not m:
        return None
    raw = m.group(1)
    if raw.startswith("$"):
        return variables.get(raw[1:].strip())
    if raw.startswith('"'):
        return json.loads(raw)
    return int(raw)


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each answer waits ~40 ms for a delayed ACK

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        return

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        head = (
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        ).encode()
        self.wfile.write(head + data)  # one write: no Nagle stall between header and body
        self.wfile.flush()

    def do_GET(self) -> None:
        self._send(200, {})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        state = self.server.state
        if not self.path.startswith("/graphql"):
            # telemetry (/sdk/otel/v1/metrics) and anything else: accept and forget
            with state.lock:
                state.requests.append({"path": self.path, "ops": [], "variables": {}})
            self._send(200, {})
            return
        try:
            body = json.loads(raw or b"{}")
            roots = parse_query(body.get("query") or "")
        except Exception as e:  # a request we cannot read is the test's bug: say so loudly
            self._send(400, {"errors": [{"message": f"test server cannot parse request: {e}"}]})
            return
        variables = body.get("variables") or {}
        ops = [f.name for f in roots]
        with state.lock:
            state.requests.append(
                {
                    "path": self.path,
                    "ops": ops,
                    "variables": variables,
                    "query": body.get("query"),
                    "operationName": body.get("operationName"),
                    "authorization": bool(self.headers.get("Authorization")),
                }
            )
            fault = next((f for f in state.faults if f.matches(ops)), None)
            latency = state.latency
        if latency:
            time.sleep(latency)
        try:
            if fault is not None:
                if self._fault(fault, roots, variables):
                    return
            if not state.auth_ok:
                self._send(401, {"errors": [{"message": "unauthorized"}]})
                return
            with state.lock:
                data = {f.alias: self.server.resolve(f, variables) for f in roots}
            if fault is not None and fault.kind == "500-after":
                self._send(500, {"errors": [{"message": fault.message}]})
                return
            if fault is not None and fault.kind == "drop-after":
                raise _Dropped()
            if fault is not None and fault.kind == "slow":  # committed, answered late
                time.sleep(fault.delay)
            self._send(200, {"data": data})
        except _Dropped:  # close without an answer, as a crashed proxy would
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):  # the client gave up first (a timeout)
            self.close_connection = True
        except GraphQLError as e:
            self._send(200, {"data": None, "errors": [{"message": str(e)}]})
        except Exception as e:  # a bug of this server: answer 400 (not retried) and remember it
            with state.lock:
                state.server_errors.append(repr(e))
            self._send(400, {"errors": [{"message": f"test server error: {e!r}"}]})

    def _fault(self, fault: Fault, roots: list[Field], variables: Mapping[str, Any]) -> bool:
        """Apply a fault; True when the answer has been sent (or the connection dropped)."""
        if fault.kind == "slow-before":
            time.sleep(fault.delay)
            return False
        if fault.kind == "500-before":
            self._send(500, {"errors": [{"message": fault.message}]})
            return True
        if fault.kind == "401":
            self._send(401, {"errors": [{"message": "unauthorized"}]})
            return True
        if fault.kind == "graphql-error":
            self._send(200, {"data": None, "errors": [{"message": fault.message}]})
            return True
        if fault.kind == "drop":
            raise _Dropped()
        return False  # "500-after", "drop-after", "slow": resolved (committed) first


class GraphQLError(Exception):
    pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, state: WandbState) -> None:
        self.state = state
        super().__init__(("127.0.0.1", 0), _Handler)

    def resolve(self, f: Field, v: Mapping[str, Any]) -> Any:
        s = self.state
        name = f.name
        if name == "viewer":
            return shape(s.viewer(), f.selections)
        if name == "serverInfo":
            return shape(
                {
                    "features": [],
                    "latestLocalVersionInfo": None,
                    "cliVersionInfo": {"max_cli_version": "1000.0.0"},
                    "availableBucketProviders": [],
                    "exposesExplicitRunQueueAckPath": True,
                },
                f.selections,
            )
        if name == "pushToRunQueueByName":
            item = s.push(_input(f, v), by_name=True)
            return shape({"runQueueItemId": item["id"], "runSpec": item["runSpec_raw"]}, f.selections)
        if name == "pushToRunQueue":
            item = s.push(_input(f, v), by_name=False)
            return shape({"runQueueItemId": item["id"]}, f.selections)
        if name == "deleteFromRunQueue":
            inp = _input(f, v)
            hit = [i for i in s.items if i["id"] == inp.get("runQueueItemId") and i["queue_id"] == inp.get("queueID")]
            for it in hit:
                s.items.remove(it)
                s.deleted.append(it)
            return shape({"success": bool(hit), "clientMutationId": None}, f.selections)
        if name == "project":
            entity = _arg(f.args, "entityName", v)
            project = _arg(f.args, "name", v)
            return shape(self._project(entity, project, v), f.selections)
        if name == "entity":
            return None
        s.unknown_ops.append(name)
        raise GraphQLError(f'Cannot query field "{name}" on type "Query".')

    def _project(self, entity: str, project: str, v: Mapping[str, Any]) -> dict[str, Any]:
        s = self.state

        def membership(fld: Field) -> Any:
            return shape(s.membership(entity, project, _arg(fld.args, "name", v) or ""), fld.selections)

        def run_queues(fld: Field) -> Any:
            found = [
                {"id": qid, "name": n, "createdBy": s.viewer_entity, "access": "PROJECT"}
                for (e, p, n), qid in s.queues.items()
                if e == entity and p == project
            ]
            return shape(found, fld.selections)

        def run_queue(fld: Field) -> Any:
            qname = _arg(fld.args, "name", v)
            items = [
                i for i in s.items if i["entity"] == entity and i["project_queue"] == project and i["queue_name"] == qname
            ]
            if not items and (entity, project, qname) not in s.queues:
                return None

            def node(i: dict[str, Any]) -> dict[str, Any]:
                return {
                    "id": i["id"],
                    "state": i["state"],
                    "associatedRunId": i["associatedRunId"],
                    "runSpec": i["runSpec_raw"],
                    "createdAt": i["createdAt"],
                    "priority": i["priority"],
                    "templateVariableValues": json.dumps(i["templateVariableValues"])
                    if i["templateVariableValues"] is not None
                    else None,
                }

            def one(sub: Field) -> Any:
                wanted = _arg(sub.args, "id", v)
                hit = next((i for i in items if i["id"] == wanted), None)
                return shape(node(hit), sub.selections) if hit else None

            def many(sub: Field) -> Any:
                first = _arg(sub.args, "first", v) or s.page_size_cap
                first = min(int(first), s.page_size_cap)
                after = _arg(sub.args, "after", v)
                start = int(after) if after else 0
                page = items[start : start + first]
                end = start + len(page)
                return shape(
                    {
                        "edges": [{"node": node(i), "cursor": str(k + 1)} for k, i in enumerate(page, start)],
                        "pageInfo": {"hasNextPage": end < len(items), "endCursor": str(end)},
                    },
                    sub.selections,
                )

            queue = {
                "id": s.queue_id(entity, project, qname),
                "name": qname,
                "access": "PROJECT",
                "defaultResourceConfigID": None,
                "prioritizationMode": "V0",
                "externalLinks": "{}",
                "runQueueItem": one,
                "runQueueItems": many,
            }
            return shape(queue, fld.selections)

        return {
            "id": base64.b64encode(f"Project:{entity}/{project}".encode()).decode(),
            "name": project,
            "entityName": entity,
            "artifactCollectionMembership": membership,
            "runQueues": run_queues,
            "runQueue": run_queue,
        }


def _input(f: Field, v: Mapping[str, Any]) -> dict[str, Any]:
    """The mutation's `input: {key: $var, ...}` as a dict of values."""
    out: dict[str, Any] = {}
    for key, var in re.findall(r"(\w+)\s*:\s*\$\s*(\w+)", f.args):
        if var in v:
            out[key] = v[var]
    return out


# ---------------------------------------------------------------------------------------------
# Running it


class WandbServer:
    """A running server: `url`, `state`, and `env()` for a process that will import wandb."""

    def __init__(self, *, viewer_entity: str = "viewer-ent") -> None:
        self.state = WandbState(viewer_entity=viewer_entity)
        self._httpd = _Server(self.state)
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._home = tempfile.mkdtemp(prefix="wandb-test-home-")

    def start(self) -> "WandbServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
        shutil.rmtree(self._home, ignore_errors=True)

    def env(self, base: Mapping[str, str] | None = None, *, http_timeout: int | None = None) -> dict[str, str]:
        """The environment a process needs for the SDK to talk to this server only."""
        env = dict(os.environ if base is None else base)
        for key in list(env):
            if key.startswith("WANDB_") or key in ("NETRC",):
                del env[key]
        home = self._home
        for sub in ("wandb", "config", "cache", "data", "artifacts"):
            os.makedirs(os.path.join(home, sub), exist_ok=True)
        env.update(
            {
                "WANDB_BASE_URL": self.url,
                "WANDB_API_KEY": DUMMY_API_KEY,
                "WANDB_ERROR_REPORTING": "false",
                "WANDB_DIR": os.path.join(home, "wandb"),
                "WANDB_CONFIG_DIR": os.path.join(home, "config"),
                "WANDB_CACHE_DIR": os.path.join(home, "cache"),
                "WANDB_DATA_DIR": os.path.join(home, "data"),
                "WANDB_ARTIFACT_DIR": os.path.join(home, "artifacts"),
                "WANDB_SILENT": "true",
                "HOME": home,
                "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost",
            }
        )
        for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
            env.pop(key, None)
        if http_timeout is not None:
            env["WANDB_HTTP_TIMEOUT"] = str(http_timeout)
        return env


@contextlib.contextmanager
def running_server(**kw: Any) -> Iterator[WandbServer]:
    server = WandbServer(**kw).start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def patched_environ(env: Mapping[str, str]) -> Iterator[None]:
    """Replace os.environ for the duration (for SDK calls made in this process)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
