"""Properties that hold for every spec, not only the ones someone wrote down (hypothesis).

- The digest is a function of the launch alone: reformatting a file, reordering keys, editing
  comments, `description` or `labels` never changes it, so never enqueues anything (SPEC).
- A value under a secret-named key prints as `***` in every output, however deep it lies below
  that key; everything else prints as written.
"""
from __future__ import annotations

import html
import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import cli, commit_all, make_repo, write
from reconciler import checks, secrets
from reconciler.plan import Action, Change, Plan, added_fields, field_diff
from reconciler.render import documents, markdown, text
from reconciler.settings import load_settings
from reconciler.specs import digest_of, load_specs

# ---- strategies ---------------------------------------------------------------------------------

# Short values: a long random string could look like a credential, which validate refuses.
_TEXT = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "Zs"), exclude_characters="$"),
                min_size=1, max_size=10)
_KEY = st.text("abcdefghijklmnopqrstuvwxyzABCXYZ_-0123456789", min_size=1, max_size=8)
_SCALAR = st.one_of(_TEXT, st.integers(-10**12, 10**12), st.booleans(),
                    st.floats(allow_nan=False, allow_infinity=False, width=32))
_VALUE = st.recursive(_SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(_KEY, inner, max_size=4)), max_leaves=12)
_LAUNCH = st.fixed_dictionaries(
    {"docker_image": st.from_regex(r"\Aregistry\.example/[a-z]{1,8}:[0-9]{1,3}\Z"),
     "queue_name": st.from_regex(r"\A[a-z][a-z0-9-]{0,12}\Z")},
    optional={"priority": st.sampled_from(["critical", "high", "medium", "low", 0, 1, 2, 3]),
              "entity": st.from_regex(r"\A[a-z]{1,8}\Z"),
              "template_variables": st.dictionaries(_KEY, st.one_of(_TEXT, st.integers(0, 10**6)), max_size=4),
              "config": st.dictionaries(_KEY, _VALUE, max_size=4)})
_EXTRAS = st.fixed_dictionaries({}, optional={"description": _TEXT, "labels": st.dictionaries(_KEY, _TEXT, max_size=3)})


def _reversed(value: Any) -> Any:
    """The same value with every mapping's keys in reverse order (lists keep theirs: order matters)."""
    if isinstance(value, dict):
        return {k: _reversed(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reversed(v) for v in value]
    return value


def _plain(launch: dict[str, Any]) -> str:
    return yaml.safe_dump({"apiVersion": "launchops/v1", "launch": launch}, sort_keys=False, allow_unicode=True)


def _reformatted(launch: dict[str, Any], extras: dict[str, Any]) -> str:
    """The same launch written otherwise: keys reversed, flow style, other indent, comments, a
    document marker, and a description and labels, which are not part of the launch."""
    body = yaml.safe_dump({**_reversed(extras), "launch": _reversed(launch), "apiVersion": "launchops/v1"},
                          sort_keys=False, default_flow_style=True, indent=4, width=60, allow_unicode=False)
    return "# reformatted by hand\n---\n" + body + "# a comment on its own line\n"


def _load(files: dict[str, str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name, content in files.items():
            write(root, f"launches/{name}.yaml", content)
        loaded = load_specs(load_settings(root))
    assert loaded.valid, (loaded.problems, files)
    return dict(loaded.specs)


# ---- the digest ---------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None, derandomize=True)
@given(_LAUNCH, _EXTRAS)
def test_reformatting_never_changes_the_digest(launch: dict[str, Any], extras: dict[str, Any]) -> None:
    specs = _load({"plain": _plain(launch), "reformatted": _reformatted(launch, extras)})
    plain, reformatted = specs["plain"], specs["reformatted"]
    assert reformatted.digest == plain.digest
    assert reformatted.launch == plain.launch
    assert plain.digest == digest_of(plain.launch) == digest_of(_reversed(dict(plain.launch)))


@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(_LAUNCH, _EXTRAS)
def test_a_reformatted_spec_plans_nothing(launch: dict[str, Any], extras: dict[str, Any]) -> None:
    """The same through the CLI, on a git repository: apply, reformat and commit, plan: no change."""
    with tempfile.TemporaryDirectory() as folder:
        repo = make_repo(Path(folder) / "repo", examples=False)
        write(repo, "launches/spec.yaml", _plain(launch))
        commit_all(repo)
        applied = cli(repo, "apply", "--yes")
        assert applied.exit_code == 0, applied.output
        write(repo, "launches/spec.yaml", _reformatted(launch, extras))
        commit_all(repo, "reformatted")
        plan = cli(repo, "plan", "--detailed-exitcode")
        assert plan.exit_code == 0, plan.output


# ---- masking ------------------------------------------------------------------------------------

SECRET_KEYS = ("password", "api_key", "credentials", "db_token", "clientSecret", "WANDB_API_KEY", "private_key",
               "hf_token", "authToken", "secretKeyRef")
ORDINARY_KEYS = ("lr", "name", "steps", "env", "nested", "items", "user", "max_new_tokens", "tokenizer", "pad_token",
                 "pad_token_id", "eos_token", "key", "tokenizer_revision")
_MASK_KEY = st.sampled_from(SECRET_KEYS + ORDINARY_KEYS)
_TREE = st.recursive(_SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(_MASK_KEY, inner, max_size=4)), max_leaves=16)
_MASK_LAUNCH = st.dictionaries(_MASK_KEY, _TREE, max_size=5)


def _leaves(value: Any, path: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], Any]]:
    if isinstance(value, dict) and value:
        return [leaf for k, v in value.items() for leaf in _leaves(v, (*path, k))]
    if isinstance(value, list) and value:
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, (*path, i))]
    return [(path, value)]


def _under_secret(path: tuple[str | int, ...]) -> bool:
    return any(part in SECRET_KEYS for part in path)


def _assert_masked(value: Any, path: tuple[str | int, ...]) -> None:
    """Below a secret-named key nothing but `***` (or an absent value); elsewhere, recursively so."""
    if _under_secret(path):
        assert value in (secrets.MASK, None), (path, value)
    elif isinstance(value, dict):
        for k, v in value.items():
            _assert_masked(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _assert_masked(v, (*path, i))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(_MASK_LAUNCH)
def test_mask_hides_every_value_below_a_secret_key_and_only_those(launch: dict[str, Any]) -> None:
    masked = secrets.mask(launch, ("launch",))
    _assert_masked(masked, ("launch",))
    shown = {path for path, _ in _leaves(masked, ("launch",))}
    for path, value in _leaves(launch, ("launch",)):
        if not _under_secret(path):
            assert path in shown and _get(masked, path[1:]) == value  # ordinary values as written
    assert secrets.mask(masked, ("launch",)) == masked


def _get(value: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


@settings(max_examples=300, deadline=None, derandomize=True)
@given(_MASK_LAUNCH, _MASK_LAUNCH)
def test_a_plan_never_shows_a_secret(old: dict[str, Any], new: dict[str, Any]) -> None:
    """Every field diff of a create and of an update, as json, text and markdown."""
    changes = (Change("created", Action.CREATE, "launches/created.yaml", "sha256:0", 1, new, diff=added_fields(new)),
               Change("updated", Action.UPDATE, "launches/updated.yaml", "sha256:1", 2, new,
                      diff=field_diff(old, new) if old != new else ()))
    document = documents.plan(Plan(changes, 0))
    for change in document["changes"]:
        for d in change["diff"]:
            parts = _parts(d["path"])
            _assert_masked(d["old"], parts)
            _assert_masked(d["new"], parts)
            assert d.get("secret", False) == _under_secret(parts)
    rendered = json.dumps(document) + text.plan(document) + html.unescape(markdown.plan(document))
    secret_values = {json.dumps(v) for p, v in _leaves(old, ("launch",)) + _leaves(new, ("launch",))
                     if _under_secret(p) and isinstance(v, str) and len(v) > 3}
    ordinary_values = {json.dumps(v) for p, v in _leaves(old, ("launch",)) + _leaves(new, ("launch",))
                       if not _under_secret(p)}
    # the document's own words (`"valid"`, `"create"`…) are no leak of a secret that happens to be one
    words = {json.dumps(k) for k in _keys(document)}
    for value in secret_values - ordinary_values - words:  # a value also written in the open may be shown there
        assert value not in rendered


def _keys(value: Any) -> set[str]:
    """Every key of a JSON document, at every depth."""
    if isinstance(value, dict):
        return set(value).union(*(_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value))
    return set()


def _parts(path: str) -> tuple[str | int, ...]:
    """launch.a.b[2].c -> ("launch", "a", "b", 2, "c"); the generated keys hold no dots or brackets."""
    parts: list[str | int] = []
    for piece in path.split("."):
        name, *indices = piece.split("[")
        parts.append(name)
        parts.extend(int(i.rstrip("]")) for i in indices)
    return tuple(parts)


# ---- which keys are secret-named, which values are credentials -----------------------------------

# SPEC's words, and where SPEC and the ML examples disagree, README's choice: `token` counts only as
# the last word (a trailing number aside), and not after a tokenizer's special-token word.
KEY_TABLE = {
    True: ("password", "db_password", "passwd", "clientSecret", "secrets", "credentials", "db_credential_file",
           "token", "hf_token", "GITHUB_TOKEN", "authToken", "access_token", "refresh-token", "bearer.token",
           "hf_token_2", "GITHUB_TOKEN_V2", "WANDB_API_KEY", "apiKey", "APIKey", "api-key", "apikey",
           "aws_secret_access_key", "access_key", "private_key", "sshPrivateKey", "secretKeyRef"),
    False: ("max_new_tokens", "tokenizer", "tokenizer_revision", "pad_token", "pad_token_id", "padTokenId",
            "eos_token", "bos_token_id", "unk_token", "sep_token", "cls_token", "mask_token", "token_budget",
            "num_tokens", "key", "keys", "primary_key", "api_url", "access_level", "private_key_path",
            "aws_access_key_id", "nvidia.com/gpu", "monkey", "secretary_name", "tokens_per_second"),
}


def test_secret_named_keys_by_whole_words() -> None:
    wrong = [(key, expected) for expected, keys in KEY_TABLE.items() for key in keys
             if secrets.is_secret_key(key) != expected]
    assert not wrong


_FORMATS = {  # what each format's real values look like (gitleaks' rules, W&B's 86-character keys)
    "a W&B API key": st.from_regex(r"\Awandb_v1_[A-Za-z0-9]{27}_[A-Za-z0-9]{49}\Z"),
    "a GitHub token": st.from_regex(r"\A(gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\Z"),
    "a GitLab token": st.from_regex(r"\Aglpat-[A-Za-z0-9_-]{20}\Z"),
    "a Hugging Face token": st.from_regex(r"\Ahf_[A-Za-z]{34}\Z"),
    "an OpenAI API key": st.from_regex(r"\Ask-(proj-)?[A-Za-z0-9_-]{20,58}T3BlbkFJ[A-Za-z0-9_-]{20,58}\Z"),
    "a Slack token": st.from_regex(r"\Axox[bp]-[0-9]{10,13}-[0-9]{10,13}-[A-Za-z0-9]{24}\Z"),
    "an AWS access key id": st.from_regex(r"\A(AKIA|ASIA)[A-Z2-7]{16}\Z"),
    "a PEM private key": st.from_regex(r"\A-----BEGIN (RSA |EC |OPENSSH )?PRIVATE KEY-----\n[A-Za-z0-9+/=\n]{1,80}\Z"),
}
_CREDENTIAL = st.sampled_from(sorted(_FORMATS)).flatmap(lambda name: st.tuples(st.just(name), _FORMATS[name]))
_AROUND = st.sampled_from(["", "--token ", "Authorization: Bearer ", "key=", "x "])
_ORDINARY_KEY = st.sampled_from(ORDINARY_KEYS)


def _doc(config: Any) -> dict[str, Any]:
    return {"apiVersion": "launchops/v1", "launch": {"docker_image": "registry.example/a:1", "config": config}}


@settings(max_examples=200, deadline=None, derandomize=True)
@given(_CREDENTIAL, st.sampled_from(ORDINARY_KEYS + SECRET_KEYS), _AROUND, st.booleans())  # named by its format
def test_a_credential_is_refused_under_any_key_naming_its_format(credential: tuple[str, str], key: str, before: str,
                                                                  in_list: bool) -> None:
    name, value = credential
    config = {key: ["--flag", before + value]} if in_list else {key: before + value}
    findings = checks.check_spec(_doc(config), "local")
    at = ("launch", "config", key, 1) if in_list else ("launch", "config", key)
    assert [(f.path, f.message.startswith(f"holds {name}: ")) for f in findings] == [(at, True)]
    assert all(value not in f.message for f in findings)


_ORDINARY_VALUE = st.one_of(
    st.from_regex(r"\A[0-9a-f]{40}\Z"),  # a git commit: a credential only under a secret-named key
    st.from_regex(r"\A(local-)?[0-9a-f]{40}\Z"), st.from_regex(r"\Asha256:[0-9a-f]{64}\Z"), st.uuids().map(str),
    st.from_regex(r"\A[a-z][a-z0-9-]{0,20}/[A-Za-z][A-Za-z0-9._-]{0,30}\Z"),  # a model or dataset name
    st.from_regex(r"\A(s3|gs)://[a-z0-9-]{3,20}/[a-z0-9/_.-]{1,40}\Z"), st.integers(10**30, 10**45),
    st.sampled_from(["sk-learn-baseline-experiment-2026", "hf_hub_download_timeout_seconds", "xox-not-a-token",
                     "-----BEGIN CERTIFICATE-----", "ghp_short", "AKIA-lowercase-example-x"]))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(_ORDINARY_VALUE, _ORDINARY_KEY)
def test_ordinary_values_under_ordinary_keys_are_never_refused(value: Any, key: str) -> None:
    assert checks.check_spec(_doc({key: value, "nested": [{key: value}]}), "local") == []
