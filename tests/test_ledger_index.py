"""The ledger's index and layout (reconciler.cache): a no-op plan answered from the index equals the
plan from the full ledger, both answer only for exactly the ledger text they were made from, and a
ledger write copies the entries that did not change and stays canonical."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import cli, commit_all, write
from reconciler import cache as cache_mod, journal, ledger as ledger_mod
from reconciler.plan import make_plan, noop_plan
from reconciler.settings import load_settings
from reconciler.specs import load_specs

NO_CHANGES = ("No changes: the ledger matches the specs.\n\n"
              "Plan: 0 to create, 0 to update, 0 to retry, 0 to remove, 3 unchanged.\n")


def _plans(repo: Path):  # type: ignore[no-untyped-def]
    settings = load_settings(repo)
    specs = load_specs(settings)
    full = make_plan(specs.specs, ledger_mod.fold(ledger_mod.read(settings.ledger_path, settings.ledger),
                                                  journal.peek(settings.journal_path)))
    recorded = ledger_mod.read_index(settings.ledger_path)
    return full, recorded, (noop_plan(specs.specs, recorded) if recorded is not None else None)


def test_noop_plan_from_the_index_equals_the_full_plan(repo: Path) -> None:
    assert cli(repo, "apply", "--yes").exit_code == 0
    full, recorded, quick = _plans(repo)
    assert recorded is not None and full.empty and quick == full
    for _ in range(2):  # a plan, and a plan again from what the first one cached
        assert cli(repo, "plan").output == NO_CHANGES


def test_the_index_never_hides_a_change(repo: Path) -> None:
    assert cli(repo, "apply", "--yes").exit_code == 0
    assert cli(repo, "plan").output == NO_CHANGES
    spec = next(p for p in sorted((repo / "launches").rglob("*.yaml")) if not p.name.startswith("_"))
    write(repo, spec.relative_to(repo).as_posix(), spec.read_text() + "\n# edited\n")
    assert cli(repo, "plan").output == NO_CHANGES  # cosmetic: same digest, still a no-op
    write(repo, "launches/zz-new.yaml", "apiVersion: launchops/v1\nlaunch: {docker_image: 'x:1'}\n")
    full, _, quick = _plans(repo)
    assert quick is None and any(c.id == "zz-new" for c in full.changes)
    (repo / "launches/zz-new.yaml").unlink()
    ledger = repo / ".launchops" / "ledger.json"
    data = json.loads(ledger.read_text())
    first = sorted(data["specs"])[0]
    data["specs"][first]["status"] = "failed"  # a valid ledger with a retry: a different text
    ledger.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    full, recorded, quick = _plans(repo)
    assert quick is None and [c.action.value for c in full.changes] == ["retry"]
    assert recorded is not None and recorded[first][1] == "failed"  # re-indexed after a full, checked read
    assert "1 to retry" in cli(repo, "plan").output
    data["specs"][first]["launch"]["priority"] = 0  # a hand edit: the digest no longer matches
    ledger.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    assert ledger_mod.read_index(ledger.parent / "ledger.json") is None
    out = cli(repo, "plan")
    assert out.exit_code == 1 and "digest does not match" in out.output
    assert (repo / ".launchops" / "cache" / cache_mod.LEDGER_INDEX).exists()


def test_entries_read_by_id_are_the_full_ledgers_entries(repo: Path) -> None:
    assert cli(repo, "apply", "--yes").exit_code == 0
    path = repo / ".launchops" / "ledger.json"
    full = ledger_mod.read(path, "ledger.json")
    ids = sorted(full.specs)[:2] + ["not-recorded"]
    shutil.rmtree(repo / ".launchops" / "cache")
    assert ledger_mod.read_entries(path, ids) is None  # not indexed: read the whole ledger
    cli(repo, "plan")
    first = ledger_mod.read_entries(path, ids)  # where each entry lies is found once and kept
    assert first is not None and first.specs == {k: full.specs[k] for k in ids[:2]}
    layout_file = repo / ".launchops" / "cache" / cache_mod.LEDGER_LAYOUT
    key, _, body = layout_file.read_text().partition("\n")
    layout = json.loads(body)
    assert layout["written"] is False and sorted(layout["spans"]) == sorted(full.specs)
    assert ledger_mod.read_entries(path, ids) == first
    layout["spans"][ids[0]] = layout["spans"][ids[1]]  # a layout pointing at another entry is not believed
    layout_file.write_text(key + "\n" + json.dumps(layout))
    assert ledger_mod.read_entries(path, ids) is None
    path.write_text(path.read_text().replace('"applied"', '"failed"', 1))  # another text: not indexed
    assert ledger_mod.read_entries(path, ids) is None


def _canonical(text: str) -> str:
    return json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_a_ledger_write_copies_unchanged_entries_and_stays_canonical(repo: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli(repo, "apply", "--yes").exit_code == 0
    path = repo / ".launchops" / "ledger.json"
    assert path.read_text() == _canonical(path.read_text())
    encoded: list[str] = []
    original = ledger_mod._entry_text
    monkeypatch.setattr(ledger_mod, "_entry_text", lambda entry: encoded.append(entry.source) or original(entry))
    spec = next(p for p in sorted((repo / "launches").rglob("*.yaml")) if not p.name.startswith("_"))
    spec.write_text(spec.read_text().replace("launch:\n", "launch:\n  priority: low\n", 1))
    commit_all(repo, "one edit")
    assert cli(repo, "apply", "--yes").exit_code == 0
    assert encoded and set(encoded) == {spec.relative_to(repo).as_posix()}  # only the changed entry
    assert path.read_text() == _canonical(path.read_text())
    # A ledger launchops did not write (here: compact, as a hand or another tool may leave it) is
    # written back whole, canonical.
    path.write_text(json.dumps(json.loads(path.read_text())))
    commit_all(repo, "compacted by hand")
    spec.write_text(spec.read_text().replace("priority: low", "priority: high", 1))
    commit_all(repo, "another edit")
    encoded.clear()
    assert cli(repo, "apply", "--yes").exit_code == 0
    assert len(encoded) == len(json.loads(path.read_text())["specs"])
    assert path.read_text() == _canonical(path.read_text())
