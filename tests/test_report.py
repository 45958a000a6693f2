"""The status page (`launchops report --html DIR`): its document, its HTML, and the page in a real browser.

The golden status.json is built from a fixture ledger holding every state (applied, pending,
failed, unknown, removed, withdrawn, a withdraw not honoured, a matrix, a schedule with missed
slots, an open preview, an invalid file). Regenerate after an intended change with
`LAUNCHOPS_UPDATE_GOLDEN=1`, then review the diff.

The browser is Debian's chromium, headless, driven over the DevTools protocol on a pipe
(`--remote-debugging-pipe`: file descriptors 3 and 4, no port). `.ci/run` installs it; a missing
browser fails these tests, never skips them. The screenshot is kept in `.artifacts/` (git-ignored).
"""
from __future__ import annotations

import base64
import datetime
import fcntl
import json
import os
import queue
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import cli, commit_all, git, write
from reconciler import report
from reconciler.ledger import Entry, Ledger, identity
from reconciler.problems import Problem
from reconciler.render.html import page
from reconciler.specs import Spec, digest_of

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden"
NOW = datetime.datetime(2026, 12, 2, 8, 0, tzinfo=datetime.UTC)
HOSTILE = "<script>alert(1)</script>"
SECRET = "hunter2-correct-horse"


# ---- the fixture: every state ---------------------------------------------------------------------

def _launch(name: str, **more: Any) -> dict[str, Any]:
    return {"job": f"acme/evals/{name}:v1", "queue_name": "gpu-a100", "entity": "acme", "project": "evals",
            "priority": 2, **more}


def _run(n: int, state: str, at: str, change: str, **more: Any) -> dict[str, Any]:
    return {"id": f"UXVldWVkUnVuOj{n:03d}", "backend": "wandb", "entity": "acme", "project_queue": "model-registry",
            "queue_name": "gpu-a100", "priority": 2, "marker": f"lo-{n:024d}", "enqueued_at": at, "state": state,
            "change": change, **more}


def fixture() -> tuple[Ledger, dict[str, Spec], list[Problem], dict[str, dict[str, Any]]]:
    entries: dict[str, Entry] = {}
    specs: dict[str, Spec] = {}

    def add(spec_id: str, status: str, runs: list[dict[str, Any]] = (), launch: dict[str, Any] | None = None,
            git_launch: dict[str, Any] | None | bool = True, **more: Any) -> None:
        launch = launch or _launch(spec_id.replace("/", "-"))
        change = more.pop("change", identity("change", spec_id, None, digest_of(launch)))
        source = more.pop("source", f"launches/{spec_id.split('[')[0]}.yaml")
        entries[spec_id] = Entry(digest=digest_of(launch), source=source, launch=launch, status=status, change=change,
                                 applied_commit="0123456789abcdef0123456789abcdef01234567",
                                 queued_runs=tuple(runs), **more)
        if git_launch:
            shown = launch if git_launch is True else git_launch
            specs[spec_id] = Spec(spec_id, source, shown, digest_of(shown))

    ch = identity("change", "x", None, "d")
    add("team-a/applied", "applied",
        [_run(1, "finished", "2026-12-01T19:00:00Z", identity("change", "team-a/applied", None,
                                                             digest_of(_launch("team-a-applied"))),
              run_id="r4nd0m1d")])
    add("team-a/pending", "pending", claim={"host": "ci", "pid": 1, "at": "2026-11-29T07:00:00Z"})
    add("team-a/failed", "failed", error="queue gpu-a100 does not exist in acme/model-registry")
    add("team-a/unknown", "unknown", error="timed out after 30 s")
    add("team-a/gone", "removed", [_run(2, "finished", "2026-11-20T10:00:00Z", ch)], git_launch=None)
    add("team-a/retired", "removed", [_run(9, "withdrawn", "2026-12-01T20:00:00Z", ch)], change=ch, git_launch=None)
    add("team-a/waiting", "applied", [_run(3, "pending", "2026-11-30T06:00:00Z", ch)],
        change=ch)
    old = identity("change", "team-b/edited", None, "sha256:old")
    add("team-b/edited", "applied", [_run(4, "withdrawn", "2026-12-01T08:00:00Z", old),
                                     _run(5, "running", "2026-12-02T07:00:00Z", "new")],
        change="new", git_launch=_launch("team-b-edited", template_variables={"gpus": 4}))
    add("team-b/kept", "applied", [_run(10, "running", "2026-12-01T08:00:00Z", old),
                                   _run(11, "pending", "2026-12-02T07:30:00Z", "new")], change="new")
    add("team-b/stuck", "applied", [_run(6, "pending", "2026-12-01T08:00:00Z", old),
                                    _run(7, "pending", "2026-12-02T07:30:00Z", "new")], change="new")
    specs["team-b/new-spec"] = Spec("team-b/new-spec", "launches/team-b/new-spec.yaml", _launch("new"),
                                    digest_of(_launch("new")))
    hostile = _launch("hostile", config={"note": HOSTILE, "api_key": SECRET, "max_new_tokens": 128})
    add(HOSTILE, "applied", [_run(8, "claimed", "2026-12-02T07:59:00Z", "h")], launch=hostile, change="h",
        source="launches/hostile.yaml")
    for lr in ("0.1", "0.01", "0.001"):
        add(f"sweep[lr={lr}]", "applied" if lr != "0.001" else "failed",
            [_run(10 + len(lr), "finished", "2026-12-01T03:00:00Z", "m")] if lr != "0.001" else [],
            launch=_launch("sweep", config={"lr": float(lr)}), change="m", cell={"lr": float(lr)},
            error="W&B said no" if lr == "0.001" else None, source="launches/sweep.yaml")
    add("nightly", "applied", [_run(20, "finished", "2026-12-02T02:17:00Z", "s", kind="slot")], kind="slot",
        change="s", extra={"schedule": {
            "spec": {"cron": ["17 3 * * 1-5"], "timezone": "Europe/Berlin", "suspend": False, "catchup": "latest"},
            "fingerprint": "0123456789abcdef", "since": "2026-11-20T00:00:00Z",
            "last_slot": "2026-12-02T02:17:00Z", "next_slot": "2026-12-03T02:17:00Z",
            "missed": [{"slot": "2026-11-30T02:17:00Z", "why": "starting_deadline"},
                       {"slot": "2026-11-27T02:17:00Z", "why": "concurrency: forbid"}]}})
    problems = [Problem("launches/broken.yaml", 3, 5, "unknown key 'parameters': did you mean 'config'?"),
                Problem("launches/team-a/failed.yaml", 1, 1, "apiVersion: required")]
    preview = {"version": 1, "pr": 7, "state": "open", "head": "a" * 40, "base": "b" * 40, "specs": {
        "team-a/applied": {"digest": digest_of(_launch("p")), "launch": _launch("p"), "status": "applied",
                           "change": "p", "kind": "preview:pr-7", "source": "launches/team-a/applied.yaml",
                           "queued_runs": [_run(30, "pending", "2026-12-02T07:00:00Z", "p")]}}}
    return Ledger(specs=entries, repository="f" * 32), specs, problems, {"pr-7": preview}


def fixture_document() -> dict[str, Any]:
    ledger, specs, problems, previews = fixture()
    return report.build(ledger, specs, problems, NOW, report.preview_rows(previews))


def test_status_json_golden() -> None:
    text = json.dumps(fixture_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    path = GOLDEN / "report-status.json"
    if os.environ.get("LAUNCHOPS_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), "report-status.json differs; see the module docstring"


def test_a_preview_record_edited_by_hand_is_shown_not_crashed_on() -> None:
    """The previews branch is written by launchops, but anyone with push access can edit it: a
    status, a state or a time of the wrong type is shown as text, escaped."""
    ledger, specs, problems, previews = fixture()
    entry = previews["pr-7"]["specs"]["team-a/applied"]
    entry["status"] = 5
    entry["queued_runs"] = [{"id": 12, "state": 7, "enqueued_at": 1733122800}]
    rows = report.preview_rows(previews)
    assert rows[0]["status"] == "5" and rows[0]["enqueued_at"] == "1733122800" and rows[0]["queue_state"] == "7"
    html = page(report.build(ledger, specs, problems, NOW, rows))
    assert "1733122800" in html


def test_every_state_is_in_the_fixture() -> None:
    document = fixture_document()
    rows = {r["id"]: r for r in document["specs"]}
    assert {r["status"] for r in rows.values()} >= {"applied", "pending", "failed", "unknown", "removed",
                                                    "not applied"}
    assert {r["git"] for r in rows.values()} == set(report.GIT_STATES)
    assert document["summary"]["queue"]["withdrawn"] == 1 and rows["team-a/retired"]["queue_state"] == "withdrawn"
    assert [m["slot"] for m in document["schedules"][0]["missed"]] == ["2026-11-27T02:17:00Z",
                                                                        "2026-11-30T02:17:00Z"]
    assert document["previews"] and document["previews"][0]["pr"] == "pr-7"
    assert {r["group"] for r in rows.values() if r["cell"]} == {"sweep"}
    reasons = {(a["id"], a["reason"].split(":")[0].split(" (")[0]) for a in document["attention"]}
    assert ("team-a/failed", "failed") in reasons
    assert ("team-a/unknown", "unknown") in reasons
    assert ("team-a/pending", "pending in the ledger for more than 24 h") in reasons
    assert ("team-a/waiting", "queue item pending for more than 24 h") in reasons
    assert ("team-b/stuck", "withdraw not honoured") in reasons
    assert ("launches/broken.yaml", "invalid spec file") in reasons
    assert ("team-a/failed", "invalid spec file") in reasons
    # a recent pending item, a withdrawn one and a running current one need nothing
    assert not rows["team-b/edited"]["attention"] and not rows["team-a/applied"]["attention"]
    assert not rows["team-b/kept"]["attention"]  # a superseded item already running is kept on purpose
    quiet = report.build(*fixture()[:3], NOW, withdraw=False)
    assert not any(a["reason"].startswith("withdraw") for a in quiet["attention"])
    ledger, specs, problems, _ = fixture()
    stuck = specs["team-b/stuck"]
    specs["team-b/stuck"] = Spec(stuck.id, stuck.source, stuck.launch, stuck.digest, lifecycle={"withdraw": False})
    kept = {r["id"]: r for r in report.build(ledger, specs, problems, NOW)["specs"]}
    assert not kept["team-b/stuck"]["attention"]  # its spec keeps its items: nothing was to be withdrawn
    assert rows["team-a/applied"]["run_url"] == "https://wandb.ai/acme/evals/runs/r4nd0m1d"


def test_secrets_are_masked_in_the_document() -> None:
    text = json.dumps(fixture_document())
    assert SECRET not in text and '"api_key": "***"' in text and '"max_new_tokens": 128' in text


def test_wandb_app_url() -> None:
    assert report.wandb_app_url({}) == "https://wandb.ai"
    assert report.wandb_app_url({"WANDB_BASE_URL": "https://api.wandb.ai/"}) == "https://wandb.ai"
    assert report.wandb_app_url({"WANDB_BASE_URL": "http://wandb.corp:8080"}) == "http://wandb.corp:8080"
    assert report.wandb_app_url({"WANDB_BASE_URL": "javascript:alert(1)"}) == "https://wandb.ai"


# ---- the page, parsed -----------------------------------------------------------------------------

class _Page(HTMLParser):
    """What a reader sees: text, elements, attributes that fetch or link, and the count tiles."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.tags: list[str] = []
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.tiles: list[tuple[str, str]] = []  # (axis, "<n> <state>")
        self._tile: list[str] | None = None
        self._axis = ""
        self._in_axis = False
        self.ids: list[str] = []
        self.styles: list[str] = []
        self._style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        for name, value in attrs:
            if name in ("src", "href", "action", "srcset", "poster", "data", "formaction", "background") and value:
                self.urls.append((tag, name, value))
            if name == "style":
                self.styles.append(value or "")
        classes = (values.get("class") or "").split()
        if "tile" in classes:
            self._tile = []
        if "axis" in classes:
            self._in_axis, self._axis = True, ""
        if tag == "style":
            self._style = True
        if tag == "table":
            self._table = values.get("id")
        if self._first_cell and self._table == "specs" and tag == "td":
            self._key = values.get("data-v") or ""  # the id, or its label's text below
            self.ids.append(self._key)
        self._first_cell = tag == "tr" and "gh" not in classes  # a matrix heading row is not a spec

    _first_cell = False
    _table: str | None = None
    _key: str | None = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self._tile is not None:
            self.tiles.append((self._axis, " ".join(self._tile)))
            self._tile = None
        if tag == "div":
            self._in_axis = False
        if tag == "style":
            self._style = False

    def handle_data(self, data: str) -> None:
        if self._style:
            self.styles.append(data)
            return
        self.text.append(data)
        if self._key == "" and self.ids:
            self.ids[-1] = data
        self._key = None
        if self._tile is not None and data.strip():
            self._tile.append(data.strip())
        if self._in_axis:
            self._axis += data


def _parse(html: str) -> _Page:
    parsed = _Page()
    parsed.feed(html)
    parsed.close()
    return parsed


def test_page_passes_the_parser_check() -> None:
    document = fixture_document()
    html = page(document)
    parsed = _parse(html)
    text = "".join(parsed.text)
    # every spec id is on the page, as text and as its row's sort key
    for row in document["specs"]:
        assert row["id"] in text
    assert sorted(parsed.ids) == sorted(r["id"] for r in document["specs"])
    # the counts on top are status.json's
    tiles = {(axis, shown.split(" ", 1)[1]): int(shown.split(" ", 1)[0]) for axis, shown in parsed.tiles}
    summary = document["summary"]
    assert {state: n for (axis, state), n in tiles.items() if axis == "Ledger status"} == summary["status"]
    assert {state: n for (axis, state), n in tiles.items() if axis == "Git vs ledger"} == summary["git"]
    assert {state: n for (axis, state), n in tiles.items() if axis.startswith("Queue state")} == summary["queue"]
    assert f"Needs attention ({summary['attention']})" in text
    # no external URL: nothing fetched, only links to W&B runs and anchors on the page
    assert all(tag == "a" and attr == "href" for tag, attr, _ in parsed.urls), parsed.urls
    for _, _, url in parsed.urls:
        assert url.startswith("#") or url.startswith("https://wandb.ai/"), url
    assert not re.search(r"url\(|@import|\bfetch\(|XMLHttpRequest|\bimport\(", html)
    assert "default-src 'none'" in html and parsed.tags.count("script") == 1 and "link" not in parsed.tags
    # a hostile spec id and config value are text, once each where shown, never markup
    assert HOSTILE in text and html.count("<script>") == 1 and "&lt;script&gt;alert(1)" in html
    # secrets masked; an ordinary key that has "token" in it is not
    assert SECRET not in html and '"api_key": "***"' in text and '"max_new_tokens": 128' in text


def test_page_is_deterministic_and_small_strings_stay_escaped() -> None:
    document = fixture_document()
    assert page(document) == page(json.loads(json.dumps(document)))
    document["specs"][0]["queue"] = '"><img src=x onerror=alert(1)>'
    document["specs"][0]["source"] = "a\x1b[31m\u2028b"
    html = page(document)
    assert "<img" not in html and "&quot;&gt;&lt;img" in html and "\\x1b[31m\\u2028b" in html


# ---- the command ----------------------------------------------------------------------------------

def test_report_command_end_to_end(empty_repo: Path, tmp_path: Path) -> None:
    write(empty_repo, "launches/a.yaml", yaml.safe_dump({"apiVersion": "launchops/v1", "launch": {
        "job": "acme/x/y:v1", "queue_name": "q", "config": {"note": HOSTILE, "api_key": SECRET}}}))
    write(empty_repo, "launches/b.yaml", "apiVersion: launchops/v1\nlaunch: {job: acme/x/z:v1, queue_name: q}\n")
    commit_all(empty_repo)
    assert cli(empty_repo, "apply", "--yes").exit_code == 0
    write(empty_repo, "launches/b.yaml", "apiVersion: launchops/v1\nlaunch: {job: acme/x/z:v2, queue_name: q}\n")
    write(empty_repo, "launches/c.yaml", "apiVersion: launchops/v1\nlaunch: {job: acme/x/c:v1, queue_nam: q}\n")
    out = tmp_path / "site"
    result = cli(empty_repo, "report", "--html", str(out), "--now", "2026-12-02T08:00:00Z")
    assert result.exit_code == 0, result.output
    assert "3 specs, 1 need attention" in result.output
    document = json.loads((out / "status.json").read_text(encoding="utf-8"))
    assert document["format_version"] == 1 and document["generated_at"] == "2026-12-02T08:00:00Z"
    assert {r["id"]: r["git"] for r in document["specs"]} == {"a": "in sync", "b": "changed",
                                                              "launches/c.yaml": "invalid"}
    html = (out / "index.html").read_text(encoding="utf-8")
    assert SECRET not in html and SECRET not in json.dumps(document) and "&lt;script&gt;" in html
    first = html
    assert cli(empty_repo, "report", "--html", str(out), "--now", "2026-12-02T08:00:00Z").exit_code == 0
    assert (out / "index.html").read_text(encoding="utf-8") == first  # deterministic with --now
    bad = cli(empty_repo, "report", "--html", str(out), "--now", "yesterday")
    assert bad.exit_code == 2 and "ISO 8601" in bad.output


def test_report_groups_matrix_cells_and_shows_schedules(empty_repo: Path, tmp_path: Path) -> None:
    """Real matrix and schedule specs through apply: the cells under their spec, the slot record."""
    write(empty_repo, "launches/sweep.yaml", "apiVersion: launchops/v1\nmatrix:\n  axes: {lr: [0.1, 0.01], seed: [0, 1]}\n"
          "launch:\n  job: acme/llm/train:v3\n  queue_name: gpu\n"
          "  config: {lr: '${matrix.lr}', seed: '${matrix.seed}'}\n")
    write(empty_repo, "launches/nightly.yaml", "apiVersion: launchops/v1\nschedule:\n  cron: '17 3 * * *'\n"
          "launch: {job: acme/llm/eval:v1, queue_name: gpu}\n")
    commit_all(empty_repo)
    assert cli(empty_repo, "apply", "--yes").exit_code == 0
    out = tmp_path / "site"
    assert cli(empty_repo, "report", "--html", str(out)).exit_code == 0
    document = json.loads((out / "status.json").read_text(encoding="utf-8"))
    cells = [r for r in document["specs"] if r["group"] == "sweep"]
    assert len(cells) == 4 and all(r["cell"] and r["id"].startswith("sweep[") for r in cells)
    assert [s["id"] for s in document["schedules"]] == ["nightly"] and document["schedules"][0]["next"]
    html = (out / "index.html").read_text(encoding="utf-8")
    assert html.count('<tr class="cell') == 4 and "matrix · 4 cells" in html and 'id="schedules"' in html


def test_report_reads_open_previews_from_the_preview_branch(empty_repo: Path, tmp_path: Path) -> None:
    """The preview ledger as reconciler.preview writes it: `pr-N/ledger.json` on an orphan branch;
    a closed pull request's record is left out."""
    _, _, _, previews = fixture()
    closed = {**previews["pr-7"], "pr": 8, "state": "closed"}

    def blob(text: str) -> str:
        return subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=empty_repo, input=text, text=True,
                              capture_output=True, check=True).stdout.strip()

    def tree(entries: str) -> str:
        return subprocess.run(["git", "mktree"], cwd=empty_repo, text=True, capture_output=True, check=True,
                              input=entries).stdout.strip()

    folders = {name: tree(f"100644 blob {blob(json.dumps(record))}\tledger.json\n")
               for name, record in (("pr-7", previews["pr-7"]), ("pr-8", closed))}
    root = tree(f"100644 blob {blob('{}')}\t_previews.json\n"
                + "".join(f"040000 tree {sha}\t{name}\n" for name, sha in folders.items()))
    git(empty_repo, "update-ref", "refs/heads/launchops/previews", git(empty_repo, "commit-tree", root, "-m", "p").strip())
    out = tmp_path / "site"
    assert cli(empty_repo, "report", "--html", str(out), "--now", "2026-12-02T08:00:00Z").exit_code == 0
    document = json.loads((out / "status.json").read_text(encoding="utf-8"))
    assert [(p["pr"], p["id"], p["queue_state"]) for p in document["previews"]] == [
        ("pr-7", "team-a/applied", "pending")]


# ---- the page in a real browser -------------------------------------------------------------------

def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("chromium is not installed: `apt-get install -y chromium` (.ci/run installs it); "
                "the status page is tested in a real browser")


def _above_nine(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return moved


class Browser:
    """A minimal DevTools-protocol client over chromium's pipe (fd 3: commands in, fd 4: out)."""

    def __init__(self, profile: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # the child's ends above 9, so that neither is 3 or 4, which the shell below overwrites
        to_chrome_r, from_chrome_w = (_above_nine(fd) for fd in (to_chrome_r, from_chrome_w))

        # chromium reads the protocol on fd 3 and writes on fd 4: the shell puts the pipe ends there
        # (a preexec dup2 would be undone by Popen closing every descriptor not passed)
        wire = f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w} {to_chrome_r}<&- {from_chrome_w}>&-'
        self.proc = subprocess.Popen(
            ["bash", "-c", wire, chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             f"--user-data-dir={profile}", "--no-first-run", "--disable-extensions", "--disable-background-networking",
             "--disable-sync", "--disable-component-update", "--hide-scrollbars", "about:blank"],
            pass_fds=(to_chrome_r, from_chrome_w), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._answers: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._next = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.session = ""

    def _read(self) -> None:
        buffer = b""
        while True:
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message and message["id"] in self._answers:
                    self._answers[message["id"]].put(message)
                else:
                    self.events.put(message)

    def send(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        self._next += 1
        answer: queue.Queue[dict[str, Any]] = queue.Queue()
        self._answers[self._next] = answer
        message = {"id": self._next, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        result = answer.get(timeout=timeout)
        assert "error" not in result, (method, result["error"])
        return result.get("result", {})

    def wait_event(self, method: str, timeout: float = 30) -> dict[str, Any]:
        seen = []
        while True:
            event = self.events.get(timeout=timeout)
            seen.append(event)
            if event.get("method") == method:
                for other in seen[:-1]:
                    self.events.put(other)
                return event

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions and browser log errors (CSP violations, failed loads)."""
        out = []
        while not self.events.empty():
            event = self.events.get()
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
                out.append(f"console.{params['type']}: {params.get('args')}")
            elif method == "Runtime.exceptionThrown":
                out.append(f"exception: {params.get('exceptionDetails')}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
                out.append(f"log: {params['entry'].get('text')}")
        return out

    def close(self) -> None:
        try:
            self.session = ""
            self.send("Browser.close", timeout=5)
        except Exception:  # noqa: BLE001 - already gone; the kill below ends it
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    chrome = Browser(tmp_path / "profile")
    try:
        target = chrome.send("Target.createTarget", url="about:blank")["targetId"]
        chrome.session = chrome.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            chrome.send(f"{domain}.enable")
        chrome.send("Emulation.setDeviceMetricsOverride", width=1360, height=1000, deviceScaleFactor=1, mobile=False)
        yield chrome
    finally:
        chrome.close()


def _open(browser: Browser, path: Path) -> None:
    browser.send("Page.navigate", url=path.as_uri())
    browser.wait_event("Page.loadEventFired")


def _column(browser: Browser, table: str = "specs") -> list[str]:
    return browser.evaluate(f"Array.from(document.querySelectorAll('#{table} tbody tr:not(.gh)'))"
                            ".map(r => r.cells[0].dataset.v || r.cells[0].firstChild.textContent)")


def _click(browser: Browser, header: str) -> None:
    browser.evaluate("Array.from(document.querySelectorAll('#specs th button'))"
                     f".find(b => b.textContent === {json.dumps(header)}).click()")


def test_page_in_a_real_browser(browser: Browser, tmp_path: Path) -> None:
    site = tmp_path / "site"
    report.write(site, fixture_document())
    _open(browser, site / "index.html")
    assert browser.problems() == []
    assert browser.evaluate("document.title").startswith("launchops status")
    # the hostile id is text: no alert ran, no element came from it
    assert browser.evaluate("document.querySelectorAll('script').length") == 1
    assert HOSTILE in browser.evaluate("document.body.innerText")
    ids = sorted(r["id"] for r in fixture_document()["specs"])

    _click(browser, "Spec")
    assert _column(browser) == ids
    _click(browser, "Spec")
    shown = _column(browser)
    # descending by spec; a matrix spec's cells stay together under their heading
    groups = [i.split("[")[0] for i in shown]
    assert groups == sorted(groups, reverse=True) and shown != ids
    assert browser.evaluate("document.querySelector('#specs th[aria-sort]').textContent") == "Spec"
    _click(browser, "Status")
    statuses = browser.evaluate("Array.from(document.querySelectorAll('#specs tbody')).map("
                                "b => b.querySelector('tr:not(.gh)').cells[2].textContent)")
    assert statuses == sorted(statuses)
    cells = browser.evaluate("Array.from(document.querySelectorAll('#specs tbody.matrix tr.cell'))"
                             ".map(r => r.parentNode === document.querySelector('#specs tbody.matrix'))")
    assert cells == [True, True, True]
    assert browser.problems() == []

    _click(browser, "Spec")  # back to the order a reader expects
    shot = browser.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    png = base64.b64decode(shot["data"])
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    (tmp_path / "report.png").write_bytes(png)
    artifacts = ROOT / ".artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "report.png").write_bytes(png)


def test_a_large_page_shows_a_page_of_specs_and_sorts_them_all(browser: Browser, tmp_path: Path) -> None:
    """Past 500 specs the table shows a page at a time (a browser lays out 10,000 rows slowly);
    sorting sorts every spec, the button shows the next page, an attention link shows its row."""
    from benchmarks.report import NOW as BENCH_NOW, fixture as bench_fixture

    ledger, specs, previews = bench_fixture(1200)
    document = report.build(ledger, specs, (), BENCH_NOW, report.preview_rows(previews))
    report.write(tmp_path / "site", document)
    _open(browser, tmp_path / "site" / "index.html")
    assert browser.problems() == []
    visible = "Array.from(document.querySelectorAll('#specs tbody')).filter(b => !b.hidden).length"
    total = browser.evaluate("document.querySelectorAll('#specs tbody').length")
    assert browser.evaluate(visible) == 500 and total > 1000
    _click(browser, "Spec")
    _click(browser, "Spec")  # descending: the last id of all specs comes first, not the last of the first page
    assert _column(browser)[0] == max(r["id"] for r in document["specs"])
    assert browser.evaluate(visible) == 500
    assert browser.evaluate("Array.from(document.querySelectorAll('#specs tbody')).slice(0, 500).every(b => !b.hidden)")
    browser.evaluate("document.getElementById('more').click()")
    assert browser.evaluate(visible) == min(1000, total)
    # a link in the attention list to a row not shown yet shows it
    target = browser.evaluate(
        "(function(){var a=Array.from(document.querySelectorAll('#attention a')).find(a => "
        "document.getElementById(decodeURIComponent(a.hash.slice(1))).parentNode.hidden);"
        "if(!a)return null;a.click();return decodeURIComponent(a.hash.slice(1));})()")
    assert target is not None
    assert browser.evaluate(f"document.getElementById({json.dumps(target)}).parentNode.hidden") is False
    assert browser.problems() == []


def test_a_blocked_external_load_is_seen(browser: Browser, tmp_path: Path) -> None:
    """The console check can fail: a page that tries to load something from outside logs an error."""
    site = tmp_path / "site"
    report.write(site, fixture_document())
    html = (site / "index.html").read_text(encoding="utf-8")
    (site / "index.html").write_text(html.replace("</main>", '<img src="http://127.0.0.1:9/x.png"></main>'),
                                     encoding="utf-8")
    _open(browser, site / "index.html")
    assert any("Content Security Policy" in p or "img-src" in p for p in browser.problems())


# ---- CI and the workflow --------------------------------------------------------------------------

def test_ci_installs_chromium() -> None:
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "apt-get install" in run and "chromium" in run


def test_sync_workflow_writes_and_uploads_the_page() -> None:
    text = (ROOT / ".github/workflows/launchops-sync.yml").read_text(encoding="utf-8")
    doc = yaml.load(text, Loader=yaml.BaseLoader)
    steps = doc["jobs"]["sync"]["steps"]
    names = [s.get("name") for s in steps]
    report_step = steps[names.index("Status page")]
    assert "launchops report --html" in report_step["run"].replace('"', "").replace("$RUNNER_TEMP/launchops-venv/bin/", "")
    upload = steps[names.index("Upload the status page")]
    assert upload["uses"].startswith("actions/upload-artifact@")
    # Pages is opt-in: its job runs only when the repository variable says so
    pages = doc["jobs"].get("pages")
    assert pages is not None and "vars.LAUNCHOPS_PAGES" in pages["if"]
    assert "pages" not in doc["jobs"]["sync"]["permissions"]


def test_ten_thousand_specs_make_a_page_under_five_megabytes() -> None:
    """The size half of benchmarks/report.py, which also times it: sizes do not depend on the machine."""
    from benchmarks.report import MAX_BYTES, NOW as BENCH_NOW, fixture as bench_fixture

    ledger, specs, previews = bench_fixture()
    html = page(report.build(ledger, specs, (), BENCH_NOW, report.preview_rows(previews)))
    assert len(html.encode("utf-8")) <= MAX_BYTES
    assert html.count("<tr") >= 10_000 and "launch arguments are in status.json" in html
