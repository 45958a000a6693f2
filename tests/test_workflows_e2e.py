"""Plays the three launchops workflows with git alone.

A bare repository stands in for GitHub ("origin"). Each job runs in a fresh runner workspace: the
checkout is done the way actions/checkout does it (shallow fetch of the ref), the launchops action's
own scripts run with its inputs (its setup-python step is replaced by the interpreter running the
tests; its install step installs from the committed hash-locked requirements, once per test session,
from a folder of the locked wheels), and the workflows' `run:` steps run as written, with the
environment a GitHub runner sets (GITHUB_ACTIONS, GITHUB_EVENT_NAME, GITHUB_STEP_SUMMARY, ...).
The backend is the local one; each runner workspace has its own embedded queue, so "enqueued once"
is checked over the queues of every runner together.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import read_ledger

ROOT = Path(__file__).resolve().parent.parent
MARKER = "<!-- launchops-plan -->"
LEDGER = ".launchops/ledger"
BRANCH = "main"

SPEC_A = """\
apiVersion: launchops/v1
description: Nightly eval
launch:
  job: acme/evals/eval-job:v3
  priority: high
  config:
    overrides:
      run_config:
        lr: 0.001
"""
SPEC_A_CHANGED = SPEC_A.replace("lr: 0.001", "lr: 0.002")
SPEC_B = """\
apiVersion: launchops/v1
launch:
  docker_image: acme/train:1.4
  template_variables: {gpus: 2}
"""
DEFAULTS = """\
launch:
  entity: acme
  project: evals
  queue_name: gpu-a100
"""
SETTINGS = 'backend = "local"\n'

# A fresh runner has no git identity; the harness's own commits (the "humans") name one.
HUMAN = ["-c", "user.name=Dev", "-c", "user.email=dev@example.com", "-c", "commit.gpgsign=false"]


def git(cwd: Path, *args: str, env: dict | None = None) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env or _git_env())
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stdout}{result.stderr}"
    return result.stdout


def _git_env(home: Path | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "GITHUB_", "LAUNCHOPS_", "RUNNER_"))}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_TERMINAL_PROMPT="0")
    env.pop("WANDB_API_KEY", None)
    if home is not None:
        env["HOME"] = str(home)
    return env


def github_paths_match(path: str, pattern: str) -> bool:
    """GitHub's filter glob: `**` crosses folders, `*` does not."""
    regex = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            regex += ".*"
            i += 2
        elif pattern[i] == "*":
            regex += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            regex += "[^/]"
            i += 1
        else:
            regex += re.escape(pattern[i])
            i += 1
    return re.fullmatch(regex, path) is not None


def load_yaml(path: Path) -> dict:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)


class Origin:
    """The GitHub repository: a bare git repository, plus what GitHub would decide on a push."""

    def __init__(self, tmp: Path):
        self.path = tmp / "origin.git"
        self.url = self.path.as_uri()
        git(tmp, "init", "--quiet", "--bare", "--initial-branch", BRANCH, str(self.path))

    def rev(self, ref: str = BRANCH) -> str:
        return git(self.path, "rev-parse", ref).strip()

    def changed_files(self, old: str, new: str) -> list[str]:
        return git(self.path, "diff", "--name-only", old, new).split()

    def show(self, ref: str, path: str) -> str:
        return git(self.path, "show", f"{ref}:{path}")

    def triggers(self, workflow: str, old: str, new: str) -> bool:
        """Would a push from `old` to `new` on main start this workflow (branch and path filters)?"""
        on = load_yaml(ROOT / ".github" / "workflows" / workflow)["on"]
        if "push" not in on:
            return False
        push = on["push"] or {}
        if BRANCH not in push.get("branches", [BRANCH]):
            return False
        if "[skip ci]" in git(self.path, "log", "-1", "--format=%B", new):
            return False
        paths = push.get("paths")
        if paths is None:
            return True
        return any(github_paths_match(f, p) for f in self.changed_files(old, new) for p in paths)


class Developer:
    """A clone where a person edits specs and pushes."""

    def __init__(self, tmp: Path, origin: Origin, name: str):
        self.path = tmp / name
        git(tmp, "clone", "--quiet", origin.url, str(self.path))

    def write(self, rel: str, text: str) -> None:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def commit(self, message: str) -> str:
        git(self.path, "add", "-A")
        git(self.path, *HUMAN, "commit", "--quiet", "-m", message)
        return git(self.path, "rev-parse", "HEAD").strip()

    def git(self, *args: str) -> str:
        return git(self.path, *HUMAN, *args)


class Expressions:
    """The few `${{ }}` expressions the workflows and the action use, with a runner's values."""

    def __init__(self, values: dict[str, str]):
        self.values = values

    def __call__(self, text: str) -> str:
        def one(match: re.Match) -> str:
            expr = match.group(1).strip()
            if expr.startswith("secrets."):
                return self.values.get(expr, "")  # a secret that is not set is empty
            if expr not in self.values:
                raise AssertionError(f"expression not known to the test harness: {expr}")
            return self.values[expr]

        return re.sub(r"\$\{\{(.*?)\}\}", one, str(text))


class Runner:
    """One job on a fresh GitHub-hosted runner."""

    venv: Path  # the action's virtual environment, installed once per session (action_venv)

    def __init__(self, tmp: Path, origin: Origin, name: str, event: str, ref: str, secrets: dict | None = None,
                 open_prs: str = ""):
        self.origin = origin
        self.base = tmp / name
        self.workspace = self.base / "work"
        self.temp = self.base / "temp"
        self.home = self.base / "home"
        for d in (self.workspace, self.temp, self.home):
            d.mkdir(parents=True)
        self.summary = self.temp / "step_summary.md"
        self.summary.touch()
        self.event = event
        self.ref = ref
        self.secrets = secrets or {}
        self.outputs: dict[str, dict[str, str]] = {}
        self.log: list[tuple[str, int, str, str]] = []
        # What the action's install step made (action_venv, below); the step itself finds it
        # installed and says so, as on a second use of the action in a job.
        (self.temp / "launchops-venv").symlink_to(Runner.venv, target_is_directory=True)
        # `gh` talks to GitHub's API, which cannot run here: this one answers `gh pr list … --jq …`
        # with the open pull requests' numbers, as GitHub would.
        self.bin = self.base / "bin"
        self.bin.mkdir()
        gh = self.bin / "gh"
        gh.write_text(f"#!/bin/sh\necho '{open_prs}'\n")
        gh.chmod(0o755)

    # -- the environment of a runner --------------------------------------------------------------
    def env(self, step_env: dict[str, str], output_file: Path) -> dict[str, str]:
        env = _git_env(self.home)
        pythonpath = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        env.update(
            CI="true",
            GITHUB_ACTIONS="true",
            GITHUB_EVENT_NAME=self.event,
            GITHUB_REF=self.ref,
            GITHUB_REF_NAME=self.ref.rsplit("/", 1)[-1] if self.ref.startswith("refs/heads/") else self.ref,
            GITHUB_SHA=self._head(),
            GITHUB_REPOSITORY="acme/launches",
            GITHUB_SERVER_URL="https://github.com",
            GITHUB_RUN_ID="1",
            GITHUB_WORKSPACE=str(self.workspace),
            GITHUB_STEP_SUMMARY=str(self.summary),
            GITHUB_OUTPUT=str(output_file),
            RUNNER_TEMP=str(self.temp),
            PYTHONPATH=os.pathsep.join(pythonpath),
        )
        env["PATH"] = f"{self.bin}:{env.get('PATH', '')}"
        env.update(step_env)
        return env

    def _head(self) -> str:
        if not (self.workspace / ".git").exists():
            return ""
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=self.workspace, capture_output=True, text=True)
        return result.stdout.strip()

    def expressions(self, extra: dict[str, str] | None = None) -> Expressions:
        values = {
            "runner.temp": str(self.temp),
            "github.ref": self.ref,
            "github.ref_name": self.ref.rsplit("/", 1)[-1],
            "github.workspace": str(self.workspace),
            "github.token": "token",
            **{f"secrets.{k}": v for k, v in self.secrets.items()},
            **{f"steps.{step}.outputs.{k}": v for step, out in self.outputs.items() for k, v in out.items()},
        }
        values.update(extra or {})
        return Expressions(values)

    # -- steps ------------------------------------------------------------------------------------
    def checkout(self, ref: str) -> None:
        """What actions/checkout does: a shallow fetch of one ref, then check it out."""
        w = self.workspace
        env = _git_env(self.home)
        git(w, "init", "--quiet", env=env)
        git(w, "remote", "add", "origin", self.origin.url, env=env)
        if ref.startswith("refs/heads/"):
            branch = ref[len("refs/heads/"):]
            git(w, "fetch", "--quiet", "--no-tags", "--depth=1", "origin", f"+{ref}:refs/remotes/origin/{branch}", env=env)
            git(w, "checkout", "--quiet", "--force", "-B", branch, f"refs/remotes/origin/{branch}", env=env)
        else:
            git(w, "fetch", "--quiet", "--no-tags", "--depth=1", "origin", f"+{ref}:{ref.replace('refs/', 'refs/remotes/', 1)}", env=env)
            git(w, "checkout", "--quiet", "--force", "--detach", ref.replace("refs/", "refs/remotes/", 1), env=env)

    def run_job(self, workflow: str, job: str, before: dict | None = None) -> dict[str, str]:
        """Runs every step of a job; returns {step id or name: "success" | "failure"}.

        `before` maps a step's id or name to a function called just before it runs (what happens
        elsewhere meanwhile)."""
        doc = load_yaml(ROOT / ".github" / "workflows" / workflow)
        outcomes: dict[str, str] = {}
        for index, step in enumerate(doc["jobs"][job]["steps"]):
            key = step.get("id") or step.get("name") or str(index)
            if before and key in before:
                before[key]()
            uses = step.get("uses", "")
            expr = self.expressions()
            if "vars.LAUNCHOPS_PAGES == 'true'" in str(step.get("if", "")):
                continue  # publishing with Pages is opt-in: the repository variable is not set here
            if uses.startswith("actions/checkout@"):
                ref = expr(step.get("with", {}).get("ref", "")) or self.ref
                self.checkout(ref)
                outcomes[key] = "success"
            elif uses == "./.github/actions/launchops":
                env = {k: expr(v) for k, v in (step.get("env") or {}).items()}
                with_ = {k: expr(v) for k, v in (step.get("with") or {}).items()}
                outcomes[key] = self.run_action(key, with_, env)
            elif uses.startswith("actions/upload-artifact@"):
                # GitHub's artifact store cannot run here: the files are copied where a test can look
                with_ = {k: expr(str(v)) for k, v in (step.get("with") or {}).items()}
                source = Path(with_["path"])
                found = source.exists() and (source.is_file() or any(source.iterdir()))
                if found:
                    shutil.copytree(source, self.base / "artifacts" / with_["name"], dirs_exist_ok=True)
                ok = found or with_.get("if-no-files-found", "warn") != "error"
                outcomes[key] = "success" if ok else "failure"
            elif "run" in step:
                env = {k: expr(v) for k, v in (step.get("env") or {}).items()}
                code = self.bash(key, step["run"], env)
                outcomes[key] = "success" if code == 0 else "failure"
            else:
                raise AssertionError(f"{workflow}: the harness cannot play step {key!r} ({uses})")
        return outcomes

    def run_action(self, key: str, with_: dict[str, str], env: dict[str, str]) -> str:
        action = load_yaml(ROOT / ".github" / "actions" / "launchops" / "action.yml")
        inputs = {name: spec.get("default", "") for name, spec in action["inputs"].items()}
        unknown = set(with_) - set(inputs)
        assert not unknown, f"inputs the action does not declare: {unknown}"
        inputs.update(with_)
        expr = self.expressions({**{f"inputs.{k}": v for k, v in inputs.items()},
                                 "github.action_path": str(ROOT / ".github" / "actions" / "launchops"),
                                 "steps.python.outputs.python-path": sys.executable})
        for step in action["runs"]["steps"]:
            if "run" not in step:  # setup-python: the interpreter running the tests
                continue
            step_env = {**env, **{k: expr(v) for k, v in step["env"].items()}}
            logged = key if step.get("id") == "run" else f"{key}: {step['name']}"
            code = self.bash(logged, step["run"], step_env, cwd=self.workspace)
            if code != 0:
                return "failure"
        return "success"

    def bash(self, key: str, script: str, step_env: dict[str, str], cwd: Path | None = None) -> int:
        output_file = self.temp / f"output_{len(self.log)}"
        output_file.touch()
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=cwd or self.workspace,
            env=self.env(step_env, output_file),
            capture_output=True,
            text=True,
            timeout=300,
        )
        self.log.append((key, result.returncode, result.stdout, result.stderr))
        self.outputs[key] = parse_github_output(output_file.read_text(encoding="utf-8"))
        return result.returncode

    def transcript(self) -> str:
        return "\n".join(f"--- {k} (exit {c})\n{o}{e}" for k, c, o, e in self.log)

    def queue_items(self) -> list[dict]:
        if not (self.workspace / ".git").exists():
            return []
        result = subprocess.run(
            [sys.executable, "-m", "reconciler", "-C", str(self.workspace), "queue", "list", "--format", "json"],
            capture_output=True,
            text=True,
            env=self.env({}, self.temp / "unused"),
        )
        assert result.returncode == 0, result.stdout + result.stderr
        document = json.loads(result.stdout)
        assert document["format_version"] == 1
        return document["items"]


def parse_github_output(text: str) -> dict[str, str]:
    """The GITHUB_OUTPUT file format: `name=value` lines and `name<<DELIMITER` blocks."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            i += 1
            while lines[i] != delimiter:
                body.append(lines[i])
                i += 1
            values[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
        i += 1
    return values


def ledger_ids(ledger: dict) -> set[str]:
    return {run["id"] for entry in ledger["specs"].values() for run in entry["queued_runs"]}


# The comment job's github-script, run with node against an in-memory pull request: the same
# `github`, `context` and `core` objects actions/github-script hands to a script, reduced to the
# calls the script makes.
COMMENT_HARNESS = r"""
const fs = require('fs');
const [statePath, scriptPath] = process.argv.slice(2);
const state = JSON.parse(fs.readFileSync(statePath, 'utf8'));
const issues = {
  listComments: async ({issue_number}) => ({data: state.comments.filter((c) => c.issue_number === issue_number)}),
  updateComment: async ({comment_id, body}) => {
    const c = state.comments.find((c) => c.id === comment_id); c.body = body; return {data: c};
  },
  createComment: async ({issue_number, body}) => {
    const c = {id: state.comments.length + 1, issue_number, body, user: {login: 'github-actions[bot]', type: 'Bot'},
               html_url: `https://github.com/acme/launches/pull/${issue_number}#c`};
    state.comments.push(c); return {data: c};
  },
};
const github = {rest: {issues}, paginate: async (fn, args) => (await fn(args)).data};
const context = {serverUrl: 'https://github.com', runId: 1, repo: {owner: 'acme', repo: 'launches'},
                 payload: {pull_request: {number: 1}}};
const core = {info: (m) => console.log(m)};
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction('github', 'context', 'core', fs.readFileSync(scriptPath, 'utf8'))(github, context, core)
  .then(() => fs.writeFileSync(statePath, JSON.stringify(state)))
  .catch((e) => { console.error(e); process.exit(1); });
"""


def play_comment_job(tmp: Path, markdown: str, plan_result: str) -> list[dict]:
    """Runs the preview workflow's comment step; returns the pull request's comments after it."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is needed to run the comment job's github-script")
    doc = load_yaml(ROOT / ".github" / "workflows" / "launchops-preview.yml")
    (step,) = doc["jobs"]["comment"]["steps"]
    assert step["env"] == {
        "PLAN_MARKDOWN": "${{ needs.plan.outputs.markdown }}",
        "PLAN_RESULT": "${{ needs.plan.result }}",
        "COMMENT_AUTHOR": "github-actions[bot]",
    }
    state, script, harness = tmp / "pr-comments.json", tmp / "comment-script.js", tmp / "comment-harness.js"
    if not state.exists():
        state.write_text(json.dumps({"comments": [
            {"id": 100, "issue_number": 1, "body": "Looks good", "user": {"login": "dev", "type": "User"}},
            # comments that start with the marker but are not the workflow's: never edited
            {"id": 101, "issue_number": 1, "body": f"{MARKER}\nforged by a person", "user": {"login": "mallory",
                                                                                              "type": "User"}},
            {"id": 102, "issue_number": 1, "body": f"{MARKER}\nanother app", "user": {"login": "other[bot]",
                                                                                     "type": "Bot"}},
        ]}))
    script.write_text(step["with"]["script"])
    harness.write_text(COMMENT_HARNESS)
    env = _git_env()
    env.update(PLAN_MARKDOWN=markdown, PLAN_RESULT=plan_result, COMMENT_AUTHOR=step["env"]["COMMENT_AUTHOR"])
    result = subprocess.run([node, str(harness), str(state), str(script)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(state.read_text())["comments"]


LOCK = ROOT / ".github" / "actions" / "launchops" / "requirements-wandb.txt"


def _wheelhouse() -> Path:
    """The locked wheels, which `make test` downloads at install time (pip checks every hash), so
    that this test reaches no address but 127.0.0.1."""
    wheels = os.environ.get("LAUNCHOPS_WHEELHOUSE")
    assert wheels and Path(wheels).is_dir(), (
        "LAUNCHOPS_WHEELHOUSE must name the folder of the action's locked wheels: run `make test`, "
        f"which downloads them from {LOCK.relative_to(ROOT)}")
    return Path(wheels)


@pytest.fixture(scope="session", autouse=True)
def action_venv(tmp_path_factory):
    """Runs the action's install step as written: a virtualenv, the hash-locked requirements (wheels
    only, no index: from the wheelhouse), launchops built from a copy of this checkout with the
    pinned setuptools, and `pip check`. Every runner of the session then uses that virtualenv."""
    base = tmp_path_factory.mktemp("action")
    src = base / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("reconciler", ".github"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    action = load_yaml(ROOT / ".github" / "actions" / "launchops" / "action.yml")
    (install,) = [s for s in action["runs"]["steps"] if s.get("name") == "Install launchops"]
    temp = base / "temp"
    temp.mkdir()
    env = _git_env()
    env.update(ACTION_PATH=str(src / ".github" / "actions" / "launchops"), ACTION_PYTHON=sys.executable,
               ACTION_WANDB="true", RUNNER_TEMP=str(temp), PIP_NO_INDEX="1", PIP_FIND_LINKS=str(_wheelhouse()))
    env.pop("PYTHONPATH", None)
    assert set(install["env"]) == {"ACTION_PATH", "ACTION_PYTHON", "ACTION_WANDB"}  # no secret reaches it
    result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", install["run"]], env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    venv = temp / "launchops-venv"
    assert (venv / ".launchops-wandb").exists() and (venv / "bin" / "launchops").exists()
    # launchops runs from the virtualenv alone (not from this checkout): the lock is enough
    probe = subprocess.run([str(venv / "bin" / "python"), "-c", "import reconciler, wandb; print(reconciler.__file__)"],
                           env=env, capture_output=True, text=True, cwd=base)
    assert probe.returncode == 0 and str(venv) in probe.stdout, probe.stdout + probe.stderr
    Runner.venv = venv
    return venv


@pytest.fixture
def world(tmp_path):
    origin = Origin(tmp_path)
    dev = Developer(tmp_path, origin, "dev")
    dev.write("launchops.toml", SETTINGS)
    dev.write("launches/_defaults.yaml", DEFAULTS)
    dev.write("launches/team-a/nightly-eval.yaml", SPEC_A)
    dev.write("README.md", "launch specs\n")
    shutil.copytree(ROOT / ".github", dev.path / ".github")
    dev.commit("Launch specs managed by launchops")
    dev.git("push", "--quiet", "origin", BRANCH)
    return tmp_path, origin, dev


def test_preview_merge_apply_and_sync(world):
    tmp, origin, dev = world
    runners: list[Runner] = []

    def runner(name: str, event: str, ref: str) -> Runner:
        r = Runner(tmp, origin, name, event, ref, secrets={})  # no WANDB_API_KEY: local backend
        runners.append(r)
        return r

    # -- the first push to main: apply enqueues the first spec and pushes the ledger ----------------
    first = runner("apply-1", "push", f"refs/heads/{BRANCH}")
    outcomes = first.run_job("launchops-apply.yml", "apply")
    assert set(outcomes.values()) == {"success"}, first.transcript()
    ledger_1 = read_ledger(origin.path, BRANCH)
    assert set(ledger_1["specs"]) == {"team-a/nightly-eval"}
    assert len(ledger_ids(ledger_1)) == 1

    # -- a pull request: change one spec, add one; the preview job builds the comment -------------
    dev.git("pull", "--quiet", "--ff-only", "origin", BRANCH)
    dev.git("checkout", "--quiet", "-b", "feature")
    dev.write("launches/team-a/nightly-eval.yaml", SPEC_A_CHANGED)
    dev.write("launches/team-b/train.yaml", SPEC_B)
    dev.commit("Raise lr, add training")
    dev.git("push", "--quiet", "origin", "feature")
    # GitHub's refs/pull/1/merge: the pull request merged into its base
    merge_clone = Developer(tmp, origin, "github-merge")
    merge_clone.git("fetch", "--quiet", "origin", "feature")
    merge_clone.git("merge", "--quiet", "--no-ff", "-m", "Merge feature into main", "FETCH_HEAD")
    merge_clone.git("push", "--quiet", "origin", "HEAD:refs/pull/1/merge")

    preview = runner("preview", "pull_request", "refs/pull/1/merge")
    outcomes = preview.run_job("launchops-preview.yml", "plan")
    assert set(outcomes.values()) == {"success"}, preview.transcript()
    validate_log = [entry for entry in preview.log if entry[0] == "validate"][0]
    assert "::error" not in validate_log[2], validate_log
    body = preview.outputs["export"]["markdown"]
    assert body.splitlines()[0] == MARKER
    assert len(body) <= 65535
    assert "team-b/train" in body and "team-a/nightly-eval" in body
    assert "0.002" in body  # the field diff of the update
    assert body.strip() in preview.summary.read_text(encoding="utf-8")  # also in the job summary
    assert preview.queue_items() == []  # a preview never enqueues
    comments = play_comment_job(tmp, body, "success")
    forged = [f"{MARKER}\nforged by a person", f"{MARKER}\nanother app"]
    assert [c["body"] for c in comments] == ["Looks good", *forged, body.strip()]
    git(preview.workspace, "diff", "--exit-code", "HEAD")  # nor writes the ledger

    # an invalid spec on the pull request: annotations on the diff, and the check fails
    dev.write("launches/team-b/broken.yaml", "apiVersion: launchops/v1\nlaunch:\n  queue: gpu\n  job: a/b/c:v1\n")
    dev.commit("Broken spec")
    dev.git("push", "--quiet", "origin", "feature")
    merge_clone.git("reset", "--quiet", "--hard", f"origin/{BRANCH}")
    merge_clone.git("fetch", "--quiet", "origin", "feature")
    merge_clone.git("merge", "--quiet", "--no-ff", "-m", "Merge feature into main", "FETCH_HEAD")
    merge_clone.git("push", "--quiet", "--force", "origin", "HEAD:refs/pull/1/merge")
    broken = runner("preview-broken", "pull_request", "refs/pull/1/merge")
    outcomes = broken.run_job("launchops-preview.yml", "plan")
    assert outcomes["validate"] == "failure", broken.transcript()
    validate_log = [entry for entry in broken.log if entry[0] == "validate"][0]
    annotations = [line for line in validate_log[2].splitlines() if line.startswith("::error ")]
    assert annotations, broken.transcript()
    assert all("file=launches/team-b/broken.yaml" in line for line in annotations), annotations
    assert re.search(r"line=3,col=3[,:].*::.*queue_name", annotations[0]), annotations
    assert broken.queue_items() == []
    # plan fails on invalid specs, but still writes its document: the comment lists the problems
    assert outcomes["plan"] == "failure", broken.transcript()
    assert broken.outputs["export"]["markdown"].startswith(MARKER + "\n")
    comments = play_comment_job(tmp, broken.outputs["export"]["markdown"], "failure")
    assert len(comments) == 4  # the same comment, updated; the others untouched
    assert [c["body"] for c in comments[1:3]] == forged
    assert comments[3]["body"].startswith(MARKER + "\n### launchops plan: the specs are invalid (")
    assert "launches/team-b/broken.yaml&#58;3&#58;3" in comments[3]["body"], comments[3]["body"]
    dev.git("rm", "--quiet", "launches/team-b/broken.yaml")
    dev.commit("Remove the broken spec")
    dev.git("push", "--quiet", "origin", "feature")

    # -- the merge: a push to main that the apply workflow's filter selects -----------------------
    before_merge = origin.rev(BRANCH)
    dev.git("checkout", "--quiet", BRANCH)
    dev.git("pull", "--quiet", "--ff-only", "origin", BRANCH)
    dev.git("merge", "--quiet", "--no-ff", "-m", "Merge pull request #1 from acme/feature", "feature")
    dev.git("push", "--quiet", "origin", BRANCH)
    merged = origin.rev(BRANCH)
    assert origin.triggers("launchops-apply.yml", before_merge, merged)

    apply = runner("apply-2", "push", f"refs/heads/{BRANCH}")
    outcomes = apply.run_job("launchops-apply.yml", "apply")
    assert set(outcomes.values()) == {"success"}, apply.transcript()
    ledger_commit = origin.rev(BRANCH)
    # launchops' own commits on top of the merge (it may record its intent before enqueueing):
    # each touches only .launchops/, carries [skip ci], and would not start the apply workflow
    own = git(origin.path, "rev-list", "--reverse", f"{merged}..{ledger_commit}").split()
    assert own, apply.transcript()
    assert git(origin.path, "rev-parse", f"{own[0]}^").strip() == merged
    for sha in own:
        touched = origin.changed_files(f"{sha}^", sha)
        assert touched and all(f.startswith(".launchops/") for f in touched), touched
        assert "[skip ci]" in git(origin.path, "log", "-1", "--format=%B", sha)
        assert not origin.triggers("launchops-apply.yml", f"{sha}^", sha)
        assert "launchops" in git(origin.path, "log", "-1", "--format=%an <%ae>", sha)
    assert not origin.triggers("launchops-apply.yml", merged, ledger_commit)
    message = git(origin.path, "log", "-1", "--format=%B", ledger_commit)
    ledger_2 = read_ledger(origin.path, BRANCH)
    assert set(ledger_2["specs"]) == {"team-a/nightly-eval", "team-b/train"}
    for spec_id, entry in ledger_2["specs"].items():
        assert entry["status"] == "applied", (spec_id, entry)
        assert f"{spec_id} -> {entry['queued_runs'][-1]['id']}" in message, message
    # the first digest's run belongs to an earlier change and is settled (this runner's fresh local
    # queue does not hold it, so there is nothing to withdraw): compacted out of the shard, its ID
    # is listed in the commit message, and git history keeps it
    runs = ledger_2["specs"]["team-a/nightly-eval"]["queued_runs"]
    assert len(runs) == 1 and runs[0]["digest"] == ledger_2["specs"]["team-a/nightly-eval"]["digest"], runs
    assert all(i in ledger_ids(ledger_2) or i in message for i in ledger_ids(ledger_1)), message

    # -- the scheduled sync, twice: nothing new is enqueued, nothing is lost ----------------------
    for n in (1, 2):
        sync = runner(f"sync-{n}", "schedule", f"refs/heads/{BRANCH}")
        outcomes = sync.run_job("launchops-sync.yml", "sync")
        assert set(outcomes.values()) == {"success"}, sync.transcript()
        assert sync.queue_items() == [], sync.transcript()
        ledger = read_ledger(origin.path, BRANCH)
        assert ledger_ids(ledger) == ledger_ids(ledger_2)
        for sha in git(origin.path, "rev-list", f"{ledger_commit}..{BRANCH}").split():
            files = origin.changed_files(f"{sha}^", sha)
            assert all(f.startswith(".launchops/") for f in files), (sha, files)
            assert not origin.triggers("launchops-apply.yml", f"{sha}^", sha)

    # -- every change was enqueued exactly once, over all the runners' queues ---------------------
    items = [item for r in runners for item in r.queue_items()]
    final = read_ledger(origin.path, BRANCH)
    assert len(items) == 3, items  # a@digest1, a@digest2, b
    assert len({item["id"] for item in items}) == 3
    # the ledger holds what is current; the first digest's run is in the commit that compacted it
    assert ledger_ids(final) | ledger_ids(ledger_1) == {item["id"] for item in items}
    per_change = {}
    for spec_id, entry in final["specs"].items():
        for run in entry["queued_runs"]:
            per_change.setdefault((spec_id, run["digest"]), []).append(run["id"])
    assert all(len(ids) == 1 for ids in per_change.values()), per_change


@pytest.mark.parametrize("ledger_exists", [False, True], ids=["first-apply", "later-apply"])
def test_main_moves_while_apply_runs(world, ledger_exists):
    """Someone pushes to main while the apply job runs. Whether that run gets its ledger onto main
    or stops without enqueueing (failing visibly), after the next sync every change is enqueued
    exactly once and its QueuedRun ID is on main, and the other person's commit is kept."""
    tmp, origin, dev = world
    runners = []
    expected = 1
    if ledger_exists:
        runners.append(Runner(tmp, origin, "apply-0", "push", f"refs/heads/{BRANCH}"))
        assert set(runners[0].run_job("launchops-apply.yml", "apply").values()) == {"success"}
        dev.git("pull", "--quiet", "--ff-only", "origin", BRANCH)
        dev.write("launches/team-b/train.yaml", SPEC_B)
        dev.commit("Add training")
        dev.git("push", "--quiet", "origin", BRANCH)
        expected = 2

    def someone_pushes():
        dev.write("README.md", "launch specs, documented\n")
        dev.commit("Document")
        dev.git("push", "--quiet", "origin", BRANCH)

    apply = Runner(tmp, origin, "apply", "push", f"refs/heads/{BRANCH}")
    runners.append(apply)
    outcomes = apply.run_job("launchops-apply.yml", "apply", before={"Apply": someone_pushes})
    assert outcomes["Push the ledger"] == "success", apply.transcript()
    if outcomes["Apply"] == "success":
        ledger = read_ledger(origin.path, BRANCH)
        assert {i["id"] for r in runners for i in r.queue_items()} <= ledger_ids(ledger), apply.transcript()

    sync = Runner(tmp, origin, "sync", "schedule", f"refs/heads/{BRANCH}")
    runners.append(sync)
    outcomes = sync.run_job("launchops-sync.yml", "sync")
    assert set(outcomes.values()) == {"success"}, apply.transcript() + sync.transcript()

    items = [item for r in runners for item in r.queue_items()]
    assert len(items) == expected, apply.transcript() + sync.transcript()
    ledger = read_ledger(origin.path, BRANCH)
    assert ledger_ids(ledger) == {item["id"] for item in items}
    assert all(entry["status"] == "applied" for entry in ledger["specs"].values()), ledger
    assert origin.show(BRANCH, "README.md") == "launch specs, documented\n"
    readme = git(origin.path, "log", "-1", "--format=%H", BRANCH, "--", "README.md").strip()
    for sha in git(origin.path, "rev-list", f"{readme}..{BRANCH}").split():
        assert all(f.startswith(".launchops/") for f in origin.changed_files(f"{sha}^", sha))


def test_a_ledger_elsewhere_is_pushed_by_the_safety_net(world):
    """With `ledger` set to another folder, the workflows' push step takes launchops' own commits
    there (and still refuses any other file)."""
    tmp, origin, dev = world
    dev.write("launchops.toml", SETTINGS + 'ledger = "ops/state/ledger.json"\n')
    dev.commit("Keep the ledger under ops/")
    dev.git("push", "--quiet", "origin", BRANCH)

    def someone_pushes():
        dev.write("README.md", "launch specs, documented\n")
        dev.commit("Document")
        dev.git("push", "--quiet", "origin", BRANCH)

    apply = Runner(tmp, origin, "apply", "push", f"refs/heads/{BRANCH}")
    outcomes = apply.run_job("launchops-apply.yml", "apply", before={"Apply": someone_pushes})
    assert outcomes["Push the ledger"] == "success", apply.transcript()
    sync = Runner(tmp, origin, "sync", "schedule", f"refs/heads/{BRANCH}")
    outcomes = sync.run_job("launchops-sync.yml", "sync")
    assert set(outcomes.values()) == {"success"}, apply.transcript() + sync.transcript()
    ledger = read_ledger(origin.path, BRANCH, "ops/state/ledger")
    assert set(ledger["specs"]) == {"team-a/nightly-eval"}
    assert origin.show(BRANCH, "README.md") == "launch specs, documented\n"
    # a commit that touches only the ledger's folder is pushed (rebased onto a moved main) ...
    w = sync.workspace
    push = [s for s in load_yaml(ROOT / ".github" / "workflows" / "launchops-sync.yml")["jobs"]["sync"]["steps"]
            if s.get("name") == "Push the ledger"][0]
    dev.git("pull", "--quiet", "--rebase", "origin", BRANCH)
    dev.write("README.md", "launch specs, documented twice\n")
    dev.commit("Document again")
    dev.git("push", "--quiet", "origin", BRANCH)
    meta = "ops/state/ledger/_ledger.json"
    (w / meta).write_text(origin.show(BRANCH, meta) + "\n", encoding="utf-8")
    git(w, *HUMAN, "commit", "--quiet", "-am", "ledger [skip ci]")
    assert sync.bash("push the ledger", push["run"], {"BRANCH": BRANCH}) == 0, sync.transcript()
    assert origin.show(BRANCH, meta).endswith("\n\n")
    assert origin.show(BRANCH, "README.md") == "launch specs, documented twice\n"
    # ... and one that touches another file is refused
    (w / "README.md").write_text("changed on the runner\n", encoding="utf-8")
    git(w, *HUMAN, "commit", "--quiet", "-am", "not launchops'")
    code = sync.bash("push again", push["run"], {"BRANCH": BRANCH})
    assert code == 1 and "outside launchops' folder" in sync.log[-1][2], sync.transcript()
