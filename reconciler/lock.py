"""Who is applying: the per-clone apply lock, and the claims that say who enqueues a change.

One apply at a time per clone: an flock on `.launchops/apply.lock` that says who holds it. The
kernel drops an flock when its process dies, so a crashed apply never leaves a lock that blocks
the next one; the holder's details it wrote stay in the file and are reported as a stale lock
taken over.

Across clones (CI runners pushing to one remote) there is no shared lock: each `pending` intent
carries a claim (host, pid, machine, time). On the claimant's own machine a claim is live while
its pid is; from another machine nothing can be asked, so a claim is honoured for a lease.
"""
from __future__ import annotations

import datetime
import fcntl
import functools
import hashlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Any, IO, Mapping


class LockError(Exception):
    """Another apply holds the lock."""


def _describe(info: dict[str, Any]) -> str:
    return f"pid {info.get('pid')} on {info.get('host')} since {info.get('started')} ({info.get('command')})"


class ApplyLock:
    def __init__(self, path: Path, command: str = "apply") -> None:
        self.path = path
        self.command = command
        self.stale: dict[str, Any] | None = None  # details of a dead holder whose lock was taken over
        self._handle: IO[str] | None = None

    def acquire(self, timeout: float = 0.0) -> "ApplyLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = read_holder(self.path)
                    handle.close()
                    raise LockError(f"another launchops {holder.get('command', 'apply') if holder else 'apply'} "
                                    f"holds {self.path.name}: {_describe(holder) if holder else 'unknown holder'}; "
                                    "wait for it, or pass --lock-timeout SECONDS") from None
                time.sleep(0.1)
        self.stale = read_holder(self.path)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                                 "started": datetime.datetime.now(datetime.timezone.utc).isoformat(
                                     timespec="seconds")}))
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle:
            self._handle.seek(0)
            self._handle.truncate()
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> "ApplyLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_holder(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def unlock(path: Path) -> str:
    """Clear a lock left by a dead process; refuse while a live process holds it."""
    if not path.exists():
        return "no lock to remove"
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = read_holder(path)
            raise LockError(f"the lock is held by a running launchops: {_describe(holder) if holder else 'unknown'}; "
                            "it is released when that process ends") from None
        holder = read_holder(path)
        # Emptied, not unlinked: an apply already waiting on this inode would otherwise hold a lock
        # on a deleted file while the next one locks a new file, and two would run at once.
        handle.seek(0)
        handle.truncate()
    return f"removed the stale lock of {_describe(holder)}" if holder else "no stale lock: the lock file was empty"


# ---- claims ---------------------------------------------------------------------------------------

def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


@functools.cache
def machine() -> str:
    """This machine as a pid namespace sees it: containers sharing a hostname or a kernel differ."""
    parts = [socket.gethostname()]
    for source in ("/proc/sys/kernel/random/boot_id", "/proc/self/ns/pid"):
        try:
            parts.append(Path(source).read_text().strip() if "boot" in source else os.readlink(source))
        except OSError:
            parts.append("")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def claim() -> dict[str, Any]:
    """The claim this process writes into every intent it records."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "machine": machine(),
            "at": _now().isoformat(timespec="seconds")}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def claimed_elsewhere(held: Mapping[str, Any] | None, lease: float) -> bool:
    """True when `held` is the claim of another applier that may still be enqueueing."""
    if not held:
        return False
    if held.get("machine") == machine():
        pid = held.get("pid")
        return isinstance(pid, int) and pid != os.getpid() and _pid_alive(pid)
    try:
        at = datetime.datetime.fromisoformat(str(held.get("at")))
    except ValueError:
        return False  # an unreadable claim protects nothing: retry (by marker) rather than wait forever
    return (_now() - at).total_seconds() < lease


def describe_claim(held: Mapping[str, Any]) -> str:
    return f"pid {held.get('pid')} on {held.get('host')} since {held.get('at')}"
