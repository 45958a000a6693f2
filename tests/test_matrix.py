"""Matrix specs: cells known by their values (ids, round-trips, stability across processes), what
plans show when axes are reordered, grown, shrunk or the rest edited, and the YAML 1.1 pitfalls."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import cli, commit_all, read_ledger, write
from reconciler import matrix
from reconciler.ledger import Entry, Ledger, identity
from reconciler.plan import make_plan
from reconciler.render import documents, markdown, text
from reconciler.settings import load_settings
from reconciler.specs import load_specs

SWEEP = """\
apiVersion: launchops/v1
matrix:
  axes: {lr: [0.001, 0.0003], seed: [0, 1, 2]}
  include: [{lr: 0.01, seed: 7}]
  exclude: [{lr: 0.0003, seed: 2}]
launch:
  docker_image: img:1
  queue_name: q
  config: {overrides: {run_config: {lr: "${matrix.lr}", seed: "${matrix.seed}", tag: "lr-${matrix.lr}"}}}
"""
CELLS = ["sweep[lr=0.0003,seed=0]", "sweep[lr=0.0003,seed=1]", "sweep[lr=0.001,seed=0]", "sweep[lr=0.001,seed=1]",
         "sweep[lr=0.001,seed=2]", "sweep[lr=0.01,seed=7]"]


def _plan(repo: Path, fmt: str = "json") -> Any:
    out = cli(repo, "plan", "--format", fmt)
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout) if fmt == "json" else out.stdout


def _applied(repo: Path, spec: str = SWEEP) -> None:
    write(repo, "launches/sweep.yaml", spec)
    commit_all(repo)
    out = cli(repo, "apply", "--yes")
    assert out.exit_code == 0, out.output


def _errors(repo: Path) -> list[dict[str, Any]]:
    out = cli(repo, "validate", "--format", "json")
    return json.loads(out.stdout)["errors"] + json.loads(out.stdout)["warnings"]


# ---- ids -------------------------------------------------------------------------------------------

HOSTILE = ["a,b", "x=y", "[z]", "p/q", "0.5.", "100%", "two words", "tab\there", "naïve ü 日本", "", "\"q\"",
           "true", "1", "null", "1e-3", "~", "a%2Cb", "]", "line\nbreak"]


@pytest.mark.parametrize("value", [*HOSTILE, 1, 0.001, 1e-05, -3, True, False, None, [1, "a"], {"k": [1]}])
def test_a_cell_id_round_trips_its_values(value: Any) -> None:
    values = {"v": value, "seed": 0}
    cid = matrix.cell_id("team/sweep", values)
    assert matrix.parse_cell_id(cid) == ("team/sweep", values)
    inner = cid[len("team/sweep["):-1]
    assert not any(c in inner for c in '[]/"%') or "%" in inner and not any(c in inner for c in '[]/"')
    assert inner.count("=") == 2 and inner.count(",") == 1  # every separator in a value is encoded
    assert not any(c.isspace() for c in cid)


def test_ids_sort_axes_and_keep_types_apart() -> None:
    assert matrix.cell_id("s", {"seed": 0, "lr": 0.001}) == "s[lr=0.001,seed=0]"
    assert matrix.cell_id("s", {"flag": True}) == "s[flag=true]"
    assert matrix.cell_id("s", {"flag": "true"}) == "s[flag=%22true%22]"
    assert matrix.cell_id("s", {"n": "1"}) != matrix.cell_id("s", {"n": 1})
    assert matrix.cell_id("s", {"n": "null"}) != matrix.cell_id("s", {"n": None})
    assert matrix.cell_id("s", {"name": "gpt small"}) == "s[name=gpt%20small]"


def test_a_long_id_becomes_the_hash_of_the_cell() -> None:
    values = {"prompt": "x" * 200, "seed": 1}
    cid = matrix.cell_id("team/sweep", values)
    digest = __import__("hashlib").sha256(json.dumps(values, sort_keys=True, separators=(",", ":")).encode())
    assert cid == f"team/sweep[~{digest.hexdigest()[:12]}]"
    assert matrix.parse_cell_id(cid) == ("team/sweep", None)
    short = matrix.cell_id("s", {"v": "y" * 100})
    assert len(short) <= 120 and "~" not in short


def test_ids_are_the_same_under_any_hash_seed(tmp_path: Path, empty_repo: Path) -> None:
    """Cell ids, their order and the shard as written never depend on Python's hash()."""
    write(empty_repo, "launches/sweep.yaml", SWEEP.replace("seed: [0, 1, 2]", "seed: [0, 1, 2], tag: [a, b, 'c d']")
          .replace('tag: "lr-${matrix.lr}"', 'tag: "${matrix.tag}-${matrix.lr}"').replace("seed: 7}", "seed: 7, tag: a}"))
    code = ("import json, sys; from reconciler.settings import load_settings; from reconciler.specs import load_specs;"
            "from reconciler.ledger import shard_text, Entry;"
            "from pathlib import Path; s = load_specs(load_settings(Path(sys.argv[1]))).specs;"
            "e = {k: Entry(v.digest, v.source, v.launch, 'applied', 'c', cell=v.cell) for k, v in s.items()};"
            "print(json.dumps(list(s)) + chr(10) + shard_text('launches/sweep.yaml', e, None))")
    outs = set()
    for seed in ("0", "12345"):
        run = subprocess.run([sys.executable, "-c", code, str(empty_repo)], capture_output=True, text=True,
                             env={**os.environ, "PYTHONHASHSEED": seed}, check=True)
        outs.add(run.stdout)
    assert len(outs) == 1
    assert len(json.loads(outs.pop().split("\n", 1)[0])) == 16  # 2 x 3 x 3, less 3 excluded, and 1 included


# ---- plans -----------------------------------------------------------------------------------------

def test_cells_are_specs_of_the_file_and_the_ledger_keeps_their_values(empty_repo: Path) -> None:
    _applied(empty_repo)
    ledger = read_ledger(empty_repo)
    assert sorted(ledger["specs"]) == CELLS
    entry = ledger["specs"]["sweep[lr=0.01,seed=7]"]
    assert entry["cell"] == {"lr": 0.01, "seed": 7}
    assert entry["launch"]["config"]["overrides"]["run_config"] == {"lr": 0.01, "seed": 7, "tag": "lr-0.01"}
    shard = json.loads((empty_repo / ".launchops/ledger/sweep.yaml.json").read_text())
    # the launch the cells share is kept once; each cell keeps only what differs
    assert shard["matrix"]["sweep"]["launch"]["docker_image"] == "img:1"
    assert all("launch" not in e and "docker_image" not in e["launch_differs"] for e in shard["specs"].values())


def test_reordering_axes_and_values_changes_nothing(empty_repo: Path) -> None:
    _applied(empty_repo)
    reordered = SWEEP.replace("axes: {lr: [0.001, 0.0003], seed: [0, 1, 2]}", "axes: {seed: [2, 0, 1], lr: [0.0003, 0.001]}")
    write(empty_repo, "launches/sweep.yaml", reordered)
    assert _plan(empty_repo)["changes"] == []


def test_adding_a_value_creates_only_the_new_cells(empty_repo: Path) -> None:
    _applied(empty_repo)
    write(empty_repo, "launches/sweep.yaml", SWEEP.replace("[0.001, 0.0003]", "[0.001, 0.1, 0.0003]"))
    plan = _plan(empty_repo)
    assert [(c["action"], c["id"]) for c in plan["changes"]] == [
        ("create", "sweep[lr=0.1,seed=0]"), ("create", "sweep[lr=0.1,seed=1]"), ("create", "sweep[lr=0.1,seed=2]")]
    assert plan["changes"][0]["cell"] == {"lr": 0.1, "seed": 0} and plan["changes"][0]["matrix"] == "sweep"
    assert plan["summary"]["unchanged"] == 6


def test_removing_a_value_removes_its_cells(empty_repo: Path) -> None:
    _applied(empty_repo)
    write(empty_repo, "launches/sweep.yaml", SWEEP.replace("seed: [0, 1, 2]", "seed: [0, 2]"))
    plan = _plan(empty_repo)
    assert [(c["action"], c["id"]) for c in plan["changes"]] == [
        ("remove", "sweep[lr=0.0003,seed=1]"), ("remove", "sweep[lr=0.001,seed=1]")]
    assert plan["changes"][0]["reason"] == "no longer a cell of its matrix"
    commit_all(empty_repo)
    assert cli(empty_repo, "apply", "--yes").exit_code == 0
    assert read_ledger(empty_repo)["specs"]["sweep[lr=0.001,seed=1]"]["status"] == "removed"


def test_a_non_axis_edit_updates_every_cell_in_one_line_per_spec(empty_repo: Path) -> None:
    _applied(empty_repo)
    write(empty_repo, "launches/sweep.yaml", SWEEP.replace("queue_name: q", "queue_name: q2"))
    plan = _plan(empty_repo)
    assert [c["id"] for c in plan["changes"] if c["action"] == "update"] == CELLS
    shown = _plan(empty_repo, "text")
    assert shown.count("~ sweep") == 1 and "update 6 cells" in shown
    assert '~ launch.queue_name: "q" -> "q2"' in shown and shown.count("queue_name") == 1
    md = _plan(empty_repo, "markdown")
    assert md.count("<details>") == 1 and "update 6 cells of <code>sweep</code>" in md


def test_a_placeholder_inside_a_string_is_text_and_whole_keeps_the_type(empty_repo: Path) -> None:
    _applied(empty_repo, SWEEP.replace('tag: "lr-${matrix.lr}"', 'tag: "lr-${matrix.lr}-${matrix.seed}"'))
    run_config = read_ledger(empty_repo)["specs"]["sweep[lr=0.001,seed=2]"]["launch"]["config"]["overrides"]
    assert run_config["run_config"] == {"lr": 0.001, "seed": 2, "tag": "lr-0.001-2"}


def test_markdown_of_100_specs_of_256_cells_fits_a_comment(tmp_path: Path, empty_repo: Path) -> None:
    """A non-axis edit to 100 specs of 256 cells each: one block per spec, all within 65,535."""
    spec = ("apiVersion: launchops/v1\nmatrix:\n  axes: {lr: [" + ", ".join(f"0.{i:03d}1" for i in range(16))
            + "], seed: [" + ", ".join(map(str, range(16))) + "]}\nlaunch:\n  docker_image: img:1\n"
            "  queue_name: QUEUE\n  config: {lr: '${matrix.lr}', seed: '${matrix.seed}'}\n")
    for i in range(100):
        write(empty_repo, f"launches/team-{i:03d}/sweep.yaml", spec.replace("QUEUE", "old"))
    settings = load_settings(empty_repo)
    old = load_specs(settings).specs
    assert len(old) == 25_600
    ledger = Ledger({k: Entry(s.digest, s.source, s.launch, "applied", identity("change", k, None, s.digest),
                              cell=s.cell) for k, s in old.items()}, repository="0" * 32)
    for i in range(100):
        write(empty_repo, f"launches/team-{i:03d}/sweep.yaml", spec.replace("QUEUE", "new"))
    plan = make_plan(load_specs(settings).specs, ledger)
    assert plan.summary["update"] == 25_600
    doc = documents.plan(plan)
    md = markdown.plan(doc)
    assert len(md) <= markdown.LIMIT and md.count("<details>") == 100 and "not shown" not in md
    assert text.plan(doc).count("update 256 cells") == 100


# ---- checks ----------------------------------------------------------------------------------------

def test_an_axis_mixing_strings_and_numbers_is_an_error_naming_yaml_1_1(empty_repo: Path) -> None:
    write(empty_repo, "launches/sweep.yaml", SWEEP.replace("[0.001, 0.0003]", "[1e-3, 0.0003]"))
    errors = _errors(empty_repo)
    assert [(e["line"], e["path"]) for e in errors] == [(3, "matrix.axes.lr")]
    assert "different types" in errors[0]["message"] and "YAML 1.1 reads 1e-3 as a string" in errors[0]["message"]


def test_a_numeric_looking_string_is_a_warning_unless_quoted(empty_repo: Path) -> None:
    write(empty_repo, "launches/sweep.yaml", "apiVersion: launchops/v1\nmatrix:\n  axes: {lr: [1e-3, '3e-4']}\n"
          "launch: {docker_image: i, config: {lr: '${matrix.lr}'}}\n")
    out = json.loads(cli(empty_repo, "validate", "--format", "json").stdout)
    assert out["valid"] and [(w["line"], w["path"]) for w in out["warnings"]] == [(3, "matrix.axes.lr[0]")]
    assert "YAML 1.1 reads 1e-3 as the string" in out["warnings"][0]["message"]


def test_true_and_the_string_true_are_different_cells(empty_repo: Path) -> None:
    flag = ("apiVersion: launchops/v1\nmatrix:\n  axes: {flag: [true]}\nlaunch:\n  docker_image: i\n"
            "  config: {flag: '${matrix.flag}'}\n")
    _applied(empty_repo, flag)
    write(empty_repo, "launches/sweep.yaml", flag.replace("[true]", "['true']"))
    plan = _plan(empty_repo)
    assert [(c["action"], c["id"]) for c in plan["changes"]] == [
        ("create", "sweep[flag=%22true%22]"), ("remove", "sweep[flag=true]")]


def test_257_cells_without_max_cells_is_an_error_with_both_counts(empty_repo: Path) -> None:
    spec = ("apiVersion: launchops/v1\nmatrix:\n  axes:\n    a: [" + ", ".join(map(str, range(260))) + "]\n"
            "  exclude: [{a: 0}, {a: 1}, {a: 2}]\nlaunch:\n  docker_image: i\n  config: {a: '${matrix.a}'}\n")
    write(empty_repo, "launches/sweep.yaml", spec)
    errors = _errors(empty_repo)
    assert len(errors) == 1 and errors[0]["line"] == 3 and errors[0]["path"] == "matrix"
    assert "257 cells (260 before exclude)" in errors[0]["message"] and "max_cells (256" in errors[0]["message"]
    write(empty_repo, "launches/sweep.yaml", spec.replace("  exclude", "  max_cells: 300\n  exclude"))
    assert _errors(empty_repo) == []


@pytest.mark.parametrize(("change", "line", "path", "words"), [
    (("'${matrix.lr}'", "'${matrix.rate}'"), 5, "launch.config.lr", "${matrix.rate} names no axis"),
    (("seed: [0, 1]", "seed: [0, 1], extra: [1]"), 3, "matrix.axes.extra", "used by no ${matrix.extra}"),
    (("axes:", "include: [{lr: 0.5}]\n  axes:"), 3, "matrix.include[0]", "misses 'seed'"),
    (("axes:", "max_cells: 5000\n  axes:"), 3, "matrix.max_cells", "from 1 to 4096"),
    (("axes:", "axis: {}\n  axes:"), 3, "matrix.axis", "unknown key 'axis'"),
    (("[0, 1]", "[0, 0]"), 3, "matrix.axes.seed[1]", "listed twice"),
    (("docker_image: i", "docker_image: i\n  priority: '${matrix.lr}'"), 7, "launch.priority",
     "(in cell [lr=0.1,seed=0])"),
])
def test_matrix_problems_are_reported_at_their_line(empty_repo: Path, change: tuple[str, str], line: int, path: str,
                                                    words: str) -> None:
    base = ("apiVersion: launchops/v1\nmatrix:\n  axes: {lr: [0.1], seed: [0, 1]}\nlaunch:\n  config: {lr: "
            "'${matrix.lr}', seed: '${matrix.seed}'}\n  docker_image: i\n")
    spec = base.replace(change[0], change[1], 1)
    write(empty_repo, "launches/sweep.yaml", spec)
    found = [e for e in _errors(empty_repo) if e["path"] == path]
    assert found and found[0]["line"] == line and words in found[0]["message"], _errors(empty_repo)


def test_matrix_is_refused_in_a_defaults_file(empty_repo: Path) -> None:
    write(empty_repo, "launches/_defaults.yaml", "matrix: {axes: {a: [1]}}\n")
    write(empty_repo, "launches/x.yaml", "apiVersion: launchops/v1\nlaunch: {docker_image: i}\n")
    assert [e["path"] for e in _errors(empty_repo)] == ["matrix"]


def test_a_fresh_clone_plans_from_the_shards_without_reading_unchanged_matrix_specs(tmp_path: Path,
                                                                                    empty_repo: Path) -> None:
    _applied(empty_repo)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(empty_repo), str(clone)], check=True)
    assert _plan(clone)["changes"] == []
    write(clone, "launches/sweep.yaml", SWEEP.replace("seed: [0, 1, 2]", "seed: [0, 1, 2, 3]"))
    assert [c["id"] for c in _plan(clone)["changes"]] == ["sweep[lr=0.0003,seed=3]", "sweep[lr=0.001,seed=3]"]


def test_pack_and_unpack_are_inverse() -> None:
    entries = {f"s[a={i}]": {"cell": {"a": i}, "launch": {"x": {"y": i, "z": [1]}, "q": "q", "e": {}}}
               for i in range(3)}
    entries["s[a=3]"] = {"cell": {"a": 3}, "launch": {"x": 5}}
    entries["plain"] = {"launch": {"x": 1}}
    packed, section = matrix.pack(entries)
    assert section == {"s": {"launch": {}}} or "s" in section
    assert matrix.unpack(packed, section) == entries
    packed, section = matrix.pack({k: v for k, v in entries.items() if k != "s[a=3]"})
    assert section["s"]["launch"] == {"x": {"z": [1]}, "q": "q", "e": {}}
    assert matrix.unpack(packed, section) == {k: v for k, v in entries.items() if k != "s[a=3]"}


def test_the_field_diff_walk_says_what_deepdiff_says() -> None:
    """plan.field_diff walks mappings itself (a matrix edit diffs thousands of cells); seeded
    random launches give the same leaf differences as DeepDiff over the whole mapping (but for an
    empty mapping, which DeepDiff reports whole and the walk key by key; the walk always goes deeper)."""
    import random

    from deepdiff import DeepDiff

    from reconciler.plan import FieldDiff, _missing, field_diff

    rng = random.Random(16)
    leaves: list[Any] = [0, 1, 1.0, True, False, None, "a", "b", "", [1, 2], [1, True], ["a"], {"k": 1}]

    def tree(depth: int) -> dict[str, Any]:
        return {k: (tree(depth + 1) if depth < 3 and rng.random() < 0.3 else rng.choice(leaves))
                for k in rng.sample("abcdef", rng.randint(1, 4))}

    for _ in range(400):
        old, new = tree(0), tree(0)
        if rng.random() < 0.5:
            new = {**old, **{k: v for k, v in new.items() if rng.random() < 0.3}}
        expected = sorted((FieldDiff(("launch", *lv.path(output_format="list")), None if _missing(lv.t1) else lv.t1,
                                     None if _missing(lv.t2) else lv.t2)
                           for levels in DeepDiff(old, new, view="tree", verbose_level=2, threshold_to_diff_deeper=0).values() for lv in levels),
                          key=lambda d: d.path)
        assert [(d.path, repr(d.old), repr(d.new)) for d in field_diff(old, new)] == \
            [(d.path, repr(d.old), repr(d.new)) for d in expected], (old, new)


def test_a_plain_spec_moved_onto_one_cell_keeps_its_history_and_enqueues_nothing(empty_repo: Path) -> None:
    """Lifecycle meets matrix: a plain spec that becomes one cell of a grid is moved there by the
    moves file (`to:` a cell id), keeping its QueuedRun ID; only the grid's other cells are sent."""
    write(empty_repo, "launches/x.yaml", "apiVersion: launchops/v1\nlaunch:\n  docker_image: img:1\n"
                                         "  config: {overrides: {run_config: {lr: 1}}}\n")
    commit_all(empty_repo, "x")
    assert cli(empty_repo, "apply", "--yes").exit_code == 0
    first = read_ledger(empty_repo)["specs"]["x"]["queued_runs"][0]["id"]
    (empty_repo / "launches" / "x.yaml").unlink()
    write(empty_repo, "launches/m.yaml", "apiVersion: launchops/v1\nmatrix:\n  axes: {lr: [1, 2]}\nlaunch:\n"
                                         "  docker_image: img:1\n  config: {overrides: {run_config: {lr: '${matrix.lr}'}}}\n")
    write(empty_repo, "launches/_moved.yaml", '- {from: x, to: "m[lr=1]"}\n')
    commit_all(empty_repo, "x becomes a cell")

    result = cli(empty_repo, "apply", "--yes")

    assert result.exit_code == 0, result.output
    specs = read_ledger(empty_repo)["specs"]
    assert "x" not in specs and [r["id"] for r in specs["m[lr=1]"]["queued_runs"]] == [first]
    assert specs["m[lr=1]"]["status"] == "applied" and len(specs["m[lr=2]"]["queued_runs"]) == 1
    assert "1 enqueued, 1 moved" in result.output


def test_moved_from_in_a_matrix_spec_is_an_error_at_its_key(empty_repo: Path) -> None:
    write(empty_repo, "launches/m.yaml", "apiVersion: launchops/v1\nmoved_from: [x]\nmatrix:\n  axes: {lr: [1, 2]}\n"
                                         "launch:\n  docker_image: img:1\n  config: {overrides: {run_config: {lr: '${matrix.lr}'}}}\n")
    result = cli(empty_repo, "validate")
    assert result.exit_code == 1
    assert "launches/m.yaml:2:1: moved_from: a matrix spec cannot say moved_from" in result.output, result.output
