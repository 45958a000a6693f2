"""Secrets in specs: masked in every output, refused when they are real credentials.

Specs are committed to git and shown on pull requests. Two rules, kept apart (SPEC, "Secrets"):

- A value under a *secret-named* key is only ever shown as `***`. The name is judged by whole
  words, so the keys of ordinary ML configs (`max_new_tokens`, `tokenizer`, `pad_token_id`, a
  toleration's `key`) stay visible and their changes reviewable.
- A value in a *known credential format* makes the spec invalid, whatever its key: the formats are
  the prefixed ones secret scanners (gitleaks, detect-secrets) match, each distinctive enough not to
  meet an ordinary value. Formats without a prefix (a 40-hex W&B key is also a git commit) count
  only under a secret-named key.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

MASK = "***"

_SPLIT = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")  # camelCase, ACRONYMKey; `_-./` and others part
_SECRET_WORDS = frozenset({"password", "passwords", "passwd", "secret", "secrets", "credential", "credentials"})
_SECRET_ENDINGS = (("api", "key"), ("access", "key"), ("private", "key"), ("apikey",), ("accesskey",),
                   ("privatekey",))
# A tokenizer's special tokens (`pad_token: "<pad>"`) are ML vocabulary, not credentials.
_SPECIAL_TOKENS = frozenset({"pad", "bos", "eos", "eot", "unk", "sep", "cls", "mask"})
_NUMBERED = re.compile(r"(?<=[A-Za-z])[_.-]?[vV]?[0-9]+$")  # `hf_token_2`, `api_key_v2`: the key they number


@lru_cache(maxsize=4096)
def _secret_name(key: str) -> bool:
    parts = [w.lower() for w in _SPLIT.findall(_NUMBERED.sub("", key))]  # the key's words, lower-cased
    if not parts:
        return False
    if _SECRET_WORDS.intersection(parts) or any(tuple(parts[-len(e):]) == e for e in _SECRET_ENDINGS):
        return True
    # `token` only as the last word (`token`, `hf_token`, `authToken`): `pad_token_id`, `token_budget`
    # and `max_new_tokens` are sizes and ids, and `eos_token` a tokenizer's vocabulary
    return parts[-1] == "token" and (len(parts) == 1 or parts[-2] not in _SPECIAL_TOKENS)


# key -> is_secret_key(key), for the walks that look at every key of every spec: a dict lookup
# costs a fifth of a call through lru_cache (profile). Bounded: a hostile file of unique keys.
SECRET_KEYS: dict[str, bool] = {}


def is_secret_key(key: Any) -> bool:
    """True for a secret-named key (memoised: the same few keys recur in every spec)."""
    if not isinstance(key, str):
        return False
    secret = SECRET_KEYS.get(key)
    if secret is None:
        secret = _secret_name(key)
        if len(SECRET_KEYS) < 100_000:
            SECRET_KEYS[key] = secret
    return secret


def is_secret_path(path: Sequence[str | int]) -> bool:
    """True when any key on the path is secret-named: everything below such a key is secret."""
    return any(is_secret_key(part) for part in path)


def mask(value: Any, path: Sequence[str | int] = ()) -> Any:
    """A copy of `value` with every value under a secret-named key replaced by `***`."""
    return _masked(value, is_secret_path(path))


def _masked(value: Any, secret: bool) -> Any:
    # Below a key that is not secret-named, a value is secret exactly when its own key is: one key
    # looked at per value, not the whole path again (the status page masks 10,000 launches).
    if secret:
        return None if value is None else MASK
    if isinstance(value, dict):
        return {k: _masked(v, is_secret_key(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, False) for v in value]
    return value


# Modelled on gitleaks' rules (and detect-secrets' plugins where gitleaks has none): a literal prefix
# that must start a word, then the rest. The word-start check is written after the prefix (not as a
# leading `\b`) so that `re` scans for the prefix: five times faster on ordinary text (measured). The
# first row that matches names the format.
_ROWS = (
    ("a PEM private key", "-----BEGIN", r"[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----"),
    ("a W&B API key", "wandb_v1_", r"\w{60,}"),  # W&B's keys since 2025: 86 characters
    ("a GitHub token", "gh", r"[pousr]_[A-Za-z0-9]{36}\b"),
    ("a GitHub token", "github_pat_", r"\w{82}"),
    ("a GitLab token", "gl", r"(?:pat|dt|rt|ptt|soat)-[\w-]{20,}"),
    ("a Hugging Face token", "hf_", r"[A-Za-z]{34}\b"),
    ("a Hugging Face token", "api_org_", r"[A-Za-z]{34}\b"),
    ("an Anthropic API key", "sk-ant-", r"(?:api|admin)\d\d-[\w-]{80,}"),
    ("an OpenAI API key", "sk-", r"(?:(?:proj|svcacct|admin)-)?[\w-]{20,}T3BlbkFJ[\w-]{20,}"),
    ("a Slack token", "xox", r"[abposre]-\d+-[A-Za-z0-9-]{8,}"),
    ("a Slack token", "xapp-", r"\d-[A-Z0-9]+-\d+-[a-z0-9]+"),
    ("a Slack webhook URL", "hooks.slack.com/", r"(?:services|workflows|triggers)/[A-Za-z0-9+/]{40,}"),
    ("an AWS access key id", "A", r"(?:3T[A-Z0-9]|KIA|SIA|BIA|CCA)[A-Z2-7]{16}\b"),
)
SHORTEST = 20  # no format above matches fewer characters: shorter values skip the regexes


@lru_cache(maxsize=1)
def _formats() -> tuple[re.Pattern[str], tuple[tuple[str, re.Pattern[str]], ...]]:
    """Every format at once, and each row: one search finds that some row matches (most values
    match none), then the rows are tried in order to name it. A third of the cost of trying each
    row (measured); compiled on first use (3 ms: a plan of nothing never needs them)."""
    rows = tuple((name, re.compile(f"{re.escape(prefix)}(?<![A-Za-z0-9]{re.escape(prefix)})(?:{rest})"))
                 for name, prefix, rest in _ROWS)
    return re.compile("|".join(f"(?:{pattern.pattern})" for _, pattern in rows)), rows


# No prefix: a 40-hex W&B key (with `local-`-style prefix on W&B Server) is also a git commit.
_HEX_KEY = re.compile(r"(?:[a-z]+-)?[0-9a-fA-F]{40}")
# gitleaks' generic-api-key, made stricter: one run of key characters, all three letter cases and
# digits, and random-looking (Shannon entropy); a Kubernetes secret's name (lower case) never is.
_RANDOM = re.compile(r"(?=.*[a-z])(?=.*[A-Z])(?=.*[0-9])[\w+/=.-]{24,}")
_RANDOM_BITS = 4.2  # bits per character; a random 24-character alphanumeric string has about 4.2


def _entropy(text: str) -> float:
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def credential_format(value: str | int, secret_named: bool) -> str | None:
    """The credential format `value` is in ("a GitHub token"), or None. `secret_named`: the value is
    under a secret-named key, where formats without a prefix count too. An unquoted all-digit secret
    is read as a number, so numbers are looked at as their text."""
    text = str(value)
    if len(text) >= SHORTEST:  # a prefixed format first: its name says best what to revoke
        any_format, rows = _formats()
        named = next((name for name, row in rows if row.search(text)), None) if any_format.search(text) else None
        if named or not secret_named:
            return named
    if not secret_named:
        return None
    if _HEX_KEY.fullmatch(text):
        return "a W&B API key (40 hex digits)"
    if _RANDOM.fullmatch(text) and _entropy(text) >= _RANDOM_BITS:
        return "a random-looking string (a password or key)"
    return None
