"""A Ctrl-C or a CI cancel (SIGINT, then SIGTERM) during `apply --parallel 8`: nothing new is sent,
what is in flight finishes and its ID is recorded, the ledger is committed, exit 130 / 143. A
journal that cannot be written stops apply before it sends, with what to fix and no traceback.

The signal arrives while the sending threads are held at a step (LAUNCHOPS_PAUSE_AT=step:FILE), so
the point is certain; the local queue logs every enqueue call, so a send with no recorded ID, or
a second send, shows.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import commit_all, ledger_files, make_repo, read_ledger, write  # noqa: E402
from crash_kit import launchops, ledger_ids, local_items, spec_text  # noqa: E402

SPECS = 12


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_the_sending_and_commits_what_was_sent(tmp_path: Path, sig: int, code: int) -> None:
    repo = make_repo(tmp_path / "repo", examples=False)
    for n in range(SPECS):
        write(repo, f"launches/s{n:02}.yaml", spec_text(n))
    commit_all(repo)
    held = tmp_path / "held"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAUNCHOPS_")}
    env["LAUNCHOPS_PAUSE_AT"] = f"after-enqueue:{held}"
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", "-C", str(repo), "apply", "--yes", "--parallel", "8",
                             "--format", "json"], env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    for _ in range(1200):  # bounded: 60 s
        if Path(f"{held}.paused").exists() or proc.poll() is not None:
            break
        time.sleep(0.05)
    assert Path(f"{held}.paused").exists(), proc.communicate()

    proc.send_signal(sig)  # while a send is in flight
    held.touch()
    out, err = proc.communicate(timeout=120)

    assert proc.returncode == code, out + err
    assert "Traceback" not in err, err
    document = json.loads(out)
    assert not document["ok"] and any(signal.Signals(sig).name in n for n in document["notes"]), document
    items = local_items(repo)
    assert 1 <= len(items) < SPECS, "nothing in flight, or nothing was stopped"
    assert all(i["sends"] == 1 for i in items)
    assert ledger_files(repo) == ledger_files(repo, "HEAD"), "the ledger was not committed"
    assert sorted(ledger_ids(read_ledger(repo))) == sorted(i["id"] for i in items)

    rerun = launchops(repo, "apply", "--yes")  # sends the rest, once
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    items = local_items(repo)
    assert len(items) == SPECS and all(i["sends"] == 1 for i in items)
    assert sorted(ledger_ids(read_ledger(repo, "HEAD"))) == sorted(
        i["id"] for i in items)


def test_a_journal_that_cannot_be_written_stops_before_sending(tmp_path: Path) -> None:
    """A full disk, as the journal sees it: its write-ahead log is /dev/full."""
    repo = make_repo(tmp_path / "repo", examples=False)
    write(repo, "launches/a.yaml", spec_text(1))
    commit_all(repo)
    assert launchops(repo, "apply", "--yes").returncode == 0
    write(repo, "launches/b.yaml", spec_text(2))
    commit_all(repo, "add b")
    wal = repo / ".launchops" / "journal.db-wal"
    assert not wal.exists()
    wal.symlink_to("/dev/full")

    run = launchops(repo, "apply", "--yes")

    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr and "cannot write the journal" in run.stderr, run.stderr
    assert "free disk space" in run.stderr and "nothing was enqueued" in run.stderr
    assert [i["spec_id"] for i in local_items(repo)] == ["a"]
