"""The plan's verdict (reconciler.cache.plan_key): a no-op plan is answered without loading a spec
only while git vouches that nothing it depends on changed.

Each test first poisons the kept verdict (same key, an impossible count), so a plan that trusts it
says "99999 unchanged" where the real plan says something else: the clean cases must show the
poison, and every change must show through it."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import cli, commit_all, git, write
from reconciler import cache as cache_mod
from reconciler.settings import load_settings

POISON = "99999 unchanged"


def _verdict(repo: Path) -> Path:
    return repo / ".launchops" / "cache" / cache_mod.PLAN_NOOP


def _applied(repo: Path) -> Path:
    """The examples applied and committed, a no-op plan run, and its verdict poisoned."""
    assert cli(repo, "apply", "--yes").exit_code == 0
    first = cli(repo, "plan")
    assert first.exit_code == 0 and "0 to create" in first.output and POISON not in first.output
    path = _verdict(repo)
    key, _, count = path.read_text(encoding="utf-8").partition("\n")
    assert key == cache_mod.plan_key(load_settings(repo)) and int(count) > 0
    path.write_text(f"{key}\n99999\n", encoding="utf-8")
    return repo


def _a_spec(repo: Path) -> Path:
    return next(p for p in sorted((repo / "launches").rglob("*.yaml")) if not p.name.startswith("_"))


def _edit(path: Path) -> None:
    path.write_text(path.read_text(encoding="utf-8").replace("launch:\n", "launch:\n  priority: low\n", 1),
                    encoding="utf-8")


def test_the_verdict_answers_a_clean_repository_with_the_same_output(repo: Path) -> None:
    assert cli(repo, "apply", "--yes").exit_code == 0
    full = {fmt: cli(repo, "plan", "--format", fmt).output for fmt in ("text", "json", "markdown")}
    assert _verdict(repo).exists()
    for fmt, output in full.items():
        assert cli(repo, "plan", "--format", fmt).output == output  # answered from the verdict
    _applied(repo)
    assert POISON in cli(repo, "plan").output  # so the outputs above did come from it


def test_a_commit_that_leaves_specs_and_ledger_alone_keeps_the_verdict(repo: Path) -> None:
    _applied(repo)
    write(repo, "README.md", "notes\n")
    commit_all(repo, "docs")
    assert POISON in cli(repo, "plan").output


def _assume_unchanged(repo: Path) -> None:
    spec = _a_spec(repo)
    git(repo, "update-index", "--assume-unchanged", str(spec.relative_to(repo)))
    _edit(spec)


def _skip_worktree(repo: Path) -> None:
    spec = _a_spec(repo)
    git(repo, "update-index", "--skip-worktree", str(spec.relative_to(repo)))
    _edit(spec)


def _ignored(repo: Path) -> None:
    write(repo, ".gitignore", (repo / ".gitignore").read_text() + "launches/*.local.yaml\n"
          if (repo / ".gitignore").exists() else "launches/*.local.yaml\n")
    commit_all(repo, "ignore local specs")
    write(repo, "launches/mine.local.yaml", "apiVersion: launchops/v1\nlaunch: {docker_image: 'x:1'}\n")


def _ledger_committed(repo: Path) -> None:
    ledger = repo / ".launchops" / "ledger.json"
    data = json.loads(ledger.read_text())
    data["specs"][sorted(data["specs"])[0]]["status"] = "failed"
    ledger.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    git(repo, "commit", "-qam", "a failed attempt")


def _settings(repo: Path) -> None:
    write(repo, "launchops.toml", 'specs_dir = "launches/team-a"\n')  # the other team's specs: removals


def _staged(repo: Path) -> None:
    _edit(_a_spec(repo))
    git(repo, "add", "-A")


def _defaults(repo: Path) -> None:
    path = repo / "launches" / "_defaults.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("entity: acme-ml", "entity: acme-ml-2"), encoding="utf-8")


CHANGES = {
    "edited": lambda repo: _edit(_a_spec(repo)),
    "defaults-edited": _defaults,
    "edited-and-committed": lambda repo: (_edit(_a_spec(repo)), commit_all(repo, "edit")),
    "staged": _staged,
    "untracked": lambda repo: write(repo, "launches/zz-new.yaml",
                                    "apiVersion: launchops/v1\nlaunch: {docker_image: 'x:1'}\n"),
    "ignored": _ignored,
    "deleted": lambda repo: _a_spec(repo).unlink(),
    "assume-unchanged": _assume_unchanged,
    "skip-worktree": _skip_worktree,
    "ledger-committed": _ledger_committed,
    "settings-file": _settings,
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_every_change_shows_through_the_verdict(repo: Path, change: str) -> None:
    _applied(repo)
    CHANGES[change](repo)
    out = cli(repo, "plan")
    assert POISON not in out.output
    assert out.exit_code == 0 and "0 to create, 0 to update, 0 to retry, 0 to remove" not in out.output, out.output


def test_settings_from_the_environment_and_flags_are_part_of_the_key(repo: Path) -> None:
    _applied(repo)
    out = cli(repo, "plan", env={"LAUNCHOPS_SPECS_DIR": "launches/team-a"})
    assert POISON not in out.output and "to remove" in out.output and "0 to remove" not in out.output
    assert POISON in cli(repo, "plan").output
    assert POISON not in cli(repo, "plan", "--backend", "wandb").output


def test_a_symlinked_spec_is_never_vouched_for(repo: Path) -> None:
    write(repo, "shared/base.yaml", "apiVersion: launchops/v1\nlaunch: {docker_image: 'x:1'}\n")
    os.symlink("../shared/base.yaml", repo / "launches" / "linked.yaml")
    commit_all(repo, "a linked spec")
    assert cli(repo, "apply", "--yes").exit_code == 0
    assert cache_mod.plan_key(load_settings(repo)) is None
    write(repo, "shared/base.yaml", "apiVersion: launchops/v1\nlaunch: {docker_image: 'x:2'}\n")
    commit_all(repo, "the target moved on")
    assert "1 to update" in cli(repo, "plan").output


def test_an_interrupted_apply_is_planned_from_its_journal(repo: Path) -> None:
    _applied(repo)
    from reconciler.journal import Journal
    from reconciler.ledger import Event

    spec_id = sorted(json.loads((repo / ".launchops" / "ledger.json").read_text())["specs"])[0]
    events = Journal(repo / ".launchops" / "journal.db")
    events.append(Event("refreshed", spec_id, 1, {"id": "none", "fields": {}}))
    events.close()
    out = cli(repo, "plan")
    assert out.exit_code == 0 and POISON not in out.output  # the journal is read: the full plan


def test_launchops_itself_and_its_schema_are_part_of_the_key(repo: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _applied(repo)
    key = cache_mod.plan_key(load_settings(repo))
    monkeypatch.setattr(cache_mod, "__version__", "0.0.0-other")
    assert cache_mod.plan_key(load_settings(repo)) not in (None, key)
    package = Path(cache_mod.__file__).resolve().parent
    copy = tmp_path / "reconciler"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    stamp = cache_mod._code_stamp(copy)
    assert stamp == cache_mod._code_stamp(package)
    schema = copy / "launch-spec.v1.schema.json"
    schema.write_text(schema.read_text().replace('"maxLength": 256', '"maxLength": 255'))
    assert cache_mod._code_stamp(copy) != stamp
    shutil.copy(package / "launch-spec.v1.schema.json", schema)
    (copy / "plan.py").write_text((package / "plan.py").read_text() + "\n# a fix\n")
    assert cache_mod._code_stamp(copy) != stamp


def test_no_verdict_outside_git_or_when_there_is_something_to_do(repo: Path, tmp_path: Path) -> None:
    assert cli(repo, "apply", "--yes").exit_code == 0
    _edit(_a_spec(repo))
    assert "1 to update" in cli(repo, "plan").output
    assert not _verdict(repo).exists()  # a plan with changes keeps nothing
    loose = tmp_path / "loose"
    git(repo, "stash", "-q")
    shutil.copytree(repo, loose, ignore=shutil.ignore_patterns(".git"))
    assert cache_mod.plan_key(load_settings(loose)) is None
    assert cli(loose, "plan").exit_code == 0 and not _verdict(loose).exists()
