"""The runtime backend Protocol: the only way the core talks to a container engine.

Everything crossing this boundary is the project's own type (``configs``, ``observed``);
backends translate their client library's errors into ``reconciler.errors`` (transient vs
permanent) and raise with ``from``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from reconciler.state.engines import EngineIdentity
from reconciler.values.configs import (
    ContainerConfig,
    ImageBuild,
    NetworkAttachmentConfig,
    NetworkConfig,
    ResourceConfig,
    VolumeConfig,
)
from reconciler.values.observed import ContainerStatus, ImageInfo, ObservedContainer, ObservedState


@dataclass(frozen=True)
class ObserveRequest:
    """What to look at: everything labelled with ``project``, plus these names (owned or not)."""

    project: str
    container_names: frozenset[str] = frozenset()
    volume_names: frozenset[str] = frozenset()
    network_names: frozenset[str] = frozenset()
    image_refs: frozenset[str] = frozenset()


@dataclass(frozen=True)
class EngineEvent:
    """An Engine event about a resource: a hint that something may have changed."""

    type: str  # container | network | volume | image | service (Swarm)
    action: str  # die, stop, destroy, rename, update, health_status: unhealthy, disconnect...
    name: str
    project: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    time_nano: int = 0


class InspectCache:
    """Inspected containers and images kept between the loop's passes.

    A container entry stays valid while its list entry (name, state, health, image) is the
    same and no Engine event has invalidated it; ``docker update`` and network changes do not
    show in the list, so the loop invalidates on their events and clears everything on each
    periodic resync. Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._containers: dict[str, tuple[object, ObservedContainer]] = {}
        self._images: dict[str, ImageInfo | None] = {}

    def container(self, ident: str, fingerprint: object) -> ObservedContainer | None:
        """The cached container ``ident`` if its list fingerprint is unchanged."""
        with self._lock:
            entry = self._containers.get(ident)
        return entry[1] if entry is not None and entry[0] == fingerprint else None

    def keep_container(self, ident: str, fingerprint: object, found: ObservedContainer) -> None:
        """Remember an inspected container."""
        with self._lock:
            self._containers[ident] = (fingerprint, found)

    def image(self, ref: str) -> tuple[bool, ImageInfo | None]:
        """(known, info) for an image reference."""
        with self._lock:
            return (ref in self._images, self._images.get(ref))

    def keep_image(self, ref: str, info: ImageInfo | None) -> None:
        """Remember what an image reference resolved to."""
        with self._lock:
            self._images[ref] = info

    def entries(
        self,
    ) -> tuple[dict[str, tuple[object, ObservedContainer]], dict[str, ImageInfo | None]]:
        """A copy of every entry: (container ID -> (list fingerprint, container), image
        reference -> image)."""
        with self._lock:
            return dict(self._containers), dict(self._images)

    def invalidate(self, ident_or_name: str) -> None:
        """Forget a container by id (or id prefix) or name."""
        with self._lock:
            for ident, (_, found) in list(self._containers.items()):
                if found.name == ident_or_name or ident.startswith(ident_or_name):
                    del self._containers[ident]

    def invalidate_images(self) -> None:
        """Forget every image reference (an image was tagged, pulled, built or removed)."""
        with self._lock:
            self._images.clear()

    def clear(self) -> None:
        """Forget everything (a periodic resync)."""
        with self._lock:
            self._containers.clear()
            self._images.clear()


class Listing:
    """The lists an ``observe`` begins with (one per kind), started ahead of it by
    ``Runtime.start_listing`` so that the Engine lists while the caller reads its manifests.
    Opaque to the core; each backend subclasses it."""


# Where the progress of a pull or build goes: (image reference, the Engine's progress object).
ProgressSink = Callable[[str, Mapping[str, Any]], None]


class Runtime(Protocol):
    """A container engine as reconcile needs it. Names are the resources' Engine names.

    ``orchestrator`` is "" for plain containers, "swarm" when each container of a set is a
    Swarm service (then ``update_service`` replaces its spec; nothing is recreated)."""

    orchestrator: str

    def set_progress(self, sink: ProgressSink | None) -> None:
        """Send each progress object of later pulls and builds to ``sink`` (None: none)."""
        ...

    def ping(self) -> str:
        """Check the Engine is reachable; return its version. Raises EngineUnavailable."""
        ...

    def endpoint(self) -> tuple[str, bool]:
        """Where the Engine is reached, and whether that is the machine's own usual socket;
        no Engine call."""
        ...

    def identity(self) -> EngineIdentity:
        """Which Engine this is (its ``/info``) and where it was reached; its state is kept
        apart from every other Engine's. Raises EngineUnavailable."""
        ...

    def start_listing(self, prefetch: str | None = None, keep_dir: Path | None = None) -> Listing:
        """Begin the lists of one ``observe`` now, in the background; with ``prefetch`` (a
        project), also read that project's containers in full as soon as they are listed;
        with ``keep_dir``, reuse what the previous command there read and nothing has
        changed since (see ``keep_inspects``)."""
        ...

    def keep_inspects(self, listing: Listing) -> None:
        """Leave what this pass read in full in the listing's ``keep_dir`` for the next
        command (never fails)."""
        ...

    def observe(
        self,
        request: ObserveRequest,
        cache: InspectCache | None = None,
        listing: Listing | None = None,
    ) -> ObservedState:
        """One snapshot: list once per kind, inspect what matters (what ``cache`` does not
        already hold). With a ``listing`` from ``start_listing``, its lists are used: the
        snapshot is as of when it began. Never empty on error."""
        ...

    def inspect_image(self, ref: str) -> ImageInfo | None:
        """The local image for ``ref``, or None when it is not present."""
        ...

    def pull_image(self, ref: str, platform: str | None = None) -> ImageInfo:
        """Pull ``ref`` and return the local image. Raises ImageNotFound or a backend error."""
        ...

    def pull_digest(self, ref: str, digest: str) -> ImageInfo:
        """Pull exactly ``digest`` of ``ref``'s repository and point the tag ``ref`` at it."""
        ...

    def tag_image(self, source: str, ref: str) -> None:
        """Point the tag ``ref`` at the image ``source`` (an ID or a reference)."""
        ...

    def build_image(self, ref: str, context_tar: bytes, build: ImageBuild) -> ImageInfo:
        """Build an image from ``context_tar`` (a tar of the context) and tag it ``ref``.
        Raises ``BuildFailed`` with the tail of the build log."""
        ...

    def remove_image_if_unused(self, ident: str, refs: frozenset[str]) -> str:
        """Remove the image ``ident`` unless a container (anyone's) uses it, it has tags other
        than ``refs``, or images are built on it: ``removed``, ``gone``, or why it was kept."""
        ...

    def registry_digest(self, ref: str) -> str:
        """The digest ``ref``'s tag has in its registry now (asked without pulling)."""
        ...

    def create_container(
        self,
        name: str,
        config: ContainerConfig,
        labels: Mapping[str, str],
        keep_volumes: Mapping[str, str] | None = None,
    ) -> str:
        """Create (not start) a container joined to all its networks; return its id.

        ``labels`` are reconcile's own ownership labels, merged with ``config.labels``.
        ``keep_volumes`` (target -> volume): anonymous volumes of the container this one
        replaces, mounted again at the same targets.
        """
        ...

    def start_container(self, name: str) -> None:
        """Start a created or stopped container (a no-op when it runs); unpause a paused one."""
        ...

    def stop_container(self, name: str, timeout: int | None = None) -> None:
        """Stop a container, waiting ``timeout`` seconds (its own setting when None)."""
        ...

    def remove_container(self, name: str) -> None:
        """Remove a container by name or id, forcefully; a missing one is not an error."""
        ...

    def rename_container(self, name: str, new_name: str) -> None:
        """Rename a container."""
        ...

    def update_container(
        self,
        name: str,
        resources: ResourceConfig,
        restart_policy: str,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        """Change limits, the restart policy and the in-place table-driven fields
        (``options``, by manifest path) in place (``docker update``)."""
        ...

    def update_service(self, name: str, config: ContainerConfig, labels: Mapping[str, str]) -> None:
        """Swarm: replace a service's whole spec (the tasks roll by its update config)."""
        ...

    def connect_network(self, container: str, attachment: NetworkAttachmentConfig) -> None:
        """Join a network with the given aliases and address."""
        ...

    def disconnect_network(self, container: str, network: str) -> None:
        """Leave a network (forcefully); not being attached is not an error."""
        ...

    def container_status(self, name: str) -> ContainerStatus | None:
        """The run-time state of one container, or None when it does not exist."""
        ...

    def create_volume(self, name: str, config: VolumeConfig, labels: Mapping[str, str]) -> None:
        """Create a named volume."""
        ...

    def remove_volume(self, name: str) -> None:
        """Remove a named volume; a missing one is not an error."""
        ...

    def create_network(self, name: str, config: NetworkConfig, labels: Mapping[str, str]) -> None:
        """Create a network."""
        ...

    def remove_network(self, name: str) -> None:
        """Remove a network; a missing one is not an error."""
        ...

    def events(self, stop: threading.Event) -> Iterator[EngineEvent]:
        """Engine events about containers, networks and volumes until ``stop`` is set."""
        ...
