"""validate: every problem of every file in one run, located, in text, json and github formats."""
from __future__ import annotations

import json
from pathlib import Path

from conftest import cli, write

GOOD = "apiVersion: launchops/v1\nlaunch:\n  docker_image: ghcr.io/acme/x:1\n"


def test_all_problems_in_one_run_with_locations(empty_repo: Path) -> None:
    write(empty_repo, "launches/a.yaml", "apiVersion: launchops/v1\nlaunch:\n  job: a/b/c:v1\n  parameters: {lr: 1}\n")
    write(empty_repo, "launches/b.yaml", "apiVersion: launchops/v1\nlaunch:\n  docker_image: x\n  priority: urgent\n")
    write(empty_repo, "launches/c.yaml", GOOD)
    out = cli(empty_repo, "validate")
    assert out.exit_code == 1
    lines = out.stdout.splitlines()
    assert "launches/a.yaml:4:3: launch.parameters: unknown key 'parameters'; did you mean 'config'?" in lines
    assert ("launches/b.yaml:4:13: launch.priority: must be critical, high, medium, low or a number 0..3, "
            "not 'urgent'") in lines
    assert lines[-1] == "2 problems in 2 files."


def test_json_format(empty_repo: Path) -> None:
    write(empty_repo, "launches/a.yaml", "apiVersion: launchops/v2\nlaunch: {docker_image: x}\n")
    doc = json.loads(cli(empty_repo, "validate", "--format", "json").stdout)
    assert doc["format_version"] == 1 and doc["valid"] is False and doc["specs"] == 0
    assert doc["errors"] == [{"file": "launches/a.yaml", "line": 1, "column": 13, "path": "apiVersion",
                              "message": "must be 'launchops/v1', not 'launchops/v2'"}]
    write(empty_repo, "launches/a.yaml", GOOD)
    ok = json.loads(cli(empty_repo, "validate", "--format", "json").stdout)
    assert ok == {"format_version": 1, "valid": True, "specs": 1, "files": 1, "errors": [], "warnings": []}


def test_github_annotations(empty_repo: Path) -> None:
    write(empty_repo, "launches/a b.yaml", "apiVersion: launchops/v1\nlaunch:\n  job: x\n  queue: gpu\n")
    out = cli(empty_repo, "validate", "--format", "github")
    assert out.exit_code == 1
    assert out.stdout.splitlines() == [
        "::error file=launches/a b.yaml,line=4,col=3,title=launchops validate::launch.queue: unknown key 'queue'; "
        "did you mean 'queue_name'?"]


def test_validate_given_paths_only(empty_repo: Path) -> None:
    write(empty_repo, "launches/ok.yaml", GOOD)
    write(empty_repo, "launches/bad.yaml", "apiVersion: launchops/v1\n")
    import os

    cwd = os.getcwd()
    os.chdir(empty_repo)
    try:
        assert cli(empty_repo, "validate", "launches/ok.yaml").exit_code == 0
        out = cli(empty_repo, "validate", "launches/bad.yaml")
    finally:
        os.chdir(cwd)
    assert out.exit_code == 1 and "launches/bad.yaml:1:1: missing launch:" in out.stdout


def test_defaults_values_are_located_in_the_defaults_file(empty_repo: Path) -> None:
    write(empty_repo, "launches/_defaults.yaml", "launch:\n  queue_name: gpu\n  priority: 9\n")
    write(empty_repo, "launches/a.yaml", GOOD)
    out = cli(empty_repo, "validate")
    assert "launches/_defaults.yaml:3:13: launch.priority: must be critical" in out.stdout


def test_wandb_backend_refuses_uri_specs_before_anything(empty_repo: Path) -> None:
    write(empty_repo, "launches/a.yaml", "apiVersion: launchops/v1\nlaunch:\n  uri: https://github.com/a/b\n")
    assert cli(empty_repo, "validate").exit_code == 0  # valid on the local backend
    write(empty_repo, "launchops.toml", 'backend = "wandb"\n')
    out = cli(empty_repo, "validate")
    assert out.exit_code == 1 and "launches/a.yaml:3:3: launch.uri: is not supported by the wandb backend" in out.stdout
    plan = cli(empty_repo, "plan")
    assert plan.exit_code == 1


def test_unknown_setting_is_an_error(empty_repo: Path) -> None:
    write(empty_repo, "launchops.toml", 'specs_dri = "x"\n')
    out = cli(empty_repo, "validate")
    assert out.exit_code == 1 and "launchops.toml: unknown setting 'specs_dri'; did you mean 'specs_dir'?" in out.output


def test_schema_command_prints_the_packaged_schema() -> None:
    from click.testing import CliRunner

    from reconciler.cli import main

    out = CliRunner().invoke(main, ["schema"])
    root = Path(__file__).resolve().parent.parent
    assert json.loads(out.stdout) == json.loads((root / "schemas/launch-spec.v1.schema.json").read_text())
    # The installed package carries its own copy; the two must never drift.
    assert (root / "reconciler/launch-spec.v1.schema.json").read_bytes() == \
        (root / "schemas/launch-spec.v1.schema.json").read_bytes()


def test_given_paths_are_checked_against_the_whole_repository(empty_repo: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # What pre-commit passes: the changed files only. Their folder defaults and ids in files not
    # passed still count, so the hook never accepts what CI rejects.
    write(empty_repo, "launches/team/_defaults.yaml", "launch:\n  priority: urgent\n")
    write(empty_repo, "launches/team/a.yaml", GOOD)
    write(empty_repo, "launches/b.yaml", "apiVersion: launchops/v1\nid: shared\nlaunch: {docker_image: x}\n")
    write(empty_repo, "launches/c.yaml", "apiVersion: launchops/v1\nid: shared\nlaunch: {docker_image: y}\n")
    write(empty_repo, "launches/unrelated.yaml", "apiVersion: launchops/v1\n")
    monkeypatch.chdir(empty_repo)
    out = cli(empty_repo, "validate", "launches/team/_defaults.yaml").stdout
    assert "launches/team/_defaults.yaml:2:13: launch.priority: must be critical" in out
    assert "unrelated" not in out
    out = cli(empty_repo, "validate", "launches/team/a.yaml").stdout
    assert "launches/team/_defaults.yaml:2:13" in out  # the defaults above a given spec are part of it
    out = cli(empty_repo, "validate", "launches/b.yaml").stdout
    assert "launches/b.yaml:2:5: id: id 'shared' is also declared in launches/c.yaml:2" in out
    assert "launches/c.yaml:2:5" not in out and "unrelated" not in out
