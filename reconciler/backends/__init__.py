"""Queue backends behind one interface (`base.Backend`); `get_backend` picks one by name.

Precedence of the name: --backend flag > LAUNCHOPS_BACKEND > launchops.toml > "local".
The wandb module is imported only here, and only when that backend is asked for.
"""
from __future__ import annotations

from reconciler.backends.base import Backend, BackendError, EnqueueFailed, EnqueueRequest, QueuedRun
from reconciler.settings import Settings

__all__ = ["Backend", "BackendError", "EnqueueFailed", "EnqueueRequest", "QueuedRun", "get_backend"]


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
