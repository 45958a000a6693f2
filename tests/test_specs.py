"""The effective spec and its digest: defaults, repository settings, ids, normalisation."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from conftest import cli, commit_all, read_ledger, write
from reconciler.settings import load_settings
from reconciler.specs import SpecSet, load_specs

HEAD = "apiVersion: launchops/v1\n"


def loaded(repo: Path, environ: dict[str, str] | None = None) -> SpecSet:
    result = load_specs(load_settings(repo, environ=environ or {}))
    assert result.valid, [str(p) for p in result.problems]
    return result


def expected_digest(launch: dict[str, Any]) -> str:
    """SPEC's rule, written out independently: sha256 of sorted, space-free UTF-8 JSON."""
    canonical = json.dumps(launch, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def test_defaults_deep_merge_nearer_folder_wins_lists_replace(empty_repo: Path) -> None:
    write(empty_repo, "launches/_defaults.yaml", """launch:
  entity: acme
  queue_name: far
  entry_point: [python, far.py]
  config: {overrides: {run_config: {lr: 0.1, steps: 10}}, seed: 1}
labels: {owner: platform}
""")
    write(empty_repo, "launches/team/_defaults.yaml", """launch:
  queue_name: near
  config: {overrides: {run_config: {steps: 20}}}
labels: {team: t}
""")
    write(empty_repo, "launches/team/eval.yaml", HEAD + """launch:
  job: acme/evals/eval-job:v3
  entry_point: [python, eval.py, --fast]
  config: {overrides: {run_config: {lr: 0.5}}}
""")
    spec = loaded(empty_repo).specs["team/eval"]
    assert dict(spec.launch) == {
        "job": "acme/evals/eval-job:v3", "entity": "acme", "queue_name": "near",
        "entry_point": ["python", "eval.py", "--fast"],  # a list replaces, never concatenates
        "config": {"overrides": {"run_config": {"lr": 0.5, "steps": 20}}, "seed": 1},
    }
    assert dict(spec.labels) == {"owner": "platform", "team": "t"}
    assert spec.digest == expected_digest(dict(spec.launch))

    # what apply records in the ledger is exactly that effective launch
    commit_all(empty_repo)
    assert cli(empty_repo, "apply", "--yes").exit_code == 0
    entry = read_ledger(empty_repo)["specs"]["team/eval"]
    assert entry["launch"] == dict(spec.launch) and entry["digest"] == spec.digest


def test_defaults_do_not_reach_sibling_folders(empty_repo: Path) -> None:
    write(empty_repo, "launches/a/_defaults.yaml", "launch: {queue_name: only-a}\n")
    write(empty_repo, "launches/b/eval.yaml", HEAD + "launch: {job: acme/p/j:v1}\n")
    assert "queue_name" not in loaded(empty_repo).specs["b/eval"].launch


@pytest.mark.parametrize("where", ["launchops.toml", "pyproject.toml"])
def test_repository_defaults_from_settings_sit_under_every_defaults_file(empty_repo: Path, where: str) -> None:
    settings = 'entity = "repo-entity"\nproject = "repo-project"\nqueue_name = "repo-queue"\nproject_queue = "pq"\n'
    write(empty_repo, where, settings if where == "launchops.toml" else "[tool.launchops]\n" + settings)
    write(empty_repo, "launches/_defaults.yaml", "launch: {queue_name: folder-queue}\n")
    write(empty_repo, "launches/eval.yaml", HEAD + "launch: {job: acme/p/j:v1, project: spec-project}\n")
    launch = dict(loaded(empty_repo).specs["eval"].launch)
    assert launch == {"job": "acme/p/j:v1", "entity": "repo-entity", "project": "spec-project",
                      "queue_name": "folder-queue", "project_queue": "pq"}


def test_entity_from_the_environment_overrides_the_settings_file(empty_repo: Path) -> None:
    write(empty_repo, "launchops.toml", 'entity = "from-file"\n')
    write(empty_repo, "launches/eval.yaml", HEAD + "launch: {job: acme/p/j:v1}\n")
    assert loaded(empty_repo, {"LAUNCHOPS_ENTITY": "from-env"}).specs["eval"].launch["entity"] == "from-env"
    assert loaded(empty_repo).specs["eval"].launch["entity"] == "from-file"
    # and through the command a user runs
    commit_all(empty_repo)
    out = cli(empty_repo, "apply", "--yes", env={"LAUNCHOPS_ENTITY": "from-env"})
    assert out.exit_code == 0, out.output
    assert read_ledger(empty_repo)["specs"]["eval"]["launch"]["entity"] == "from-env"


ORIGINAL = HEAD + """id: team/train
description: Train the model
labels: {team: a}
launch:
  job: acme/train/train-job:v2
  queue_name: gpu-a100
  priority: high
  config:
    overrides:
      run_config: {lr: 0.001, steps: 100}
"""
COSMETIC = """# reformatted, reordered, commented; description and labels edited
launch:
  config: {overrides: {run_config: {steps: 100, lr: 0.001}}}   # same values
  priority: high
  queue_name: "gpu-a100"
  job: 'acme/train/train-job:v2'
labels: {team: b, stage: new}
description: |
  Something else entirely
id: team/train
apiVersion: launchops/v1
"""


def test_cosmetic_edits_never_change_the_digest(empty_repo: Path) -> None:
    write(empty_repo, "launches/train.yaml", ORIGINAL)
    before = loaded(empty_repo).specs["team/train"].digest
    commit_all(empty_repo)
    assert cli(empty_repo, "apply", "--yes").exit_code == 0
    write(empty_repo, "launches/train.yaml", COSMETIC)
    commit_all(empty_repo)
    assert loaded(empty_repo).specs["team/train"].digest == before
    plan = cli(empty_repo, "plan", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output  # nothing to enqueue
    assert "No changes" in plan.output

    write(empty_repo, "launches/train.yaml", COSMETIC.replace("steps: 100", "steps: 101"))
    commit_all(empty_repo)
    assert loaded(empty_repo).specs["team/train"].digest != before
    assert cli(empty_repo, "plan", "--detailed-exitcode").exit_code == 2


@pytest.mark.parametrize(("name", "number"), [("critical", 0), ("high", 1), ("medium", 2), ("low", 3)])
def test_priority_names_become_numbers(empty_repo: Path, name: str, number: int) -> None:
    write(empty_repo, "launches/named.yaml", HEAD + f"launch: {{job: acme/p/j:v1, priority: {name}}}\n")
    write(empty_repo, "launches/numbered.yaml", HEAD + f"launch: {{job: acme/p/j:v1, priority: {number}}}\n")
    specs = loaded(empty_repo).specs
    assert specs["named"].launch["priority"] == number
    assert specs["named"].digest == specs["numbered"].digest == expected_digest(
        {"job": "acme/p/j:v1", "priority": number})


def test_default_id_is_the_path_under_specs_dir_without_extension(empty_repo: Path) -> None:
    write(empty_repo, "launches/team-a/nightly-eval.yaml", HEAD + "launch: {job: acme/p/j:v1}\n")
    write(empty_repo, "launches/team-a/sub/smoke.yml", HEAD + "launch: {job: acme/p/j:v2}\n")
    write(empty_repo, "launches/top.yaml", HEAD + "id: chosen/id\nlaunch: {job: acme/p/j:v3}\n")
    specs = loaded(empty_repo).specs
    assert sorted(specs) == ["chosen/id", "team-a/nightly-eval", "team-a/sub/smoke"]
    assert specs["team-a/sub/smoke"].source == "launches/team-a/sub/smoke.yml"


def test_default_id_follows_a_custom_specs_dir(empty_repo: Path) -> None:
    write(empty_repo, "launchops.toml", 'specs_dir = "deploy/launch-specs"\n')
    write(empty_repo, "deploy/launch-specs/eval/nightly.yaml", HEAD + "launch: {job: acme/p/j:v1}\n")
    assert list(loaded(empty_repo).specs) == ["eval/nightly"]


def test_files_starting_with_underscore_or_dot_are_not_specs(empty_repo: Path) -> None:
    write(empty_repo, "launches/_draft.yaml", "not: a spec\n")
    write(empty_repo, "launches/.hidden.yaml", "not: a spec\n")
    write(empty_repo, "launches/notes.txt", "not: a spec\n")
    write(empty_repo, "launches/real.yaml", HEAD + "launch: {job: acme/p/j:v1}\n")
    result = loaded(empty_repo)
    assert list(result.specs) == ["real"] and result.files == 1


def test_multi_document_file_declares_each_id(empty_repo: Path) -> None:
    write(empty_repo, "launches/sweep.yaml", HEAD + "id: sweep/small\nlaunch: {job: acme/p/j:v1}\n---\n"
          + HEAD + "id: sweep/large\nlaunch: {job: acme/p/j:v1, template_variables: {gpus: 8}}\n")
    specs = loaded(empty_repo).specs
    assert sorted(specs) == ["sweep/large", "sweep/small"]
    assert {s.source for s in specs.values()} == {"launches/sweep.yaml"}
    assert specs["sweep/large"].digest != specs["sweep/small"].digest
    commit_all(empty_repo)
    out = cli(empty_repo, "plan", "--format", "json")
    assert json.loads(out.stdout)["summary"]["create"] == 2
