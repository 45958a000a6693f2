"""Read one spec or defaults file safely.

PyYAML's safe loader is the parser (YAML 1.1, nothing coerced afterwards), but a file is checked
before anything is built from it: size, encoding, control characters, symlinks, nesting depth,
alias expansion and repeated keys. Values are built only for documents that pass; every problem
carries the line and column of the node it is about.
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from reconciler.problems import Path_, Problem, dotted

if TYPE_CHECKING:
    from collections.abc import Iterator

if TYPE_CHECKING:  # the stubs type both alike; the checker sees the pure-Python one
    _Base = yaml.SafeLoader
else:  # libyaml when the wheel has it: same results, several times faster
    _Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_RESOLVED: dict[tuple[str, tuple[bool, bool]], str] = {}
_SCALAR = yaml.ScalarNode


class _Loader(_Base):
    """The safe loader with the implicit tag of a plain scalar remembered: the same keys and values
    recur in every spec, and resolving them again was a tenth of a cold load (profile). The safe
    loader has no path resolvers, so the tag depends only on the scalar's text and style."""

    # The safe loader has no path resolvers (launchops never adds one), yet libyaml calls these
    # two for every node: a twentieth of a cold load in the profile
    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        # the stubs leave BaseResolver.resolve untyped
        if kind is not _SCALAR:
            # without path resolvers a collection's tag is its kind's default (a twentieth of compose)
            return _COLLECTION_TAGS.get(kind) or super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
        key = (value, implicit)
        tag = _RESOLVED.get(key)
        if tag is None:
            tag = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
            if len(_RESOLVED) < 100_000:  # bounded: a hostile file of unique scalars
                _RESOLVED[key] = tag
        return tag

_COLLECTION_TAGS: dict[Any, str] = {} if _Loader.yaml_path_resolvers else {
    yaml.MappingNode: _Loader.DEFAULT_MAPPING_TAG, yaml.SequenceNode: _Loader.DEFAULT_SEQUENCE_TAG}

MAX_DEPTH = 64
MAX_NODES = 10_000
MAX_PROBLEMS = 100  # per file
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class Document:
    """One YAML document of a file, with where it starts."""

    index: int  # position in the file, from 0
    line: int  # where it starts, 1-based
    data: dict[str, Any]
    # Line and column of the top-level `id` value (of the mapping when there is none), as
    # `locate(text, index, ["id"])` gives them: found while parsing, not by parsing the file again.
    id_at: tuple[int, int] = (1, 1)


def read_text(path: Path, rel: str, root: Path, max_bytes: int,
              inside: dict[str, bool] | None = None) -> tuple[str | None, Problem | None]:
    """The file's text, or the reason it is refused before parsing. `inside` is one load's memo of
    which folders resolve inside `root`: a file that is not itself a symlink is inside exactly when
    its folder is, so a load resolves once per folder, not per file (a tenth of it, profile)."""
    try:
        st = os.lstat(path)
        # any symlink on the way counts: a file named through a linked folder is outside too
        if inside is None or stat.S_ISLNK(st.st_mode):
            ok = path.resolve().is_relative_to(root.resolve())
        else:
            folder = os.path.dirname(path)  # its text: a Path and its hash per file cost more (profile)
            known = inside.get(folder)
            if known is None:
                known = inside[folder] = Path(folder).resolve().is_relative_to(root.resolve())
            ok = known
        if not ok:
            how = "is a symlink that resolves" if path.is_symlink() else "is reached through a symlinked folder"
            return None, Problem(rel, 0, 0, f"{how} outside the repository; "
                                          "copy the file into the repository instead")
        size = path.stat().st_size if stat.S_ISLNK(st.st_mode) else st.st_size
        if size > max_bytes:
            return None, Problem(rel, 0, 0, f"is {size} bytes, larger than max_spec_bytes ({max_bytes}); "
                                          "split it, or raise max_spec_bytes in launchops.toml")
        raw = _read_all(path, size)
    except OSError as exc:
        return None, Problem(rel, 0, 0, f"cannot be read: {exc.strerror or exc}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, Problem(rel, line, column, f"is not UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8")
    text = text.removeprefix("\ufeff")  # a byte-order mark is harmless: editors add it
    bad = _CONTROL.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        return None, Problem(rel, line, column, f"contains the control character U+{ord(bad.group()):04X}; "
                                               "remove it (only tab, LF and CR are allowed)")
    if not text.strip():
        return None, Problem(rel, 0, 0,
                             "is empty; write a spec (apiVersion: launchops/v1, launch: …) or delete the file")
    return text, None


def _read_all(path: Path, size: int) -> bytes:
    """The file's bytes to its end, in one read of the size `lstat` gave where it did not change:
    `Path.read_bytes` (a buffered file object, another fstat) took three times as long (measured)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        chunks = []
        want = size + 1
        while chunk := os.read(fd, want):
            chunks.append(chunk)
            want = 1 << 16
        return b"".join(chunks)
    finally:
        os.close(fd)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _check_node(node: yaml.Node, rel: str, path: list[str | int], depth: int, sizes: dict[int, int],
                problems: list[Problem], loader: Any, plain: list[bool]) -> tuple[int, Any]:
    """Problems a built value would hide, and how many nodes the subtree expands to. `path` is
    where `node` is; the walk appends to it and takes off again.

    The value is built in the same walk for the plain tags every spec uses (a second walk was a
    fifth of a cold load in the profile); anything else (aliases, merge keys, other tags, a scalar
    its constructor refuses) clears `plain[0]`, and the caller builds the value as before."""
    key = id(node)
    if key in sizes:  # an alias: counted again wherever it is used, but walked once
        plain[0] = False  # PyYAML shares one object between its uses
        return sizes[key], None
    if depth > MAX_DEPTH:
        line, col = _mark(node)
        problems.append(Problem(rel, line, col, f"nested deeper than {MAX_DEPTH} levels; flatten it", dotted(path)))
        sizes[key] = MAX_NODES + 1
        return sizes[key], None
    sizes[key] = 1  # guards against recursive aliases
    value: Any = None
    if isinstance(node, yaml.MappingNode):
        size, value = _check_mapping(node, rel, path, depth, sizes, problems, loader, plain)
    elif isinstance(node, yaml.SequenceNode):
        size, value = _check_sequence(node, rel, path, depth, sizes, problems, loader, plain)
    else:
        size = 1
        if plain[0]:
            try:
                value = _plain_scalar(loader, node)
            except Exception:  # _Unusual, or whatever the constructor says: it says it again when the value is built
                plain[0] = False
        # the type of the value just built says "number" for less than the tag does (a tenth of parsing)
        if (type(value) in _NUMBER_TYPES if plain[0] else node.tag in _NUMBERS) and isinstance(node, yaml.ScalarNode):
            changed = _number_reading(loader, node, rel, path) if not node.style else None  # plain: None or ""
            if changed:
                problems.append(changed)
    sizes[key] = size
    return size, value


def _check_mapping(node: yaml.MappingNode, rel: str, path: list[str | int], depth: int, sizes: dict[int, int],
                   problems: list[Problem], loader: Any, plain: list[bool]) -> tuple[int, dict[str, Any]]:
    """`_check_node` for a mapping: keys that are not strings, keys given twice, merge keys."""
    if node.tag != _MAP:
        plain[0] = False
    size = 1
    out: dict[str, Any] = {}
    seen: dict[Any, tuple[int, int]] = {}
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE_TAG:
            plain[0] = False
            size += _check_node(value_node, rel, path, depth + 1, sizes, problems, loader, plain)[0]
            continue
        line, col = _mark(key_node)
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR:
            problems.append(Problem(rel, line, col, _key_problem(key_node), dotted(path)))
            continue
        name = key_node.value
        if name in seen:
            first = seen[name]
            problems.append(Problem(rel, line, col, f"key {name!r} is given twice (first at line {first[0]}); "
                                                    "keep one", dotted(path + [name])))
            continue
        seen[name] = (line, col)
        path.append(name)  # one list for the whole walk: a new one per node was a tenth of it (profile)
        child_size, out[name] = _check_node(value_node, rel, path, depth + 1, sizes, problems, loader, plain)
        path.pop()
        size += 1 + child_size
    return size, out


def _number_reading(loader: Any, node: yaml.Node, rel: str, path: list[str | int]) -> Problem | None:
    """A warning when YAML 1.1 reads an unquoted number into one written differently: `2026.10` is
    2026.1, `010` is 8 (octal), `1:30` is 90 (base 60). Where a string is required that is already
    an error; where numbers are allowed (template_variables, config) it would pass silently."""
    # called for every unquoted number: the common ones (8, 0.0003, 1.0) leave after a look or two
    text = node.value.replace("_", "")
    if ":" in text:
        how = "the base-60 number"
    elif node.tag == _INT:
        digits = text.lstrip("+-")
        if not (len(digits) > 1 and digits[0] == "0" and digits[1].isdigit()):
            return None
        how = "the octal number"
    else:
        mantissa = re.split("[eE]", text)[0] if "e" in text or "E" in text else text
        if not mantissa.endswith("0") or len(mantissa.partition(".")[2]) < 2:
            return None
        how = "the number"
    try:
        value = loader.construct_yaml_float(node) if node.tag == _FLOAT else loader.construct_yaml_int(node)
    except (ValueError, yaml.YAMLError):
        return None
    key = path[-1] if path and isinstance(path[-1], str) else "-"
    line, col = _mark(node)
    return Problem(rel, line, col, f"YAML 1.1 reads {node.value} as {how} {value!r}; if you mean the text, quote "
                                   f"it: {key}: \"{node.value}\"", dotted(path), warning=True)


def _key_problem(key_node: yaml.Node) -> str:
    if isinstance(key_node, yaml.ScalarNode):
        raw = key_node.value
        return f"key {raw} is not a string; quote it: \"{raw}\""
    # `? [a, b]` or `{a: 1}: x`: no quoting makes that a name
    kind = "a list" if isinstance(key_node, yaml.SequenceNode) else "a mapping"
    return f"a key must be a string, not {kind}; write a plain name"


def _check_sequence(node: yaml.SequenceNode, rel: str, path: list[str | int], depth: int, sizes: dict[int, int],
                    problems: list[Problem], loader: Any, plain: list[bool]) -> tuple[int, list[Any]]:
    if node.tag != _SEQ:
        plain[0] = False
    size = 1
    items = []
    for i, item in enumerate(node.value):
        path.append(i)
        child_size, child = _check_node(item, rel, path, depth + 1, sizes, problems, loader, plain)
        path.pop()
        size += child_size
        items.append(child)
    return size, items


def _syntax_problem(rel: str, exc: yaml.YAMLError, source: str) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    what = getattr(exc, "problem", None) or str(exc)
    if "maximum nesting depth" in what:  # libyaml's own limit (1000), far above ours
        return Problem(rel, line, col, f"nested deeper than {MAX_DEPTH} levels; flatten it")
    context = getattr(exc, "context", None)
    text = f"{context}: {what}" if context else what
    # libyaml does not name the character it stumbled on; a tab in the indentation is the usual one
    lines = source.splitlines()
    bad_line = lines[line - 1] if 0 < line <= len(lines) else ""
    indent = bad_line[: len(bad_line) - len(bad_line.lstrip(" \t"))]
    if "\t" in text or "tab" in text or "\t" in indent or bad_line[col - 1:col] == "\t":
        text += " (a tab: YAML indents with spaces, never tabs)"
    return Problem(rel, line, col, f"YAML syntax error: {text}")


_STR, _NULL, _BOOL = "tag:yaml.org,2002:str", "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool"
_INT, _FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_NUMBERS = (_INT, _FLOAT)
_NUMBER_TYPES = (int, float)  # not bool: `type(True) is bool`


class _Unusual(Exception):
    """A node the fast builder leaves to PyYAML's constructor (alias, merge, timestamp, binary…)."""


# (tag, text) -> (value, may warn): the same scalars recur in every spec, and PyYAML's int and
# float constructors were a tenth of the node walk (profile). Only immutable values are kept.
_SCALARS: dict[tuple[str, str], tuple[Any, bool]] = {}
_MAPPING_NODE, _SEQUENCE_NODE = yaml.MappingNode, yaml.SequenceNode


def _fast_scalar(node: yaml.ScalarNode, rel: str, path: list[str | int], key: str | int, problems: list[Problem],
                 loader: Any) -> Any:
    """A scalar of a non-str tag as `_check_node` builds and checks it; _Unusual for anything else."""
    entry = _SCALARS.get((node.tag, node.value))
    if entry is None:
        try:
            value = _plain_scalar(loader, node)
        except Exception:  # _Unusual, or what the constructor says: the full walk says it again
            raise _Unusual from None
        warns = type(value) in _NUMBER_TYPES and _number_reading(loader, node, rel, [key]) is not None
        entry = (value, warns)
        if len(_SCALARS) < 100_000:  # bounded: a hostile file of unique scalars
            _SCALARS[(node.tag, node.value)] = entry
    if entry[1] and not node.style:
        path.append(key)
        changed = _number_reading(loader, node, rel, path)
        path.pop()
        if changed:
            problems.append(changed)
    return entry[0]


def _fast_mapping(node: yaml.Node, rel: str, path: list[str | int], depth: int, problems: list[Problem],
                  loader: Any) -> tuple[int, dict[str, Any]]:
    """`_check_node` of a mapping in the common case: no alias, every tag plain, every key a string
    given once, nested no deeper than MAX_DEPTH. Anything else raises _Unusual and the caller walks
    the document again with `_check_node`, which finds the same values and says what is wrong; the
    common case costs half as much this way (profile)."""
    if node.tag != _MAP or depth >= MAX_DEPTH:
        raise _Unusual
    out: dict[str, Any] = {}
    size = 1
    for key_node, value_node in node.value:
        if key_node.tag != _STR or type(key_node) is not _SCALAR:
            raise _Unusual
        name = key_node.value
        if name in out:
            raise _Unusual
        kind = type(value_node)
        if kind is _SCALAR:
            out[name] = value_node.value if value_node.tag == _STR else _fast_scalar(value_node, rel, path, name,
                                                                                     problems, loader)
            size += 2
        else:
            path.append(name)
            child_size, out[name] = _fast_container(kind, value_node, rel, path, depth + 1, problems, loader)
            path.pop()
            size += 1 + child_size
    return size, out


def _fast_sequence(node: yaml.Node, rel: str, path: list[str | int], depth: int, problems: list[Problem],
                   loader: Any) -> tuple[int, list[Any]]:
    if node.tag != _SEQ or depth >= MAX_DEPTH:
        raise _Unusual
    items: list[Any] = []
    size = 1
    for i, item in enumerate(node.value):
        kind = type(item)
        if kind is _SCALAR:
            items.append(item.value if item.tag == _STR else _fast_scalar(item, rel, path, i, problems, loader))
            size += 1
        else:
            path.append(i)
            child_size, child = _fast_container(kind, item, rel, path, depth + 1, problems, loader)
            path.pop()
            items.append(child)
            size += child_size
    return size, items


def _fast_container(kind: type, node: yaml.Node, rel: str, path: list[str | int], depth: int,
                    problems: list[Problem], loader: Any) -> tuple[int, Any]:
    if kind is _MAPPING_NODE:
        return _fast_mapping(node, rel, path, depth, problems, loader)
    if kind is _SEQUENCE_NODE:
        return _fast_sequence(node, rel, path, depth, problems, loader)
    raise _Unusual


def _plain_scalar(loader: Any, node: yaml.Node) -> Any:
    """A scalar of a plain tag, as PyYAML's constructor builds it; _Unusual for any other tag."""
    tag = node.tag
    if tag == _STR:
        return node.value
    if tag == _INT:
        return loader.construct_yaml_int(node)
    if tag == _FLOAT:
        return loader.construct_yaml_float(node)
    if tag == _BOOL:
        return loader.construct_yaml_bool(node)
    if tag == _NULL:
        return None
    raise _Unusual


def load_documents(text: str, rel: str) -> tuple[list[Document], list[Problem]]:
    """Every document of a file, checked then built; problems instead of documents that fail."""
    documents: list[Document] = []
    problems: list[Problem] = []
    loader = _Loader(text)
    no_alias = "*" not in text or "&" not in text  # an alias needs an anchor (a cron's "*/5" is no alias)
    try:
        index = 0
        for node in _documents(loader):
            line, col = _mark(node)
            if len(problems) >= MAX_PROBLEMS:  # a file of 250,000 stray '---' says enough by now
                problems.append(Problem(rel, line, col, f"more than {MAX_PROBLEMS} problems; fix these first"))
                break
            before = _errors(problems)
            if not isinstance(node, yaml.MappingNode):
                problems.append(_top_level_problem(node, rel, index, line, col))
            else:
                plain = [True]
                size, built = _check_document(node, rel, problems, loader, plain, no_alias)
                if size > MAX_NODES and _errors(problems) == before:
                    problems.append(Problem(rel, line, col, f"expands through aliases to more than {MAX_NODES} "
                                                            "values; write the values out or use fewer aliases"))
                if _errors(problems) == before:  # warnings leave the document as it is
                    # anything the walk did not build (aliases, merge keys, other tags) PyYAML's constructor builds
                    documents.append(Document(index, line, built if plain[0] else loader.construct_document(node),
                                              _id_at(node, (line, col))))
            index += 1
    except yaml.YAMLError as exc:
        problems.append(_syntax_problem(rel, exc, text))
    except RecursionError:
        problems.append(Problem(rel, 0, 0, f"nested deeper than {MAX_DEPTH} levels; flatten it"))
    finally:
        loader.dispose()
    if not documents and not problems:
        problems.append(Problem(rel, 0, 0, "holds no YAML document; write a spec or delete the file"))
    return documents, problems


def _check_document(node: yaml.Node, rel: str, problems: list[Problem], loader: Any, plain: list[bool],
                    no_alias: bool) -> tuple[int, Any]:
    """`_check_node` of a document's top level, by `_fast_mapping` where it can (no alias can
    share a node where the text has no '*', or no '&' to anchor one)."""
    mark = len(problems)
    if no_alias:
        try:
            return _fast_mapping(node, rel, [], 1, problems, loader)
        except _Unusual:
            del problems[mark:]  # the full walk says them again, with the rest
    return _check_node(node, rel, [], 1, {}, problems, loader, plain)


def _errors(problems: list[Problem]) -> int:
    return sum(not p.warning for p in problems)


def _top_level_problem(node: yaml.Node, rel: str, index: int, line: int, col: int) -> Problem:
    """Why a document whose top level is not a mapping is refused."""
    if isinstance(node, yaml.ScalarNode) and node.tag == _NULL:
        return Problem(rel, line, col, f"document {index + 1} is empty; remove the stray '---'")
    kind = "a list" if isinstance(node, yaml.SequenceNode) else "a single value"
    want = ("a _defaults file is a mapping with launch: and/or labels:"
            if rel.rsplit("/", 1)[-1].startswith("_defaults.") else
            "a spec starts with 'apiVersion: launchops/v1'")
    return Problem(rel, line, col, f"the top level is {kind}, not a mapping; {want}")


def _id_at(node: yaml.MappingNode, where: tuple[int, int]) -> tuple[int, int]:
    """Line and column of the top-level `id` value; `where` (the mapping's) when there is none."""
    for key_node, value_node in node.value:  # the last match, as locate() picks it
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == "id":
            where = _mark(value_node)
    return where


def _documents(loader: _Loader) -> Iterator[yaml.Node]:
    """The root node of each document in turn."""
    while loader.check_node():
        node = loader.get_node()
        if node is not None:  # check_node() said there is one
            yield node


def _nodes(text: str) -> Iterator[yaml.Node]:
    loader = _Loader(text)
    try:
        yield from _documents(loader)
    finally:
        loader.dispose()


def locate(text: str, doc_index: int, path: Path_, at_key: bool = False) -> tuple[int, int, str | None]:
    """Line, column and raw scalar text of the node at `path` in document `doc_index`.

    Called only to report a problem, so the node trees are never kept in memory. Falls back to the
    deepest existing ancestor (for a missing key, the mapping that should hold it)."""
    try:
        node = next(n for i, n in enumerate(_nodes(text)) if i == doc_index)
    except (StopIteration, yaml.YAMLError):
        return 1, 1, None
    key_node: yaml.Node | None = None
    for part in path:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == part:
                    key_node, child = k, v
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            key_node, child = None, node.value[part]
        if child is None:
            line, col = _mark(node)
            return line, col, None
        node = child
    target = key_node if at_key and key_node is not None else node
    line, col = _mark(target)
    raw = node.value if isinstance(node, yaml.ScalarNode) else None
    return line, col, raw
