"""The one interface every queue backend implements.

A backend turns an EnqueueRequest into a QueuedRun, finds the items an earlier attempt may have
left (by the marker every enqueue carries), refreshes an item's state and deletes a duplicate.
Backends never touch the ledger or git: apply owns those.
"""
from __future__ import annotations

import abc
import copy
import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


def utc_now() -> str:
    """The timestamp every backend records for `enqueued_at`."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class EnqueueRequest:
    """One change to enqueue: the effective, normalised launch arguments of a spec."""

    spec_id: str
    digest: str
    marker: str  # derived from (id, digest, change number): the same change always has the same marker
    launch: Mapping[str, Any]


@dataclass(frozen=True)
class QueuedRun:
    """What a backend returned for one enqueued item; recorded in the ledger as is."""

    id: str
    backend: str
    queue_name: str | None
    entity: str | None
    project_queue: str | None
    priority: int | None
    digest: str
    enqueued_at: str
    state: str = "pending"
    marker: str | None = None
    run_id: str | None = None  # the W&B run the item became, once an agent claims it
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        # the fields are plain values: only `extra` needs a deep copy (asdict copied every field
        # through its generic walk, a twentieth of an apply of 10,000 creates, profile)
        data = {name: getattr(self, name) for name in _RUN_FIELDS}
        data.update(copy.deepcopy(dict(self.extra)))
        return {k: v for k, v in data.items() if v is not None or k in ("entity", "priority")}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QueuedRun:
        known = set(_RUN_FIELDS)
        kwargs: dict[str, Any] = {k: data.get(k) for k in known}
        kwargs["state"] = data.get("state") or "pending"
        extra = {k: v for k, v in data.items() if k not in known}
        return cls(**kwargs, extra=extra)


_RUN_FIELDS = tuple(name for name in QueuedRun.__dataclass_fields__ if name != "extra")


class BackendError(Exception):
    """The backend cannot be used at all (missing extra, missing credentials): nothing was enqueued."""


class EnqueueFailed(Exception):
    """The backend refused this one item.

    `uncertain` is True when the call failed in a way that may still have enqueued the item
    (a timeout, a 5xx after the server committed): the ledger then records `unknown`, and the next
    apply looks the item up by its marker before trying again.
    """

    def __init__(self, message: str, *, uncertain: bool = False) -> None:
        super().__init__(message)
        self.uncertain = uncertain


class Backend(abc.ABC):
    name: str = ""

    def preflight(self, requests: Sequence[EnqueueRequest]) -> dict[str, str]:
        """Check what can be checked before the first push; return spec id -> reason for the
        requests that must not be enqueued. Raise BackendError when nothing can be enqueued."""
        return {}

    @abc.abstractmethod
    def enqueue(self, request: EnqueueRequest) -> QueuedRun:
        """Enqueue one item; raise EnqueueFailed when the backend says no."""

    @abc.abstractmethod
    def find(self, request: EnqueueRequest) -> list[QueuedRun]:
        """Items on the backend that carry request.marker, oldest first."""

    def refresh(self, run: QueuedRun) -> QueuedRun:
        """The item's current state (and run id); the same run when the backend cannot tell."""
        return run

    def lookup(self, run: QueuedRun) -> QueuedRun | None:
        """The item with run.id on the queue run names, with its state; None when it is not there.
        Raise BackendError when the backend cannot tell (`launchops adopt` records only what exists)."""
        raise BackendError(f"the {self.name} backend cannot look up a queue item by id")

    def delete(self, run: QueuedRun) -> bool:
        """Remove a still-pending duplicate; False when it could not be removed."""
        return False

    def withdraw(self, run: QueuedRun) -> str:
        """Delete an item launchops enqueued while it is still pending, reading its state before and
        after: "withdrawn", "gone" (not on the queue), or the state that kept it ("claimed",
        "running", …; "unknown" when the backend cannot tell). Never touches an item that is not
        pending; a claim landing between the read and the delete is the backend's race to lose."""
        before = self.refresh(run)
        if before.state != "pending":
            return before.state or "unknown"
        return "withdrawn" if self.delete(run) else "unknown"

    def marked(self, queue: Mapping[str, Any], prefix: str) -> list[QueuedRun]:
        """Items whose marker starts with `prefix` on the queue `queue` names (its queue_name,
        entity, project_queue, as in a launch), oldest first."""
        raise BackendError(f"the {self.name} backend cannot list queue items by marker")

    def close(self) -> None:  # noqa: B027 - a no-op unless the backend holds connections
        """Release connections and clients."""
