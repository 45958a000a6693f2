"""Queue backends behind one interface (`base.Backend`); `get_backend` picks one by name.

Precedence of the name: --backend flag > LAUNCHOPS_BACKEND > launchops.toml > "local".
The wandb module is imported only here, and only when that backend is asked for.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reconciler.backends.base import Backend, BackendError, EnqueueFailed, EnqueueRequest, QueuedRun
from reconciler.settings import Settings

__all__ = ["Backend", "BackendError", "EnqueueFailed", "EnqueueRequest", "LazyBackend", "QueuedRun", "get_backend"]


def get_backend(settings: Settings, *, parallel: int = 1) -> Backend:
    if settings.backend == "local":
        from reconciler.backends.local import LocalQueue

        return LocalQueue(settings.local_queue_path)
    if settings.backend == "wandb":
        from reconciler.backends.wandb import WandbBackend

        return WandbBackend(settings={"entity": settings.entity, "project": settings.project,
                                      "queue_name": settings.queue_name, "project_queue": settings.project_queue},
                            parallel=parallel)
    raise BackendError(f"unknown backend {settings.backend!r}; use local or wandb")


class LazyBackend(Backend):
    """Builds the backend on first use, so an apply with nothing to enqueue needs no credentials."""

    def __init__(self, factory: Callable[[], Backend]) -> None:
        self._factory = factory
        self._backend: Backend | None = None

    def _built(self) -> Backend:
        if self._backend is None:
            self._backend = self._factory()
        return self._backend

    @property
    def parallel(self) -> int:
        """The threads apply enqueues with: the built backend's (wandb's `parallel`), else one. Apply
        asks after preflight, which built the backend whenever there was something to enqueue."""
        return int(getattr(self._backend, "parallel", 1))

    def preflight(self, requests: Sequence[EnqueueRequest]) -> dict[str, str]:
        return self._built().preflight(requests)

    def enqueue(self, request: EnqueueRequest) -> QueuedRun:
        return self._built().enqueue(request)

    def find(self, request: EnqueueRequest) -> list[QueuedRun]:
        return self._built().find(request)

    def refresh(self, run: QueuedRun) -> QueuedRun:
        return self._built().refresh(run)

    def lookup(self, run: QueuedRun) -> QueuedRun | None:
        return self._built().lookup(run)

    def delete(self, run: QueuedRun) -> bool:
        return self._built().delete(run)

    def withdraw(self, run: QueuedRun) -> str:
        return self._built().withdraw(run)

    def marked(self, queue: Mapping[str, Any], prefix: str) -> list[QueuedRun]:
        return self._built().marked(queue, prefix)

    def close(self) -> None:
        if self._backend is not None:  # never built: nothing to release
            self._backend.close()
