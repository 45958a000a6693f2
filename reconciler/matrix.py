"""Matrix specs: one file, a grid of launches, each cell known by its values, never its position.

A spec with `matrix: {axes, include, exclude, max_cells}` stands for one launch per *cell*: the
cartesian product of its axes' values, less every cell an `exclude` entry matches (a partial
match), plus each `include` cell (which sets every axis). `${matrix.AXIS}` as a whole value in
`launch` takes the cell's value with its type; inside a longer string it is written as text.

A cell's id is `<spec-id>[lr=0.001,seed=0]`: axes sorted, each value as compact JSON (a string
without its quotes unless the bare text would read as another JSON value, so `true` and `"true"`
stay different cells), with `%`, `,`, `=`, `[`, `]`, `/`, `"`, whitespace and unprintable
characters percent-encoded; it round-trips (`parse_cell_id`). An id longer than 120 characters is
`<spec-id>[~<12 hex>]`, the start of the SHA-256 of the cell's canonical JSON. Nothing here
depends on order or on Python's `hash()`, so every process and machine computes the same ids:
reordering axes or values changes nothing, and adding a value adds only the new cells.

In the ledger a matrix spec's cells are entries of its shard; `pack`/`unpack` keep the launch the
cells share once per spec and, per cell, only what differs (`launch_differs`, deep-merged onto it).

Pure functions only: `specs` locates the findings, `render` groups a plan's cells per spec.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

DEFAULT_MAX_CELLS = 256
MAX_CELLS = 4096
MAX_ID = 120  # characters of a cell id before it is shortened to a hash
_EXPAND_LIMIT = 100_000  # product sizes past this are counted, never listed
PLACEHOLDER = re.compile(r"\$\{matrix\.([^}]*)\}")
_AXIS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_KEYS = ("axes", "include", "exclude", "max_cells")
_ENCODE = set('%,=[]/"')
# text that JSON/YAML 1.2 read as a number but YAML 1.1 (PyYAML) reads as a string: 1e-3, .5, 1_000
_NUMERIC = re.compile(r"[-+]?(\d[\d_]*\.?[\d_]*|\.\d[\d_]*)([eE][-+]?\d+)?")

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Finding:
    """One problem of a matrix, at a path in the document."""

    path: Path_  # in the effective document
    message: str
    at_key: bool = False
    warning: bool = False


@dataclass(frozen=True)
class Cell:
    """One cell of a matrix spec: its id and its values."""

    id: str
    values: Mapping[str, Any]  # axis -> value
    launch: dict[str, Any]  # the spec's launch with this cell's values in place (unnormalised)


# ---- ids -------------------------------------------------------------------------------------------

def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _strict(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(constant)
    return json.loads(text, parse_constant=refuse)


def _escape(text: str) -> str:
    out = []
    for char in text:
        if char in _ENCODE or char.isspace() or not char.isprintable():
            out.append("".join(f"%{b:02X}" for b in char.encode("utf-8", "surrogatepass")))
        else:
            out.append(char)
    return "".join(out)


def value_text(value: Any) -> str:
    """A value as it appears in a cell id, before percent-encoding."""
    if isinstance(value, str):
        try:
            _strict(value)
        except ValueError:
            return value
    return _compact(value)


def canonical(values: Mapping[str, Any]) -> str:
    return _compact(dict(values))


def cell_id(spec_id: str, values: Mapping[str, Any]) -> str:
    """`<spec-id>[a=1,b=x]`, or `<spec-id>[~<12 hex>]` when that is longer than MAX_ID."""
    inner = ",".join(f"{_escape(axis)}={_escape(value_text(values[axis]))}" for axis in sorted(values))
    full = f"{spec_id}[{inner}]"
    if len(full) <= MAX_ID:
        return full
    return f"{spec_id}[~{hashlib.sha256(canonical(values).encode('utf-8')).hexdigest()[:12]}]"


def parse_cell_id(cid: str) -> tuple[str, dict[str, Any] | None]:
    """(spec id, values) of a cell id; values None for the shortened form (its entry's `cell`
    keeps them). The inverse of cell_id: the suffix holds no `[`, so it starts at the last one."""
    start = cid.rindex("[")
    spec_id, inner = cid[:start], cid[start + 1:-1]
    if inner.startswith("~"):
        return spec_id, None
    values: dict[str, Any] = {}
    for part in inner.split(","):
        axis, _, text = part.partition("=")
        raw = unquote(text)
        try:
            values[unquote(axis)] = _strict(raw)
        except ValueError:
            values[unquote(axis)] = raw
    return spec_id, values


def base_id(cid: str) -> str:
    """The spec id of a cell id."""
    return cid[: cid.rindex("[")]


# ---- checking and expanding ------------------------------------------------------------------------

def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    return "a list" if isinstance(value, list) else type(value).__name__


def _show(value: Any) -> str:
    try:
        return _compact(value)
    except (TypeError, ValueError):
        return repr(value)


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same kind: 1 is not true, "1" is not 1."""
    return _kind(a) == _kind(b) and _compact(a) == _compact(b)


def _placeholders(value: Any, path: Path_) -> Iterator[tuple[Path_, str, bool]]:
    """(path, axis name, whole value?) of every placeholder in a launch."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _placeholders(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _placeholders(item, (*path, index))
    elif isinstance(value, str) and "${matrix." in value:
        for found in PLACEHOLDER.finditer(value):
            yield path, found.group(1), found.group(0) == value


def _check_values(axis: str, values: list[Any], path: Path_) -> list[Finding]:
    out: list[Finding] = []
    kinds: dict[str, Any] = {}  # kind -> its first value
    for value in values:
        kinds.setdefault(_kind(value), value)
    if len(kinds) > 1:
        numeric = [v for v in values if isinstance(v, str) and _NUMERIC.fullmatch(v)]
        hint = (f"; YAML 1.1 reads {numeric[0]} as a string: write it with a dot and a signed exponent "
                f"(1.0e-3) to make it a number, or quote the others" if numeric and "a number" in kinds else "")
        shown = ", ".join(f"{_show(v)} is {k}" for k, v in kinds.items())
        out.append(Finding(path, f"the values of axis {axis!r} have different types ({shown}); one axis holds "
                                 f"values of one type{hint}"))
    seen: set[str] = set()
    for index, value in enumerate(values):
        if isinstance(value, float) and not math.isfinite(value):
            out.append(Finding((*path, index), f"is {value}, which a cell cannot carry"))
            continue
        if not isinstance(value, (str, int, float, bool, type(None), dict, list)):
            out.append(Finding((*path, index), f"is {_kind(value)}, which a cell cannot carry; quote it"))
            continue
        key = _compact(value)
        if key in seen:
            out.append(Finding((*path, index), f"{_show(value)} is listed twice in axis {axis!r}"))
        seen.add(key)
        if len(kinds) == 1 and isinstance(value, str) and _NUMERIC.fullmatch(value):
            out.append(Finding((*path, index), f"YAML 1.1 reads {value} as the string {_show(value)}, not a number; "
                                               f"write it with a dot and a signed exponent (1.0e-3) for a number, or "
                                               f"quote it to keep the string", warning=True))
    return out


def _structure(matrix: Any) -> list[Finding]:
    top: Path_ = ("matrix",)
    if not isinstance(matrix, dict):
        return [Finding(top, "must be a mapping of axes (and include, exclude, max_cells)")]
    out = [Finding((*top, k), f"unknown key {k!r} in matrix; allowed: {', '.join(_KEYS)}", at_key=True)
           for k in matrix if k not in _KEYS]
    axes = matrix.get("axes")
    if not isinstance(axes, dict) or not axes:
        out.append(Finding((*top, "axes") if "axes" in matrix else top,
                           "matrix needs axes: a mapping of axis names to lists of values"))
    else:
        for axis, values in axes.items():
            where = (*top, "axes", axis)
            if not isinstance(axis, str) or not _AXIS_NAME.fullmatch(axis):
                out.append(Finding(where, f"axis name {axis!r} must be letters, digits, _ or - (not starting with "
                                          "a digit or -)", at_key=True))
            elif not isinstance(values, list) or not values:
                out.append(Finding(where, f"axis {axis!r} must be a non-empty list of values"))
            else:
                out.extend(_check_values(axis, values, where))
    for key in ("include", "exclude"):
        items = matrix.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) and i for i in items):
            out.append(Finding((*top, key), f"{key} must be a list of mappings of axis names to values"))
    limit = matrix.get("max_cells", DEFAULT_MAX_CELLS)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_CELLS:
        out.append(Finding((*top, "max_cells"), f"must be a whole number from 1 to {MAX_CELLS}, not {_show(limit)}"))
    return out


def _entries(matrix: dict[str, Any], axes: dict[str, list[Any]]) -> list[Finding]:
    """include cells that set every axis and nothing else; exclude entries that name axes; values
    of each axis's type."""
    out: list[Finding] = []
    for key in ("include", "exclude"):
        for index, item in enumerate(matrix.get(key, [])):
            where: Path_ = ("matrix", key, index)
            for axis, value in item.items():
                if axis not in axes:
                    out.append(Finding((*where, axis), f"{key} names {axis!r}, which is not an axis "
                                                       f"({', '.join(sorted(axes))})", at_key=True))
                elif _kind(value) != _kind(axes[axis][0]):
                    out.append(Finding((*where, axis), f"{_show(value)} is {_kind(value)} but axis {axis!r} holds "
                                                       f"{_kind(axes[axis][0])} values"))
            missing = sorted(set(axes) - set(item))
            if key == "include" and missing:
                out.append(Finding(where, f"an include cell sets every axis; this one misses "
                                          f"{', '.join(repr(m) for m in missing)}"))
    return out


def check(doc: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[Finding]]:
    """The cells' values of a spec document with `matrix` (sorted by id), and every finding
    (errors and warnings). No cells when there is an error."""
    matrix = doc.get("matrix")
    findings = _structure(matrix)
    if any(not f.warning for f in findings):
        return [], findings
    assert isinstance(matrix, dict)
    axes: dict[str, list[Any]] = matrix["axes"]
    findings += _entries(matrix, axes)
    launch = doc.get("launch")
    used: set[str] = set()
    for path, name, _ in _placeholders(launch, ("launch",)):
        if name not in axes:
            findings.append(Finding(path, f"${{matrix.{name}}} names no axis; the axes are "
                                          f"{', '.join(sorted(axes))}"))
        used.add(name)
    for axis in axes:
        if axis not in used:
            findings.append(Finding(("matrix", "axes", axis), f"axis {axis!r} is used by no ${{matrix.{axis}}} "
                                                              "in launch, so its cells would be the same launch",
                                    at_key=True))
    if any(not f.warning for f in findings):
        return [], findings
    values, problem = _expand(matrix, axes)
    return values, findings + ([problem] if problem else [])


def _expand(matrix: dict[str, Any], axes: dict[str, list[Any]]) -> tuple[list[dict[str, Any]], Finding | None]:
    """The cells' values, or the finding that there are more than max_cells (counted before and
    after exclude)."""
    limit = matrix.get("max_cells", DEFAULT_MAX_CELLS)
    names = sorted(axes)
    total = math.prod(len(axes[n]) for n in names)
    includes = [dict(item) for item in matrix.get("include", [])]
    before = total + len(includes)
    if total > _EXPAND_LIMIT:
        return [], Finding(("matrix",), f"matrix has {before} cells before exclude, more than "
                                        f"max_cells ({limit}) allows")
    excludes = matrix.get("exclude", [])
    cells: dict[str, dict[str, Any]] = {}
    for combo in itertools.product(*(axes[n] for n in names)):
        values = dict(zip(names, combo, strict=True))
        if not any(all(_same(values[axis], v) for axis, v in e.items()) for e in excludes):
            cells.setdefault(canonical(values), values)
    for values in includes:
        cells.setdefault(canonical(values), values)
    if len(cells) > limit:
        unset = "" if "max_cells" in matrix else " (the default)"
        return [], Finding(("matrix", "max_cells") if "max_cells" in matrix else ("matrix",),
                           f"matrix has {len(cells)} cells ({before} before exclude), more than max_cells "
                           f"({limit}{unset}); set max_cells (at most {MAX_CELLS}) or exclude some")
    return list(cells.values()), None


def substitute(launch: Any, values: Mapping[str, Any]) -> Any:
    """`launch` with `values` in place of its placeholders. Subtrees without one are the same
    objects in every cell (a thousand specs of 64 cells share them: memory, and equal-by-identity)."""
    if isinstance(launch, dict):
        out = {k: substitute(v, values) for k, v in launch.items()}
        return launch if all(out[k] is v for k, v in launch.items()) else out
    if isinstance(launch, list):
        items = [substitute(v, values) for v in launch]
        return launch if all(a is b for a, b in zip(items, launch, strict=True)) else items
    if isinstance(launch, str) and "${matrix." in launch:
        whole = PLACEHOLDER.fullmatch(launch)
        if whole:
            return values[whole.group(1)]
        return PLACEHOLDER.sub(lambda m: _as_text(values[m.group(1)]), launch)
    return launch


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else _compact(value)


def placeholder_paths(launch: Any) -> set[Path_]:
    return {path for path, _, _ in _placeholders(launch, ("launch",))}


def cells(spec_id: str, doc: Mapping[str, Any], values: Sequence[Mapping[str, Any]]) -> list[Cell]:
    made = [Cell(cell_id(spec_id, v), dict(v), substitute(doc["launch"], v)) for v in values]
    return sorted(made, key=lambda c: c.id)


# ---- the shard: the shared launch once, per cell what differs ---------------------------------------

def _common(a: Any, b: Any) -> Any:
    """What two launches share, as a mapping both contain (deep); _NONE when nothing."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = {}
        for key in a.keys() & b.keys():
            shared = _common(a[key], b[key])
            if shared is not _NONE:
                out[key] = shared
        return out
    return a if _equal(a, b) else _NONE


_NONE: Any = object()


def _equal(a: Any, b: Any) -> bool:
    """Equal as JSON values of the same types (1 is not true, nor 1.0): what a digest sees."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _differs(launch: dict[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in launch.items():
        if key not in shared:
            out[key] = value
        elif isinstance(value, dict) and isinstance(shared[key], dict):
            below = _differs(value, shared[key])
            if below or (not value and shared[key]):
                out[key] = below
        elif not _equal(value, shared[key]):
            out[key] = value
    return out


def pack(specs: Mapping[str, dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """(entries, matrix section) of a shard's JSON entries: each cell entry's `launch` becomes
    `launch_differs` against the launch its spec's cells share, kept once in the section."""
    groups: dict[str, list[str]] = {}
    for entry_id, raw in specs.items():
        if raw.get("cell") is not None:
            groups.setdefault(base_id(entry_id), []).append(entry_id)
    out = dict(specs)
    section: dict[str, Any] = {}
    for spec_id, ids in sorted(groups.items()):
        shared: Any = None
        for entry_id in ids:
            launch = specs[entry_id]["launch"]
            shared = launch if shared is None else _common(shared, launch)
        section[spec_id] = {"launch": shared}
        for entry_id in ids:
            raw = dict(specs[entry_id])
            raw["launch_differs"] = _differs(raw.pop("launch"), shared)
            out[entry_id] = raw
    return out, section


def unpack(specs: Mapping[str, Any], section: Any) -> dict[str, Any]:
    """The inverse of pack; entries that are not packed cells pass through as they are (what is
    wrong with them is the ledger's to say)."""
    from reconciler.specs import deep_merge  # specs imports this module: its merge, not a second one

    if not isinstance(section, dict):
        return dict(specs)
    out = dict(specs)
    for entry_id, raw in specs.items():
        if isinstance(raw, dict) and "launch_differs" in raw and "[" in entry_id:
            shared = section.get(base_id(entry_id), {})
            differs = raw["launch_differs"]
            if isinstance(shared, dict) and isinstance(shared.get("launch"), dict) and isinstance(differs, dict):
                entry = {k: v for k, v in raw.items() if k != "launch_differs"}
                entry["launch"] = deep_merge(shared["launch"], differs)
                out[entry_id] = entry
    return out


# ---- plans: one line per spec ------------------------------------------------------------------------

def grouped(changes: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A plan document's changes with the cells of one spec and action made one group each (in the
    place of the first): `cells` (ids), `diff` (entries every cell shares), `varies` (paths whose
    change differs between cells). Other changes pass through as they are."""
    out: list[dict[str, Any]] = []
    at: dict[tuple[str, str], int] = {}
    members: dict[int, list[Mapping[str, Any]]] = {}
    for change in changes:
        spec_id = change.get("matrix")
        if spec_id is None:
            out.append(dict(change))
            continue
        key = (spec_id, change["action"])
        if key not in at:
            at[key] = len(out)
            out.append({})
            members[at[key]] = []
        members[at[key]].append(change)
    for index, cells in members.items():
        first = cells[0]
        keyed = [{_compact(d): d for d in c["diff"]} for c in cells]
        shared_keys = set(keyed[0]).intersection(*keyed[1:])
        diff = [d for k, d in keyed[0].items() if k in shared_keys]
        varies = sorted({d["path"] for ks in keyed for k, d in ks.items() if k not in shared_keys})
        reasons = sorted({c["reason"] for c in cells})
        out[index] = {"id": first["matrix"], "action": first["action"], "source": first["source"],
                      "reason": reasons[0] if len(reasons) == 1 else "; ".join(reasons),
                      "cells": [c["id"] for c in cells], "diff": diff, "varies": varies, "matrix": first["matrix"],
                      "withdraw": [c["withdraw"] for c in cells if c.get("withdraw")]}
    return out


def cells_line(group: Mapping[str, Any], limit: int = 8) -> str:
    """`[lr=0.1], [lr=0.2] … and 6 more` for a group, at most `limit` shown."""
    spec_id = group["matrix"]
    shown = [c[len(spec_id):] for c in group["cells"][:limit]]
    rest = len(group["cells"]) - len(shown)
    return ", ".join(shown) + (f" … and {rest} more" if rest else "")
