"""What real git workflows do to the exactly-once guarantees, driven through the CLI on real git
repositories: files git is told not to show, a ledger setting that would put launchops' state in
the root, hostile state files, a push the remote refuses, and W&B applies that other clones cannot see."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import cli, commit_all, git, ledger_files, make_repo, queue_items, read_ledger, write  # noqa: E402
from conftest_wandb import wandb_server  # noqa: E402,F401  (fixture)
from wandb_server import WandbServer  # noqa: E402

SPEC = "apiVersion: launchops/v1\nlaunch:\n  job: acme/evals/eval-job:{version}\n  queue_name: gpu-a100\n"
LEDGER = ".launchops/ledger"


def spec(version: str = "v1") -> str:
    return SPEC.format(version=version)


@pytest.fixture
def applied(tmp_path: Path) -> Path:
    """A repository with one spec applied on the local queue."""
    repo = make_repo(tmp_path / "repo", examples=False)
    write(repo, "launches/base.yaml", spec())
    commit_all(repo)
    out = cli(repo, "apply", "--yes")
    assert out.exit_code == 0, out.output
    return repo


def snapshot(repo: Path) -> tuple[str, str, bytes, list[dict[str, object]]]:
    """HEAD, git status, the ledger's bytes and the queue: what a refused command must leave alone."""
    return (git(repo, "rev-parse", "HEAD"), git(repo, "status", "--porcelain", "--ignored"),
            repr(ledger_files(repo)).encode(), queue_items(repo))


# ---- files git does not show ----------------------------------------------------------------------

def _refused_as_dirty(repo: Path, *names: str) -> None:
    before = snapshot(repo)
    out = cli(repo, "apply", "--yes")
    assert out.exit_code == 1, out.output
    assert "differ from HEAD" in out.stderr and "--allow-dirty" in out.stderr, out.stderr
    for name in names:
        assert name in out.stderr, out.stderr
    assert snapshot(repo) == before


def test_a_spec_in_a_git_ignored_folder_is_refused(applied: Path) -> None:
    write(applied, ".gitignore", "launches/scratch/\n")
    commit_all(applied, "ignore scratch")
    write(applied, "launches/scratch/try.yaml", spec("v2"))
    assert git(applied, "status", "--porcelain") == ""  # git shows nothing
    _refused_as_dirty(applied, "launches/scratch/try.yaml")
    allowed = cli(applied, "apply", "--yes", "--allow-dirty")
    assert allowed.exit_code == 0, allowed.output
    assert {i["spec_id"] for i in queue_items(applied)} == {"base", "scratch/try"}


def test_ignored_defaults_and_settings_are_refused(applied: Path) -> None:
    write(applied, ".gitignore", "_defaults.yaml\nlaunchops.toml\n")
    commit_all(applied, "ignore them")
    write(applied, "launches/_defaults.yaml", "launch:\n  priority: high\n")
    write(applied, "launchops.toml", 'queue_name = "elsewhere"\n')
    assert git(applied, "status", "--porcelain") == ""
    _refused_as_dirty(applied, "launches/_defaults.yaml", "launchops.toml")


@pytest.mark.parametrize("flag", ["--skip-worktree", "--assume-unchanged"])
def test_an_edited_spec_git_is_told_to_skip_is_refused(applied: Path, flag: str) -> None:
    git(applied, "update-index", flag, "launches/base.yaml")
    write(applied, "launches/base.yaml", spec("v2"))
    assert git(applied, "status", "--porcelain") == ""  # git is told not to look
    _refused_as_dirty(applied, "launches/base.yaml")
    assert "--no-skip-worktree" in cli(applied, "apply", "--yes").stderr  # says how to let git see it


def test_a_deleted_spec_git_is_told_to_skip_is_refused(applied: Path) -> None:
    git(applied, "update-index", "--skip-worktree", "launches/base.yaml")
    (applied / "launches/base.yaml").unlink()
    assert git(applied, "status", "--porcelain") == ""
    _refused_as_dirty(applied, "launches/base.yaml")


def test_a_skipped_spec_with_head_content_is_applied(applied: Path) -> None:
    git(applied, "update-index", "--skip-worktree", "launches/base.yaml")
    write(applied, ".gitignore", "notes/\n")
    write(applied, "launches/new.yaml", spec("v3"))
    commit_all(applied, "a new spec")
    out = cli(applied, "apply", "--yes")
    assert out.exit_code == 0, out.output
    assert {i["spec_id"] for i in queue_items(applied)} == {"base", "new"}


# ---- where the ledger may live --------------------------------------------------------------------

@pytest.mark.parametrize("setting, fragment", [
    ('ledger = "ledger.json"', "repository root"),
    ('ledger = "./state.json"', "repository root"),
    ('ledger = "launches/state/ledger.json"', "among the specs"),
    ('specs_dir = "."\nledger = "state/ledger.json"', "among the specs"),
    ('specs_dir = "state/launches"\nledger = "state/ledger.json"', "would hide the specs"),
    ('ledger = ".git/launchops/ledger.json"', "inside .git"),
    ('ledger = "../ledger.json"', "outside the repository"),
])
def test_a_ledger_without_a_folder_of_its_own_is_refused(tmp_path: Path, setting: str, fragment: str) -> None:
    repo = make_repo(tmp_path / "repo", examples=False)
    write(repo, "launches/base.yaml", spec())
    write(repo, "state/launches/base.yaml", spec())
    write(repo, "launchops.toml", setting + "\n")
    commit_all(repo)
    before = git(repo, "rev-parse", "HEAD"), sorted(p.name for p in repo.iterdir())
    for args in (("apply", "--yes"), ("plan",), ("validate",), ("status",)):
        out = cli(repo, *args)
        assert out.exit_code == 1, (args, out.output)
        assert out.stderr.startswith("launchops: error: launchops.toml: "), out.stderr
        assert "ledger" in out.stderr and fragment in out.stderr, out.stderr
    assert (git(repo, "rev-parse", "HEAD"), sorted(p.name for p in repo.iterdir())) == before
    assert git(repo, "status", "--porcelain", "--ignored") == ""
    assert not (tmp_path / "ledger.json").exists()


def test_the_ledger_setting_from_the_environment_is_named(empty_repo: Path) -> None:
    out = cli(empty_repo, "plan", env={"LAUNCHOPS_LEDGER": "ledger.json"})
    assert out.exit_code == 1
    assert out.stderr.startswith("launchops: error: LAUNCHOPS_LEDGER: ledger 'ledger.json' puts"), out.stderr


@pytest.mark.parametrize("setting", ['specs_dir = "."', 'ledger = "launches/.state/ledger.json"',
                                     'ledger = "state/ledger.json"'])
def test_a_hidden_or_separate_ledger_folder_is_accepted(tmp_path: Path, setting: str) -> None:
    repo = make_repo(tmp_path / "repo", examples=False)
    write(repo, "launches/base.yaml", spec())
    write(repo, "launchops.toml", setting + "\n")
    commit_all(repo)
    out = cli(repo, "apply", "--yes")
    assert out.exit_code == 0, out.output
    assert len(queue_items(repo)) == 1
    assert git(repo, "status", "--porcelain") == ""


# ---- ids ----------------------------------------------------------------------------------------

def test_an_nfc_id_of_180_characters_is_accepted(empty_repo: Path) -> None:
    long_id = "équipe/café-ü/" + "é" * 166
    assert len(long_id) == 180
    write(empty_repo, "launches/long.yaml", spec().replace("launch:", f"id: {long_id}\nlaunch:"))
    commit_all(empty_repo)
    assert cli(empty_repo, "apply", "--yes").exit_code == 0
    assert [i["spec_id"] for i in queue_items(empty_repo)] == [long_id]


@pytest.mark.parametrize("name, fragment", [
    ("cafe\u0301.yaml", "is not in Unicode normal form NFC ('cafe\\u0301')"),
    ("tab\there.yaml", "contains the control character U+0009 (character 4)"),
])
def test_an_id_taken_from_a_file_name_is_checked_too(empty_repo: Path, name: str, fragment: str) -> None:
    write(empty_repo, f"launches/{name}", spec())
    commit_all(empty_repo)
    out = cli(empty_repo, "validate")
    assert out.exit_code == 1
    assert f".yaml:1:1: id: {fragment}" in out.output, out.output  # the name itself prints escaped
    assert cli(empty_repo, "apply", "--yes").exit_code == 1
    assert queue_items(empty_repo) == []


# ---- a push the remote refuses ------------------------------------------------------------------

HOOK = """#!/bin/sh
# Refuses every push from the {reject_from}th on, as GitHub's branch protection does (GH006).
count=$(cat "$GIT_DIR/pushes" 2>/dev/null || echo 0)
count=$((count + 1))
echo "$count" > "$GIT_DIR/pushes"
if [ "$count" -ge {reject_from} ]; then
  echo "error: GH006: Protected branch update failed for refs/heads/main." >&2
  echo "error: Changes must be made through a pull request." >&2
  exit 1
fi
"""


def _with_remote(tmp_path: Path) -> tuple[Path, Path]:
    """A clone of a bare remote, one spec committed and pushed; the remote's pushes counted."""
    repo = make_repo(tmp_path / "repo", examples=False)
    write(repo, "launches/base.yaml", spec())
    commit_all(repo)
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "-u", "origin", "main")
    return repo, remote


@pytest.mark.parametrize("reject_from", [1, 2], ids=["intent-push", "result-push"])
def test_a_push_the_remote_refuses_is_not_retried_as_a_race(tmp_path: Path, reject_from: int) -> None:
    repo, remote = _with_remote(tmp_path)
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(HOOK.format(reject_from=reject_from))
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    remote_head = git(remote, "rev-parse", "main")

    out = cli(repo, "apply", "--yes", "--push")
    assert out.exit_code == 1, out.output
    assert "GH006: Protected branch update failed" in out.stderr  # git's own reason
    assert "rejected 5 times" not in out.stderr and "does not retry" in out.stderr, out.stderr
    assert int((remote / "pushes").read_text()) == reject_from  # tried once, not five times
    items = queue_items(repo)
    ledger = read_ledger(repo)
    committed = read_ledger(repo, "HEAD")
    assert ledger == committed  # what happened is in a local ledger commit
    if reject_from == 1:
        assert items == [] and "nothing was enqueued" in out.stderr.lower()
        assert git(remote, "rev-parse", "main") == remote_head
        assert committed["specs"]["base"]["status"] == "pending"
    else:
        (item,) = items
        assert committed["specs"]["base"]["queued_runs"][0]["id"] == item["id"]
        head = git(repo, "rev-parse", "HEAD").strip()
        assert head[:12] in out.stderr and item["id"] in git(repo, "show", "-s", head)  # where the ID is kept
        assert read_ledger(remote, "main")["specs"]["base"]["status"] == "pending"

    hook.unlink()  # the protection is lifted: the next apply publishes, and sends nothing again
    again = cli(repo, "apply", "--yes", "--push")
    assert again.exit_code == 0, again.output
    assert len(queue_items(repo)) == 1
    assert read_ledger(remote, "main")["specs"]["base"]["status"] == "applied"


# ---- W&B applies that other clones cannot see -----------------------------------------------------

def test_wandb_apply_in_a_clone_with_a_remote_needs_push_or_local(tmp_path: Path, wandb_server: WandbServer) -> None:
    repo, remote = _with_remote(tmp_path)
    wandb_server.state.add_job("acme/evals/eval-job:v1")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "LAUNCHOPS_"))}
    bare = subprocess.run([sys.executable, "-m", "reconciler", "-C", str(repo), "apply", "--yes", "--backend", "wandb"],
                          capture_output=True, text=True, env=env, timeout=120)  # no credentials: none needed
    assert bare.returncode == 1, bare.stderr
    assert "--push" in bare.stderr and "--local" in bare.stderr and "cannot see them" in bare.stderr, bare.stderr
    assert "WANDB_API_KEY" not in bare.stderr  # refused before the backend is built
    assert not (repo / ".launchops").exists() and wandb_server.state.items == []
    assert cli(repo, "apply", "--yes", "--push", "--local").exit_code == 2  # one or the other

    served = {**env, **wandb_server.env(http_timeout=10)}

    def apply(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "reconciler", "-C", str(repo), "apply", "--yes", "--backend",
                               "wandb", *flags], capture_output=True, text=True, env=served, timeout=120)

    local = apply("--local")
    assert local.returncode == 0, local.stderr
    assert len(wandb_server.state.items) == 1
    write(repo, "launches/other.yaml", spec().replace("launch:", "id: other\nlaunch:"))
    commit_all(repo)
    pushed = apply("--push")
    assert pushed.returncode == 0, pushed.stderr
    assert len(wandb_server.state.items) == 2
    assert read_ledger(remote, "main")["specs"]["other"]["status"] == "applied"


def test_wandb_apply_without_a_remote_needs_neither(tmp_path: Path, wandb_server: WandbServer) -> None:
    repo = make_repo(tmp_path / "repo", examples=False)
    write(repo, "launches/base.yaml", spec())
    commit_all(repo)
    wandb_server.state.add_job("acme/evals/eval-job:v1")
    out = subprocess.run([sys.executable, "-m", "reconciler", "-C", str(repo), "apply", "--yes", "--backend", "wandb"],
                         capture_output=True, text=True, env={**os.environ, **wandb_server.env(http_timeout=10)},
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert len(wandb_server.state.items) == 1


# ---- hostile state: a damaged journal, a read-only state folder ----------------------------------

def test_a_damaged_journal_is_named_never_ignored(applied: Path) -> None:
    write(applied, "launches/new.yaml", spec("v2"))
    commit_all(applied)
    (applied / ".launchops" / "journal.db").write_bytes(b"not SQLite: a torn copy \x00\x01" * 200)
    before = snapshot(applied)
    for args in (("plan",), ("apply", "--yes"), ("status",)):
        out = cli(applied, *args)
        assert out.exit_code == 1, (args, out.output)
        assert out.stderr.startswith("launchops: error: ") and "journal.db" in out.stderr, out.stderr
        assert "damaged" in out.stderr and "move it aside" in out.stderr, out.stderr
    assert snapshot(applied) == before


def _read_only(folder: Path, repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """launchops with `folder` read-only: a read-only bind mount in a private mount namespace (root
    ignores file modes), else the folder's mode."""
    command = [sys.executable, "-m", "reconciler", "-C", str(repo), *args]
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True) if os.path.exists("/usr/bin/unshare") else None
    if probe is not None and probe.returncode == 0:
        script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
        return subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", str(folder), *command],
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    if os.geteuid() == 0:
        pytest.skip("no way to make a folder read-only for root here")
    mode = folder.stat().st_mode
    folder.chmod(0o555)
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    finally:
        folder.chmod(mode)


def test_a_read_only_state_folder_stops_apply_with_a_message(applied: Path) -> None:
    write(applied, "launches/new.yaml", spec("v2"))
    commit_all(applied)
    before = snapshot(applied)
    out = _read_only(applied / ".launchops", applied, "apply", "--yes")
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr and out.stderr.startswith("launchops: error: "), out.stderr
    assert ".launchops" in out.stderr and "writable" in out.stderr and "nothing was enqueued" in out.stderr
    assert snapshot(applied) == before
    planned = _read_only(applied / ".launchops", applied, "plan")  # reading needs no write
    assert planned.returncode == 0 and "1 to create" in planned.stdout, planned.stderr


def test_the_ledger_commit_stores_what_git_add_would_in_one_pack(tmp_path: Path) -> None:
    """A clean filter set on ledger files applies to the ledger commit as to `git add` (the
    working tree stays clean), and a first apply's blobs go into one pack, not one file each."""
    repo = make_repo(tmp_path / "repo", examples=False)
    git(repo, "config", "filter.shout.clean", "tr a-z A-Z")
    git(repo, "config", "filter.shout.smudge", "cat")
    write(repo, ".gitattributes", f"{LEDGER}/_ledger.json filter=shout\n")
    for i in range(3):
        write(repo, f"launches/s{i}.yaml", spec(f"v{i}"))
    commit_all(repo)
    loose_before = git(repo, "count-objects")
    out = cli(repo, "apply", "--yes")
    assert out.exit_code == 0, out.output
    meta = (repo / LEDGER / "_ledger.json").read_text(encoding="utf-8")
    assert git(repo, "show", f"HEAD:{LEDGER}/_ledger.json") == meta.upper() != meta
    assert git(repo, "show", f"HEAD:{LEDGER}/s1.yaml.json") == (repo / LEDGER / "s1.yaml.json").read_text()
    assert git(repo, "status", "--porcelain") == ""
    packed = dict(line.split(": ") for line in git(repo, "count-objects", "-v").splitlines())
    assert int(packed["in-pack"]) >= 4  # the three shards and _ledger.json
    # the loose objects the commit added are its trees and the commit itself (.gitignore's blob at most)
    added = int(git(repo, "count-objects").split()[0]) - int(loose_before.split()[0])
    assert added <= 7, added
