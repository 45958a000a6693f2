"""What makes an effective spec invalid: the JSON Schema, then what a schema cannot say well.

Findings carry the JSON path in the effective document; `specs` turns them into Problems at the
file, line and column the offending value came from.
"""
from __future__ import annotations

import copy
import datetime
import json
import math
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from reconciler import secrets

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from jsonschema import ValidationError

SCHEMA_FILE = "launch-spec.v1.schema.json"
SOURCE_KEYS = ("job", "docker_image", "uri")
PRIORITIES = {"critical": 0, "high": 1, "medium": 2, "low": 3}

# Names people reach for that launch_add spells differently.
_CONFUSED = {
    "parameters": "config", "params": "config", "args": "config", "overrides": "config",
    "queue": "queue_name", "queue_entity": "entity", "image": "docker_image", "docker": "docker_image",
    "container": "docker_image", "variables": "template_variables", "template_vars": "template_variables",
    "vars": "template_variables", "entrypoint": "entry_point", "command": "entry_point", "cmd": "entry_point",
    "resources": "resource", "resource_config": "resource_args", "team": "entity", "artifact": "job",
    "job_name": "job", "git": "uri", "repo": "uri", "url": "uri", "run_name": "name", "tags": "labels",
}
# JSON Schema type names as a spec's author would say them.
_TYPE_WORDS = {"object": "a mapping", "array": "a list", "string": "a string", "number": "a number",
               "integer": "a whole number", "boolean": "true or false"}
_CONTAINER_WORDS: dict[type, str] = {dict: "a mapping", list: "a list"}


@dataclass(frozen=True)
class Finding:
    """One problem a check found, at a path in the document."""

    path: tuple[str | int, ...]
    message: str
    at_key: bool = False  # point at the key rather than its value (unknown keys)
    quote_hint: bool = False  # a string was expected: show what YAML read and how to quote it
    # about the merged mapping at `path` (a key missing, one of job/docker_image/uri), not a value a
    # file wrote: the spec file is told, even when a _defaults file gave the mapping
    whole: bool = False


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(resources.files("reconciler").joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))
    return loaded


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(schema())


def _did_you_mean(key: str, known: list[str]) -> str:
    guess = _CONFUSED.get(key.lower())
    if guess and guess in known:
        return f"; did you mean {guess!r}?"
    import difflib  # only when a key is unknown: a millisecond of every start-up otherwise

    close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(sorted(known))}"


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, datetime.date):
        return "a date"
    if value is None:
        return "null"
    return _CONTAINER_WORDS.get(type(value), type(value).__name__)


@lru_cache(maxsize=1)
def _fast_validator() -> Any:
    """A compiled validator (fastjsonschema) that only says valid or not, ~50x faster than
    jsonschema on a valid spec; None without it. Its schema keywords (type, const, enum, pattern,
    oneOf, required, additionalProperties, min/max) mean the same in both; tests compare them.
    The code fastjsonschema writes for the schema ships as reconciler/schema_check.py, imported
    from its bytecode: compiling it each run was 50 ms of every load. When that file was made from
    another schema (it names the schema's hash) the schema is compiled here instead."""
    try:
        from reconciler import schema_check

        if schema_check.SCHEMA_SHA256 == _schema_sha256():
            return schema_check.validate
    except ImportError:  # pragma: no cover - fastjsonschema missing: the slow path is complete on its own
        return None
    import fastjsonschema

    return fastjsonschema.compile(copy.deepcopy(schema()))  # compile() fills in the dict it is given


def _schema_sha256() -> str:
    import hashlib

    return hashlib.sha256(resources.files("reconciler").joinpath(SCHEMA_FILE).read_bytes()).hexdigest()


def schema_check_source() -> str:
    """reconciler/schema_check.py as fastjsonschema writes it for the schema now (`make schema-check`)."""
    import fastjsonschema

    code = fastjsonschema.compile_to_code(copy.deepcopy(schema()))
    entry = re.search(r"^def (validate_\w+)\(", code, re.M)
    assert entry is not None, "fastjsonschema names its entry point validate_<schema id>"
    return (f'"""Written by fastjsonschema from {SCHEMA_FILE}; do not edit: run `make schema-check`."""\n'
            "# ruff: noqa\n# mypy: ignore-errors\n"
            f'SCHEMA_SHA256 = "{_schema_sha256()}"\n{code}\n\nvalidate = {entry.group(1)}\n')


def prepare() -> None:
    """Compile the schema check now (forked workers then inherit it instead of compiling it each)."""
    _fast_validator()


def _fast_valid(doc: dict[str, Any]) -> bool:
    fast = _fast_validator()
    if fast is None:
        return False
    try:
        fast(doc)
    except Exception:  # JsonSchemaValueException, or anything odd: let jsonschema say what is wrong
        return False
    return True


def _schema_findings(doc: dict[str, Any]) -> Iterator[Finding]:
    if _fast_valid(doc):
        return  # jsonschema (and its import) only for documents with something to report
    launch_keys = list(schema()["$defs"]["launch"]["properties"])
    for error in _validator().iter_errors(doc):
        yield from _error_findings(error, launch_keys)


def _error_findings(error: ValidationError, launch_keys: list[str]) -> Iterator[Finding]:
    """One jsonschema error in the words of a spec's author."""
    path = tuple(error.absolute_path)
    where = path[-1] if path else None
    kind = error.validator
    # set on every error iter_errors yields (the stubs allow them to be Unset)
    instance: Any = error.instance
    value: Any = error.validator_value
    if kind == "additionalProperties":
        subschema: Any = error.schema
        yield from _unknown_keys(instance, list(subschema.get("properties", {})), path, launch_keys)
    elif kind == "required":
        for key in value:
            if key not in instance:
                what = {"apiVersion": "apiVersion: launchops/v1",
                        "launch": "launch: (the launch_add arguments)"}.get(key, key)
                yield Finding(path, f"missing {what}", whole=True)
    elif kind == "const":
        yield Finding(path, f"must be {value!r}, not {instance!r}")
    elif kind == "oneOf" and where == "priority":
        yield Finding(path, f"must be critical, high, medium, low or a number 0..3, not {instance!r}")
    elif kind == "type":
        expected: list[str] = value if isinstance(value, list) else [value]
        want = " or ".join(_TYPE_WORDS.get(t, t) for t in expected)
        quote = "string" in expected and not isinstance(instance, (dict, list))
        yield Finding(path, f"must be {want}, not {_type_name(instance)}", quote_hint=quote)
    elif path == ("id",) and kind in ("pattern", "maxLength", "minLength"):
        yield Finding(path, id_problem(instance) or "must not be empty, nor start or end with a space or '/'")
    else:
        yield Finding(path, error.message)


def _unknown_keys(instance: dict[Any, Any], known: list[str], path: tuple[str | int, ...],
                  launch_keys: list[str]) -> Iterator[Finding]:
    for key in sorted(set(instance) - set(known), key=str):
        if not path and key in launch_keys:
            hint = f"; launch arguments go under launch: (launch.{key})"
        else:
            hint = _did_you_mean(str(key), known)
        yield Finding((*path, key), f"unknown key {key!r}{hint}", at_key=True)


_PLAIN = (str, int, bool, type(None))  # leaves that need no look beyond the credential check


def _leaf_walk(value: dict[Any, Any] | list[Any], path: tuple[str | int, ...], secret: bool, odd: list[Finding],
               found: list[tuple[tuple[str | int, ...], str]]) -> None:
    """One walk for values JSON cannot carry (`_leaf`, into `odd`) and credentials, with their
    format (into `found`): two separate walks were a fifth of a cold load (profile). A leaf's path is
    built only when something is found there (building one per leaf was half of this walk, profile).
    The leaves of every spec (a short string, a number, a bool, null; not under a secret-named key)
    are told apart by their exact type before anything else is looked at."""
    is_map = isinstance(value, dict)
    items: Iterable[tuple[Any, Any]] = value.items() if isinstance(value, dict) else enumerate(value)
    known = secrets.SECRET_KEYS
    for k, v in items:
        below = secret
        if is_map and not secret:
            seen = known.get(k)  # is_secret_key, without a call for the keys seen before
            below = secrets.is_secret_key(k) if seen is None else seen
        kind = type(v)
        if kind is str and not below:  # every prefixed format is SHORTEST characters or more
            if len(v) >= secrets.SHORTEST:
                named = secrets.credential_format(v, False)
                if named:
                    found.append(((*path, k), named))
        elif kind is dict or kind is list:
            _leaf_walk(v, (*path, k), below, odd, found)
        elif not below and (kind is int or kind is bool or v is None or (kind is float and math.isfinite(v))):
            continue  # nothing to say about it
        else:
            _leaf(k, v, path, below, odd, found)


def _leaf(k: Any, v: Any, path: tuple[str | int, ...], below: bool, odd: list[Finding],
          found: list[tuple[tuple[str | int, ...], str]]) -> None:
    """`_leaf_walk` for a value of any other type, or under a secret-named key: a leaf JSON cannot
    carry, which the schema leaves through in free-form mappings like config, is told in `odd`."""
    if isinstance(v, (dict, list)):  # a subclass of one: the walk takes the exact types itself
        _leaf_walk(v, (*path, k), below, odd, found)
        return
    if isinstance(v, datetime.date):
        odd.append(Finding((*path, k), "is a date, which a launch cannot carry", quote_hint=True))
    elif isinstance(v, float):
        if not math.isfinite(v):
            odd.append(Finding((*path, k), f"is {v}, which JSON cannot carry", quote_hint=True))
    elif not isinstance(v, _PLAIN):
        odd.append(Finding((*path, k), f"is a {type(v).__name__}, which a launch cannot carry; write a plain value"))
    # outside a secret-named key only an exact str is looked at, and _leaf_walk did that
    if below and isinstance(v, (str, int)) and not isinstance(v, bool):
        named = secrets.credential_format(v, True)
        if named:
            found.append(((*path, k), named))


MAX_ID = 180  # characters: room for a matrix cell suffix and a shard path within common name limits


def id_problem(spec_id: str) -> str | None:
    """What is wrong with an id (SPEC: NFC printable Unicode, no control characters, no `..` or
    empty path segment, at most MAX_ID characters), or None. Checked character by character: a
    regex `$` also matches before a trailing newline."""
    for index, char in enumerate(spec_id):
        if not char.isprintable():  # control, format (bidi overrides), separators other than ' '
            kind = "control" if unicodedata.category(char) == "Cc" else "unprintable"
            return (f"contains the {kind} character U+{ord(char):04X} (character {index + 1}); an id is "
                    "printable text")
    if not unicodedata.is_normalized("NFC", spec_id):
        return (f"is not in Unicode normal form NFC ({ascii(spec_id)}): it looks like "
                f"{ascii(unicodedata.normalize('NFC', spec_id))} but is another id; retype it, or save the "
                "file (and name it) in NFC")
    segments = spec_id.split("/")
    if "" in segments:
        return "has an empty path segment (a leading, trailing or doubled '/')"
    if ".." in segments:
        return "has a '..' path segment"
    if len(spec_id) > MAX_ID:
        return f"is {len(spec_id)} characters long; an id has at most {MAX_ID}"
    return None


def check_spec(doc: dict[str, Any], backend: str) -> list[Finding]:
    """Every finding for one effective spec document."""
    findings = list(_schema_findings(doc))
    typed = {f.path for f in findings}  # a date where a string was expected is already said once
    spec_id = doc.get("id")
    if isinstance(spec_id, str) and ("id",) not in typed and (problem := id_problem(spec_id)):
        findings.append(Finding(("id",), problem))
    odd: list[Finding] = []
    found: list[tuple[tuple[str | int, ...], str]] = []
    _leaf_walk(doc, (), False, odd, found)
    # a schedule's start and end may be YAML timestamps: reconciler.schedule reads them
    findings.extend(f for f in odd if f.path not in typed and f.path[:1] != ("schedule",))
    # anywhere in the document (labels too): the whole file is committed and shown on pull requests
    for path, kind in found:
        findings.append(Finding(path, f"holds {kind}: a credential must not be in a spec (specs are committed to "
                                "git and shown on pull requests): remove it, revoke it if it was pushed, and "
                                "give it to the run from a secret store or an environment variable instead"))
    if isinstance(doc.get("schedule"), dict) and not any(p[:1] == ("schedule",) for p in typed):
        from reconciler import schedule  # only scheduled specs pay for the cron library

        findings.extend(Finding(path, message) for path, message in schedule.check(doc["schedule"]))
    launch = doc.get("launch")
    if isinstance(launch, dict):
        given = [k for k in SOURCE_KEYS if k in launch]
        if len(given) != 1:
            which = " and ".join(given) if given else "none"
            findings.append(Finding(("launch",), f"needs exactly one of job, docker_image or uri (found {which})",
                                    at_key=True, whole=True))
        if backend == "wandb" and "uri" in launch:
            findings.append(Finding(("launch", "uri"), "is not supported by the wandb backend (wandb's launch_add "
                                    "drops uri); use job or docker_image, or the local backend", at_key=True))
        if backend == "wandb" and launch.get("build") is True:
            findings.append(Finding(("launch", "build"), "is not supported by the wandb backend (wandb's launch_add "
                                    "builds only from a uri, which it drops, and fails before enqueueing); build "
                                    "and push the image yourself and set docker_image", at_key=True))
    return findings


def normalise(launch: dict[str, Any]) -> dict[str, Any]:
    """The launch arguments as enqueued: priority names become the numbers the wandb CLI uses."""
    out = dict(launch)
    if isinstance(out.get("priority"), str):
        out["priority"] = PRIORITIES[out["priority"]]
    return out
