"""A small W&B-compatible GraphQL server for tests of the wandb backend.

It answers what wandb 0.31 sends for `launch_add`, `QueuedRun.state`/`delete()`, `RunQueue.items`
and the job artifact lookup, records every enqueued item (so tests assert exactly what each
`launch_add` argument became on the wire), and injects faults on demand: HTTP 500 before or after
the item is committed, a GraphQL error, a slow answer, a dropped connection, HTTP 401.

It is as strict as W&B where that matters: every request must carry a known key
(`Authorization: Basic base64("api:<key>")`, else HTTP 401) and is parsed, validated and its
variables coerced by graphql-core against `SDK_SCHEMA` — the types, fields and arguments the wandb
SDK's own operations use, which is what is known to exist on W&B — plus `LAUNCHOPS_EXTRAS`, what
launchops asks beyond them, each of which a test server can withhold (`WandbState.withheld`) to
exercise launchops' fallback. An unknown field, argument or variable type is refused as W&B
refuses it: HTTP 200 with `errors` and no data (or `invalid_status`), messages in double quotes.

The SDK's `operationName` is always "", so requests are routed on the root fields of the parsed
query. Only 127.0.0.1 is ever bound.
"""
from __future__ import annotations

import base64
import contextlib
import functools
import json
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import graphql

DUMMY_API_KEY = "local" + "0123456789abcdef" * 3  # 53 characters: the SDK refuses keys under 40

# ---------------------------------------------------------------------------------------------
# The schema: what the wandb 0.31 SDK itself asks of W&B, and nothing else (each type and field
# below appears in an operation the SDK sends: `Viewer`, `GetDefaultEntity`, `ServerFeaturesQuery`,
# `ArtifactMembershipByName`, `pushToRunQueueByName`, `ProjectRunQueues`, `pushToRunQueue`,
# `GetRunQueueItem` (both), `fetchRunQueuesFromProject`, `DeleteFromRunQueue`,
# `GetRunQueueItems`; tests/test_wandb_backend.py checks that every coordinate is used by one).
# Arguments are nullable where the SDK passes both `String` and `String!` variables to them.

SDK_SCHEMA = """
scalar JSONString
scalar DateTime

type Query {
  viewer: User
  serverInfo: ServerInfo
  project(name: String, entityName: String): Project
}

type Mutation {
  pushToRunQueueByName(input: PushToRunQueueByNameInput!): PushToRunQueueByNamePayload
  pushToRunQueue(input: PushToRunQueueInput!): PushToRunQueuePayload
  deleteFromRunQueue(input: DeleteFromRunQueueInput!): DeleteFromRunQueuePayload
}

type User {
  id: ID!
  entity: String
  username: String
  email: String
  flags: JSONString
  teams: EntityConnection
}
type EntityConnection { edges: [EntityEdge!]! }
type EntityEdge { node: Entity }
type Entity { name: String! }

type ServerInfo { features: [ServerFeature!]! }
type ServerFeature { name: String! isEnabled: Boolean! }

type Project {
  id: ID!
  internalId: ID!
  name: String!
  entity: Entity!
  artifactCollectionMembership(name: String!): ArtifactCollectionMembership
  runQueues: [RunQueue!]!
  runQueue(name: String!): RunQueue
}

type RunQueue {
  id: ID!
  name: String!
  createdBy: String
  access: RunQueueAccessType!
  runQueueItem(id: ID!): RunQueueItem
  runQueueItems(first: Int): RunQueueItemConnection!
}
enum RunQueueAccessType { PROJECT USER }
type RunQueueItemConnection { edges: [RunQueueItemEdge!]! }
type RunQueueItemEdge { node: RunQueueItem! }
type RunQueueItem { id: ID! state: RunQueueItemState! associatedRunId: String }
enum RunQueueItemState { PENDING LEASED CLAIMED FAILED }

input PushToRunQueueByNameInput {
  entityName: String!
  projectName: String!
  queueName: String!
  runSpec: JSONString!
  priority: Int
  templateVariableValues: JSONString
}
type PushToRunQueueByNamePayload { runQueueItemId: ID! runSpec: JSONString }
input PushToRunQueueInput { queueID: ID! runSpec: JSONString! templateVariableValues: JSONString }
type PushToRunQueuePayload { runQueueItemId: ID! }
input DeleteFromRunQueueInput { queueID: ID! runQueueItemId: ID! }
type DeleteFromRunQueuePayload { success: Boolean! clientMutationId: String }

type ArtifactCollectionMembership {
  id: ID!
  versionIndex: Int
  createdAt: DateTime!
  aliases: [ArtifactAlias!]!
  artifactCollection: ArtifactCollection
  artifact: Artifact
}
interface ArtifactCollection { name: String! project: Project }
type ArtifactSequence implements ArtifactCollection { name: String! project: Project }
type ArtifactAlias { id: ID! alias: String! artifactCollection: ArtifactCollection }
type ArtifactType { name: String! }
type Tag { id: ID! name: String! }
type Artifact {
  id: ID!
  artifactSequence: ArtifactSequence!
  versionIndex: Int
  artifactType: ArtifactType!
  description: String
  metadata: JSONString
  ttlDurationSeconds: Int
  ttlIsInherited: Boolean
  tags: [Tag!]!
  historyStep: Int
  state: ArtifactState!
  size: Int
  digest: String!
  commitHash: String
  fileCount: Int
  createdAt: DateTime!
  updatedAt: DateTime
  aliases: [ArtifactAlias!]!
}
enum ArtifactState { PENDING COMMITTED DELETED }
"""

# What launchops asks of W&B beyond the SDK's own operations: real W&B serves these (the web UI
# reads them), but no SDK query proves it. Each can be withheld (`WandbState.withheld`), as an
# older or stricter server would, to exercise launchops' fallback for it.
LAUNCHOPS_EXTRAS: dict[str, str] = {
    "RunQueue.runQueueItems(after:)": "",  # an argument: added by _extended_sdl
    "RunQueueItemConnection.pageInfo": "extend type RunQueueItemConnection { pageInfo: PageInfo! }",
    "RunQueueItem.runSpec": "extend type RunQueueItem { runSpec: JSONString }",
    "RunQueueItem.createdAt": "extend type RunQueueItem { createdAt: DateTime }",
}
_PAGE_INFO = "type PageInfo { hasNextPage: Boolean! endCursor: String }"


def _extended_sdl(withheld: frozenset[str]) -> str:
    sdl = SDK_SCHEMA
    if "RunQueue.runQueueItems(after:)" not in withheld:
        sdl = sdl.replace("runQueueItems(first: Int)", "runQueueItems(first: Int, after: String)")
    extras = [text for name, text in LAUNCHOPS_EXTRAS.items() if text and name not in withheld]
    if "RunQueueItemConnection.pageInfo" not in withheld:
        extras.append(_PAGE_INFO)
    return "\n".join([sdl, *extras])


@functools.cache
def schema(withheld: frozenset[str] = frozenset()) -> graphql.GraphQLSchema:
    """The SDK's schema plus launchops' extras, less the withheld ones."""
    unknown = withheld - set(LAUNCHOPS_EXTRAS)
    assert not unknown, f"not an extra: {sorted(unknown)}"
    return graphql.build_schema(_extended_sdl(withheld))


def coordinates(document: str, withheld: frozenset[str] = frozenset()) -> set[str]:
    """Every schema coordinate a valid document uses: `Type.field` and `Type.field(arg:)`."""
    sch = schema(withheld)
    info = graphql.TypeInfo(sch)
    used: set[str] = set()
    fields: list[str] = []

    class Collect(graphql.Visitor):
        def enter_field(self, node: graphql.FieldNode, *_: Any) -> None:
            parent = info.get_parent_type()
            fields.append(f"{parent.name}.{node.name.value}" if parent else node.name.value)
            if node.name.value != "__typename":
                used.add(fields[-1])

        def leave_field(self, *_: Any) -> None:
            fields.pop()

        def enter_argument(self, node: graphql.ArgumentNode, *_: Any) -> None:
            if fields:
                used.add(f"{fields[-1]}({node.name.value}:)")

        def enter_object_field(self, node: graphql.ObjectFieldNode, *_: Any) -> None:
            parent = info.get_parent_input_type()
            if parent is not None:
                used.add(f"{graphql.get_named_type(parent).name}.{node.name.value}")

    graphql.visit(graphql.parse(document), graphql.TypeInfoVisitor(info, Collect()))
    return used


def schema_coordinates(withheld: frozenset[str] = frozenset()) -> set[str]:
    """Every field, argument and input field the schema declares (root types included)."""
    out: set[str] = set()
    for name, type_ in schema(withheld).type_map.items():
        if name.startswith("__") or not isinstance(
            type_, (graphql.GraphQLObjectType, graphql.GraphQLInterfaceType, graphql.GraphQLInputObjectType)
        ):
            continue
        for fname, fdef in type_.fields.items():
            out.add(f"{name}.{fname}")
            out.update(f"{name}.{fname}({arg}:)" for arg in getattr(fdef, "args", {}) or {})
    return out


def validation_errors(document: graphql.DocumentNode, withheld: frozenset[str] = frozenset()) -> list[str]:
    """What a GraphQL server says of a document, with W&B's double quotes (the SDK matches
    messages such as `Cannot query field "runSpec" on type "PushToRunQueueByNamePayload"`)."""
    return [e.message.replace("'", '"') for e in graphql.validate(schema(withheld), document)]


# ---------------------------------------------------------------------------------------------
# Routing: the selection tree of the operation, fragments inlined, @skip/@include applied and
# arguments given their values (variables substituted). Answers are shaped from it by `shape`.


@dataclass
class Field:
    name: str
    alias: str
    args: dict[str, Any]
    selections: list[Field] = field(default_factory=list)

    def child(self, name: str) -> Field | None:
        return next((f for f in self.selections if f.name == name), None)


def _included(node: Any, variables: Mapping[str, Any]) -> bool:
    for d in node.directives or ():
        value = next((graphql.value_from_ast_untyped(a.value, dict(variables)) for a in d.arguments or () if a.name.value == "if"), None)
        if (d.name.value == "skip" and value is True) or (d.name.value == "include" and value is False):
            return False
    return True


def _fields(selection_set: Any, fragments: Mapping[str, Any], variables: Mapping[str, Any]) -> list[Field]:
    out: list[Field] = []
    for sel in selection_set.selections if selection_set else ():
        if not _included(sel, variables):
            continue
        if isinstance(sel, graphql.FieldNode):
            args = {}
            for a in sel.arguments or ():
                value = graphql.value_from_ast_untyped(a.value, dict(variables))
                args[a.name.value] = None if value is graphql.Undefined else value
            name = sel.name.value
            out.append(Field(name, sel.alias.value if sel.alias else name, args, _fields(sel.selection_set, fragments, variables)))
        elif isinstance(sel, graphql.FragmentSpreadNode):
            fragment = fragments.get(sel.name.value)
            out.extend(_fields(fragment.selection_set if fragment else None, fragments, variables))
        else:  # an inline fragment
            out.extend(_fields(sel.selection_set, fragments, variables))
    return out


def operation_fields(document: graphql.DocumentNode, variables: Mapping[str, Any]) -> list[Field]:
    """The root fields of the document's first operation."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, graphql.FragmentDefinitionNode)}
    operation = next((d for d in document.definitions if isinstance(d, graphql.OperationDefinitionNode)), None)
    return _fields(operation.selection_set, fragments, variables) if operation else []


def parse_query(text: str, variables: Mapping[str, Any] | None = None) -> list[Field]:
    """The root fields of the first operation of a document (parsed, not validated)."""
    return operation_fields(graphql.parse(text), variables or {})

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
    """One injected fault. `op` is a root field name (e.g. "pushToRunQueueByName") or "*", and
    `variables` (when given) values the request's variables must have (e.g. {"after": "100"}: the
    second page of a listing); it fires on the `nth` matching request (1-based) and then `times`
    times in all. Faults apply to requests that passed authentication and validation."""

    op: str
    # "500-before" | "500-after" (committed, then 500) | "graphql-error" | "400" | "401" | "drop" |
    # "drop-after" (committed, then the connection closes) | "slow" (committed, answered after
    # `delay`) | "slow-before" (waits `delay`, then commits and answers)
    kind: str
    nth: int = 1
    times: int = 1
    delay: float = 0.0
    message: str = "injected failure"
    variables: Mapping[str, Any] | None = None
    seen: int = 0
    fired: int = 0

    def matches(self, ops: list[str], variables: Mapping[str, Any]) -> bool:
        if self.op != "*" and self.op not in ops:
            return False
        if any(variables.get(k) != v for k, v in (self.variables or {}).items()):
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
        self.auth_ok = True  # False: every key is refused (HTTP 401)
        self.api_keys = {DUMMY_API_KEY}  # accepted as `Authorization: Basic base64("api:<key>")`
        self.withheld: frozenset[str] = frozenset()  # LAUNCHOPS_EXTRAS this server does not serve
        self.invalid: list[str] = []  # every validation error the server answered with
        # HTTP status of a refused (invalid) request: 200 with `errors` as W&B answers; 400 as some
        # GraphQL servers do. wandb-core retries neither and puts the message in the error's text.
        self.invalid_status = 200
        self.expect_invalid = False  # the test sends invalid requests on purpose (see conftest_wandb)
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
            self.invalid.clear()

    def seed_items(self, n: int, *, entity: str, project_queue: str, queue_name: str) -> None:
        """`n` items other people queued (no marker), as if pushed through the SDK."""
        with self.lock:
            for k in range(n):
                spec = json.dumps({"docker": {"docker_image": f"other:{k}"}, "entity": entity, "project": "p"})
                self.push({"entityName": entity, "projectName": project_queue, "queueName": queue_name,
                           "runSpec": spec}, by_name=True)

    def pushes(self) -> int:
        """How many push requests the server has answered or committed (retries included)."""
        with self.lock:
            return sum(op in ("pushToRunQueueByName", "pushToRunQueue") for r in self.requests for op in r["ops"] if r.get("valid"))

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


def _authorized(header: str | None, keys: set[str]) -> bool:
    """`Basic base64("api:<key>")` with a key the server knows (W&B reads only the password)."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        _, _, key = base64.b64decode(token, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    return key in keys


def _check(body: Any, withheld: frozenset[str]) -> tuple[list[Field], dict[str, Any], list[str]]:
    """Parse, validate and coerce a request as a GraphQL server does: (root fields, variables,
    errors). Unknown fields, arguments and types, missing or mistyped variables are errors."""
    if not isinstance(body, Mapping) or not isinstance(body.get("query"), str):
        return [], {}, ["Must provide query string."]
    raw_variables = body.get("variables") or {}
    if not isinstance(raw_variables, Mapping):
        return [], {}, ["Variables must be provided as an Object where each property is a variable value."]
    try:
        document = graphql.parse(body["query"])
    except graphql.GraphQLError as e:
        return [], {}, [e.message.replace("'", '"')]
    errors = validation_errors(document, withheld)
    if errors:
        return [], {}, errors
    operation = next(d for d in document.definitions if isinstance(d, graphql.OperationDefinitionNode))
    coerced = graphql.execution.values.get_variable_values(
        schema(withheld), operation.variable_definitions or (), dict(raw_variables)
    )
    if isinstance(coerced, list):
        return [], {}, [e.message.replace("'", '"') for e in coerced]
    values = dict(getattr(coerced, "coerced", coerced))  # graphql-core 3.3 wraps the dict (3.2 did not)
    return operation_fields(document, values), values, []


class _Handler(BaseHTTPRequestHandler):
    server: _Server
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
        except ValueError as e:
            self._send(400, {"errors": [{"message": f"POST body sent invalid JSON: {e}"}]})
            return
        with state.lock:
            keys = set(state.api_keys) if state.auth_ok else set()
            withheld, invalid_status = state.withheld, state.invalid_status
        authorized = _authorized(self.headers.get("Authorization"), keys)
        roots, variables, errors = _check(body, withheld) if authorized else ([], {}, [])
        ops = [f.name for f in roots]
        if not roots and isinstance(body, Mapping) and isinstance(body.get("query"), str):
            with contextlib.suppress(graphql.GraphQLError):  # record what was asked, even refused
                ops = [f.name for f in parse_query(body["query"])]
        with state.lock:
            state.requests.append(
                {
                    "path": self.path,
                    "ops": ops,
                    "variables": body.get("variables") or {} if isinstance(body, Mapping) else {},
                    "query": body.get("query") if isinstance(body, Mapping) else None,
                    "operationName": body.get("operationName") if isinstance(body, Mapping) else None,
                    "authorization": bool(self.headers.get("Authorization")),
                    "valid": authorized and not errors,
                }
            )
            state.invalid.extend(errors)
            fault = next((f for f in state.faults if f.matches(ops, variables)), None) if authorized and not errors else None
            latency = state.latency
        if latency:
            time.sleep(latency)
        if not authorized:
            self._send(401, {"errors": [{"message": "user is not logged in"}]})
            return
        if errors:
            # W&B answers a request it cannot validate with the errors and no data; wandb-core
            # raises at once (4xx and GraphQL errors are not retried) with the message in the text.
            self._send(invalid_status, {"errors": [{"message": m} for m in errors]})
            return
        try:
            if fault is not None:
                if self._fault(fault, roots, variables):
                    return
            with state.lock:
                data = {f.alias: self.server.resolve(f) for f in roots}
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
        if fault.kind in ("400", "401"):
            self._send(int(fault.kind), {"errors": [{"message": fault.message if fault.kind == "400" else "unauthorized"}]})
            return True
        if fault.kind == "graphql-error":
            self._send(200, {"data": None, "errors": [{"message": fault.message}]})
            return True
        if fault.kind == "drop":
            raise _Dropped()
        return False  # "500-after", "drop-after", "slow": resolved (committed) first


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, state: WandbState) -> None:
        self.state = state
        super().__init__(("127.0.0.1", 0), _Handler)

    def resolve(self, f: Field) -> Any:
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
            item = s.push(f.args["input"], by_name=True)
            return shape({"runQueueItemId": item["id"], "runSpec": item["runSpec_raw"]}, f.selections)
        if name == "pushToRunQueue":
            item = s.push(f.args["input"], by_name=False)
            return shape({"runQueueItemId": item["id"]}, f.selections)
        if name == "deleteFromRunQueue":
            inp = f.args["input"]
            hit = [i for i in s.items if i["id"] == inp.get("runQueueItemId") and i["queue_id"] == inp.get("queueID")]
            for it in hit:
                s.items.remove(it)
                s.deleted.append(it)
            return shape({"success": bool(hit), "clientMutationId": None}, f.selections)
        if name == "project":
            return shape(self._project(f.args.get("entityName"), f.args.get("name")), f.selections)
        raise AssertionError(f"a valid root field without a resolver: {name}")

    def _project(self, entity: str, project: str) -> dict[str, Any]:
        s = self.state

        def membership(fld: Field) -> Any:
            return shape(s.membership(entity, project, fld.args.get("name") or ""), fld.selections)

        def run_queues(fld: Field) -> Any:
            found = [
                {"id": qid, "name": n, "createdBy": s.viewer_entity, "access": "PROJECT"}
                for (e, p, n), qid in s.queues.items()
                if e == entity and p == project
            ]
            return shape(found, fld.selections)

        def run_queue(fld: Field) -> Any:
            qname = fld.args.get("name")
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
                wanted = sub.args.get("id")
                hit = next((i for i in items if i["id"] == wanted), None)
                return shape(node(hit), sub.selections) if hit else None

            def many(sub: Field) -> Any:
                first = min(int(sub.args.get("first") or s.page_size_cap), s.page_size_cap)
                after = sub.args.get("after")
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

    def start(self) -> WandbServer:
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
