"""The parse-and-validate cache (reconciler/cache.py) and the fast paths behind it: the cached and
uncached paths give the same specs, plan and problems; every input that matters invalidates."""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
import yaml

from conftest import cli, write
from reconciler import cache as cache_mod, checks, yamlload
from reconciler.ledger import Ledger
from reconciler.plan import make_plan
from reconciler.settings import load_settings
from reconciler.specs import load_specs

BAD = {
    "launches/bad/unknown.yaml": "apiVersion: launchops/v1\nlaunch:\n  job: a/b/c:v1\n  parameters: {a: 1}\n",
    "launches/bad/quote.yaml": "apiVersion: launchops/v1\nlaunch:\n  docker_image: x:1\n  version: 1.10\n",
    "launches/bad/dup.yaml": "apiVersion: launchops/v1\nid: team-a/nightly-eval\nlaunch: {docker_image: x:1}\n",
    "launches/bad/_defaults.yaml": "launch: {queue_name: q}\napiVersion: launchops/v1\n",
    "launches/bad/syntax.yaml": "apiVersion: launchops/v1\nlaunch:\n\tjob: x\n",
}


def _state(repo: Path) -> Path:
    (repo / ".launchops").mkdir(exist_ok=True)  # the cache is written only beside an existing state folder
    return repo / ".launchops" / "cache" / cache_mod.CACHE_FILE


def _load(repo: Path, cache: bool = True):  # type: ignore[no-untyped-def]
    return load_specs(load_settings(repo), cache=cache)


def _same(repo: Path) -> None:
    """Uncached, first cached (cold) and second cached (warm) loads agree exactly."""
    plain = _load(repo, cache=False)
    cold = _load(repo)
    warm = _load(repo)
    for result in (cold, warm):
        assert result.specs == plain.specs
        assert result.problems == plain.problems
        assert result.files == plain.files
        assert make_plan(result.specs, Ledger()) == make_plan(plain.specs, Ledger())


def _age(repo: Path) -> None:
    """Make every file look old, so the stat shortcut (not only the hash) is exercised."""
    old = 1_600_000_000
    for path in (repo / "launches").rglob("*"):
        os.utime(path, (old, old))


def test_cached_and_uncached_agree_on_specs_plan_and_problems(repo: Path) -> None:
    _state(repo)
    for rel, text in BAD.items():
        write(repo, rel, text)
    _age(repo)
    _same(repo)
    assert _load(repo).problems  # the bad files are reported from the cache too
    out_plain = cli(repo, "validate", "--format", "json")
    out_cached = cli(repo, "validate", "--format", "json")
    assert out_plain.stdout == out_cached.stdout and out_plain.exit_code == out_cached.exit_code == 1


def test_warm_run_parses_nothing(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _state(repo)
    _age(repo)
    _load(repo)
    calls: list[str] = []
    original = yamlload.load_documents
    monkeypatch.setattr("reconciler.specs.load_documents", lambda text, rel: calls.append(rel) or original(text, rel))
    warm = _load(repo)
    assert warm.specs and calls == []


@pytest.mark.parametrize("what", ["spec", "defaults", "new-defaults", "settings"])
def test_edits_invalidate(repo: Path, what: str) -> None:
    path = _state(repo)
    write(repo, "launches/team-a/from-git.yaml", "apiVersion: launchops/v1\nlaunch: {uri: 'https://example.invalid/r'}\n")
    _age(repo)
    before = _load(repo)
    assert path.exists()
    if what == "spec":
        target = repo / "launches/team-b/train-7b.yaml"
        target.write_text(target.read_text().replace("lr: 0.0003", "lr: 0.0004"))
    elif what == "defaults":
        target = repo / "launches/team-b/_defaults.yaml"
        target.write_text(target.read_text().replace("k8s-h100", "k8s-a100"))
    elif what == "new-defaults":
        write(repo, "launches/team-a/_defaults.yml", "launch: {resource_args: {x: 1}}\n")
    else:
        write(repo, "launchops.toml", 'backend = "wandb"\n')  # uri specs are invalid there
    after = _load(repo)
    assert (after.specs, after.problems) != (before.specs, before.problems)
    plain = _load(repo, cache=False)
    assert (after.specs, after.problems) == (plain.specs, plain.problems)


def test_same_size_edit_within_the_racy_window_is_seen(repo: Path) -> None:
    _state(repo)
    target = repo / "launches/team-b/train-7b.yaml"
    _load(repo)
    st = target.stat()
    target.write_text(target.read_text().replace("lr: 0.0003", "lr: 0.0009"))  # same size
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the same mtime
    assert _load(repo).specs["team-b/train-7b"].launch["config"]["overrides"]["run_config"]["lr"] == 0.0009


def test_schema_or_version_change_invalidates(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(repo)
    package = Path(cache_mod.__file__).resolve().parent
    copy = tmp_path / "package"
    copy.mkdir()
    for name in cache_mod._INPUT_MODULES:
        (copy / name).write_bytes((package / name).read_bytes())
    env = cache_mod.environment_key(settings, "local")
    assert cache_mod.environment_key(settings, "local", copy) == env
    schema = copy / checks.SCHEMA_FILE
    schema.write_text(schema.read_text().replace('"maxLength": 180', '"maxLength": 179'))
    assert cache_mod.environment_key(settings, "local", copy) != env
    (copy / "checks.py").write_text((package / "checks.py").read_text() + "\n# a fix\n")
    assert cache_mod.environment_key(settings, "wandb") != env
    monkeypatch.setattr(cache_mod, "__version__", "99.0")
    assert cache_mod.environment_key(settings, "local") != env


def test_a_cached_entry_from_another_environment_is_not_used(repo: Path) -> None:
    path = _state(repo)
    _load(repo)
    data = json.loads(path.read_text())
    for record in data["files"].values():
        for row in record["specs"]:
            row[3] = "sha256:forged"
    data["env"] = "another launchops"
    path.write_text(json.dumps(data))
    assert all(s.digest != "sha256:forged" for s in _load(repo).specs.values())


@pytest.mark.parametrize("damage", ["garbage", "truncate", "wrong-shape", "bad-row", "empty"])
def test_a_corrupt_cache_is_ignored_and_rebuilt(repo: Path, damage: str) -> None:
    path = _state(repo)
    expected = _load(repo, cache=False)
    _load(repo)
    text = path.read_text()
    if damage == "garbage":
        path.write_bytes(b"\x00\xff not json")
    elif damage == "truncate":
        path.write_text(text[: len(text) // 2])
    elif damage == "wrong-shape":
        path.write_text(json.dumps({"format": cache_mod.FORMAT, "env": json.loads(text)["env"], "files": [],
                                    "folders": 3}))
    elif damage == "bad-row":
        data = json.loads(text)
        for record in data["files"].values():
            record["specs"] = [["only-an-id"]]
        path.write_text(json.dumps(data))
    else:
        path.write_text("")
    again = _load(repo)
    assert again.specs == expected.specs and again.problems == expected.problems
    assert json.loads(path.read_text())["format"] == cache_mod.FORMAT  # rebuilt


def test_deleting_the_cache_is_safe_and_it_is_ignored_by_git(repo: Path) -> None:
    cli(repo, "apply", "--yes")
    assert cli(repo, "plan").exit_code == 0
    cache_dir = repo / ".launchops" / "cache"
    assert (cache_dir / cache_mod.CACHE_FILE).exists()
    from conftest import git

    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    import shutil

    shutil.rmtree(cache_dir)
    out = cli(repo, "plan")
    assert out.exit_code == 0 and "3 unchanged" in out.stdout


def test_plan_works_when_the_cache_folder_cannot_be_made(repo: Path) -> None:
    # As in a read-only checkout (which root, running CI here, would write through anyway): a file
    # where the cache folder should be makes every attempt to create it fail.
    state = repo / ".launchops"
    state.mkdir()
    (state / "cache").write_text("not a folder\n", encoding="utf-8")
    out = cli(repo, "plan")
    assert out.exit_code == 0 and "3 to create" in out.stdout
    assert (state / "cache").read_text(encoding="utf-8") == "not a folder\n"


def test_an_unwritable_cache_file_changes_nothing(repo: Path) -> None:
    path = _state(repo)
    path.parent.mkdir(parents=True)
    path.mkdir()  # a folder where the file should be: every write fails
    out = cli(repo, "plan")
    assert out.exit_code == 0 and "3 to create" in out.stdout


def test_fresh_repository_gets_no_state_folder(repo: Path) -> None:
    cli(repo, "validate")
    cli(repo, "plan")
    assert not (repo / ".launchops").exists()


def test_moving_a_spec_changes_its_default_id(repo: Path) -> None:
    _state(repo)
    _load(repo)
    (repo / "launches/team-b/tokenizer-smoke.yaml").rename(repo / "launches/team-b/tokenizer.yaml")
    assert "team-b/tokenizer" in _load(repo).specs
    _same(repo)


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


def test_ledger_checks_are_skipped_only_for_the_exact_text_that_passed(repo: Path) -> None:
    assert cli(repo, "apply", "--yes").exit_code == 0
    assert cli(repo, "plan").exit_code == 0
    assert (repo / ".launchops" / "cache" / cache_mod.LEDGER_OK).exists()
    ledger = repo / ".launchops" / "ledger.json"
    text = ledger.read_text()
    data = json.loads(text)
    first = next(iter(data["specs"].values()))
    first["launch"]["priority"] = 0  # a hand edit: the digest no longer matches
    ledger.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    out = cli(repo, "plan")
    assert out.exit_code == 1 and "digest does not match" in out.output
    ledger.write_text(text.replace('"version": 1', '"version": 1, "version": 1', 1))
    out = cli(repo, "plan")
    assert out.exit_code == 1 and "appears twice" in out.output
    ledger.write_text(text)
    assert cli(repo, "plan").exit_code == 0
