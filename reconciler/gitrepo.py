"""Every git call launchops makes; the only module that imports GitPython.

Two kinds of question: what a plan asks (which files differ from what the ledger recorded: plain
`git` processes, since GitPython's import alone costs more than the answer), and what apply does
(ledger commits, push, fetch: GitPython, imported by the first `Repo`).

A ledger commit is built with plumbing on a private index, so it holds the ledger and nothing
else, whatever the user has staged; then HEAD moves by compare-and-swap and the real index learns
only the ledger's new blob.
"""
from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import git
else:
    class _Lazy:
        """GitPython, imported on first use: a plan never needs it."""

        def __getattr__(self, name: str) -> Any:
            import git as module

            globals()["git"] = module
            return getattr(module, name)

    git = _Lazy()

FALLBACK_NAME = "launchops"
FALLBACK_EMAIL = "launchops@localhost"


class GitError(Exception):
    """A git step failed; the message says which and what git said."""


_LITERAL = {"GIT_LITERAL_PATHSPECS": "1"}  # a file named `*.yaml` is a name, not a pattern
_SYMLINK = "120000"  # git's mode of a symbolic link


class PushRefused(GitError):
    """The remote refused a push for a reason other than a race: a hook, branch protection (GH006)."""


# A ref that moved under the push: git's own words for a race (the second: the remote's ref moved
# between its advertisement and the update).
_RACE = re.compile(r"\((fetch first|non-fast-forward|cannot lock ref[^)]*)\)")


def _git_stderr(exc: git.GitCommandError) -> str:
    """What git printed, without GitPython's `stderr: '…'` wrapping."""
    text = str(exc.stderr).strip()
    if text.startswith("stderr: '") and text.endswith("'"):
        text = text[len("stderr: '"):-1]
    return text


def _reason(text: str) -> str:
    """The remote's messages and the refused ref's reason, on one line."""
    lines = [line.strip() for line in text.splitlines()]
    said = [line.removeprefix("remote:").strip() for line in lines if line.startswith("remote:")]
    refused = [line.lstrip("! ").strip() for line in lines if line.startswith("!")]
    return " ".join(part for part in said + refused if part) or text


def plain(root: Path, *args: str) -> str | None:
    """The output of one plain `git` command (literal pathspecs, C locale); None when it failed
    (not a work tree, no commit, an object that is gone)."""
    env = {**os.environ, **_LITERAL, "LC_ALL": "C"}
    try:
        # no timeout: with one, the wait after the output ends polls with sleeps (a plan's floor)
        done = subprocess.run(["git", *args], cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, check=False)
    except OSError:
        return None
    return done.stdout.decode("utf-8", "surrogateescape") if done.returncode == 0 else None


def run(root: Path, args: Sequence[str], stdin: str = "", env: dict[str, str] | None = None) -> str:
    """One git command fed `stdin`; GitError with git's words when it fails."""
    done = subprocess.run(["git", *args], cwd=root, input=stdin.encode("utf-8", "surrogateescape"),
                          capture_output=True, env={**os.environ, **_LITERAL, **(env or {})}, check=False)
    if done.returncode:
        raise GitError(f"git {args[0]} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout.decode("utf-8", "surrogateescape")


def _ls_tree(out: str) -> list[tuple[str, str, str, str]]:
    """(mode, kind, object, path) of each entry of `git ls-tree -z` output."""
    entries = []
    for entry in filter(None, out.split("\0")):
        meta, path = entry.split("\t", 1)
        mode, kind, obj = meta.split()
        entries.append((mode, kind, obj, path))
    return entries


def tree_blobs(root: Path, rev: str, folders: Sequence[str]) -> dict[str, str] | None:
    """path -> blob of every regular file under `folders` at `rev`; None when git cannot say."""
    out = plain(root, "ls-tree", "-r", "-z", rev, "--", *folders)
    if out is None:
        return None
    return {path: blob for mode, kind, blob, path in _ls_tree(out) if kind == "blob" and mode in ("100644", "100755")}


def unlike_head(root: Path, folders: Sequence[str]) -> set[str] | None:
    """Files under `folders` whose content git cannot vouch is HEAD's: modified, staged, deleted,
    untracked, ignored, or flagged skip-worktree or assume-unchanged (git stops looking at those),
    or not a plain file; None when git cannot say."""
    return _unlike_head(*(plain(root, *command) for command in _unlike_head_commands(folders)))


def _unlike_head_commands(folders: Sequence[str]) -> list[list[str]]:
    # tracked files that differ from HEAD, staged or not (`git status` refreshes git's stat cache
    # as it goes: a fresh clone's files are all "racily clean", and until that cache is written
    # every other command re-reads all of them); then every file git does not track ("?": ignored
    # ones too, as nothing is excluded) and each tracked one's flag (a link that HEAD holds is no
    # plain blob: tree_blobs leaves it out, and the ledger's index is not written beside one)
    return [["status", "--porcelain=v1", "-z", "--no-renames", "--untracked-files=no", "--", *folders],
            ["ls-files", "-v", "-c", "-o", "-z", "--", *folders]]


_FLAGGED = re.compile("\0[^H\0] ([^\0]+)")


def _unlike_head(changed: str | None, listed: str | None) -> set[str] | None:
    if changed is None or listed is None:
        return None
    found = {entry[3:] for entry in changed.split("\0") if len(entry) > 3}
    # "H <path>": a tag other than H is a flag (skip-worktree, assume-unchanged) or "?" (untracked);
    # nearly every entry is an H, which one scan passes over without a string made for each
    found.update(_FLAGGED.findall("\0" + listed))
    return found


def tree_rows(root: Path, rev: str, folder: str) -> tuple[str, list[tuple[str, str, str, str]]] | None:
    """(tree id, every entry below it with its path relative to the repository) of `folder` at
    `rev`, both read from the one tree; None when git cannot say (no commit, no such folder)."""
    tree = plain(root, "rev-parse", "--verify", "-q", f"{rev}:{folder}")
    out = plain(root, "ls-tree", "-r", "-z", tree.strip()) if tree else None
    if tree is None or out is None:
        return None
    prefix = "" if folder in (".", "") else folder.rstrip("/") + "/"
    return tree.strip(), [(mode, kind, obj, prefix + path) for mode, kind, obj, path in _ls_tree(out)]


# A ledger commit whose `_ledger.json` holds an index of every shard (reconciler.cost) says so in
# this trailer, with the tree it committed: a commit amended since holds another tree, and its
# index describes nothing.
STAMP = "Launchops-Index"


@dataclass(frozen=True)
class Stamped:
    """What differs from the newest stamped commit in HEAD's history."""

    commit: str
    since: list[str]  # files under the folders that differ between the commit and HEAD
    unlike_head: set[str]  # and those the working tree does not hold as HEAD does (unlike_head)


class SinceStamp:
    """The newest commit in HEAD's history stamped with STAMP and what differs from it under
    `folders`. Asked when this is made, by a thread per question (the stamp, then what changed
    since; the tracked files; the files git does not track or is told not to look at):
    git works on the cores while the asker goes on (a plan imports the modules it needs meanwhile)."""

    RECENT = 20  # commits looked at first: the stamped one is nearly always among them

    def __init__(self, root: Path, folders: Sequence[str]) -> None:
        import threading

        self.root, self.folders = root, list(folders)
        self._stamped: tuple[str, list[str]] | None = None  # the commit, and what differs from it since
        self._unlike: dict[str, str | None] = {}
        asked = zip(("changed", "listed"), _unlike_head_commands(self.folders), strict=True)
        self._threads = [threading.Thread(target=self._stamp, daemon=True),
                         *(threading.Thread(target=self._worktree, args=pair, daemon=True) for pair in asked)]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _log(*args: str) -> list[str]:
        return ["-c", "log.showSignature=false", "log", *args,
                f"--format=%H %T %(trailers:key={STAMP},valueonly,separator=%x20)", "HEAD"]

    def _stamp(self) -> None:
        lines = (plain(self.root, *self._log(f"-{self.RECENT}")) or "").splitlines()
        stamped = next((line.split() for line in lines if len(line.split()) > 2), None)
        if stamped is None and len(lines) == self.RECENT:  # further back
            stamped = (plain(self.root, *self._log("-1", f"--grep=^{STAMP}: ")) or "").split() or None
        if stamped is None or len(stamped) != 3 or stamped[1] != stamped[2]:
            return  # none, or the commit holds another tree than it stamped (amended since)
        # HEAD is the stamped commit itself (the last thing done was an apply): nothing differs since
        since = "" if lines[0].split()[0] == stamped[0] else plain(
            self.root, "diff-tree", "-r", "-z", "--no-renames", "--name-only", stamped[0], "HEAD", "--",
            *self.folders)
        if since is not None:
            self._stamped = stamped[0], [p for p in since.split("\0") if p]

    def _worktree(self, key: str, command: Sequence[str]) -> None:
        self._unlike[key] = plain(self.root, *command)

    def answer(self) -> Stamped | None:
        """None when no commit is stamped, the stamped one holds another tree, or git cannot say."""
        unlike = self.unlike()
        return None if self._stamped is None or unlike is None else Stamped(*self._stamped, unlike)

    def unlike(self) -> set[str] | None:
        """unlike_head's answer for the folders, asked already; None when git could not say."""
        self.close()
        return _unlike_head(*(self._unlike.get(k) for k in ("changed", "listed")))

    def close(self) -> None:
        """Wait for git's answers: asked and never used, its processes are still reaped."""
        for thread in self._threads:
            thread.join()


class Repo:
    def __init__(self, root: Path) -> None:
        try:
            self._repo = git.Repo(root, search_parent_directories=False)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise GitError(f"{root} is not a git repository; apply records what it enqueued in a ledger commit, "
                           "so run it in one (git init), or pass -C DIR") from None
        self.root = Path(self._repo.working_tree_dir or root)
        self.git = self._repo.git

    def head(self) -> str | None:
        try:
            return self._repo.head.commit.hexsha
        except ValueError:  # no commit yet
            return None

    def remotes(self) -> list[str]:
        return sorted(remote.name for remote in self._repo.remotes)

    def branch(self) -> str | None:
        try:
            return self._repo.active_branch.name
        except TypeError:  # detached HEAD
            return None

    def dirty(self, paths: Sequence[str]) -> list[str]:
        """Files under `paths` that differ from HEAD: modified, staged, untracked or deleted."""
        out = self.git.status("--porcelain=v1", "-z", "--untracked-files=all", "--", *paths)
        return sorted({entry[3:] for entry in out.split("\0") if len(entry) > 3})

    def unlike_head(self, on_disk: Sequence[str], folders: Sequence[str],
                    read: Callable[[str], bool]) -> dict[str, str]:
        """Files whose content is not HEAD's, each with how: `on_disk` (repository-relative) and
        what HEAD holds under `folders` that `read` says launchops would read.

        By content (blob hashes), not by `git status`: git does not report a file it ignores or is
        told to skip (skip-worktree, assume-unchanged), and launchops reads it all the same."""
        try:
            return self._unlike_head(on_disk, folders, read)
        except git.GitCommandError as exc:
            raise GitError(f"could not compare the spec files with HEAD: {str(exc.stderr).strip()}") from None

    def _unlike_head(self, on_disk: Sequence[str], folders: Sequence[str],
                     read: Callable[[str], bool]) -> dict[str, str]:
        committed = self._head_blobs(folders)
        hashes = self._blobs([rel for rel in on_disk if not (self.root / rel).is_symlink()])
        found: dict[str, str] = {}
        for rel in on_disk:
            mode, blob = committed.get(rel, ("", ""))
            if not blob:
                found[rel] = "not committed"
            elif rel in hashes:
                if mode == _SYMLINK or hashes[rel] != blob:
                    found[rel] = "edited"
            elif mode != _SYMLINK or self.git.cat_file("blob", blob) != os.readlink(self.root / rel):
                found[rel] = "edited"
        here = set(on_disk)
        found.update((rel, "deleted") for rel in committed
                     if rel not in here and read(rel) and not os.path.lexists(self.root / rel))
        return dict(sorted(found.items()))

    def _head_blobs(self, folders: Sequence[str]) -> dict[str, tuple[str, str]]:
        """path -> (mode, blob) of every file HEAD holds under `folders`."""
        head = self.head()
        if not head or not folders:
            return {}
        out = self.git.ls_tree("-r", "-z", head, "--", *folders, env=_LITERAL)
        return {path: (mode, blob) for mode, _, blob, path in _ls_tree(out)}

    def _blobs(self, files: Sequence[str]) -> dict[str, str]:
        """The blob each file would be committed as (git's filters applied, as `git add` would).
        One process reads the paths from stdin (thousands of specs); a name holding a newline
        cannot be given that way, so those few go on the command line."""
        lines = [rel for rel in files if "\n" not in rel]
        hashes: dict[str, str] = {}
        if lines:
            out = self.git.hash_object("--stdin-paths", istream=subprocess.PIPE, env=_LITERAL, as_process=True)
            stdout, _ = out.proc.communicate(("\n".join(lines) + "\n").encode())
            if out.proc.returncode:
                raise git.GitCommandError(["git", "hash-object", "--stdin-paths"], out.proc.returncode)
            hashes.update(zip(lines, stdout.decode().split(), strict=True))
        hashes.update((rel, self.git.hash_object("--", rel, env=_LITERAL).strip()) for rel in files if "\n" in rel)
        return hashes

    def _identity_env(self) -> dict[str, str]:
        """The repository's identity, or launchops's own where none is configured (a fresh CI runner)."""
        env: dict[str, str] = {}
        reader = self._repo.config_reader()
        for role in ("AUTHOR", "COMMITTER"):
            for what, fallback in (("NAME", FALLBACK_NAME), ("EMAIL", FALLBACK_EMAIL)):
                key = f"GIT_{role}_{what}"
                if os.environ.get(key):
                    continue
                if not reader.get_value("user", what.lower(), default=""):
                    env[key] = fallback
        return env

    def commit_only(self, files: Sequence[str], message: str, stamp: tuple[str, str] | None = None) -> str:
        """Commit exactly `files` (repository-relative; a file that is gone is committed as
        removed) on top of HEAD; returns the new commit. Thousands of files (a first apply, a
        migration) go through one git process each step, not one per file. `stamp`: (folder,
        tree) — when the commit's folder is that tree, the message ends with STAMP and the
        commit's tree (reconciler.cost: the index was made for that specs tree)."""
        parent = self.head()
        import tempfile  # apply's: a plan never needs it

        with tempfile.TemporaryDirectory() as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if parent:
                self.git.read_tree(parent, env=env)
            # One process adds the files (git's filters applied, as `git add` would) and drops the
            # gone ones. A threshold of one byte streams the blobs into one pack: 10,000 loose
            # objects (a first apply) were 10,000 files made, 1-3 s here; a file a filter
            # converts is still stored as git always stores it. glibc keeps the memory freed after
            # each blob's zlib stream instead of trimming the heap and faulting it in again (a
            # first apply's 10,000 blobs: 1.9 s -> 0.8 s).
            self._run(["-c", "core.bigFileThreshold=1", "update-index", "--add", "--remove", "-z", "--stdin"],
                      "".join(f"{rel}\0" for rel in files), {**env, "MALLOC_TRIM_THRESHOLD_": str(256 << 20)})
            tree = self.git.write_tree(env=env)
        if parent and tree == self._repo.commit(parent).tree.hexsha:
            return parent  # nothing changed
        if stamp is not None and plain(self.root, "rev-parse", f"{tree}:{stamp[0]}") == stamp[1] + "\n":
            message = message.rstrip("\n") + f"\n\n{STAMP}: {tree}\n"
        # The message goes through a file: an apply of thousands of specs lists every id, far past
        # the kernel's 128 KiB limit on one argument ("Argument list too long").
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".msg") as msg:
            msg.write(message)
            msg.flush()
            args = [tree, "-F", msg.name] + (["-p", parent] if parent else [])
            commit: str = self.git.commit_tree(*args, env=self._identity_env())
        ref = self._repo.head.ref.path if not self._repo.head.is_detached else "HEAD"
        self.git.update_ref("-m", "launchops: ledger", ref, commit, parent or "0" * 40)
        # The real index learns the same content from the file itself, with its stat data, so git
        # sees the file as up to date (a bare --cacheinfo entry makes `reset --keep` refuse).
        self._update_index(list(files))
        return commit

    def _run(self, args: list[str], stdin: str, env: dict[str, str] | None = None) -> str:
        return run(self.root, args, stdin, env)

    def _update_index(self, files: list[str], attempts: int = 50) -> None:
        """`git update-index --add --remove`, waiting while a `git status` beside it (a `launchops
        plan`, an editor) holds index.lock for the moment it takes to refresh git's stat cache."""
        for attempt in range(attempts):
            try:
                self._run(["update-index", "--add", "--remove", "-z", "--stdin"], "".join(f"{f}\0" for f in files))
                # which drops the index's cached trees of the ledger's folders; without them every
                # `git status` (each plan asks one) compares the whole index with HEAD: 30 -> 19 ms
                # over 20,000 files. Best effort: an index git cannot write a tree of is left as it is.
                plain(self.root, "write-tree")
                return
            except GitError as exc:
                if "index.lock" not in str(exc) or attempt == attempts - 1:
                    raise
                time.sleep(0.1)

    def push(self, remote: str = "origin") -> bool:
        """Push HEAD to the same branch on `remote`; False when the branch moved there meanwhile
        (not a fast-forward: a race, to fetch and re-plan). Any other refusal (a pre-receive hook,
        branch protection) raises PushRefused with git's own reason: trying again cannot help."""
        branch = self.branch()
        if not branch:
            raise GitError("cannot push from a detached HEAD; check out a branch")
        try:
            self.git.push(remote, f"HEAD:refs/heads/{branch}")
        except git.GitCommandError as exc:
            text = _git_stderr(exc)
            if _RACE.search(text):
                return False
            if "rejected]" in text:
                raise PushRefused(f"{remote} refused the push to {branch}, and not because another apply pushed "
                                  f"first, so launchops does not retry it; git says: {_reason(text)}") from None
            raise GitError(f"git push {remote} failed: {text.strip()}") from None
        return True

    def fetch(self, remote: str) -> str:
        """Fetch this branch from `remote`; returns the commit it points to there (from the
        listing, not FETCH_HEAD, which another fetch in this clone may write meanwhile)."""
        branch = self.branch()
        if branch is None:
            raise GitError("cannot fetch to a detached HEAD; check out a branch")
        tip = self.remote_tip(remote, branch)
        if tip is None:
            raise GitError(f"could not fetch {remote}/{branch}: {remote} has no branch {branch}")
        return tip

    def history(self, paths: Sequence[str], limit: int = 0) -> list[tuple[str, str]]:
        """(commit, subject) of each commit in HEAD's history that changed `paths`, newest first."""
        try:
            out = self.git.log("--format=%H %s", *([f"-{limit}"] if limit else []), "--", *paths)
        except git.GitCommandError:
            return []  # no commit yet
        return [(line[:40], line[41:]) for line in out.splitlines() if line]

    def files_at(self, commit: str, folders: Sequence[str]) -> dict[str, str]:
        """path -> text of every file under `folders` (or exactly at a path) at `commit`."""
        try:
            listed = self.git.ls_tree("-r", "-z", commit, "--", *folders, env=_LITERAL)
        except git.GitCommandError:
            return {}
        wanted = [(blob, path) for _, kind, blob, path in _ls_tree(listed) if kind == "blob"]
        if not wanted:
            return {}
        done = subprocess.run(["git", "cat-file", "--batch"], cwd=self.root, check=False, capture_output=True,
                              input="".join(f"{blob}\n" for blob, _ in wanted).encode())
        out, at = {}, 0
        data = done.stdout
        for _, path in wanted:
            header_end = data.index(b"\n", at)
            size = int(data[at:header_end].split()[2])
            out[path] = data[header_end + 1:header_end + 1 + size].decode("utf-8", "surrogateescape")
            at = header_end + 1 + size + 1
        return out

    def tracking(self, remote: str) -> str | None:
        """This clone's copy of `remote`'s branch, as last fetched (nothing is fetched here)."""
        branch = self.branch()
        if branch is None:
            return None
        try:
            return str(self.git.rev_parse("--verify", "-q", f"refs/remotes/{remote}/{branch}")).strip() or None
        except git.GitCommandError:
            return None

    def behind(self, remote: str, paths: Sequence[str]) -> bool:
        """Whether `remote`'s branch as last fetched holds commits touching `paths` that HEAD does not."""
        tip = self.tracking(remote)
        if tip is None:
            return False
        try:
            out: str = self.git.rev_list("--count", f"HEAD..{tip}", "--", *paths)
        except git.GitCommandError:
            return False
        return out.strip() not in ("", "0")

    def remote_url(self, remote: str = "origin") -> str | None:
        try:
            return str(self._repo.remote(remote).url)
        except (ValueError, git.GitCommandError):
            return None

    # ---- a branch of launchops' own beside the user's (the preview ledger): never checked out ----

    def merge_base(self, a: str, b: str) -> str | None:
        try:
            return str(self.git.merge_base(a, b)).strip() or None
        except git.GitCommandError:
            return None

    def resolve(self, rev: str) -> str | None:
        """The commit `rev` names; None when it names none."""
        try:
            return str(self.git.rev_parse("--verify", "-q", f"{rev}^{{commit}}")).strip() or None
        except git.GitCommandError:
            return None

    def remote_tip(self, remote: str, branch: str, attempts: int = 5) -> str | None:
        """Fetch `branch` from `remote`; its commit there, None when the remote has no such branch.
        Two fetches in one clone at once (two pull requests' previews, a preview beside an apply)
        race to update the remote-tracking ref, and the loser's git says "unable to update local
        ref": it asks again."""
        for attempt in range(attempts):
            try:
                listed = str(self.git.ls_remote(remote, f"refs/heads/{branch}")).split()
                if not listed:
                    return None
                self.git.fetch(remote, f"refs/heads/{branch}")
                return listed[0]
            except git.GitCommandError as exc:
                if "unable to update local ref" not in _git_stderr(exc) or attempt == attempts - 1:
                    raise GitError(f"could not fetch {remote}/{branch}: {_git_stderr(exc)}") from None
                time.sleep(0.1 * (attempt + 1))
        return None  # not reached: the last attempt returns or raises

    def commit_files(self, parent: str | None, files: dict[str, str], message: str) -> str:
        """A commit of `parent`'s tree (none: an orphan) with `files` (path -> text) written, made
        with plumbing on a private index: no work tree, index or branch is touched."""
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if parent:
                self._run(["read-tree", parent], "", env)
            info = ""
            for rel, text in sorted(files.items()):
                blob = self._run(["hash-object", "-w", "--stdin"], text).strip()
                info += f"100644 {blob}\t{rel}\n"
            self._run(["update-index", "--index-info"], info, env)
            tree = self._run(["write-tree"], "", env).strip()
        return self._run(["commit-tree", tree, "-F", "-"] + (["-p", parent] if parent else []), message,
                         self._identity_env()).strip()

    def set_ref(self, ref: str, new: str, old: str | None) -> bool:
        """Move `ref` to `new` only while it is at `old` (None: while it does not exist)."""
        try:
            self.git.update_ref("-m", "launchops", ref, new, old or "0" * 40)
            return True
        except git.GitCommandError:
            return False

    def push_commit(self, remote: str, commit: str, branch: str) -> bool:
        """Push `commit` to `branch` on `remote` as a fast-forward; False when the branch moved there."""
        try:
            self.git.push(remote, f"{commit}:refs/heads/{branch}")
        except git.GitCommandError as exc:
            text = _git_stderr(exc)
            # two pushes to one ref at once: the remote's ref lock went to the other
            if _RACE.search(text) or "cannot lock ref" in text or "(failed to update ref)" in text:
                return False
            raise GitError(f"git push {remote} {branch} failed: {_reason(text)}") from None
        return True

    def catch_up(self, fetched: str, ours: Sequence[str]) -> None:
        """Move this branch to `fetched` (the remote's tip), keeping local edits that do not conflict.

        Only launchops's own commits (touching `ours`) may be unpushed here: the caller has kept
        what they held. Any other unpushed commit (a user's work) would be dropped with them, so
        then nothing moves and it says why."""
        try:
            base = self.git.merge_base("HEAD", fetched).strip()
            changed = [p for p in self.git.diff("--name-only", base, "HEAD").splitlines() if p]
        except git.GitCommandError as exc:
            raise GitError(f"could not compare with the remote's branch: {str(exc.stderr).strip()}") from None
        # `ours`: files, and folders given with a trailing "/"
        foreign = sorted(p for p in changed if p not in ours and not any(
            o.endswith("/") and p.startswith(o) for o in ours))
        if foreign:
            raise GitError(f"the remote's branch moved, and this branch has unpushed commits that change more than "
                           f"the ledger ({', '.join(foreign[:5])}); pull or rebase them, then run apply --push again")
        try:
            self.git.reset("--keep", fetched)
        except git.GitCommandError as exc:
            raise GitError(f"could not catch up with the remote's branch: {str(exc.stderr).strip()}") from None
