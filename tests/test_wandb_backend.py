"""The wandb backend against the real wandb SDK and a W&B-compatible server on 127.0.0.1."""
from __future__ import annotations

import base64
import copy
import datetime
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest_wandb import drive, request, wandb_server  # noqa: E402,F401  (fixture)
from wandb_server import (  # noqa: E402
    DUMMY_API_KEY,
    WandbServer,
    coordinates,
    parse_query,
    schema_coordinates,
    validation_errors,
)

ROOT = Path(__file__).resolve().parents[1]
JOB = "ent/proj/my-job:latest"
PAGE = 100  # the page size of the marker search (wandb.PAGE_SIZE)


def ok(result: dict[str, Any]) -> Any:
    assert "ok" in result, result
    return result["ok"]


def wire(item: dict[str, Any]) -> dict[str, Any]:
    """What the server received for one push."""
    return {k: item[k] for k in ("entity", "project_queue", "queue_name", "runSpec", "priority", "has_priority", "templateVariableValues")}


# --------------------------------------------------------------------------------------------
# Import is lazy; argument checks need no SDK


def test_import_does_not_import_wandb() -> None:
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "import reconciler.backends.wandb as w\n"
        "b = w.WandbBackend(settings={}, parallel=4)\n"
        "assert w.launch_problems({'uri': 'https://github.com/x/y'})\n"
        "w.WandbBackend.sdk_arguments\n"
        "print('wandb' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_launch_problems_without_sdk() -> None:
    from reconciler.backends.wandb import launch_problems

    assert launch_problems({"job": JOB, "queue_name": "q", "priority": 1}) == []
    (uri,) = launch_problems({"uri": "https://github.com/wandb/examples"})
    assert "uri is not supported by the wandb backend" in uri and "job or docker_image" in uri
    assert launch_problems({"job": JOB, "docker_image": "img"})
    assert launch_problems({"job": JOB, "priority": 7})
    assert launch_problems({"job": JOB, "parameters": {}})


def test_sdk_arguments_copy_and_carry_the_marker() -> None:
    from reconciler.backends.base import EnqueueRequest
    from reconciler.backends.wandb import MARKER_KEY, WandbBackend

    launch = {"job": JOB, "config": {"overrides": {"run_config": {"lr": 0.1}}}}
    before = copy.deepcopy(launch)
    args = WandbBackend.sdk_arguments(EnqueueRequest("a", "sha256:1", "mk-1", launch))
    args["config"]["overrides"]["run_config"]["lr"] = 9
    assert launch == before  # the ledger keeps what the user wrote
    assert args["config"][MARKER_KEY] == "mk-1"
    assert WandbBackend.sdk_arguments(EnqueueRequest("a", "sha256:1", "mk-2", {"job": JOB}))["config"] == {MARKER_KEY: "mk-2"}


def test_query_parser_routes_on_root_fields() -> None:
    roots = parse_query(
        "mutation pushToRunQueueByName($a: String!) { pushToRunQueueByName(input: {entityName: $a}) { runQueueItemId } }",
        {"a": "ent"},
    )
    assert [f.name for f in roots] == ["pushToRunQueueByName"] and roots[0].args == {"input": {"entityName": "ent"}}
    roots = parse_query("query Q { project(name: \"x\") { ...F } } fragment F on Project { runQueue(name: $q) { id } }",
                        {"q": "gpu"})
    assert [(f.name, f.args) for f in roots[0].selections] == [("runQueue", {"name": "gpu"})]
    roots = parse_query("query Q($i: Boolean = false) { viewer { id email @include(if: $i) } }", {"i": False})
    assert [f.name for f in roots[0].selections] == ["id"]


# --------------------------------------------------------------------------------------------
# The test server is as strict as W&B: a key is required, every request is validated


def _post(server: WandbServer, body: dict[str, Any], key: str | None = DUMMY_API_KEY) -> tuple[int, Any]:
    """One raw GraphQL request to the test server (no proxy: 127.0.0.1 only)."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"api:{key}".encode()).decode()
    req = urllib.request.Request(server.url + "/graphql", data=json.dumps(body).encode(), headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


ITEMS = """query Q($e: String!, $p: String!, $q: String!, $first: Int) {
  project(name: $p, entityName: $e) { runQueue(name: $q) { runQueueItems(first: $first) { edges { node { id %s } } } } }
}"""
VARS = {"e": "ent", "p": "model-registry", "q": "q", "first": 10}


def test_server_refuses_requests_without_a_known_key(wandb_server: WandbServer) -> None:
    body = {"query": "{ viewer { id } }", "variables": {}, "operationName": ""}
    assert _post(wandb_server, body, key=None)[0] == 401
    assert _post(wandb_server, body, key="wrong" + DUMMY_API_KEY[5:])[0] == 401
    assert _post(wandb_server, body) == (200, {"data": {"viewer": {"id": "VXNlcjox"}}})


@pytest.mark.parametrize(("query", "variables", "message"), [
    (ITEMS % "bogusField", VARS, 'Cannot query field "bogusField" on type "RunQueueItem".'),
    (ITEMS.replace("first: $first", "first: $first, bogus: 1") % "", VARS, 'Unknown argument "bogus" on field'),
    (ITEMS % "", {**VARS, "first": "ten"}, 'Variable "$first" has invalid value'),
    (ITEMS % "", {k: v for k, v in VARS.items() if k != "q"}, 'Variable "$q" has invalid value: Expected a value of non-null type'),
    ("{ nosuchRoot { id } }", {}, 'Cannot query field "nosuchRoot" on type "Query".'),
    ("query { viewer { id }", {}, "Syntax Error"),
])
def test_server_refuses_what_a_graphql_server_refuses(wandb_server: WandbServer, query: str, variables: dict[str, Any],
                                                      message: str) -> None:
    wandb_server.state.seed_items(1, entity="ent", project_queue="model-registry", queue_name="q")
    wandb_server.state.expect_invalid = True
    status, body = _post(wandb_server, {"query": query, "variables": variables, "operationName": ""})
    assert status == 200 and "data" not in body, body
    assert any(message in e["message"] for e in body["errors"]), body
    status, body = _post(wandb_server, {"query": ITEMS % "state", "variables": VARS, "operationName": ""})
    assert status == 200 and body["data"]["project"]["runQueue"]["runQueueItems"]["edges"][0]["node"]["state"] == "PENDING"


# --------------------------------------------------------------------------------------------
# What each launch_add argument becomes on the wire: identical to a by-hand launch_add

CASES: dict[str, dict[str, Any]] = {
    "job-all": dict(
        job=JOB, queue_name="gpu", entity="ent", project="proj", priority=1,
        template_variables={"gpus": 2, "zone": "a"}, config={"overrides": {"run_config": {"lr": 0.1}}},
        resource="kubernetes", entry_point=["python", "train.py"], name="nightly", version="v1.10",
        run_id="run-1", sweep_id="sw-1", author="alice",
    ),
    "docker-resource-args": dict(
        docker_image="repo/img:1", queue_name="cpu", entity="ent", project="other", priority=3,
        resource="local-container", resource_args={"local-container": {"env": ["A=1"]}}, project_queue="team-pq",
    ),
    "repository-with-config": dict(docker_image="img:2", queue_name="q", entity="ent", repository="registry.example/r", config={"x": 1}),
    "repository-no-config": dict(docker_image="img:3", queue_name="q", entity="ent", repository="registry.example/r"),
    "defaults": dict(docker_image="img:4"),  # default queue, default entity from the viewer, no priority
    "critical": dict(job=JOB, queue_name="q", priority=0, entity="ent2"),
    "tv-and-resource-args": dict(docker_image="img:5", queue_name="q", entity="ent", template_variables={"a": 1}, resource_args={"k": {"x": 1}}),
}


def test_every_argument_reaches_the_server_as_launch_add_sends_it(wandb_server: WandbServer) -> None:
    wandb_server.state.add_job(JOB)
    wandb_server.state.add_job("ent2/proj/my-job")
    from reconciler.backends.base import EnqueueRequest
    from reconciler.backends.wandb import WandbBackend

    steps: list[dict[str, Any]] = []
    for name, launch in CASES.items():
        req = request(f"mk-{name}", **launch)
        sdk_kwargs = WandbBackend.sdk_arguments(EnqueueRequest(req["spec_id"], req["digest"], req["marker"], launch))
        steps.append({"op": "launch_add", "kwargs": sdk_kwargs})
        steps.append({"op": "enqueue", "request": req})
    results = drive(wandb_server, steps)
    items = wandb_server.state.items
    assert len(items) == 2 * len(CASES), (results, wandb_server.state.server_errors)
    for k, name in enumerate(CASES):
        by_hand, ours = items[2 * k], items[2 * k + 1]
        assert wire(ours) == wire(by_hand), name
        assert ok(results[2 * k])["id"] == by_hand["id"]
        run = ok(results[2 * k + 1])
        assert run["id"] == ours["id"] and run["backend"] == "wandb" and run["state"] == "pending"
        assert (run["entity"], run["project_queue"], run["queue_name"]) == (ours["entity"], ours["project_queue"], ours["queue_name"])
        assert run["priority"] == CASES[name].get("priority") and run["marker"] == f"mk-{name}"
        assert run["enqueued_at"].endswith("Z") and len(run["enqueued_at"]) == 20
    assert not wandb_server.state.server_errors and not wandb_server.state.invalid

    got = {name: items[2 * k + 1] for k, name in enumerate(CASES)}
    # exactly what the server received, argument by argument
    assert got["job-all"]["runSpec"] == {
        "overrides": {"run_config": {"lr": 0.1}, "entry_point": ["python", "train.py"]},
        "launchops_marker": "mk-job-all",
        "job": JOB, "entity": "ent", "author": "alice", "project": "proj", "name": "nightly", "docker": {},
        "sweep_id": "sw-1", "resource": "kubernetes", "git": {"version": "v1.10"}, "run_id": "run-1",
    }
    assert (got["job-all"]["entity"], got["job-all"]["project_queue"], got["job-all"]["queue_name"]) == ("ent", "model-registry", "gpu")
    assert got["job-all"]["priority"] == 1 and got["job-all"]["templateVariableValues"] == {"gpus": 2, "zone": "a"}
    d = got["docker-resource-args"]
    assert d["runSpec"]["docker"] == {"docker_image": "repo/img:1"} and d["runSpec"]["project"] == "other"
    assert d["runSpec"]["resource_args"] == {"local-container": {"env": ["A=1"]}} and d["project_queue"] == "team-pq"
    assert d["priority"] == 3 and d["templateVariableValues"] is None
    assert got["repository-with-config"]["runSpec"]["registry"] == {"url": "registry.example/r"}
    # launch_add drops `repository` when config is None; the marker makes config a dict, so it lands
    assert got["repository-no-config"]["runSpec"]["registry"] == {"url": "registry.example/r"}
    dflt = got["defaults"]
    assert (dflt["entity"], dflt["queue_name"], dflt["project_queue"]) == ("viewer-ent", "default", "model-registry")
    assert dflt["has_priority"] is False and dflt["via"] == "pushToRunQueueByName"
    assert got["critical"]["priority"] == 0 and got["critical"]["entity"] == "ent2"
    # the SDK drops resource_args only for template variables given inside config, not as an argument
    tv = got["tv-and-resource-args"]
    assert tv["runSpec"]["resource_args"] == {"k": {"x": 1}} and tv["templateVariableValues"] == {"a": 1}


# `build: true`: wandb 0.31's launch_add builds only from a uri, which it never passes on, so it
# fails before its push. The backend refuses the same launches before sending anything.
BUILD_CASES: dict[str, dict[str, Any]] = {
    "docker_image": dict(build=True, docker_image="img:6", queue_name="q", entity="ent", priority=1),
    "job": dict(build=True, job=JOB, queue_name="q", entity="ent", priority=1, config={"x": 1}),
    "no-priority": dict(build=True, docker_image="img:7", queue_name="q", entity="ent", resource="local-container"),
}


def test_build_true_sends_nothing_by_hand_and_is_refused_before_anything_is_sent(wandb_server: WandbServer) -> None:
    wandb_server.state.add_job(JOB)
    from reconciler.backends.base import EnqueueRequest
    from reconciler.backends.wandb import BUILD_UNSUPPORTED, WandbBackend

    steps: list[dict[str, Any]] = []
    for name, launch in BUILD_CASES.items():
        req = request(f"mk-{name}", **launch)
        sdk_kwargs = WandbBackend.sdk_arguments(EnqueueRequest(req["spec_id"], req["digest"], req["marker"], launch))
        steps += [{"op": "launch_add", "kwargs": sdk_kwargs}, {"op": "preflight", "requests": [req]},
                  {"op": "enqueue", "request": req}]
    results = drive(wandb_server, steps)
    for k, name in enumerate(BUILD_CASES):
        by_hand, preflight, ours = results[3 * k: 3 * k + 3]
        assert by_hand["kind"] == "AssertionError" and "a URI must be set" in by_hand["error"], (name, by_hand)
        assert ok(preflight) == {f"spec-mk-{name}": BUILD_UNSUPPORTED}
        assert ours == {**ours, "kind": "EnqueueFailed", "uncertain": False, "error": BUILD_UNSUPPORTED}
    assert wandb_server.state.items == [] and wandb_server.state.pushes() == 0
    assert not wandb_server.state.invalid and not wandb_server.state.server_errors


def test_one_round_trip_per_spec_after_preflight(wandb_server: WandbServer) -> None:
    wandb_server.state.add_job(JOB)
    reqs = [request(f"m{i}", job=JOB, queue_name="q", entity="ent", priority=2) for i in range(20)]
    results = drive(wandb_server, [{"op": "preflight", "requests": reqs}, {"op": "enqueue_many", "requests": reqs}])
    assert ok(results[0]) == {}
    ops = wandb_server.state.ops()
    assert ops.count("pushToRunQueueByName") == 20
    assert len(ops) - 20 <= 4  # Viewer once, the job check once (serverInfo + project)
    assert ops.count("project") == 1


# --------------------------------------------------------------------------------------------
# Preflight


def test_unknown_job_fails_preflight_and_nothing_is_pushed(wandb_server: WandbServer) -> None:
    wandb_server.state.add_job(JOB)
    good = request("a", job=JOB, queue_name="q", entity="ent", priority=1)
    bad = request("b", job="ent/proj/missing-job:v3", queue_name="q", entity="ent", priority=1)
    uri = request("c", uri="https://github.com/wandb/examples", queue_name="q")
    results = drive(
        wandb_server,
        [{"op": "preflight", "requests": [good, bad, uri]}, {"op": "enqueue", "request": bad}],
    )
    reasons = ok(results[0])
    assert set(reasons) == {"spec-b", "spec-c"}
    assert "ent/proj/missing-job:v3 was not found" in reasons["spec-b"]
    assert "uri is not supported" in reasons["spec-c"]
    assert results[1]["kind"] == "EnqueueFailed" and results[1]["uncertain"] is False
    assert wandb_server.state.items == [] and "pushToRunQueueByName" not in wandb_server.state.ops()


# --------------------------------------------------------------------------------------------
# Faults: each gives a clear error with the right `uncertain`, and find() tells the truth


def test_500_after_commit_leaves_a_duplicate_that_find_reports_and_delete_removes(wandb_server: WandbServer) -> None:
    wandb_server.state.add_job(JOB)
    req = request("dup", job=JOB, queue_name="q", entity="ent", priority=1)
    wandb_server.state.inject("pushToRunQueueByName", "500-after", nth=1, times=1)
    results = drive(wandb_server, [{"op": "enqueue", "request": req}, {"op": "find", "request": req}])
    run = ok(results[0])
    first, second = wandb_server.state.items
    assert run["id"] == second["id"]  # wandb-core retried; the caller sees only the second id
    assert run["duplicates"] == [first["id"]]
    assert [r["id"] for r in ok(results[1])] == [first["id"], second["id"]]
    dup = dict(ok(results[1])[0])
    results = drive(wandb_server, [{"op": "delete", "run": dup}, {"op": "delete", "run": run | {"id": "nope"}}])
    assert ok(results[0]) is True and ok(results[1]) is False
    assert [i["id"] for i in wandb_server.state.items] == [second["id"]]
    assert [i["id"] for i in wandb_server.state.deleted] == [first["id"]]


def test_500_before_commit_is_retried_by_wandb_core_once(wandb_server: WandbServer) -> None:
    req = request("r", docker_image="img", queue_name="q", entity="ent", priority=2)
    wandb_server.state.inject("pushToRunQueueByName", "500-before", nth=1, times=1)
    results = drive(wandb_server, [{"op": "enqueue", "request": req}])
    run = ok(results[0])
    assert [i["id"] for i in wandb_server.state.items] == [run["id"]] and "duplicates" not in run


def test_persistent_500_after_commit_is_uncertain_and_found_later(wandb_server: WandbServer) -> None:
    req = request("p", docker_image="img", queue_name="q", entity="ent", priority=1)
    wandb_server.state.inject("pushToRunQueueByName", "500-after", nth=1, times=1000)
    results = drive(wandb_server, [{"op": "enqueue", "request": req}], http_timeout=3)
    assert results[0]["kind"] == "EnqueueFailed" and results[0]["uncertain"] is True
    assert "may still have been enqueued" in results[0]["error"]
    landed = [i["id"] for i in wandb_server.state.items]
    assert landed  # the server committed every attempt
    found = ok(drive(wandb_server, [{"op": "find", "request": req}])[0])
    assert [r["id"] for r in found] == landed


def test_graphql_error_with_priority_is_uncertain_and_names_the_cause(wandb_server: WandbServer) -> None:
    req = request("g", docker_image="img", queue_name="q", entity="ent", priority=1)
    wandb_server.state.inject("pushToRunQueueByName", "graphql-error", message="queue q is paused")
    results = drive(wandb_server, [{"op": "enqueue", "request": req}])
    assert results[0]["uncertain"] is True and "queue q is paused" in results[0]["error"]
    assert wandb_server.state.items == []


def test_graphql_error_without_priority_recovers_through_the_legacy_push(wandb_server: WandbServer) -> None:
    req = request("l", docker_image="img", queue_name="q", entity="ent", template_variables={"a": 1})
    wandb_server.state.queue_id("ent", "model-registry", "q")
    wandb_server.state.inject("pushToRunQueueByName", "graphql-error")
    results = drive(wandb_server, [{"op": "enqueue", "request": req}])
    (item,) = wandb_server.state.items
    assert ok(results[0])["id"] == item["id"] and item["via"] == "pushToRunQueue"
    assert item["templateVariableValues"] == {"a": 1} and item["runSpec"]["launchops_marker"] == "l"


def test_slow_push_beyond_the_timeout_is_uncertain_and_lands(wandb_server: WandbServer) -> None:
    req = request("s", docker_image="img", queue_name="q", entity="ent", priority=1)
    wandb_server.state.inject("pushToRunQueueByName", "slow", delay=4.0)
    results = drive(wandb_server, [{"op": "enqueue", "request": req}], http_timeout=2)
    assert results[0]["kind"] == "EnqueueFailed" and results[0]["uncertain"] is True
    found = ok(drive(wandb_server, [{"op": "find", "request": req}])[0])
    assert len(found) >= 1 and found[0]["marker"] == "s"


def test_dropped_connection_is_retried_by_wandb_core(wandb_server: WandbServer) -> None:
    req = request("d", docker_image="img", queue_name="q", entity="ent", priority=1)
    wandb_server.state.inject("pushToRunQueueByName", "drop")
    results = drive(wandb_server, [{"op": "enqueue", "request": req}])
    assert [i["id"] for i in wandb_server.state.items] == [ok(results[0])["id"]]


def test_connection_dropped_after_commit_leaves_a_duplicate_found_by_marker(wandb_server: WandbServer) -> None:
    req = request("da", docker_image="img", queue_name="q", entity="ent", priority=1)
    wandb_server.state.inject("pushToRunQueueByName", "drop-after")
    results = drive(wandb_server, [{"op": "enqueue", "request": req}, {"op": "find", "request": req}])
    ids = [i["id"] for i in wandb_server.state.items]
    assert len(ids) == 2 and ok(results[0])["id"] == ids[1] and ok(results[0])["duplicates"] == [ids[0]]
    assert [r["id"] for r in ok(results[1])] == ids


def test_401_on_push_is_a_clear_error(wandb_server: WandbServer) -> None:
    req = request("u", docker_image="img", queue_name="q", entity="ent", priority=1)
    wandb_server.state.inject("pushToRunQueueByName", "401")
    results = drive(wandb_server, [{"op": "enqueue", "request": req}])
    assert results[0]["kind"] == "EnqueueFailed" and "401" in results[0]["error"]
    assert DUMMY_API_KEY not in results[0]["error"] and wandb_server.state.items == []


def test_rejected_credentials_stop_before_any_push(wandb_server: WandbServer) -> None:
    wandb_server.state.auth_ok = False
    req = request("x", docker_image="img", queue_name="q", entity="ent", priority=1)
    results = drive(wandb_server, [{"op": "preflight", "requests": [req]}, {"op": "enqueue", "request": req}])
    assert results[0]["kind"] == "BackendError" and "refused the credentials" in results[0]["error"]
    assert results[1]["kind"] == "EnqueueFailed" and results[1]["uncertain"] is False
    assert DUMMY_API_KEY not in results[0]["error"] + results[1]["error"]
    assert "pushToRunQueueByName" not in wandb_server.state.ops()


def test_missing_credentials_name_what_to_set(wandb_server: WandbServer) -> None:
    req = request("x", docker_image="img", queue_name="q", entity="ent")
    results = drive(wandb_server, [{"op": "preflight", "requests": [req]}], env={"WANDB_API_KEY": None})
    assert results[0]["kind"] == "BackendError"
    assert "WANDB_API_KEY" in results[0]["error"] and "wandb login" in results[0]["error"]
    assert wandb_server.state.requests == []  # not even a Viewer call


def test_netrc_entry_for_the_base_url_is_enough(wandb_server: WandbServer, tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1:{wandb_server.port}\n  login user\n  password {DUMMY_API_KEY}\n")
    netrc.chmod(0o600)
    req = request("n", docker_image="img", queue_name="q", entity="ent")
    results = drive(wandb_server, [{"op": "enqueue", "request": req}], env={"WANDB_API_KEY": None, "NETRC": str(netrc)})
    assert ok(results[0])["id"] == wandb_server.state.items[0]["id"]


def test_missing_extra_says_the_pip_command(tmp_path: Path) -> None:
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); sys.modules['wandb'] = None\n"
        "from reconciler.backends.wandb import WandbBackend\n"
        "from reconciler.backends.base import BackendError\n"
        "try:\n    WandbBackend().preflight([])\nexcept BackendError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "pip install 'launchops[wandb]'" in out.stdout


# --------------------------------------------------------------------------------------------
# find / refresh / delete


def test_find_searches_past_the_first_100_items(wandb_server: WandbServer) -> None:
    others = [request(f"o{i}", docker_image="img", queue_name="q", entity="ent", priority=2) for i in range(120)]
    target = request("target", docker_image="img", queue_name="q", entity="ent", priority=2)
    results = drive(
        wandb_server,
        [{"op": "enqueue_many", "requests": others, "parallel": 8}, {"op": "enqueue", "request": target}, {"op": "find", "request": target}],
    )
    run = ok(results[1])
    (found,) = ok(results[2])
    assert found["id"] == run["id"] and found["marker"] == "target" and found["state"] == "pending"
    assert (found["entity"], found["queue_name"], found["project_queue"]) == ("ent", "q", "model-registry")
    pages = [r for r in wandb_server.state.requests if r["variables"].get("first") == 100]
    assert len(pages) == 2  # 121 items, pages of 100


def test_refresh_reads_state_and_run_id(wandb_server: WandbServer) -> None:
    req = request("f", docker_image="img", queue_name="q", entity="ent", project="p", priority=1)
    run = ok(drive(wandb_server, [{"op": "enqueue", "request": req}])[0])
    wandb_server.state.set_state(run["id"], "CLAIMED", "abc123")
    results = drive(wandb_server, [{"op": "refresh", "run": run}, {"op": "delete", "run": run}])
    refreshed = ok(results[0])
    assert refreshed["state"] == "claimed" and refreshed["run_id"] == "abc123" and refreshed["id"] == run["id"]
    assert ok(results[1]) is False  # not pending any more: never removed
    assert [i["id"] for i in wandb_server.state.items] == [run["id"]]


# --------------------------------------------------------------------------------------------
# Threads


def test_parallel_enqueue_keeps_every_item_with_its_own_marker(wandb_server: WandbServer) -> None:
    wandb_server.state.add_job(JOB)
    wandb_server.state.latency = 0.005
    reqs = [request(f"t{i}", job=JOB, queue_name="q", entity="ent", priority=i % 4, config={"i": i}) for i in range(120)]
    results = drive(wandb_server, [{"op": "preflight", "requests": reqs, "parallel": 8}, {"op": "enqueue_many", "requests": reqs}])
    runs = ok(results[1])
    by_id = {i["id"]: i for i in wandb_server.state.items}
    assert len(by_id) == 120
    for k in range(120):
        run = runs[f"t{k}"]
        item = by_id[run["id"]]
        assert item["runSpec"]["launchops_marker"] == f"t{k}" and item["runSpec"]["i"] == k and item["priority"] == k % 4


# --------------------------------------------------------------------------------------------
# launchops' own queries: valid on the schema; what they ask beyond the SDK's queries, each with
# a fallback exercised against a server that does not serve it


def _launchops_documents() -> dict[str, str]:
    """Every GraphQL document reconciler/backends/wandb.py writes itself: the module's string
    constants, and strings in its dict constants, that parse as GraphQL operations."""
    import graphql

    import reconciler.backends.wandb as module

    found: dict[str, str] = {}
    for name, value in vars(module).items():
        texts = {name: value} if isinstance(value, str) else (
            {f"{name}[{k}]": v for k, v in value.items() if isinstance(v, str)} if isinstance(value, dict) else {})
        for label, text in texts.items():
            try:
                doc = graphql.parse(text)
            except graphql.GraphQLError:
                continue
            if any(isinstance(d, graphql.OperationDefinitionNode) for d in doc.definitions):
                found[label] = text
    return found


def test_every_query_launchops_writes_is_valid_on_the_schema() -> None:
    import graphql

    docs = _launchops_documents()
    assert len(docs) == 4, sorted(docs)  # the queue listing with and without paging and createdAt
    for label, text in docs.items():
        assert validation_errors(graphql.parse(text)) == [], label
    # the fallback each withheld feature leads to is valid on a server without it
    from reconciler.backends.wandb import FIND_QUERIES

    for (paged, created), text in FIND_QUERIES.items():
        withheld = frozenset({*(() if paged else ("RunQueue.runQueueItems(after:)", "RunQueueItemConnection.pageInfo")),
                              *(() if created else ("RunQueueItem.createdAt",))})
        assert validation_errors(graphql.parse(text), withheld) == [], (paged, created)


# What launchops asks of W&B that no SDK query asks, and the test of its fallback.
BEYOND_THE_SDK = {
    "RunQueue.runQueueItems(after:)": "test_find_on_a_server_without_paging",
    "RunQueueItemConnection.pageInfo": "test_find_on_a_server_without_paging",
    "PageInfo.hasNextPage": "test_find_on_a_server_without_paging",
    "PageInfo.endCursor": "test_find_on_a_server_without_paging",
    "RunQueueItem.createdAt": "test_find_on_a_server_without_created_at",
    "RunQueueItem.runSpec": "test_find_on_a_server_without_run_specs_is_unknown",
}


def test_what_launchops_asks_beyond_the_sdk_has_a_fallback_each(wandb_server: WandbServer) -> None:
    """The SDK's queries are what is known to exist on W&B. Record the ones it sends for every
    call launchops makes or mirrors, and compare schema coordinates: launchops' extras are exactly
    BEYOND_THE_SDK (each with its fallback test), and the schema holds nothing else unattested."""
    state = wandb_server.state
    state.add_job(JOB)
    state.queue_id("ent", "model-registry", "q")
    state.inject("pushToRunQueueByName", "graphql-error", nth=3)  # the third launch_add: legacy push
    steps: list[dict[str, Any]] = [
        {"op": "launch_add", "kwargs": {"job": JOB, "queue_name": "q", "priority": 1, "template_variables": {"a": 1}}},
        {"op": "launch_add", "kwargs": {"docker_image": "img", "queue_name": "q", "entity": "ent"}},
        {"op": "launch_add", "kwargs": {"docker_image": "img", "queue_name": "q", "entity": "ent", "template_variables": {"a": 1}}},
        {"op": "sdk", "call": "items", "entity": "ent", "queue_name": "q"},
    ]
    results = drive(wandb_server, steps)
    ids = [ok(r)["id"] for r in results[:3]]
    results = drive(wandb_server, [
        {"op": "sdk", "call": "state", "entity": "ent", "queue_name": "q", "id": ids[1]},
        {"op": "sdk", "call": "delete", "entity": "ent", "queue_name": "q", "id": ids[1]},
        {"op": "sdk", "call": "state", "entity": "ent", "queue_name": "q", "id": ids[1]},  # gone: the legacy query
    ])
    assert ok(results[0]) == "pending" and ok(results[1]) is None and "Could not find" in results[2]["error"]
    assert not state.invalid and not state.server_errors, (state.invalid, state.server_errors)
    sdk_queries = {r["query"] for r in state.requests if r.get("query")}
    sdk = set().union(*(coordinates(q) for q in sdk_queries))
    ours = set().union(*(coordinates(q) for q in _launchops_documents().values()))

    assert ours - sdk == set(BEYOND_THE_SDK)
    assert schema_coordinates() - sdk == set(BEYOND_THE_SDK)  # the rest of the schema is the SDK's own
    for test in set(BEYOND_THE_SDK.values()):
        assert callable(globals().get(test)), test


def _find_requests(server: WandbServer) -> list[dict[str, Any]]:
    return [r for r in server.state.requests if "LaunchopsRunQueueItems" in (r.get("query") or "")]


@pytest.mark.parametrize("status", [200, 400])  # W&B's 200 with errors, or a 400: the SDK raises at once for both
@pytest.mark.parametrize("withheld", ["RunQueue.runQueueItems(after:)", "RunQueueItemConnection.pageInfo"])
def test_find_on_a_server_without_paging(wandb_server: WandbServer, withheld: str, status: int) -> None:
    state = wandb_server.state
    state.withheld, state.invalid_status = frozenset({withheld}), status
    target = request("target", docker_image="img", queue_name="q", entity="ent", priority=2)
    results = drive(wandb_server, [{"op": "enqueue", "request": target}, {"op": "find", "request": target}])
    (found,) = ok(results[1])
    assert found["id"] == ok(results[0])["id"]
    # the server's createdAt and the client's clock at the send, both to the second: a tick or two apart
    sent, listed = (datetime.datetime.fromisoformat(r["enqueued_at"].replace("Z", "+00:00"))
                    for r in (ok(results[0]), found))
    assert abs((listed - sent).total_seconds()) <= 2
    refused, single = _find_requests(wandb_server)
    assert not refused["valid"] and single["valid"] and "after" not in single["query"] and "pageInfo" not in single["query"]

    # a full single page without the marker cannot say "absent": the lookup is unknown
    state.seed_items(PAGE, entity="ent", project_queue="model-registry", queue_name="q")
    state.seed_items(1, entity="ent", project_queue="model-registry", queue_name="q")
    later = request("later", docker_image="img", queue_name="q", entity="ent", priority=2)
    results = drive(wandb_server, [{"op": "enqueue", "request": later}, {"op": "find", "request": later},
                                   {"op": "find", "request": target}])
    assert results[1]["kind"] == "EnqueueFailed" and results[1]["uncertain"] is True, results[1]
    assert f"lists only the first {PAGE} items" in results[1]["error"]
    assert [r["id"] for r in ok(results[2])] == [found["id"]]  # on the first page: found


def test_an_error_in_the_fallback_query_is_an_unknown_lookup(wandb_server: WandbServer) -> None:
    state = wandb_server.state
    state.withheld = frozenset({"RunQueue.runQueueItems(after:)"})
    target = request("target", docker_image="img", queue_name="q", entity="ent", priority=2)
    state.inject("project", "graphql-error", message="internal error after 3 attempts", variables={"first": PAGE})
    results = drive(wandb_server, [{"op": "enqueue", "request": target}, {"op": "find", "request": target}])
    assert results[1]["kind"] == "EnqueueFailed" and results[1]["uncertain"] is True, results[1]
    assert "internal error after 3 attempts" in results[1]["error"]
    assert len(_find_requests(wandb_server)) == 2  # the paged query refused, the fallback failed: no third try


def test_find_on_a_server_without_created_at(wandb_server: WandbServer) -> None:
    wandb_server.state.withheld = frozenset({"RunQueueItem.createdAt"})
    target = request("target", docker_image="img", queue_name="q", entity="ent", priority=2)
    results = drive(wandb_server, [{"op": "enqueue", "request": target}, {"op": "find", "request": target}])
    (found,) = ok(results[1])
    assert found["id"] == ok(results[0])["id"] and found["enqueued_at"].endswith("Z")
    refused, plain = _find_requests(wandb_server)
    assert not refused["valid"] and plain["valid"] and "createdAt" not in plain["query"] and "after" in plain["query"]


def test_find_on_a_server_without_run_specs_is_unknown(wandb_server: WandbServer) -> None:
    wandb_server.state.withheld = frozenset({"RunQueueItem.runSpec"})
    target = request("target", docker_image="img", queue_name="q", entity="ent", priority=2)
    results = drive(wandb_server, [{"op": "enqueue", "request": target}, {"op": "find", "request": target}])
    assert results[1]["kind"] == "EnqueueFailed" and results[1]["uncertain"] is True
    assert "does not show queue items' run specs" in results[1]["error"]
    assert len(_find_requests(wandb_server)) == 1


@pytest.mark.parametrize("where", ["page-1", "page-2"])
def test_a_failing_later_page_makes_the_lookup_unknown(wandb_server: WandbServer, where: str) -> None:
    """The text of a transport error may say "after" ("giving up after 3 retries"): it is not a
    server without paging, and page 1 is never read again (it held the only item: found twice,
    it was once removed as its own duplicate)."""
    state = wandb_server.state
    target = request("target", docker_image="img", queue_name="q", entity="ent", priority=2)
    if where == "page-2":
        state.seed_items(PAGE + 10, entity="ent", project_queue="model-registry", queue_name="q")
    run = ok(drive(wandb_server, [{"op": "enqueue", "request": target}])[0])
    state.seed_items(PAGE + 10, entity="ent", project_queue="model-registry", queue_name="q")
    state.inject("project", "graphql-error", message="giving up after 3 retries", variables={"after": str(PAGE)})
    results = drive(wandb_server, [{"op": "find", "request": target}, {"op": "find", "request": target}])
    assert results[0]["kind"] == "EnqueueFailed" and results[0]["uncertain"] is True, results[0]
    assert "giving up after 3 retries" in results[0]["error"]
    assert [r["id"] for r in ok(results[1])] == [run["id"]]  # the page readable again: found once
    afters = [r["variables"].get("after") for r in _find_requests(wandb_server)]
    assert afters == [None, str(PAGE), None, str(PAGE), str(2 * PAGE)] if where == "page-2" else afters[:2] == [None, str(PAGE)]
    assert all("pageInfo" in r["query"] for r in _find_requests(wandb_server))
