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
from reconciler import checks, schema_check, yamlload
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


# ---- the index: a plan reads what changed since the last stamped ledger commit ----------------------

# A setting every shard's record and the index depend on: with it nothing is vouched for, and every
# spec file and shard is read (what `benchmarks/` calls cold). Plans with and without it must agree.
FULL = {"LAUNCHOPS_MAX_SPEC_BYTES": "1048577"}


def shard_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The shards a ledger read opens, as they are opened."""
    from reconciler import ledger

    seen: list[str] = []
    original = ledger.read_shard

    def counting(path: str | Path, name: str, shown: str) -> ledger.Shard:
        seen.append(name)
        return original(path, name, shown)
    monkeypatch.setattr(ledger, "read_shard", counting)
    return seen


def _identities(repo: Path, full: bool, monkeypatch: pytest.MonkeyPatch) -> object:
    """What each change of engine.plan is, identity and withdraw included (the JSON shows neither)."""
    from reconciler import engine

    with monkeypatch.context() as patch:
        if full:
            patch.setenv(*next(iter(FULL.items())))
        try:
            planned = engine.plan(load_settings(repo))
        except engine.EngineError as exc:
            return str(exc)
    if planned.plan is None:
        return None
    return [(c.id, c.action.value, c.change, c.previous, c.withdraw, c.marker) for c in planned.plan.changes]


def _as_full(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """plan and validate say byte for byte what reading everything says."""
    for args in (("plan", "--format", "json"), ("validate", "--format", "json"), ("plan",)):
        fast, full = cli(repo, *args), cli(repo, *args, env=FULL)
        assert (fast.exit_code, fast.output) == (full.exit_code, full.output), args
    assert _identities(repo, False, monkeypatch) == _identities(repo, True, monkeypatch)


def test_a_plan_of_nothing_reads_no_shard_and_no_spec_file(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli(repo, "apply", "--yes").exit_code == 0
    assert "Launchops-Index: " in git(repo, "log", "-1", "--format=%B")
    specs, shards = spec_reads(monkeypatch), shard_reads(monkeypatch)
    out = cli(repo, "plan")
    assert out.exit_code == 0 and "3 unchanged" in out.output, out.output
    assert cli(repo, "validate").output.endswith("3 specs valid.\n")
    assert (specs, shards) == ([], [])
    _as_full(repo, monkeypatch)


def test_an_edit_reads_its_file_and_its_shard_only(clone: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(clone, TRAIN, (clone / TRAIN).read_text().replace("0.0003", "0.0001"))
    commit_all(clone, "lr")
    specs, shards = spec_reads(monkeypatch), shard_reads(monkeypatch)
    out = cli(clone, "plan")
    assert "1 to update" in out.output, out.output
    assert (specs, shards) == ([TRAIN], ["team-b/train-7b.yaml.json"])
    _as_full(clone, monkeypatch)


@pytest.mark.parametrize("form", ["-C DIR", "-CDIR"])
def test_git_asked_ahead_from_the_command_line_answers_the_plan(clone: Path, monkeypatch: pytest.MonkeyPatch,
                                                               form: str) -> None:
    """The entry point asks git before the CLI is imported; the plan takes up that answer."""
    from reconciler import engine

    write(clone, TRAIN, (clone / TRAIN).read_text().replace("0.0003", "0.0001"))
    commit_all(clone, "lr")
    engine.ask_ahead(["-C", str(clone), "plan"] if form == "-C DIR" else [f"-C{clone}", "validate", "--format", "json"])
    assert len(engine._AHEAD) == 1
    specs, shards = spec_reads(monkeypatch), shard_reads(monkeypatch)
    out = cli(clone, "plan")
    assert "1 to update" in out.output, out.output
    assert (specs, shards) == ([TRAIN], ["team-b/train-7b.yaml.json"]) and engine._AHEAD == {}
    _as_full(clone, monkeypatch)


@pytest.mark.parametrize("argv", [[], ["-C"], ["--version"], ["apply", "--yes"], ["status"],
                                  ["validate", "--staged"], ["validate", "launches/a.yaml"],
                                  ["validate", "--format", "json", "launches"], ["--help", "plan"]])
def test_nothing_is_asked_ahead_for_other_commands(clone: Path, monkeypatch: pytest.MonkeyPatch,
                                                   argv: list[str]) -> None:
    from reconciler import engine

    monkeypatch.chdir(clone)
    engine.ask_ahead(argv)
    assert engine._AHEAD == {}


def test_an_amended_ledger_commit_vouches_for_nothing(clone: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the edit goes into the stamped commit itself: its index describes the tree it had before
    write(clone, TRAIN, (clone / TRAIN).read_text().replace("0.0003", "0.0001"))
    git(clone, "commit", "-qa", "--amend", "--no-edit")
    assert "Launchops-Index: " in git(clone, "log", "-1", "--format=%B")
    shards = shard_reads(monkeypatch)
    assert "1 to update" in cli(clone, "plan").output
    assert len(shards) > 1  # read in full
    _as_full(clone, monkeypatch)


def test_a_hand_edited_index_is_not_believed(clone: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    meta = clone / ".launchops/ledger/_ledger.json"
    data = json.loads(meta.read_text())
    data["index"]["shards"] = {k: 1 for k in data["index"]["shards"]}  # everything plain, nothing to read
    meta.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    write(clone, TRAIN, (clone / TRAIN).read_text().replace("0.0003", "0.0001"))
    commit_all(clone, "by hand")
    assert "1 to update" in cli(clone, "plan").output
    _as_full(clone, monkeypatch)


def test_a_reverted_ledger_commit_plans_as_a_full_load(clone: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    git(clone, "revert", "--no-edit", "HEAD")  # the second apply's ledger commit
    out = cli(clone, "plan")
    assert "6 to create" in out.output, out.output
    _as_full(clone, monkeypatch)


def test_a_new_file_that_takes_an_unread_id_is_reported(clone: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(clone, "launches/late.yaml", "apiVersion: launchops/v1\nid: team-b/train-7b\nlaunch: {docker_image: d}\n")
    out = cli(clone, "validate")
    assert out.exit_code == 1 and f"{TRAIN}:3:" in out.output and "launches/late.yaml:2:" in out.output
    _as_full(clone, monkeypatch)


def test_an_id_given_back_after_removal_follows_its_last_change(clone: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clone / "launches/more/s1.yaml").unlink()
    commit_all(clone, "rm")
    assert cli(clone, "apply", "--yes").exit_code == 0
    # another file now declares the removed id: its create follows the removed entry's identity
    write(clone, "launches/other.yaml", "apiVersion: launchops/v1\nid: more/s1\nlaunch: {docker_image: 'x:1'}\n")
    commit_all(clone, "again")
    assert "1 to create" in cli(clone, "plan").output
    _as_full(clone, monkeypatch)


def test_retries_and_replaces_of_unread_specs_are_planned(clone: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shard = clone / ".launchops/ledger/more/s3.yaml.json"
    shard.write_text(shard.read_text().replace('"status": "applied"', '"status": "failed"'))
    commit_all(clone, "a failure, by hand")
    assert "1 to retry" in cli(clone, "plan").output
    out = cli(clone, "plan", "--replace", "more/s4")
    assert "more/s4" in out.output, out.output
    _as_full(clone, monkeypatch)
    for args in (("plan", "--replace", "more/s4", "--format", "json"),):
        assert cli(clone, *args).output == cli(clone, *args, env=FULL).output


def test_a_spec_that_keeps_its_items_is_read_for_a_replace(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`lifecycle:` is not in the ledger's entry, so a file that says it is read, not vouched for:
    its replace withdraws nothing, as a full load says."""
    write(repo, "launches/kept.yaml", "apiVersion: launchops/v1\nlifecycle: {withdraw: false}\n"
                                      "launch: {docker_image: 'k:1'}\n")
    commit_all(repo, "kept")
    assert cli(repo, "apply", "--yes").exit_code == 0
    out = cli(repo, "plan", "--replace", "kept", "--format", "json")
    assert '"withdraw": null' in out.output and '"replace"' in out.output, out.output
    assert out.output == cli(repo, "plan", "--replace", "kept", "--format", "json", env=FULL).output
    _as_full(repo, monkeypatch)


WALK_SPEC = "apiVersion: launchops/v1\n{id}launch:\n  docker_image: 'img:{n}'\n  config: {{seed: {seed}}}\n"


def test_seeded_edits_reverts_amends_and_switches_plan_as_a_full_load(repo: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Thirty seeded steps of what people do to a repository between plans; after each, plan and
    validate say exactly what reading everything says."""
    rng = random.Random(20261202)
    for n in range(8):
        write(repo, f"launches/walk/s{n}.yaml", WALK_SPEC.format(id="", n=n, seed=0))
    commit_all(repo, "walk")
    assert cli(repo, "apply", "--yes").exit_code == 0

    def files() -> list[str]:
        return sorted(p.relative_to(repo).as_posix() for p in (repo / "launches/walk").glob("*.yaml"))

    def edit() -> None:
        rel = rng.choice(files())
        write(repo, rel, (repo / rel).read_text().replace("seed: ", f"seed: {rng.randint(1, 9)}", 1))
        if rng.random() < 0.7:
            commit_all(repo, "edit")

    def add() -> None:
        n = rng.randint(10, 99)
        own = f"id: walk/t{rng.randint(0, 3)}\n" if rng.random() < 0.3 else ""
        write(repo, f"launches/walk/s{n}.yaml", WALK_SPEC.format(id=own, n=n, seed=1))
        commit_all(repo, "add")

    def delete() -> None:
        (repo / rng.choice(files())).unlink()
        commit_all(repo, "delete")

    def defaults() -> None:
        write(repo, "launches/walk/_defaults.yaml", f"launch:\n  priority: {rng.choice(['low', 'high'])}\n")
        commit_all(repo, "defaults")

    def apply() -> None:
        cli(repo, "apply", "--yes", "--allow-dirty")

    def revert() -> None:  # refused over uncommitted edits, or in conflict: then nothing changes
        if subprocess.run(["git", "revert", "--no-edit", "HEAD"], cwd=repo, capture_output=True).returncode:
            subprocess.run(["git", "revert", "--abort"], cwd=repo, capture_output=True)

    def amend() -> None:
        rel = rng.choice(files())
        write(repo, rel, (repo / rel).read_text() + "# amended\n" + "x: 1\n" * rng.randint(0, 1))
        git(repo, "commit", "-qa", "--amend", "--no-edit")

    def shard() -> None:
        found = sorted((repo / ".launchops/ledger/walk").glob("*.json"))
        if found:
            path = rng.choice(found)
            path.write_text(path.read_text().replace('"status": "applied"', '"status": "failed"'))
            if rng.random() < 0.5:
                commit_all(repo, "shard by hand")

    def switch() -> None:
        if git(repo, "branch", "--show-current").strip():
            git(repo, "checkout", "-q", "--detach", "HEAD~1")
        else:
            git(repo, "checkout", "-q", "-f", "main")

    def rename() -> None:  # with moved_from half the time: the old id's shard is not otherwise read
        old = rng.choice(files())
        new = f"launches/walk/r{rng.randint(100, 999)}.yaml"
        git(repo, "mv", old, new)
        if rng.random() < 0.5:
            old_id = old[len("launches/"):-len(".yaml")]
            write(repo, new, (repo / new).read_text().replace("launch:", f"moved_from: [{old_id}]\nlaunch:", 1))
        commit_all(repo, "rename")

    def uncommitted_apply() -> None:  # shards written, not committed
        cli(repo, "apply", "--yes", "--no-commit", "--allow-dirty")

    steps = [edit, edit, add, delete, defaults, apply, apply, revert, amend, shard, switch, rename, uncommitted_apply]
    for _ in range(30):
        rng.choice(steps)()
        _as_full(repo, monkeypatch)


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
    assert checks._fast_validator() is schema_check.validate  # what was checked is the shipped code


def test_the_shipped_schema_check_is_made_from_the_schema_as_it_is() -> None:
    """reconciler/schema_check.py names the schema it was written from: after an edit of the schema,
    `make schema-check` writes it again (until then every load compiles the schema itself)."""
    assert schema_check.SCHEMA_SHA256 == checks._schema_sha256(), "run make schema-check"
    written = checks.schema_check_source()
    assert written.splitlines()[:4] == Path(schema_check.__file__).read_text().splitlines()[:4]


def test_fast_yaml_builder_gives_what_pyyaml_builds() -> None:
    texts = [
        "a: 1\nb: [1, 2.5, .inf, 0x1f, 0o17, 1_000, 190:20:30, yes, No, ~, null, '', \"x\"]\nc: {d: {e: f}}\n",
        "a: &x {b: 1}\nc: *x\n", "<<: {a: 1}\nb: 2\n", "d: 2026-11-29\n", "x: !!binary aGVsbG8=\n",
        "x: !!str {a: 1}\n", "s: !!set {a, b}\n", "x: !!float 1\n", "x: !!int '7'\n", "? [a]\n: 1\n",
        "x: !custom 1\n", "--- {a: 1}\n--- [b]\n--- c\n",
    ]
    root = Path(__file__).resolve().parents[1]
    texts += [p.read_text(encoding="utf-8") for p in (root / "launches").rglob("*.yaml")]
    def pyyaml(text: str) -> list[str]:
        loader = yamlload._Loader(text)
        out = []
        try:
            while loader.check_node():
                out.append(repr(loader.construct_document(loader.get_node())))
        except (yaml.YAMLError, ValueError, KeyError, TypeError) as exc:
            out.append(f"{type(exc).__name__}: {exc}")
        finally:
            loader.dispose()
        return out

    built = []
    for text in texts:  # every document load_documents builds (by its walks, or by PyYAML) is PyYAML's
        documents, _ = yamlload.load_documents(text, "x.yaml")
        expected = pyyaml(text)
        for document in documents:
            assert repr(document.data) == expected[document.index], text
        built.append(len(documents))
    assert built[:5] == [1, 1, 1, 1, 1]  # plain values, an alias, a merge key, a date, a binary
