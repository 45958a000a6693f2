"""The plan's verdict (reconciler.cache): a plan that found nothing to do is kept with what it was
made from; while git vouches for the files, the next plan loads only the files that differ since.

Each test poisons the kept verdict with 1,000 ids of a file that does not exist, so a plan answered
from it counts 1,000 more unchanged specs than the full plan does. Every change must then give
exactly the full plan's changes: with the poison's 1,000 where the verdict may answer (the changed
files are loaded, the rest kept), without it where it must not (the full plan)."""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from conftest import cli, commit_all, git, write
from reconciler import cache as cache_mod
from reconciler.settings import load_settings

GHOSTS = 1000


def _verdict(repo: Path) -> Path:
    return repo / ".launchops" / "cache" / cache_mod.PLAN_NOOP


def _read(repo: Path) -> tuple[dict[str, Any], Any]:
    head, _, ids = _verdict(repo).read_text(encoding="utf-8").partition("\n")
    return json.loads(head), json.loads(ids)


def _store(repo: Path, head: dict[str, Any], ids: Any) -> None:
    _verdict(repo).write_text(json.dumps(head) + "\n" + json.dumps(ids), encoding="utf-8")


def _applied(repo: Path) -> Path:
    """The examples applied and committed, a no-op plan run, and its verdict poisoned."""
    assert cli(repo, "apply", "--yes").exit_code == 0
    first = _plan(repo)
    assert first["summary"]["unchanged"] > 0 and not first["changes"]
    head, ids = _read(repo)
    assert head["tree"] == git(repo, "rev-parse", "HEAD:launches").strip()
    assert head["unchanged"] == first["summary"]["unchanged"] == sum(len(v) for v in ids.values())
    ids["launches/ghosts.yaml"] = [f"ghost-{i}" for i in range(GHOSTS)]
    _store(repo, {**head, "unchanged": head["unchanged"] + GHOSTS}, ids)
    return repo


def _plan(repo: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    out = cli(repo, "plan", "--format", "json", *args, env=env)
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


def _without_verdict(repo: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """`plan` with no verdict to answer from (the poisoned one is put back after)."""
    kept = _verdict(repo).read_bytes()
    _verdict(repo).unlink()
    try:
        return cli(repo, "plan", *args, env=env)
    finally:
        _verdict(repo).write_bytes(kept)


def _full(repo: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    out = _without_verdict(repo, "--format", "json", *args, env=env)
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


def _a_spec(repo: Path) -> Path:
    return next(p for p in sorted((repo / "launches").rglob("*.yaml")) if not p.name.startswith("_"))


def _edit(path: Path) -> None:
    path.write_text(path.read_text(encoding="utf-8").replace("launch:\n", "launch:\n  priority: low\n", 1),
                    encoding="utf-8")


def test_a_clean_repository_is_answered_from_the_verdict_with_the_same_output(repo: Path) -> None:
    assert cli(repo, "apply", "--yes").exit_code == 0
    full = {fmt: cli(repo, "plan", "--format", fmt).output for fmt in ("text", "json", "markdown")}
    assert _verdict(repo).exists()
    for fmt, output in full.items():
        assert cli(repo, "plan", "--format", fmt).output == output  # answered from the verdict
    _applied(repo)
    assert _plan(repo)["summary"]["unchanged"] == json.loads(full["json"])["summary"]["unchanged"] + GHOSTS


def test_a_commit_that_leaves_specs_and_ledger_alone_keeps_the_verdict(repo: Path) -> None:
    _applied(repo)
    write(repo, "README.md", "notes\n")
    commit_all(repo, "docs")
    assert _plan(repo)["summary"]["unchanged"] == _full(repo)["summary"]["unchanged"] + GHOSTS


def _renamed_keeping_its_id(repo: Path) -> None:
    spec = _a_spec(repo)
    text = spec.read_text(encoding="utf-8")
    spec_id = spec.relative_to(repo / "launches").with_suffix("").as_posix()
    spec.unlink()
    write(repo, "launches/moved/here.yaml", text.replace("apiVersion: launchops/v1\n",
                                                         f"apiVersion: launchops/v1\nid: {spec_id}\n", 1))


# Changes the verdict answers: only the files git names are loaded; the others are kept.
KEPT: dict[str, Callable[[Path], Any]] = {
    "edited": lambda repo: _edit(_a_spec(repo)),
    "edited-and-committed": lambda repo: (_edit(_a_spec(repo)), commit_all(repo, "edit")),
    "staged": lambda repo: (_edit(_a_spec(repo)), git(repo, "add", "-A")),
    "untracked": lambda repo: write(repo, "launches/zz-new.yaml",
                                    "apiVersion: launchops/v1\nlaunch: {docker_image: 'x:1'}\n"),
    "ignored": lambda repo: (write(repo, ".gitignore", "launches/*.local.yaml\n"), commit_all(repo, "ignore"),
                             write(repo, "launches/mine.local.yaml",
                                   "apiVersion: launchops/v1\nlaunch: {docker_image: 'x:1'}\n")),
    "deleted": lambda repo: _a_spec(repo).unlink(),
    "renamed-keeping-its-id": _renamed_keeping_its_id,
    "cosmetic": lambda repo: _a_spec(repo).write_text(_a_spec(repo).read_text() + "# a comment\n"),
    "not-a-spec": lambda repo: write(repo, "launches/README.md", "how to write a spec\n"),
}


@pytest.mark.parametrize("change", sorted(KEPT))
def test_changes_are_planned_from_the_changed_files_alone(repo: Path, change: str) -> None:
    _applied(repo)
    KEPT[change](repo)
    quick, full = _plan(repo), _full(repo)
    assert quick["changes"] == full["changes"]
    assert quick["summary"]["unchanged"] == full["summary"]["unchanged"] + GHOSTS


def _assume_unchanged(repo: Path) -> None:
    spec = _a_spec(repo)
    git(repo, "update-index", "--assume-unchanged", str(spec.relative_to(repo)))
    _edit(spec)


def _skip_worktree(repo: Path) -> None:
    spec = _a_spec(repo)
    git(repo, "update-index", "--skip-worktree", str(spec.relative_to(repo)))
    _edit(spec)


def _ledger_committed(repo: Path) -> None:
    ledger = repo / ".launchops" / "ledger.json"
    data = json.loads(ledger.read_text())
    data["specs"][sorted(data["specs"])[0]]["status"] = "failed"
    ledger.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    git(repo, "commit", "-qam", "a failed attempt")


def _defaults(repo: Path) -> None:
    path = repo / "launches" / "_defaults.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("entity: acme-ml", "entity: acme-ml-2"), encoding="utf-8")


def _linked_folder(repo: Path) -> None:
    write(repo, "elsewhere/extra.yaml", "apiVersion: launchops/v1\nlaunch: {docker_image: 'x:1'}\n")
    os.symlink("../elsewhere", repo / "launches" / "linked")


def _journal(repo: Path) -> None:
    from reconciler.journal import Journal
    from reconciler.ledger import Event

    spec_id = sorted(json.loads((repo / ".launchops" / "ledger.json").read_text())["specs"])[0]
    events = Journal(repo / ".launchops" / "journal.db")
    events.append(Event("refreshed", spec_id, 1, {"id": "none", "fields": {}}))
    events.close()


# Changes the verdict must not answer: the full plan, exactly.
FULL: dict[str, Callable[[Path], Any]] = {
    "assume-unchanged": _assume_unchanged,
    "skip-worktree": _skip_worktree,
    "ledger-edited": lambda repo: (repo / ".launchops" / "ledger.json").write_text(
        (repo / ".launchops" / "ledger.json").read_text().replace('"applied"', '"failed"', 1)),
    "ledger-committed": _ledger_committed,
    "settings-file": lambda repo: write(repo, "launchops.toml", 'specs_dir = "launches/team-a"\n'),
    "defaults-edited": _defaults,
    "defaults-added": lambda repo: write(repo, "launches/team-a/_defaults.yaml", "launch: {entity: other}\n"),
    "linked-folder": _linked_folder,
    "journal-events": _journal,
}


@pytest.mark.parametrize("change", sorted(FULL))
def test_changes_the_verdict_cannot_vouch_for_get_the_full_plan(repo: Path, change: str) -> None:
    _applied(repo)
    FULL[change](repo)
    out, full = cli(repo, "plan", "--format", "json"), _without_verdict(repo, "--format", "json")
    assert (out.exit_code, out.output) == (full.exit_code, full.output)


@pytest.mark.parametrize("bad", ["duplicate-id", "invalid-yaml"])
def test_a_changed_file_with_a_problem_gets_the_full_report(repo: Path, bad: str) -> None:
    _applied(repo)
    if bad == "duplicate-id":
        spec_id = _a_spec(repo).relative_to(repo / "launches").with_suffix("").as_posix()
        write(repo, "launches/zz-copy.yaml", f"apiVersion: launchops/v1\nid: {spec_id}\nlaunch: {{docker_image: 'x:1'}}\n")
    else:
        write(repo, "launches/zz-bad.yaml", "apiVersion: launchops/v1\nlaunch:\n\tjob: x\n")
    out = cli(repo, "plan")
    assert out.exit_code == 1
    assert ("is also declared in" if bad == "duplicate-id" else "YAML syntax error") in out.output


def test_settings_from_the_environment_and_flags_are_part_of_the_key(repo: Path) -> None:
    _applied(repo)
    env = {"LAUNCHOPS_SPECS_DIR": "launches/team-a"}
    assert _plan(repo, env=env) == _full(repo, env=env)
    assert _plan(repo)["summary"]["unchanged"] == _full(repo)["summary"]["unchanged"] + GHOSTS
    assert _plan(repo, "--backend", "wandb") == _full(repo, "--backend", "wandb")


def test_a_symlinked_spec_is_never_vouched_for(repo: Path) -> None:
    write(repo, "shared/base.yaml", "apiVersion: launchops/v1\nlaunch: {docker_image: 'x:1'}\n")
    os.symlink("../shared/base.yaml", repo / "launches" / "linked.yaml")
    commit_all(repo, "a linked spec")
    assert cli(repo, "apply", "--yes").exit_code == 0
    assert cache_mod.git_view(load_settings(repo)) is None
    write(repo, "shared/base.yaml", "apiVersion: launchops/v1\nlaunch: {docker_image: 'x:2'}\n")
    commit_all(repo, "the target moved on")
    assert "1 to update" in cli(repo, "plan").output


def test_launchops_itself_and_its_schema_are_part_of_the_key(repo: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _applied(repo)
    view = cache_mod.git_view(load_settings(repo))
    assert view is not None
    monkeypatch.setattr(cache_mod, "__version__", "0.0.0-other")
    other = cache_mod.git_view(load_settings(repo))
    assert other is not None and other.base != view.base
    package = Path(cache_mod.__file__).resolve().parent
    copy = tmp_path / "reconciler"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    stamp = cache_mod._code_stamp(copy)
    assert stamp == cache_mod._code_stamp(package)
    schema = copy / "launch-spec.v1.schema.json"
    schema.write_text(schema.read_text().replace('"maxLength": 180', '"maxLength": 179'))
    assert cache_mod._code_stamp(copy) != stamp
    shutil.copy(package / "launch-spec.v1.schema.json", schema)
    (copy / "plan.py").write_text((package / "plan.py").read_text() + "\n# a fix\n")
    assert cache_mod._code_stamp(copy) != stamp


@pytest.mark.parametrize("damage", ["garbage", "wrong-shape", "gone-tree"])
def test_a_damaged_verdict_is_ignored(repo: Path, damage: str) -> None:
    _applied(repo)
    _edit(_a_spec(repo))
    head, ids = _read(repo)
    if damage == "garbage":
        _verdict(repo).write_text("{not json\n[]")
    elif damage == "wrong-shape":
        _store(repo, head, {"launches/a.yaml": "a"})
    else:
        _store(repo, {**head, "root": "0" * 40}, ids)
    assert _plan(repo) == _full(repo)


def test_no_verdict_outside_git_or_when_there_is_something_to_do(repo: Path, tmp_path: Path) -> None:
    assert cli(repo, "apply", "--yes").exit_code == 0
    _edit(_a_spec(repo))
    assert "1 to update" in cli(repo, "plan").output
    assert not _verdict(repo).exists()  # a plan with changes keeps nothing
    loose = tmp_path / "loose"
    git(repo, "stash", "-q")
    shutil.copytree(repo, loose, ignore=shutil.ignore_patterns(".git"))
    assert cache_mod.git_view(load_settings(loose)) is None
    assert cli(loose, "plan").exit_code == 0 and not _verdict(loose).exists()
