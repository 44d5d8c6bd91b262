"""The lists an observe begins with, run ahead of it on daemon threads (``start_listing``).

A pass starts them before it reads its manifests, so the Engine answers while the manifests
are parsed; a one-shot command also has its project's containers inspected as soon as they
are listed (it has no inspect cache).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from reconciler import constants
from reconciler.runtime.base import Listing
from reconciler.runtime.docker import observing

if TYPE_CHECKING:
    from reconciler.runtime.docker.runtime import DockerRuntime

T = TypeVar("T")

INSPECT_WORKERS = 8


class Lists(Listing):
    """The lists of one observe, each on a thread of its own that ends with it.

    Daemon threads: a command that fails on its manifests must not wait at exit for an Engine
    that is slow to answer reads nobody needs any more."""

    def __init__(self, runtime: DockerRuntime, prefetch: str | None = None) -> None:
        self.containers = _background(runtime._list_containers)
        self.volumes = _background(runtime._list_volumes)
        self.networks = _background(runtime._list_networks)
        self.info = _background(runtime.ping) if runtime._cgroupns_default is None else None
        self.inspected: Future[dict[str, Future[dict[str, Any] | None]]] | None = None
        if prefetch is not None:
            self.inspected = _background(lambda: self._inspect_project(runtime, prefetch))

    def _inspect_project(
        self, runtime: DockerRuntime, project: str
    ) -> dict[str, Future[dict[str, Any] | None]]:
        listed = self.containers.result()
        owned = [
            (c["Id"], observing.list_name(c))
            for c in listed
            if (c.get("Labels") or {}).get(constants.LABEL_PROJECT) == project
        ]
        futures: dict[str, Future[dict[str, Any] | None]] = {ident: Future() for ident, _ in owned}
        work = iter(owned)
        lock = threading.Lock()

        def worker() -> None:
            while True:
                with lock:
                    item = next(work, None)
                if item is None:
                    return
                ident, name = item
                _settle(futures[ident], partial(runtime._inspect_container, ident, name))

        for _ in range(min(INSPECT_WORKERS, len(owned))):
            threading.Thread(target=worker, name="engine-inspect", daemon=True).start()
        return futures


def _settle(future: Future[T], call: Callable[[], T]) -> None:
    try:
        future.set_result(call())
    except BaseException as exc:  # handed to whoever reads the future
        future.set_exception(exc)


def _background(call: Callable[[], T]) -> Future[T]:
    """``call()`` on a daemon thread of its own; its result (or error) in the future."""
    future: Future[T] = Future()
    threading.Thread(target=_settle, args=(future, call), name="engine-list", daemon=True).start()
    return future
