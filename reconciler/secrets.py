"""Secrets in specs: masked in every output, refused when they look like real credentials.

Specs are committed to git and shown on pull requests, so a credential must never be written in
one; a value under a secret-named key is only ever shown as `***`.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

SECRET_KEY = re.compile(r"(?i)(secret|token|passw(or)?d|api[_-]?key|credential|private[_-]?key|^key$)")
_CREDENTIAL = re.compile(r"[0-9a-fA-F]{40,}|[A-Za-z0-9_-]{32,}")
MASK = "***"


def is_secret_path(path: Sequence[str | int]) -> bool:
    """True when any key on the path is secret-named: everything below such a key is secret."""
    return any(is_secret_key(part) for part in path)


def mask(value: Any, path: Sequence[str | int] = ()) -> Any:
    """A copy of `value` with every value under a secret-named key replaced by `***`."""
    if is_secret_path(path):
        return None if value is None else MASK
    if isinstance(value, dict):
        return {k: mask(v, [*path, k]) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, [*path, i]) for i, v in enumerate(value)]
    return value


@lru_cache(maxsize=4096)
def _secret_name(key: str) -> bool:
    return bool(SECRET_KEY.search(key))


def is_secret_key(key: Any) -> bool:
    """True for a secret-named key (memoised: the same few keys recur in every spec)."""
    return isinstance(key, str) and _secret_name(key)


def looks_like_credential(value: str | int) -> bool:
    return bool(_CREDENTIAL.search(str(value)))  # an unquoted all-digit secret is read as a number
