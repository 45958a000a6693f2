"""`launchops init`: a working repository in one step (init, validate, plan, apply on the W&B test
server), that never overwrites a file, and whose workflows are this repository's own."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import git  # noqa: E402
from conftest_wandb import wandb_server  # noqa: E402,F401  (fixture)
from reconciler import scaffold  # noqa: E402
from wandb_server import WandbServer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ACTION = "acme/launchops@0123456789abcdef0123456789abcdef01234567"
SCAFFOLD = ["launchops.toml", "launches/_defaults.yaml", "launches/example/hello.yaml",
            "schemas/launch-spec.v1.schema.json"] + [f".github/workflows/{name}" for name in scaffold.WORKFLOWS]


def launchops(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reconciler", *args], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=120)


def fresh(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


def snapshot(repo: Path) -> dict[str, bytes]:
    return {p.relative_to(repo).as_posix(): p.read_bytes() for p in sorted(repo.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(repo).parts}


def test_init_validate_plan_apply_in_a_fresh_folder(wandb_server: WandbServer, tmp_path: Path) -> None:
    repo = fresh(tmp_path / "repo")
    done = launchops(repo, "init", "--action", ACTION)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"wrote {rel}" for rel in SCAFFOLD]
    assert sorted(snapshot(repo)) == sorted(SCAFFOLD)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "launchops init")

    env = wandb_server.env(http_timeout=10)
    checked = launchops(repo, "validate", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    planned = launchops(repo, "plan", "--format", "json", env=env)
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert [(c["id"], c["action"]) for c in plan["changes"]] == [("example/hello", "create")]
    # the scaffold's backend is wandb: the example goes to W&B Launch, with the folder's defaults
    applied = launchops(repo, "apply", "--yes", env=env)
    assert applied.returncode == 0, applied.stderr
    (item,) = wandb_server.state.items
    assert item["queue_name"] == "default" and item["priority"] == 2
    assert item["runSpec"]["docker"]["docker_image"] == "python:3.12-slim", item["runSpec"]
    assert item["runSpec"]["overrides"]["run_config"] == {"greeting": "hello"}
    assert item["runSpec"]["project"] == "launchops-example"
    assert "example/hello ->" in git(repo, "log", "-1", "--format=%B")
    assert launchops(repo, "plan", "--detailed-exitcode", env=env).returncode == 0  # nothing left to do


def test_the_example_spec_points_its_schema_comment_at_the_written_schema(tmp_path: Path) -> None:
    repo = fresh(tmp_path / "repo")
    assert launchops(repo, "init").returncode == 0
    first = (repo / "launches/example/hello.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../schemas/launch-spec.v1.schema.json"
    schema = (repo / "launches/example" / first.split("$schema=", 1)[1]).resolve()
    assert json.loads(schema.read_text()) == json.loads(launchops(repo, "schema").stdout)


def test_init_never_overwrites_a_file(tmp_path: Path) -> None:
    repo = fresh(tmp_path / "repo")
    mine = {"launchops.toml": "specs_dir = \"launches\"\n# mine\n", "launches/_defaults.yaml": "labels: {a: b}\n",
            ".github/workflows/launchops-apply.yml": "name: mine\n"}
    for rel, text in mine.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    (repo / "launches/example").mkdir()
    (repo / "launches/example/hello.yaml").symlink_to(tmp_path / "nowhere.yaml")  # dangling: still a file's name
    done = launchops(repo, "init", "--action", ACTION)
    assert done.returncode == 0, done.stderr
    kept = [*mine, "launches/example/hello.yaml"]
    assert sorted(line for line in done.stdout.splitlines() if line.startswith("skipped ")) == sorted(
        f"skipped {rel}: exists" for rel in kept)
    assert sorted(line for line in done.stdout.splitlines() if line.startswith("wrote ")) == sorted(
        f"wrote {rel}" for rel in SCAFFOLD if rel not in kept)
    for rel, text in mine.items():
        assert (repo / rel).read_text() == text
    assert (repo / "launches/example/hello.yaml").is_symlink() and not (tmp_path / "nowhere.yaml").exists()

    before = snapshot(repo)
    again = launchops(repo, "init", "--action", ACTION)
    assert again.returncode == 0, again.stderr
    assert snapshot(repo) == before
    assert again.stdout.splitlines()[-1] == "nothing written: every file exists or was skipped"


def test_settings_in_pyproject_are_not_shadowed_and_say_where_specs_go(tmp_path: Path) -> None:
    repo = fresh(tmp_path / "repo")
    (repo / "pyproject.toml").write_text("[project]\nname = \"x\"\n\n[tool.launchops]\nspecs_dir = \"deploy/specs\"\n")
    done = launchops(repo, "init", "--action", ACTION)
    assert done.returncode == 0, done.stderr
    assert "skipped launchops.toml: pyproject.toml has [tool.launchops], which it would shadow" in done.stdout
    assert not (repo / "launchops.toml").exists()
    hello = (repo / "deploy/specs/example/hello.yaml").read_text()
    assert hello.startswith("# yaml-language-server: $schema=../../../schemas/launch-spec.v1.schema.json\n")
    assert "note: the workflows' `paths:` filters name launches/: change them to deploy/specs/" in done.stdout
    assert launchops(repo, "validate").returncode == 0


def test_without_an_action_to_pin_the_workflows_are_skipped_and_the_report_says_how(tmp_path: Path) -> None:
    repo = fresh(tmp_path / "repo")
    done = launchops(repo, "init")  # this launchops is an editable install from a folder: no commit to pin
    assert done.returncode == 0, done.stderr
    for name in scaffold.WORKFLOWS:
        assert f"skipped .github/workflows/{name}: no launchops action to pin" in done.stdout
    assert "launchops init --action OWNER/launchops@COMMIT" in done.stdout
    assert not (repo / ".github").exists()
    refused = launchops(repo, "init", "--action", "not a ref")
    assert refused.returncode == 1 and "expected OWNER/REPO@REF" in refused.stderr


def test_the_shipped_workflows_are_this_repositorys_with_the_action_pinned() -> None:
    """One source of truth: reconciler/templates/github/workflows/ are byte-for-byte copies of
    .github/workflows/; init changes only the steps' `uses:` of the composite action."""
    for name in scaffold.WORKFLOWS:
        ours = (ROOT / ".github/workflows" / name).read_text()
        shipped = (ROOT / "reconciler/templates/github/workflows" / name).read_text()
        assert shipped == ours, (f"reconciler/templates/github/workflows/{name} differs from .github/workflows/{name}; "
                                 f"the package ships the latter: cp .github/workflows/{name} "
                                 "reconciler/templates/github/workflows/")
        written = scaffold.workflow(name, ACTION)
        steps = [line.strip() for line in written.splitlines() if line.strip().startswith("uses:") and
                 "actions/launchops" in line]
        assert steps and set(steps) == {"uses: acme/launchops/.github/actions/launchops@" + ACTION.split("@")[1]}
        assert [a for a, b in zip(ours.splitlines(), written.splitlines(), strict=True) if a != b] == [
            line for line in ours.splitlines() if line.strip() == "uses: ./.github/actions/launchops"]
        assert yaml.safe_load(written)["jobs"]


@pytest.mark.parametrize(("direct_url", "action"), [
    ({"url": "https://github.com/acme/launchops", "vcs_info": {"vcs": "git", "commit_id": "a" * 40}},
     f"acme/launchops@{'a' * 40}"),
    ({"url": "ssh://git@github.com/acme/launchops.git", "vcs_info": {"vcs": "git", "commit_id": "b" * 40,
                                                                     "requested_revision": "v1"}},
     f"acme/launchops@{'b' * 40}"),
    ({"url": "https://github.com/acme/mono", "subdirectory": "tools/launchops",
      "vcs_info": {"vcs": "git", "commit_id": "a" * 40}}, None),  # the action is not at the root
    ({"url": "https://gitlab.com/acme/launchops", "vcs_info": {"vcs": "git", "commit_id": "a" * 40}}, None),
    ({"url": "file:///work/launchops", "dir_info": {"editable": True}}, None),
    ({"url": "https://example.com/launchops-0.1.0-py3-none-any.whl", "archive_info": {}}, None),
])
def test_the_action_to_pin_comes_from_the_git_commit_pip_installed(direct_url: dict[str, object],
                                                                   action: str | None) -> None:
    assert scaffold.action_from_direct_url(json.dumps(direct_url)) == action


def test_init_from_a_subfolder_scaffolds_the_repository_root(tmp_path: Path) -> None:
    repo = fresh(tmp_path / "repo")
    (repo / "docs").mkdir()
    done = launchops(repo / "docs", "init")
    assert done.returncode == 0, done.stderr
    assert (repo / "launchops.toml").is_file() and not (repo / "docs/launchops.toml").exists()
    assert os.listdir(repo / "docs") == []
