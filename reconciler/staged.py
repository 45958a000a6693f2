"""What a commit would hold: the settings files and specs_dir as they are in git's index.

`validate --staged` (the pre-commit hook) checks these, not the working tree, so an untracked draft
or an unstaged edit neither refuses nor lets through the commit being made. The snapshot is
written to a temporary folder with `git checkout-index`, which reads the index and nothing else.
"""
from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SETTINGS_FILES = ("launchops.toml", "pyproject.toml")


class StagedError(Exception):
    pass


def _export(root: Path, into: Path, *pathspecs: str) -> None:
    """Copy the index's files under `pathspecs` into `into`, as a commit would hold them."""
    from reconciler.gitrepo import GitError, run

    try:
        listed = run(root, ["ls-files", "-z", "--", *pathspecs])
        if listed:
            run(root, ["checkout-index", "-z", "--stdin", f"--prefix={into}/"], listed)
    except GitError as exc:
        raise StagedError(f"{exc} (is {root} a git repository?)") from None


@contextmanager
def snapshot(root: Path) -> Iterator[Path]:
    """A temporary folder holding the staged settings files; `add_specs` adds the staged specs
    once the caller has read from those settings where they are. Removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="launchops-staged-") as tmp:
        _export(root, Path(tmp), *SETTINGS_FILES)
        yield Path(tmp)


def add_specs(root: Path, into: Path, specs_dir: str) -> None:
    _export(root, into, specs_dir)
