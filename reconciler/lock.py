"""Who is applying: the per-clone apply lock, and the claims that say who enqueues a change.

One apply at a time per clone: an flock on `.launchops/apply.lock` that says who holds it. The
kernel drops an flock when its process dies, so a crashed apply never leaves a lock that blocks
the next one; the holder's details it wrote stay in the file and are reported as a stale lock
taken over.

Across clones (CI runners pushing to one remote) there is no shared lock: each `pending` intent
carries a claim (host, pid, machine, the pid's start time, time). On the claimant's own machine a
claim is live while that very process is: its pid alive *and* started when the claim says (a pid
is reused once its process is gone); without a start time to compare, the lease decides. From
another machine nothing can be asked, so a claim is honoured for a lease, which a live claimant
renews (apply.py) and never outlives: it stops sending when it cannot renew.
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
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any


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

    def acquire(self, timeout: float = 0.0) -> ApplyLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = read_holder(self.path) or {}
                    handle.close()
                    raise LockError(f"another launchops {holder.get('command', 'apply')} "
                                    f"holds {self.path.name}: {_describe(holder) if holder else 'unknown holder'}; "
                                    "wait for it, or pass --lock-timeout SECONDS") from None
                time.sleep(0.1)
        self.stale = read_holder(self.path)
        handle.truncate(0)
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                                 "started": _now().isoformat(timespec="seconds")}))
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle:
            self._handle.truncate(0)
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> ApplyLock:
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
        handle.truncate(0)
    return f"removed the stale lock of {_describe(holder)}" if holder else "no stale lock: the lock file was empty"


# ---- claims ---------------------------------------------------------------------------------------

def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


MACHINE_ENV = "LAUNCHOPS_MACHINE"  # tests stand in for a run on another machine


@functools.cache
def machine() -> str:
    """This machine as a pid namespace sees it: containers sharing a hostname or a kernel differ."""
    if os.environ.get(MACHINE_ENV):
        return os.environ[MACHINE_ENV]
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
            "pid_start": pid_start(os.getpid()), "at": _now().isoformat(timespec="seconds")}


def renewed(held: Mapping[str, Any]) -> dict[str, Any]:
    """The same claim, taken again now (a live claimant extends its lease)."""
    return {**held, "at": _now().isoformat(timespec="seconds")}


def claim_age(held: Mapping[str, Any]) -> float | None:
    """Seconds since the claim was taken; None when its time is unreadable."""
    try:
        at = datetime.datetime.fromisoformat(str(held.get("at")))
    except ValueError:
        return None
    if at.tzinfo is None:
        return None  # not a time this launchops wrote: no age can be told
    return (_now() - at).total_seconds()


def pid_start(pid: int) -> int | None:
    """When the process started, in clock ticks after boot (/proc/<pid>/stat, field 22); None off
    Linux or when it is gone. The boot is part of `machine`, so on one machine this and the pid
    name one process: a pid reused by a later process has a later start."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # the command name may hold spaces and parentheses
    try:
        return int(fields[19])  # field 22 of the line; fields here start at field 3
    except (IndexError, ValueError):
        return None


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
    age = claim_age(held)
    if held.get("machine") == machine():
        pid = held.get("pid")
        if not isinstance(pid, int) or pid == os.getpid() or not _pid_alive(pid):
            return False
        started, live = held.get("pid_start"), pid_start(pid)
        if isinstance(started, int) and live is not None:
            return started == live  # the claimant itself, alive; any other start: a reused pid
        # No start to compare (a claim written before launchops recorded it, or no /proc): a live
        # pid may be another process, so the claim holds only for its lease.
    # An unreadable time protects nothing: retry (by marker) rather than wait forever.
    return age is not None and age < lease


def describe_claim(held: Mapping[str, Any]) -> str:
    return f"pid {held.get('pid')} on {held.get('host')} since {held.get('at')}"
