"""Hostile input: every file in tests/hostile/ gets a clear error at its exact location, exit 1,
nothing enqueued and the ledger byte-for-byte unchanged (see tests/hostile/README.md)."""
from __future__ import annotations

import html
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import cli, commit_all, make_repo, queue_items, read_ledger, write

CORPUS = Path(__file__).parent / "hostile"
LEDGER = ".launchops/ledger/baseline.yaml.json"  # the shard of the applied spec
BASELINE = "apiVersion: launchops/v1\nlaunch:\n  job: acme/evals/eval-job:v3\n  queue_name: gpu-a100\n"


@dataclass(frozen=True)
class Expected:
    where: str  # `launches/x.yaml:4:12`, or `launches/x.yaml` for a problem about the whole file
    fragment: str


def read_expect(path: Path) -> tuple[list[Expected], list[str]]:
    problems, never = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("never: "):
            never.append(line.removeprefix("never: "))
        else:
            where, fragment = line.split(" | ", 1)
            problems.append(Expected(where, fragment))
    return problems, never


def spec_cases() -> list[str]:
    return sorted(p.stem for p in (CORPUS / "specs").glob("*.expect"))


def install(repo: Path, case: str) -> None:
    """Copy one corpus case into launches/, bytes and all."""
    source = CORPUS / "specs" / case
    if source.is_dir():
        shutil.copytree(source, repo / "launches" / case)
    else:
        shutil.copyfile(source.with_suffix(".yaml"), repo / "launches" / f"{case}.yaml")


@pytest.fixture(scope="session")
def applied_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with one valid spec already applied: a ledger and one queue item to protect."""
    repo = make_repo(tmp_path_factory.mktemp("template") / "repo", examples=False)
    write(repo, "launches/baseline.yaml", BASELINE)
    commit_all(repo)
    out = cli(repo, "apply", "--yes")
    assert out.exit_code == 0, out.output
    return repo


@pytest.fixture
def applied(applied_template: Path, tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(applied_template, repo, symlinks=True)
    return repo


def _ledger_bytes(repo: Path) -> bytes:
    """Every ledger file, named: what must stay byte for byte as it was."""
    folder = repo / ".launchops" / "ledger"
    return b"".join(p.relative_to(folder).as_posix().encode() + b"\0" + p.read_bytes()
                    for p in sorted(folder.rglob("*")) if p.is_file())


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("launches/")]


def assert_reported(output: str, expected: list[Expected]) -> None:
    lines = error_lines(output)
    for e in expected:
        assert any(line.startswith(f"{e.where}: ") and e.fragment in line for line in lines), (e, output)
    assert len(lines) == len(expected), output  # nothing else, and nothing said twice


def assert_nothing_happens(repo: Path, ledger_before: bytes, items_before: list[dict[str, object]]) -> list[str]:
    """plan and apply --yes both refuse; the queue and the ledger stay exactly as they were."""
    outputs = []
    for args, said in ((("plan",), "there is no plan"), (("plan", "--format", "json"), '"valid": false'),
                       (("apply", "--yes"), "nothing was enqueued")):
        out = cli(repo, *args)
        assert out.exit_code == 1, (args, out.output)
        assert said in out.output
        outputs.append(out.output)
    assert _ledger_bytes(repo) == ledger_before
    assert queue_items(repo) == items_before
    return outputs


@pytest.mark.parametrize("case", spec_cases())
def test_hostile_spec(applied: Path, case: str) -> None:
    expected, never = read_expect(CORPUS / "specs" / f"{case}.expect")
    assert expected, "a hostile case names at least one problem"
    ledger_before = _ledger_bytes(applied)
    items_before = queue_items(applied)
    install(applied, case)
    commit_all(applied, f"hostile: {case}")

    text = cli(applied, "validate")
    assert text.exit_code == 1, text.output
    assert_reported(text.output, expected)

    as_json = cli(applied, "validate", "--format", "json")
    assert as_json.exit_code == 1
    document = json.loads(as_json.stdout)
    assert document["valid"] is False
    found = {f"{e['file']}:{e['line']}:{e['column']}" if e["line"] else e["file"] for e in document["errors"]}
    assert found == {e.where for e in expected}

    github = cli(applied, "validate", "--format", "github")
    assert github.exit_code == 1
    assert github.stdout.count("::error ") == len(expected)

    outputs = assert_nothing_happens(applied, ledger_before, items_before)
    for value in never:
        for output in (text.output, as_json.output, github.output, *outputs):
            assert value not in output


def test_every_hostile_file_reported_in_one_run(applied: Path) -> None:
    expected: list[Expected] = []
    for case in spec_cases():
        install(applied, case)
        expected.extend(read_expect(CORPUS / "specs" / f"{case}.expect")[0])
    ledger_before = _ledger_bytes(applied)
    items_before = queue_items(applied)
    commit_all(applied, "every hostile file at once")
    out = cli(applied, "validate")
    assert out.exit_code == 1
    assert_reported(out.output, expected)
    assert_nothing_happens(applied, ledger_before, items_before)


# ---- valid despite appearances ------------------------------------------------------------------

def valid_cases() -> list[str]:
    return sorted(p.stem for p in (CORPUS / "valid").glob("*.yaml"))


@pytest.mark.parametrize("case", valid_cases())
def test_valid_case_enqueues_what_is_written(applied: Path, case: str) -> None:
    source = CORPUS / "valid" / f"{case}.yaml"
    shutil.copyfile(source, applied / "launches" / f"{case}.yaml")
    equivalent = source.with_suffix(".equivalent")
    if equivalent.exists():
        shutil.copyfile(equivalent, applied / "launches" / f"{case}-written-out.yaml")
    commit_all(applied)
    out = cli(applied, "validate")
    assert out.exit_code == 0, out.output

    plan = json.loads(cli(applied, "plan", "--format", "json").stdout)
    digests = {c["id"]: c["digest"] for c in plan["changes"]}
    assert case in digests
    applied_out = cli(applied, "apply", "--yes")
    assert applied_out.exit_code == 0, applied_out.output
    launches = {item["spec_id"]: item["launch"] for item in queue_items(applied)}
    if equivalent.exists():
        assert digests[case] == digests[f"{case}-written-out"]
        assert launches[case] == launches[f"{case}-written-out"]


def test_merge_keys_give_the_written_out_values(applied: Path) -> None:
    shutil.copyfile(CORPUS / "valid" / "merge_keys.yaml", applied / "launches" / "merged.yaml")
    commit_all(applied)
    assert cli(applied, "apply", "--yes").exit_code == 0
    item = next(i for i in queue_items(applied) if i["spec_id"] == "merged")
    run_config = item["launch"]["config"]["overrides"]["run_config"]
    assert run_config["short"] == {"lr": 0.001, "batch_size": 64, "max_steps": 100}
    assert run_config["long"] == {"lr": 0.001, "batch_size": 128, "warmup_steps": 10}  # explicit key wins
    assert item["launch"]["template_variables"] == {"gpus": 2, "nodes": 1}


def test_quoted_yaml11_words_stay_strings(applied: Path) -> None:
    shutil.copyfile(CORPUS / "valid" / "quoted_yaml11_words.yaml", applied / "launches" / "quoted.yaml")
    commit_all(applied)
    assert cli(applied, "apply", "--yes").exit_code == 0
    launch = next(i for i in queue_items(applied) if i["spec_id"] == "quoted")["launch"]
    assert (launch["name"], launch["version"], launch["queue_name"]) == ("no", "1.10", "yes")
    assert launch["config"] == {"cutoff": "2026-11-29", "mode": "0755"}


# ---- size ---------------------------------------------------------------------------------------

def test_file_over_the_default_size_limit(applied: Path) -> None:
    ledger_before, items_before = _ledger_bytes(applied), queue_items(applied)
    write(applied, "launches/huge.yaml", BASELINE + "# padding\n" * 110_000)
    size = (applied / "launches/huge.yaml").stat().st_size
    commit_all(applied)
    out = cli(applied, "validate")
    assert out.exit_code == 1
    assert error_lines(out.output) == [f"launches/huge.yaml: is {size} bytes, larger than max_spec_bytes (1048576); "
                                       "split it, or raise max_spec_bytes in launchops.toml"]
    assert_nothing_happens(applied, ledger_before, items_before)


def test_max_spec_bytes_setting_changes_the_limit(applied: Path) -> None:
    padded = write(applied, "launches/padded.yaml", BASELINE.replace("v3", "v4") + "# padding\n" * 10)
    write(applied, "launchops.toml", "max_spec_bytes = 100\n")
    commit_all(applied)
    assert (applied / "launches/baseline.yaml").stat().st_size <= 100 < padded.stat().st_size
    out = cli(applied, "validate")
    assert out.exit_code == 1
    assert error_lines(out.output) == [f"launches/padded.yaml: is {padded.stat().st_size} bytes, larger than "
                                       "max_spec_bytes (100); split it, or raise max_spec_bytes in launchops.toml"]
    write(applied, "launchops.toml", "max_spec_bytes = 4096\n")
    assert cli(applied, "validate").exit_code == 0


# ---- paths --------------------------------------------------------------------------------------

@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the repository, holding a valid spec and defaults that must never be read."""
    folder = tmp_path / "outside"
    write(folder, "evil.yaml", BASELINE.replace("gpu-a100", "stolen-queue"))
    write(folder, "_defaults.yaml", "launch:\n  queue_name: stolen-queue\n")
    write(folder, "nested/evil.yaml", BASELINE.replace("gpu-a100", "stolen-queue"))
    return folder


def _refused(repo: Path, expected_lines: list[str], *paths: str) -> None:
    ledger_before, items_before = _ledger_bytes(repo), queue_items(repo)
    commit_all(repo)
    out = cli(repo, "validate", *paths)
    assert out.exit_code == 1
    assert sorted(error_lines(out.output)) == sorted(expected_lines)
    assert "stolen-queue" not in out.output
    assert_nothing_happens(repo, ledger_before, items_before)


def test_spec_symlink_outside_the_repository(applied: Path, outside: Path) -> None:
    os.symlink(outside / "evil.yaml", applied / "launches" / "evil.yaml")
    _refused(applied, ["launches/evil.yaml: is a symlink that resolves outside the repository; "
                       "copy the file into the repository instead"])


def test_defaults_symlink_outside_the_repository(applied: Path, outside: Path) -> None:
    write(applied, "launches/team/eval.yaml", BASELINE.replace("v3", "v5"))
    os.symlink(outside / "_defaults.yaml", applied / "launches" / "team" / "_defaults.yaml")
    _refused(applied, ["launches/team/_defaults.yaml: is a symlink that resolves outside the repository; "
                       "copy the file into the repository instead"])


def test_spec_folder_symlink_is_refused_not_followed(applied: Path, outside: Path) -> None:
    os.symlink(outside / "nested", applied / "launches" / "linked")
    _refused(applied, ["launches/linked: is a symlink to a folder, which launchops does not follow (it could leave "
                       "the repository or read specs twice); move the specs into the folder"])


def test_symlinked_folder_named_on_the_command_line(applied: Path, outside: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    os.symlink(outside / "nested", applied / "launches" / "linked")
    commit_all(applied)
    monkeypatch.chdir(applied)
    folder = cli(applied, "validate", "launches/linked")
    assert folder.exit_code == 1
    assert error_lines(folder.output) == ["launches/linked: is a symlink to a folder, which launchops does not "
                                          "follow; move the specs into the folder"]
    inside = cli(applied, "validate", "launches/linked/evil.yaml")
    assert inside.exit_code == 1
    assert error_lines(inside.output) == ["launches/linked/evil.yaml: is reached through a symlinked folder outside "
                                          "the repository; copy the file into the repository instead"]


def test_file_names_with_spaces_and_unicode(applied: Path) -> None:
    write(applied, "launches/nightly eval.yaml", BASELINE.replace("v3", "v6"))
    write(applied, "launches/équipe-ü/données 2026.yml", BASELINE.replace("v3", "v7"))
    commit_all(applied)
    assert cli(applied, "validate").exit_code == 0
    out = cli(applied, "apply", "--yes")
    assert out.exit_code == 0, out.output
    ids = {item["spec_id"] for item in queue_items(applied)}
    assert ids == {"baseline", "nightly eval", "équipe-ü/données 2026"}
    ledger = read_ledger(applied)
    assert ledger["specs"]["équipe-ü/données 2026"]["source"] == "launches/équipe-ü/données 2026.yml"
    assert cli(applied, "plan", "--detailed-exitcode").exit_code == 0


# ---- the ledger ---------------------------------------------------------------------------------

def ledger_cases() -> list[str]:
    return sorted(p.stem for p in (CORPUS / "ledger").glob("*.json"))


@pytest.mark.parametrize("case", ledger_cases())
def test_unreadable_ledger(applied: Path, case: str) -> None:
    fragment = (CORPUS / "ledger" / f"{case}.expect").read_text(encoding="utf-8").strip()
    shutil.copyfile(CORPUS / "ledger" / f"{case}.json", applied / LEDGER)
    write(applied, "launches/new.yaml", BASELINE.replace("v3", "v8"))  # a change apply would enqueue
    commit_all(applied, f"ledger: {case}")
    before = _ledger_bytes(applied)
    items_before = queue_items(applied)
    for args in (("plan",), ("apply", "--yes"), ("status",), ("status", "--format", "json")):
        out = cli(applied, *args)
        assert out.exit_code == 1, (args, out.output)
        assert out.stderr.startswith(f"launchops: error: {LEDGER}"), out.stderr
        assert fragment in out.stderr
        # the fix is named: restore from git, resolve the conflict, or upgrade launchops
        assert any(fix in out.stderr for fix in ("git checkout --", "resolve the conflict", "upgrade launchops"))
        assert out.stdout == ""
        assert _ledger_bytes(applied) == before
    assert queue_items(applied) == items_before


# ---- secrets ------------------------------------------------------------------------------------

SECRET_SPEC = """apiVersion: launchops/v1
launch:
  job: acme/evals/eval-job:v3
  version: 3f786850e387550fdab836ed7e6dc881de23001b
  config:
    api_key: {api_key}
    env:
      WANDB_API_KEY: {wandb}
      password: {password}
      token: {token}
"""
VALUES = {"api_key": "plain-apikey-1", "wandb": "wandb key 2", "password": "hunter2!", "token": "tok:3"}


def _every_output(repo: Path) -> str:
    outputs = []
    for args in (("plan",), ("plan", "--format", "json"), ("plan", "--format", "markdown"),
                 ("queue", "list"), ("queue", "list", "--format", "json"),
                 ("status",), ("status", "--format", "json")):
        out = cli(repo, *args)
        assert out.exit_code == 0, (args, out.output)
        outputs.append(out.output)
    return "\n".join(outputs)


def test_secret_values_are_masked_in_every_output(applied: Path) -> None:
    write(applied, "launches/secret.yaml", SECRET_SPEC.format(**VALUES))
    commit_all(applied)
    assert cli(applied, "validate").exit_code == 0  # short values are masked, not refused

    before = _every_output(applied)
    assert '"***"' in cli(applied, "plan", "--format", "json").stdout
    applying = cli(applied, "apply", "--yes")
    assert applying.exit_code == 0
    after = _every_output(applied)
    items = [i for i in queue_items(applied) if i["spec_id"] == "secret"]
    assert items[0]["launch"]["config"] == {"api_key": "***", "env": {"WANDB_API_KEY": "***", "password": "***",
                                                                       "token": "***"}}
    assert items[0]["launch"]["version"] == "3f786850e387550fdab836ed7e6dc881de23001b"  # a SHA, not a secret

    # an update shows that a secret changed, never what it was or became
    changed = SECRET_SPEC.format(**{**VALUES, "password": "correct horse"})
    write(applied, "launches/secret.yaml", changed + "  priority: urgent\n")  # errors next to the secrets
    validate = []
    for fmt in ("text", "json", "github"):
        out = cli(applied, "validate", "--format", fmt)
        assert out.exit_code == 1 and "urgent" in out.output
        validate.append(out.output)
    write(applied, "launches/secret.yaml", changed)
    commit_all(applied)
    update = cli(applied, "plan").output
    assert "      ~ launch.config.env.password: (secret changed)\n" in update
    updating = cli(applied, "apply", "--yes").output
    everything = "\n".join([before, applying.output, after, *validate, update, updating, _every_output(applied)])
    for value in (*VALUES.values(), "correct horse"):
        assert value not in everything


NESTED_SPEC = """apiVersion: launchops/v1
launch:
  job: acme/evals/eval-job:v3
  queue_name: gpu-a100
  config:
    lr: 0.001
    credentials:
      primary: {{user: {user}, pass: {password}}}
      backups: [{backup}, backup-two]
    password: [{pw}, pw-two]
    db:
      private_key: {{pem: {{path: {pem}}}}}
"""
NESTED = {"user": "alice-user", "password": "alice-pass", "backup": "backup-one", "pw": "pw-one",
          "pem": "pem-path-one"}
SHOWN = (("plan",), ("plan", "--format", "json"), ("plan", "--format", "markdown"),
         ("status",), ("status", "--format", "json"), ("status", "--format", "markdown"),
         ("queue", "list"), ("queue", "list", "--format", "json"))


def _shown(repo: Path) -> dict[tuple[str, ...], str]:
    outputs = {}
    for args in SHOWN:
        out = cli(repo, *args)
        assert out.exit_code == 0, (args, out.output)
        outputs[args] = out.output
    return outputs


def test_everything_below_a_secret_named_key_is_masked(applied: Path) -> None:
    """A mapping or list under `credentials:`, `password:` or `private_key:` is secret all the way
    down, also where the secret-named key is not the last one on the path."""
    write(applied, "launches/nested.yaml", NESTED_SPEC.format(**NESTED))
    commit_all(applied)
    seen = list(_shown(applied).values())
    create = json.loads(cli(applied, "plan", "--format", "json").stdout)["changes"]
    diff = {d["path"]: d["new"] for d in next(c for c in create if c["id"] == "nested")["diff"]}
    assert diff["launch.config.lr"] == 0.001  # the sibling of a secret is shown
    for path in ("launch.config.credentials.primary.user", "launch.config.credentials.primary.pass",
                 "launch.config.db.private_key.pem.path"):
        assert diff[path] == "***", path
    assert diff["launch.config.credentials.backups"] == diff["launch.config.password"] == "***"
    applying = cli(applied, "apply", "--yes")
    assert applying.exit_code == 0, applying.output
    seen += [applying.output, *_shown(applied).values()]
    item = next(i for i in queue_items(applied) if i["spec_id"] == "nested")
    assert item["launch"]["config"] == {"lr": 0.001, "credentials": "***", "password": "***",
                                        "db": {"private_key": "***"}}

    changed = {"user": "alice-user", "password": "bob-pass", "backup": "backup-three", "pw": "pw-three",
               "pem": "pem-path-two"}
    write(applied, "launches/nested.yaml", NESTED_SPEC.format(**changed))
    commit_all(applied)
    text = cli(applied, "plan").stdout
    for path in ("launch.config.credentials.primary.pass", "launch.config.credentials.backups[0]",
                 "launch.config.password[0]", "launch.config.db.private_key.pem.path"):
        assert f"      ~ {path}: (secret changed)\n" in text, text
    update = json.loads(cli(applied, "plan", "--format", "json").stdout)["changes"][0]["diff"]
    assert update and all(d == {"path": d["path"], "old": "***", "new": "***", "secret": True} for d in update)
    markdown = cli(applied, "plan", "--format", "markdown").stdout
    assert '| <code>launch.config.password[0]</code> | <code>"***"</code> | (secret changed) |' in html.unescape(markdown)
    seen += [text, markdown, *_shown(applied).values()]
    updating = cli(applied, "apply", "--yes", "--format", "json")
    assert updating.exit_code == 0, updating.output
    seen += [updating.output, cli(applied, "apply", "--yes", "--format", "markdown").output,
             *_shown(applied).values()]
    everything = "\n".join(seen)
    for value in (*NESTED.values(), *changed.values(), "backup-two", "pw-two"):
        assert value not in everything, value


def test_credential_under_a_secret_key_refused_without_printing_it(applied: Path) -> None:
    credential = "3f786850e387550fdab836ed7e6dc881de23001b"
    write(applied, "launches/leak.yaml", SECRET_SPEC.format(**{**VALUES, "token": credential}))
    ledger_before, items_before = _ledger_bytes(applied), queue_items(applied)
    commit_all(applied)
    outputs = []
    for fmt in ("text", "json", "github"):
        out = cli(applied, "validate", "--format", fmt)
        assert out.exit_code == 1
        outputs.append(out.output)
    assert error_lines(outputs[0]) == ["launches/leak.yaml:10:14: launch.config.env.token: holds a W&B API key "
                                       "(40 hex digits): a credential must not be in a spec (specs are committed to "
                                       "git and shown on pull requests): remove it, revoke it if it was pushed, and "
                                       "give it to the run from a secret store or an environment variable instead"]
    outputs += assert_nothing_happens(applied, ledger_before, items_before)
    assert not any(credential in o for o in outputs)


def test_commit_sha_under_version_stays_valid(applied: Path) -> None:
    write(applied, "launches/pinned.yaml", BASELINE + "  version: 3f786850e387550fdab836ed7e6dc881de23001b\n")
    commit_all(applied)
    out = cli(applied, "validate")
    assert out.exit_code == 0, out.output


def test_ordinary_ml_keys_are_shown_and_their_changes_reviewable(applied: Path) -> None:
    """`max_new_tokens`, `pad_token`, a toleration's `key`, a 40-hex `tokenizer_revision`: shown as
    written when created and when changed, in every plan format; none is a secret."""
    spec = (CORPUS / "valid" / "ml_keys.yaml").read_text(encoding="utf-8")
    write(applied, "launches/ml.yaml", spec)
    commit_all(applied)
    created = json.loads(cli(applied, "plan", "--format", "json").stdout)["changes"][0]["diff"]
    shown = {d["path"].removeprefix("launch.config.overrides.run_config."): d["new"] for d in created
             if "secret" not in d}
    assert shown["max_new_tokens"] == 512 and shown["pad_token"] == "<pad>" and shown["pad_token_id"] == 0
    assert shown["tokenizer_revision"] == "3f786850e387550fdab836ed7e6dc881de23001b"
    assert shown["launch.resource_args.kubernetes.spec.template.spec.tolerations"][0]["key"] == "nvidia.com/gpu"
    assert cli(applied, "apply", "--yes").exit_code == 0

    write(applied, "launches/ml.yaml", spec.replace("max_new_tokens: 512", "max_new_tokens: 4096")
          .replace('eos_token: "</s>"', 'eos_token: "<|eot_id|>"'))
    commit_all(applied)
    text = cli(applied, "plan").stdout
    assert "      ~ launch.config.overrides.run_config.max_new_tokens: 512 -> 4096\n" in text, text
    assert '      ~ launch.config.overrides.run_config.eos_token: "</s>" -> "<|eot_id|>"\n' in text, text
    assert "***" not in text and "(secret changed)" not in text
    update = json.loads(cli(applied, "plan", "--format", "json").stdout)["changes"][0]["diff"]
    assert {d["path"]: (d["old"], d["new"]) for d in update} == {
        "launch.config.overrides.run_config.max_new_tokens": (512, 4096),
        "launch.config.overrides.run_config.eos_token": ("</s>", "<|eot_id|>")}
    markdown = html.unescape(cli(applied, "plan", "--format", "markdown").stdout)
    assert "4096" in markdown and "(secret changed)" not in markdown
