"""The GitHub integration files: schemas, zizmor, pins and the properties the workflows rely on.

check-jsonschema and zizmor both run offline (builtin schemas; `zizmor --offline`).
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
GITHUB = ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
ACTION = GITHUB / "actions" / "launchops" / "action.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"
EXPECTED_WORKFLOWS = {
    "ci.yml",
    "launchops-apply.yml",
    "launchops-preview.yml",
    "launchops-preview-launch.yml",
    "launchops-sync.yml",
}
SHA_PIN = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")


def _tool(name: str) -> str:
    """An executable installed next to the running interpreter (any venv), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (pip install -e '.[test]')")
    return found


def _load(path: Path) -> dict:
    # PyYAML reads the key `on` as True (YAML 1.1); use the BaseLoader to keep every key a string.
    return yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)


def _workflow(name: str) -> dict:
    return _load(GITHUB / "workflows" / name)


def _steps(doc: dict):
    if "runs" in doc:
        yield from doc["runs"].get("steps", [])
    for job in doc.get("jobs", {}).values():
        yield from job.get("steps", [])


def test_expected_files_exist():
    assert {p.name for p in WORKFLOWS} >= EXPECTED_WORKFLOWS
    assert ACTION.is_file()
    assert HOOKS.is_file()


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_schema(path):
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_action_matches_schema():
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-actions", str(ACTION)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_reports_nothing_medium_or_above():
    # --strict-collection also fails on any input that does not match its schema, which is how
    # .pre-commit-hooks.yaml is checked against pre-commit's hook schema (check-jsonschema has
    # no builtin one).
    result = subprocess.run(
        [
            _tool("zizmor"),
            "--offline",
            "--strict-collection",
            "--no-progress",
            "--format",
            "json",
            "--min-severity",
            "medium",
            str(GITHUB),
            str(HOOKS),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    findings = json.loads(result.stdout)
    assert findings == [], json.dumps(findings, indent=2)
    # every input was actually audited
    for path in [*WORKFLOWS, ACTION, HOOKS]:
        assert path.relative_to(ROOT).as_posix() in result.stderr, result.stderr


def _hook() -> dict:
    hooks = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    assert isinstance(hooks, list)
    (hook,) = [h for h in hooks if h["id"] == "launchops-validate"]
    return hook


def test_pre_commit_hook():
    hook = _hook()
    assert hook["entry"] == "launchops validate --staged"
    assert hook["language"] == "python"
    # pre-commit passes the staged files; --staged reads them (and their defaults) from the index
    assert hook["pass_filenames"] is True
    assert hook["require_serial"] is True
    files = re.compile(hook["files"])
    for path in ["launches/a.yaml", "launches/team-a/nightly-eval.yml", "launches/_defaults.yaml",
                 "launchops.toml", "pyproject.toml"]:  # both settings sources
        assert files.search(path), path
    for path in ["launchesx/a.yaml", "src/launches/a.yaml", "launches/a.json", ".launchops/ledger.json",
                 "sub/pyproject.toml", "launchops.toml.bak"]:
        assert not files.search(path), path


def _run_hook(repo: Path) -> subprocess.CompletedProcess[str]:
    """What pre-commit does: the hook's entry with the staged (added, copied, modified, renamed)
    files its `files:` pattern selects, from the repository root."""
    hook = _hook()
    staged = subprocess.run(["git", "diff", "--cached", "--name-only", "--diff-filter=ACMR", "-z"], cwd=repo,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    selected = [f for f in staged if f and re.search(hook["files"], f)]
    entry = hook["entry"].split()
    assert entry[0] == "launchops"
    return subprocess.run([sys.executable, "-m", "reconciler", *entry[1:], *selected], cwd=repo,
                          capture_output=True, text=True)


GOOD = "apiVersion: launchops/v1\nlaunch:\n  docker_image: x:1\n"


def test_pre_commit_hook_checks_what_is_committed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = lambda *a: subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True)  # noqa: E731
    git("init", "-q", "-b", "main")
    (repo / "launches").mkdir()
    (repo / "launches" / "_defaults.yaml").write_text("launch:\n  queue_name: q\n", encoding="utf-8")
    (repo / "launches" / "a.yaml").write_text(GOOD, encoding="utf-8")
    git("add", "-A")
    # untracked drafts: an invalid one, and a copy of the staged spec that declares its id again
    (repo / "launches" / "draft.yaml").write_text("apiVersion: launchops/v1\nlaunch: [broken\n", encoding="utf-8")
    (repo / "launches" / "copy.yaml").write_text(GOOD.replace("launch:", "id: a\nlaunch:"), encoding="utf-8")
    result = _run_hook(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    # an invalid staged spec is refused although the working tree has fixed it (unstaged)
    (repo / "launches" / "b.yaml").write_text(GOOD.replace("docker_image", "image"), encoding="utf-8")
    git("add", "launches/b.yaml")
    (repo / "launches" / "b.yaml").write_text(GOOD, encoding="utf-8")
    result = _run_hook(repo)
    assert result.returncode == 1 and "launches/b.yaml:3:3" in result.stdout, result.stdout + result.stderr
    git("add", "launches/b.yaml")
    assert _run_hook(repo).returncode == 0
    # the staged settings count, not the working tree's: a staged unknown key is refused
    (repo / "launchops.toml").write_text("backend = \"local\"\nqueue = \"x\"\n", encoding="utf-8")
    git("add", "launchops.toml")
    (repo / "launchops.toml").write_text("backend = \"local\"\n", encoding="utf-8")
    result = _run_hook(repo)
    assert result.returncode == 1 and "queue" in result.stderr, result.stdout + result.stderr


@pytest.mark.parametrize("path", [*WORKFLOWS, ACTION], ids=lambda p: p.name)
def test_every_uses_is_pinned_to_a_commit(path):
    uses = [step["uses"] for step in _steps(_load(path)) if "uses" in step]
    for job in _load(path).get("jobs", {}).values():
        if "uses" in job:  # reusable workflows
            uses.append(job["uses"])
    for ref in uses:
        if ref.startswith("./"):  # an action of this same repository, at the checked-out commit
            continue
        assert SHA_PIN.match(ref), f"{path.name}: {ref} is not pinned to a full commit SHA"
    text = path.read_text(encoding="utf-8")
    for line in text.splitlines():
        if re.search(r"^\s*(-\s*)?uses:\s*[^.\s]", line):
            assert re.search(r"@[0-9a-f]{40} # v\d", line), f"{path.name}: no version comment: {line}"


@pytest.mark.parametrize("path", [*WORKFLOWS, ACTION], ids=lambda p: p.name)
def test_no_expressions_in_run_scripts(path):
    """Inputs reach shell scripts through env:, never through ${{ }} (template injection)."""
    for step in _steps(_load(path)):
        assert "${{" not in step.get("run", ""), f"{path.name}: {step.get('name')}"
        assert "${{" not in step.get("with", {}).get("script", ""), f"{path.name}: {step.get('name')}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_permissions(path):
    doc = _workflow(path.name)
    assert doc.get("permissions") == {}, f"{path.name}: top-level permissions must be {{}}"
    for name, job in doc["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {name} has no permissions"
        for scope, level in job["permissions"].items():
            assert level in {"read", "write", "none"}
            if level == "write":
                assert (path.name, name, scope) in {
                    ("launchops-preview.yml", "comment", "pull-requests"),
                    ("launchops-apply.yml", "apply", "contents"),
                    ("launchops-sync.yml", "sync", "contents"),
                    ("launchops-preview-launch.yml", "launch", "contents"),  # the launchops/previews branch
                    ("launchops-preview-launch.yml", "cleanup", "contents"),
                    ("launchops-sync.yml", "pages", "pages"),  # opt-in: publishes the status page
                    ("launchops-sync.yml", "pages", "id-token"),
                }, f"{path.name}: job {name} may not write {scope}"


def test_preview_runs_on_pull_request_only():
    doc = _workflow("launchops-preview.yml")
    assert set(doc["on"]) == {"pull_request"}
    for path in WORKFLOWS:  # no workflow of this repository runs untrusted code with secrets
        assert "pull_request_target" not in _load(path)["on"], path.name
    assert "launches/**" in doc["on"]["pull_request"]["paths"]
    # the job that runs the pull request's code cannot write; the one that writes runs nothing of it
    plan, comment = doc["jobs"]["plan"], doc["jobs"]["comment"]
    assert plan["permissions"] == {"contents": "read"}
    assert comment["permissions"] == {"pull-requests": "write"}
    assert not any("actions/checkout" in s.get("uses", "") for s in comment["steps"])
    # fork pull requests skip the comment instead of failing on a read-only token
    assert "github.event.pull_request.head.repo.full_name == github.repository" in comment["if"]
    # no secret is needed to preview
    assert "secrets." not in (GITHUB / "workflows" / "launchops-preview.yml").read_text()
    # validate with annotations, plan as markdown, and the comment finds the SPEC's marker
    with_ = [s.get("with", {}) for s in plan["steps"]]
    assert {"command": "validate", "args": "--format github"}.items() <= with_[1].items()
    assert with_[2]["command"] == "plan" and "--format markdown" in with_[2]["args"]
    assert "<!-- launchops-plan -->" in comment["steps"][0]["with"]["script"]
    for step in plan["steps"]:
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] == "false"


def test_apply_and_sync_share_one_uncancelled_concurrency_group():
    groups = set()
    for name in ["launchops-apply.yml", "launchops-sync.yml"]:
        concurrency = _workflow(name)["concurrency"]
        assert concurrency["cancel-in-progress"] == "false", name
        # sync's group is chosen by ref (test_sync_dispatched_elsewhere_never_joins_the_apply_group)
        on_main = re.match(r"\$\{\{ github\.ref == 'refs/heads/main' && '([^']+)' \|\|", concurrency["group"])
        groups.add(on_main.group(1) if on_main else concurrency["group"])
    assert groups == {"launchops-apply"}


def test_apply_triggers_and_command():
    doc = _workflow("launchops-apply.yml")
    assert set(doc["on"]) == {"push"}
    push = doc["on"]["push"]
    assert push["branches"] == ["main"]
    assert "paths-ignore" not in push
    paths = push["paths"]
    assert {"launches/**", "launchops.toml", "pyproject.toml"} <= set(paths)  # both settings sources
    # the ledger commit (.launchops/ only) must not match the filter, or apply would retrigger
    assert not any(p.startswith((".launchops", "**", "*")) or p.startswith("!") for p in paths), paths
    steps = doc["jobs"]["apply"]["steps"]
    (apply,) = [s for s in steps if s.get("with", {}).get("command") == "apply"]
    assert apply["with"]["args"].split() == ["--yes", "--push"]
    assert apply["with"]["wandb"] == "true"
    # the key is an input, which the action hands to the step that runs launchops only
    assert apply["with"]["wandb-api-key"] == "${{ secrets.WANDB_API_KEY }}"
    assert "env" not in apply
    # the credential is given to the apply step only
    for step in steps:
        if step is not apply:
            assert "secrets." not in json.dumps(step), step.get("name")
    # the job is not allowed to swallow a failed enqueue
    assert "continue-on-error" not in apply and "continue-on-error" not in doc["jobs"]["apply"]


def test_sync_applies_then_refreshes():
    doc = _workflow("launchops-sync.yml")
    assert set(doc["on"]) == {"schedule", "workflow_dispatch"}
    assert doc["on"]["schedule"][0]["cron"]
    commands = [
        (s["with"]["command"], s["with"].get("args", "")) for s in doc["jobs"]["sync"]["steps"] if "with" in s and "command" in s["with"]
    ]
    assert commands == [("apply", "--yes --push"), ("status", "--refresh --push"),
                        ("preview sweep", "--open=${{ steps.open.outputs.numbers }}")]
    for step in doc["jobs"]["sync"]["steps"]:
        if "secrets." in json.dumps(step):
            assert step["with"]["wandb-api-key"] == "${{ secrets.WANDB_API_KEY }}" and "env" not in step


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_secret_reaches_a_uses_step_through_env(path):
    """A `uses:` step's env: is the environment of every step inside the action (setup-python, pip…)."""
    for step in _steps(_load(path)):
        if "uses" in step:
            assert "secrets." not in json.dumps(step.get("env", {})), f"{path.name}: {step.get('name')}"


def test_the_action_hands_the_key_to_the_launchops_step_only():
    steps = _load(ACTION)["runs"]["steps"]
    (run,) = [s for s in steps if s.get("id") == "run"]
    assert run["env"]["ACTION_WANDB_API_KEY"] == "${{ inputs.wandb-api-key }}"
    assert 'export WANDB_API_KEY="$ACTION_WANDB_API_KEY"' in run["run"]
    for step in steps:
        if step is not run:
            assert "wandb-api-key" not in json.dumps(step) and "WANDB_API_KEY" not in json.dumps(step), step["name"]


def test_sync_dispatched_elsewhere_never_joins_the_apply_group():
    """The workflow's concurrency group is taken before the job's `if:` is read."""
    doc = _workflow("launchops-sync.yml")
    group = doc["concurrency"]["group"]
    assert doc["jobs"]["sync"]["if"] == "${{ github.ref == 'refs/heads/main' }}"
    match = re.fullmatch(r"\$\{\{ github\.ref == 'refs/heads/main' && 'launchops-apply' \|\| "
                         r"format\('([^']*)\{0\}', github\.run_id\) \}\}", group)
    assert match and "launchops-apply" != match.group(1), group


def test_ci_runs_the_readme_test_command():
    doc = _workflow("ci.yml")
    assert {"push", "pull_request"} <= set(doc["on"])
    runs = [s.get("run", "") for job in doc["jobs"].values() for s in job["steps"]]
    assert any(run.startswith("make test") for run in runs), runs


def test_preview_runs_for_settings_changes_and_trusts_only_its_own_comment():
    doc = _workflow("launchops-preview.yml")
    assert {"launches/**", "launchops.toml", "pyproject.toml"} <= set(doc["on"]["pull_request"]["paths"])
    (step,) = doc["jobs"]["comment"]["steps"]
    assert step["env"]["COMMENT_AUTHOR"] == "github-actions[bot]"
    assert "c.user.login === process.env.COMMENT_AUTHOR" in step["with"]["script"]
    assert "user.type" not in step["with"]["script"]


def test_action_inputs_and_install_source():
    doc = _load(ACTION)
    assert doc["runs"]["using"] == "composite"
    inputs = doc["inputs"]
    assert inputs["command"]["required"] == "true"
    assert inputs["python-version"]["default"] == "3.11"
    assert inputs["wandb"]["default"] == "false"
    assert {"args", "working-directory"} <= set(inputs)
    text = ACTION.read_text(encoding="utf-8")
    assert "github.action_path" in text and '"$ACTION_PATH/../../.."' in text


LOCKS = {"requirements.txt": (), "requirements-wandb.txt": ("wandb",)}


def read_lock(name: str) -> dict[str, tuple[str, str, list[str]]]:
    """{name: (version, marker, hashes)} of a hash-locked requirements file."""
    text = (ACTION.parent / name).read_text(encoding="utf-8")
    entries: dict[str, tuple[str, str, list[str]]] = {}
    for logical in re.sub(r"\\\n\s*", " ", text).splitlines():
        if not logical.strip() or logical.startswith("#"):
            continue
        requirement, *options = logical.split(" --hash=")
        pinned, _, marker = requirement.partition(";")
        package, version = pinned.strip().split("==")
        hashes = [o.strip() for o in options]
        assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), logical
        entries[canonicalize_name(package)] = (version, marker.strip(), hashes)
    return entries


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_action_lock_satisfies_pyproject(lock: str) -> None:
    """Every dependency of launchops (and of its build) is pinned to a version pyproject.toml allows."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wanted = [*pyproject["project"]["dependencies"], *pyproject["build-system"]["requires"]]
    for extra in LOCKS[lock]:
        wanted += pyproject["project"]["optional-dependencies"][extra]
    entries = read_lock(lock)
    assert "launchops" not in entries  # built from the action's own checkout
    for line in wanted:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in entries, f"{lock}: {requirement} is not locked"
        assert requirement.specifier.contains(entries[name][0], prereleases=True), f"{lock}: {requirement}"


def test_action_locks_agree_and_are_complete() -> None:
    """The wandb lock holds the core lock as it is; each lock holds every dependency of what it pins
    (checked with the metadata of the same versions installed here; the end-to-end workflow test
    installs the lock for real and runs `pip check`)."""
    core, full = read_lock("requirements.txt"), read_lock("requirements-wandb.txt")
    for name, (version, _, hashes) in core.items():
        assert full[name][0] == version and set(hashes) <= set(full[name][2]), name
    checked = 0
    for entries in (core, full):
        for name, (version, marker, _) in entries.items():
            if marker and not Marker(marker).evaluate():
                continue
            try:
                installed = importlib.metadata.distribution(name)
            except importlib.metadata.PackageNotFoundError:
                continue
            if installed.version != version:
                continue
            checked += 1
            for line in installed.requires or []:
                requirement = Requirement(line)
                if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                    continue
                dependency = canonicalize_name(requirement.name)
                assert dependency in entries, f"{name} {version} needs {requirement}, which is not locked"
                assert requirement.specifier.contains(entries[dependency][0], prereleases=True), (name, requirement)
    assert checked >= 10  # the versions installed here are the locked ones, so the check checks
