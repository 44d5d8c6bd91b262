"""A recording fake of the Runtime Protocol, for call-order tests of the Applier.

It is not a model of the Docker Engine: it keeps just enough in memory (which containers,
networks, volumes and images exist, whether a container runs) for the Applier's own reads
(``container_status``, ``observe``, ``inspect_image``) to be answerable, and it records every
call in order. The real Engine's behaviour is tested in ``tests/docker``.

Calls are recorded as tuples ``(method, target, ...)`` so that tests compare them literally.
A test can make a call fail (``fail``) and script the statuses a container reports
(``script_status``); ``FakeClock`` gives the Applier a clock that moves only when it sleeps.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.errors import ImageNotFound, NameTaken, PermanentBackendError
from reconciler.manifests.constants import BUILD_LABEL
from reconciler.runtime.base import (
    EngineEvent,
    InspectCache,
    Listing,
    ObserveRequest,
    ProgressSink,
)
from reconciler.state.engines import EngineIdentity
from reconciler.values.configs import (
    ContainerConfig,
    ImageBuild,
    NetworkAttachmentConfig,
    NetworkConfig,
    ResourceConfig,
    VolumeConfig,
)
from reconciler.values.observed import (
    ContainerStatus,
    ImageInfo,
    ObservedContainer,
    ObservedNetwork,
    ObservedState,
    ObservedVolume,
    Ownership,
)

Call = tuple[str, ...]


@dataclass
class FakeContainer:
    """A container as the fake remembers it."""

    config: ContainerConfig
    labels: dict[str, str]
    status: ContainerStatus


@dataclass
class FakeClock:
    """A monotonic clock that advances only when the code under test sleeps."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class RecordingRuntime:
    """Implements ``reconciler.runtime.base.Runtime`` in memory and records every call."""

    orchestrator = ""  # plain containers

    def __init__(
        self,
        images: Mapping[str, ImageInfo] | None = None,
        registry: Mapping[str, ImageInfo] | None = None,
    ) -> None:
        self.calls: list[Call] = []
        self.containers: dict[str, FakeContainer] = {}
        self.networks: dict[str, tuple[NetworkConfig, dict[str, str]]] = {}
        self.volumes: dict[str, tuple[VolumeConfig, dict[str, str]]] = {}
        self.images: dict[str, ImageInfo] = dict(images or {})
        # What pull_image can fetch; anything else is ImageNotFound.
        self.registry: dict[str, ImageInfo] = dict(registry or {})
        self.updates: list[tuple[str, ResourceConfig, str]] = []
        self._failures: dict[tuple[str, str], Exception] = {}
        self._scripts: dict[str, list[ContainerStatus | None]] = {}
        self._hooks: dict[str, Callable[[Call], None]] = {}
        self._lock = threading.Lock()

    # -- test controls --------------------------------------------------------------------

    def fail(self, method: str, target: str, error: Exception) -> None:
        """Make every call of ``method`` on ``target`` raise ``error`` (after recording it)."""
        self._failures[(method, target)] = error

    def script_status(self, name: str, *statuses: ContainerStatus | None) -> None:
        """Answer ``container_status(name)`` with these, one per call; the last one repeats."""
        self._scripts[name] = list(statuses)

    def on_call(self, method: str, hook: Callable[[Call], None]) -> None:
        """Run ``hook(call)`` inside every call of ``method`` (after recording, before
        answering), on the Applier's worker thread."""
        self._hooks[method] = hook

    def add_container(
        self,
        name: str,
        config: ContainerConfig,
        *,
        state: str = "running",
        health: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        """Seed a container that exists before the plan runs."""
        self.containers[name] = FakeContainer(
            config, dict(labels or {}), ContainerStatus(state, health)
        )

    def names(self) -> list[str]:
        """The calls as ``"method target"`` strings (first two fields), for partial orders."""
        return [" ".join(c[:2]) for c in self.calls]

    def index(self, method: str, target: str) -> int:
        """Position of the first call of ``method`` on ``target``."""
        return self.names().index(f"{method} {target}")

    # -- recording ------------------------------------------------------------------------

    def _record(self, *call: str) -> None:
        with self._lock:
            self.calls.append(call)
        hook = self._hooks.get(call[0])
        if hook is not None:
            hook(call)
        error = self._failures.get((call[0], call[1]))
        if error is not None:
            raise error

    # -- Runtime Protocol -----------------------------------------------------------------

    def ping(self) -> str:
        self._record("ping", "")
        return "fake"

    def endpoint(self) -> tuple[str, bool]:
        return "fake://", True

    def identity(self) -> EngineIdentity:
        return EngineIdentity("FAKE", "fake", "/fake", "fake://", local_default=True)

    def start_listing(self, prefetch: str | None = None, keep_dir: Path | None = None) -> Listing:
        return Listing()

    def keep_inspects(self, listing: Listing) -> None:
        return None

    def observe(
        self,
        request: ObserveRequest,
        cache: InspectCache | None = None,
        listing: Listing | None = None,
    ) -> ObservedState:
        self._record("observe", request.project)
        with self._lock:
            containers = {
                name: ObservedContainer(
                    id=f"id-{name}",
                    name=name,
                    image_id=self.images.get(c.config.image, ImageInfo("")).id,
                    ownership=Ownership.from_labels(c.labels),
                    status=c.status,
                    config=c.config,
                    labels=dict(c.labels),
                )
                for name, c in self.containers.items()
                if name in request.container_names
            }
            networks = {
                name: ObservedNetwork(
                    id=f"id-{name}",
                    name=name,
                    ownership=Ownership.from_labels(labels),
                    config=config,
                    containers=self._attached(name),
                )
                for name, (config, labels) in self.networks.items()
                if name in request.network_names
            }
            volumes = {
                name: ObservedVolume(name, Ownership.from_labels(labels), config)
                for name, (config, labels) in self.volumes.items()
                if name in request.volume_names
            }
        return ObservedState(containers, volumes, networks)

    def _attached(self, network: str) -> tuple[str, ...]:
        return tuple(
            sorted(
                name
                for name, c in self.containers.items()
                if any(n.name == network for n in c.config.networks)
            )
        )

    def inspect_image(self, ref: str) -> ImageInfo | None:
        self._record("inspect_image", ref)
        return self.images.get(ref)

    def pull_image(self, ref: str, platform: str | None = None) -> ImageInfo:
        self._record("pull_image", ref)
        if ref not in self.registry:
            raise ImageNotFound(f"pull access denied for {ref}")
        self.images[ref] = self.registry[ref]
        return self.registry[ref]

    def set_progress(self, sink: ProgressSink | None) -> None:
        self._record("set_progress", "")

    def pull_digest(self, ref: str, digest: str) -> ImageInfo:
        self._record("pull_digest", ref)
        return self.pull_image(ref)

    def tag_image(self, source: str, ref: str) -> None:
        self._record("tag_image", ref)
        found = [i for i in self.images.values() if i.id == source] or [self.images[source]]
        self.images[ref] = found[0]

    def build_image(self, ref: str, context_tar: bytes, build: ImageBuild) -> ImageInfo:
        self._record("build_image", ref)
        info = ImageInfo(id=f"sha256:built-{build.digest}", labels=((BUILD_LABEL, build.digest),))
        self.images[ref] = info
        return info

    def remove_image_if_unused(self, ident: str, refs: frozenset[str]) -> str:
        self._record("remove_image_if_unused", ident)
        return "removed"

    def registry_digest(self, ref: str) -> str:
        self._record("registry_digest", ref)
        raise PermanentBackendError("this recording runtime has no registry")

    def create_container(
        self,
        name: str,
        config: ContainerConfig,
        labels: Mapping[str, str],
        keep_volumes: Mapping[str, str] | None = None,
    ) -> str:
        self._record("create_container", name)
        with self._lock:
            if name in self.containers:
                raise NameTaken(f"Conflict. The container name {name} is in use")
            self.containers[name] = FakeContainer(config, dict(labels), ContainerStatus("created"))
        return f"id-{name}"

    def start_container(self, name: str) -> None:
        self._record("start_container", name)
        with self._lock:
            container = self.containers[name]
            # A fresh start of a container with a healthcheck reports healthy at once here;
            # tests that need "starting" script the statuses.
            health = "healthy" if container.config.healthcheck is not None else None
            container.status = ContainerStatus("running", health)

    def stop_container(self, name: str, timeout: int | None = None) -> None:
        self._record("stop_container", name)
        with self._lock:
            self.containers[name].status = ContainerStatus("exited")

    def remove_container(self, name: str) -> None:
        self._record("remove_container", name)
        with self._lock:
            self.containers.pop(name, None)

    def rename_container(self, name: str, new_name: str) -> None:
        self._record("rename_container", name, new_name)
        with self._lock:
            self.containers[new_name] = self.containers.pop(name)

    def update_service(self, name: str, config: ContainerConfig, labels: Mapping[str, str]) -> None:
        raise AssertionError(f"update_service({name!r}) on a plain-container runtime")

    def update_container(
        self,
        name: str,
        resources: ResourceConfig,
        restart_policy: str,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self._record("update_container", name)
        with self._lock:
            self.updates.append((name, resources, restart_policy))
            c = self.containers[name]
            c.config = dataclasses.replace(
                c.config, resources=resources, restart_policy=restart_policy
            )

    def connect_network(self, container: str, attachment: NetworkAttachmentConfig) -> None:
        self._record("connect_network", container, attachment.name)
        with self._lock:
            c = self.containers[container]
            kept = tuple(n for n in c.config.networks if n.name != attachment.name)
            c.config = dataclasses.replace(c.config, networks=tuple(sorted((*kept, attachment))))

    def disconnect_network(self, container: str, network: str) -> None:
        self._record("disconnect_network", container, network)
        with self._lock:
            c = self.containers.get(container)
            if c is not None:
                kept = tuple(n for n in c.config.networks if n.name != network)
                c.config = dataclasses.replace(c.config, networks=kept)

    def container_status(self, name: str) -> ContainerStatus | None:
        self._record("container_status", name)
        with self._lock:
            script = self._scripts.get(name)
            if script:
                return script.pop(0) if len(script) > 1 else script[0]
            c = self.containers.get(name)
            return None if c is None else c.status

    def create_volume(self, name: str, config: VolumeConfig, labels: Mapping[str, str]) -> None:
        self._record("create_volume", name)
        with self._lock:
            self.volumes[name] = (config, dict(labels))

    def remove_volume(self, name: str) -> None:
        self._record("remove_volume", name)
        with self._lock:
            self.volumes.pop(name, None)

    def create_network(self, name: str, config: NetworkConfig, labels: Mapping[str, str]) -> None:
        self._record("create_network", name)
        with self._lock:
            self.networks[name] = (config, dict(labels))

    def remove_network(self, name: str) -> None:
        self._record("remove_network", name)
        with self._lock:
            self.networks.pop(name, None)

    def events(self, stop: threading.Event) -> Iterator[EngineEvent]:
        # Like the Engine's stream with nothing to say: open until the loop stops (a stream
        # that ends means the Engine went away, and the loop looks again).
        self._record("events", "")
        stop.wait()
        return iter(())
