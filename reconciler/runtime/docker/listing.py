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
from pathlib import Path
from typing import Any, Protocol, TypeVar

from reconciler.errors import BackendError
from reconciler.manifests import constants
from reconciler.runtime.base import InspectCache, Listing
from reconciler.runtime.docker import inspectstore, observing

T = TypeVar("T")


class EngineReads(Protocol):
    """The raw Engine reads a listing makes (``DockerRuntime`` provides them)."""

    @property
    def host(self) -> str:
        """The Engine address."""
        ...

    @property
    def knows_host_defaults(self) -> bool:
        """Whether the Engine info (which gives the host's defaults) was read already."""
        ...

    def list_containers_raw(self) -> list[dict[str, Any]]: ...

    def list_volumes_raw(self) -> list[dict[str, Any]]: ...

    def list_networks_raw(self) -> list[dict[str, Any]]: ...

    def read_info(self) -> dict[str, Any]: ...

    def inspect_container_raw(self, ident: str, name: str) -> dict[str, Any] | None: ...

    def replay_events(self, since_ns: int, until_ns: int) -> list[dict[str, Any]]: ...


INSPECT_WORKERS = 8


class Lists(Listing):
    """The lists of one observe, each on a thread of its own that ends with it.

    Daemon threads: a command that fails on its manifests must not wait at exit for an Engine
    that is slow to answer reads nobody needs any more."""

    def __init__(
        self, runtime: EngineReads, prefetch: str | None = None, keep_dir: Path | None = None
    ) -> None:
        self.keep_dir = keep_dir
        self.containers = _background(runtime.list_containers_raw)
        self.volumes = _background(runtime.list_volumes_raw)
        self.networks = _background(runtime.list_networks_raw)
        wants_info = not runtime.knows_host_defaults or keep_dir is not None
        self.info = _background(runtime.read_info) if wants_info else None
        # What the previous command in keep_dir left, made current (see inspectstore).
        self.kept: inspectstore.Kept | None = None
        self.identity = ""
        self.cutoff_ns: int | None = None
        self.cache: Future[InspectCache] | None = None
        if keep_dir is not None:
            self.cache = _background(lambda: self._revive(runtime, keep_dir))
        self.inspected: Future[dict[str, Future[dict[str, Any] | None]]] | None = None
        if prefetch is not None:
            self.inspected = _background(lambda: self._inspect_project(runtime, prefetch))

    def _revive(self, runtime: EngineReads, keep_dir: Path) -> InspectCache:
        assert self.info is not None
        info = self.info.result()
        self.identity = inspectstore.identity(runtime.host, str(info.get("ID") or ""))
        self.cutoff_ns = inspectstore.engine_time_ns(info)
        self.kept = inspectstore.load(keep_dir, self.identity)
        if self.kept is None or self.cutoff_ns is None:
            return InspectCache()
        try:
            events = runtime.replay_events(inspectstore.REPLAY_FROM_NS, self.cutoff_ns)
        except BackendError:
            events = None  # an Engine that cannot replay: everything is read again
        return inspectstore.revive(self.kept, self.cutoff_ns, events)

    def _inspect_project(
        self, runtime: EngineReads, project: str
    ) -> dict[str, Future[dict[str, Any] | None]]:
        listed = self.containers.result()
        cache = self.cache.result() if self.cache is not None else None
        owned = [
            (c["Id"], observing.list_name(c))
            for c in listed
            if (c.get("Labels") or {}).get(constants.LABEL_PROJECT) == project
            and (cache is None or cache.container(c["Id"], observing.fingerprint(c)) is None)
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
                _settle(futures[ident], partial(runtime.inspect_container_raw, ident, name))

        for _ in range(min(INSPECT_WORKERS, len(owned))):
            threading.Thread(target=worker, name="engine-inspect", daemon=True).start()
        return futures

    def keep(self, cache: InspectCache) -> None:
        """Store ``cache`` in ``keep_dir`` for the next command (never fails)."""
        if self.keep_dir is None or self.cutoff_ns is None or not self.identity:
            return
        try:
            listed = {str(c["Id"]) for c in self.containers.result()}
        except BackendError:
            return
        inspectstore.save(self.keep_dir, self.identity, self.cutoff_ns, cache, self.kept, listed)


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
