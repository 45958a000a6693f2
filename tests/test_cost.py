"""What changed (reconciler/cost.py): the committed ledger is the cache. In a fresh clone, plan and
validate read only the spec files whose inputs differ from what their shard recorded, and say
exactly what a full load says; and the fast paths of a load (compiled schema, direct YAML builder)
agree with the slow ones."""
from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import cli, commit_all, git, make_repo, spec_reads, write
from reconciler import checks, yamlload
from reconciler.plan import make_plan
from reconciler.render import documents
from reconciler.settings import load_settings
from reconciler.specs import load_specs

TRAIN = "launches/team-b/train-7b.yaml"


@pytest.fixture
def clone(repo: Path, tmp_path: Path) -> Path:
    """A fresh clone (no .launchops/ but the committed ledger) of an applied repository."""
    assert cli(repo, "apply", "--yes").exit_code == 0
    for n in range(6):
        write(repo, f"launches/more/s{n}.yaml", f"apiVersion: launchops/v1\nlaunch: {{docker_image: 'x:{n}'}}\n")
    commit_all(repo, "more")
    assert cli(repo, "apply", "--yes").exit_code == 0
    path = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(path)], check=True)
    git(path, "config", "user.name", "Test User")
    git(path, "config", "user.email", "test@example.invalid")
    return path


def _full(repo: Path) -> tuple[str, str]:
    """plan and validate documents as a load of every file gives them."""
    from reconciler import engine

    settings = load_settings(repo)
    loaded = load_specs(settings)
    plan = make_plan(loaded.specs, engine.ledger(settings))
    return repr(documents.plan(plan)), repr(documents.validate(loaded))


def _answered(repo: Path) -> tuple[str, str]:
    from reconciler import engine

    settings = load_settings(repo)
    planned = engine.plan(settings)
    assert planned.plan is not None
    return repr(documents.plan(planned.plan)), repr(documents.validate(engine.specs(settings)))


def test_a_fresh_clone_reads_no_spec_file_and_says_what_a_full_load_says(clone: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _full(clone)
    seen = spec_reads(monkeypatch)
    assert _answered(clone) == expected
    assert seen == []
    assert cli(clone, "plan", "--detailed-exitcode").exit_code == 0
    assert not (clone / ".launchops" / "cache").exists()  # nothing is kept outside git


EDITS = {
    "committed spec": ([TRAIN], lambda r: (write(r, TRAIN, (r / TRAIN).read_text().replace("0.0003", "0.0001")),
                                           commit_all(r, "lr"))),
    "uncommitted spec": ([TRAIN], lambda r: write(r, TRAIN, (r / TRAIN).read_text().replace("0.0003", "0.0001"))),
    "comment only": ([TRAIN], lambda r: (write(r, TRAIN, (r / TRAIN).read_text() + "# a comment\n"),
                                         commit_all(r, "comment"))),
    "folder defaults": (["launches/team-b/tokenizer-smoke.yaml", TRAIN], lambda r: (
        write(r, "launches/team-b/_defaults.yaml", (r / "launches/team-b/_defaults.yaml").read_text()
              + "  priority: low\n"), commit_all(r, "defaults"))),
    "new file": (["launches/more/new.yaml"], lambda r: write(r, "launches/more/new.yaml",
                                                              "apiVersion: launchops/v1\nlaunch: {docker_image: n}\n")),
    "deleted file": ([], lambda r: ((r / "launches/more/s1.yaml").unlink(), commit_all(r, "rm"))),
    "skip-worktree edit": ([TRAIN], lambda r: (git(r, "update-index", "--skip-worktree", TRAIN),
                                               write(r, TRAIN, (r / TRAIN).read_text().replace("0.0003", "0.0001")))),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_only_what_changed_is_read(clone: Path, monkeypatch: pytest.MonkeyPatch, edit: str) -> None:
    files, change = EDITS[edit]
    change(clone)
    expected = _full(clone)
    seen = spec_reads(monkeypatch)
    assert _answered(clone) == expected
    assert sorted(set(seen)) == sorted(files)


def test_a_settings_change_reads_everything(clone: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(clone, "launchops.toml", 'queue_name = "elsewhere"\n')
    expected = _full(clone)
    seen = spec_reads(monkeypatch)
    assert _answered(clone) == expected
    assert len(set(seen)) == 9


def test_a_hand_edited_shard_is_checked_in_full_and_named(clone: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shard = clone / ".launchops/ledger/team-b/train-7b.yaml.json"
    shard.write_text(shard.read_text().replace('"state": "pending"', '"state": "running"'))
    commit_all(clone, "by hand")
    seen = spec_reads(monkeypatch)
    out = cli(clone, "plan")
    assert out.exit_code == 0, out.output
    assert ".launchops/ledger/team-b/train-7b.yaml.json is not as launchops wrote it" in out.output
    assert seen == [TRAIN]


def test_a_duplicate_id_in_a_changed_file_is_reported_at_both_lines(clone: Path) -> None:
    write(clone, "launches/more/dup.yaml", "apiVersion: launchops/v1\nid: more/s2\nlaunch: {docker_image: d}\n")
    out = cli(clone, "validate")
    assert out.exit_code == 1
    assert "launches/more/s2.yaml:1:1" in out.output and "launches/more/dup.yaml:2:" in out.output, out.output


def test_fresh_repository_gets_no_state_folder(repo: Path) -> None:
    cli(repo, "validate")
    cli(repo, "plan")
    assert not (repo / ".launchops").exists()


def test_outside_git_everything_is_read(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    assert cli(repo, "apply", "--yes").exit_code == 0
    (repo / ".git").rename(repo / ".git-away")
    assert cli(repo, "plan", "--detailed-exitcode").exit_code == 0


# ---- the fast paths ----------------------------------------------------------------------------------

def _values(rng: random.Random) -> list[object]:
    return [None, True, False, 0, 1, 3, 4, -1, 1.0, 2.5, float("inf"), "", " ", "x", "high", "urgent", "a/b",
            " lead", "trail/", [], ["a"], [1], {}, {"a": 1}, {"a": None}, {"a": [1]}, rng.random()]


def test_fast_schema_validator_agrees_with_jsonschema() -> None:
    """Whenever the compiled validator says valid, jsonschema finds nothing (the other way round
    only costs time: jsonschema then decides)."""
    rng = random.Random(6)
    props = list(checks.schema()["$defs"]["launch"]["properties"]) + ["queue", "image"]
    top = ["apiVersion", "id", "description", "labels", "launch", "extra"]
    import jsonschema

    slow = jsonschema.Draft202012Validator(checks.schema())
    agreed = 0
    for _ in range(4000):
        launch = {"job": "a/b/c:v1"} if rng.random() < 0.7 else {}
        for key in rng.sample(props, rng.randint(0, 4)):
            launch[key] = rng.choice(_values(rng))
        doc: dict[str, object] = {"apiVersion": "launchops/v1", "launch": launch}
        for key in rng.sample(top, rng.randint(0, 3)):
            doc[key] = rng.choice(_values(rng) + ["launchops/v1", {"team": "a"}, {"t": True}])
        fast = checks._fast_valid(doc)
        assert fast == slow.is_valid(doc), doc
        agreed += fast
    assert agreed > 200  # both outcomes were exercised


def test_fast_yaml_builder_gives_what_pyyaml_builds() -> None:
    texts = [
        "a: 1\nb: [1, 2.5, .inf, 0x1f, 0o17, 1_000, 190:20:30, yes, No, ~, null, '', \"x\"]\nc: {d: {e: f}}\n",
        "a: &x {b: 1}\nc: *x\n", "<<: {a: 1}\nb: 2\n", "d: 2026-11-29\n", "x: !!binary aGVsbG8=\n",
        "x: !!str {a: 1}\n", "s: !!set {a, b}\n", "x: !!float 1\n", "x: !!int '7'\n", "? [a]\n: 1\n",
        "x: !custom 1\n", "--- {a: 1}\n--- [b]\n--- c\n",
    ]
    root = Path(__file__).resolve().parents[1]
    texts += [p.read_text(encoding="utf-8") for p in (root / "launches").rglob("*.yaml")]
    def build(text: str, fast: bool) -> list[str]:
        loader = yamlload._Loader(text)
        out = []
        try:
            while loader.check_node():
                node = loader.get_node()
                out.append(repr(yamlload._construct(loader, node) if fast else loader.construct_document(node)))
        except (yaml.YAMLError, ValueError, KeyError, TypeError) as exc:
            out.append(f"{type(exc).__name__}: {exc}")
        finally:
            loader.dispose()
        return out

    for text in texts:
        assert build(text, True) == build(text, False), text
