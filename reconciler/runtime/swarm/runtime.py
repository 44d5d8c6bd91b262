"""``SwarmRuntime``: the Runtime Protocol over a Swarm manager's Engine API, where each
container of a set is a replicated service (docs/decisions/swarm-backend.md).

It speaks through the Docker backend's Engine client (``runtime.docker.engine``: one HTTP
client, its retries and error translation) and hands images, volumes and network removal to
a ``DockerRuntime`` on the same connection; only services, overlay networks and the
cluster's identity are its own.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from reconciler.errors import EngineUnavailable, PermanentBackendError, TransientBackendError
from reconciler.manifests import constants
from reconciler.runtime.base import (
    EngineEvent,
    InspectCache,
    Listing,
    ObserveRequest,
    ProgressSink,
)
from reconciler.runtime.docker import client, enginelog, observing
from reconciler.runtime.docker.engine import Engine, NotFoundError
from reconciler.runtime.docker.runtime import DockerRuntime
from reconciler.runtime.swarm import normalize, translate
from reconciler.state.engines import EngineIdentity
from reconciler.values import swarm
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
    EngineFacts,
    ImageInfo,
    ObservedContainer,
    ObservedState,
)

ORCHESTRATOR = "swarm"
# A service update names the spec version it read; someone else's update in between makes
# the Engine refuse it ("update out of sequence"): read again and retry, this often.
UPDATE_ATTEMPTS = 3
# A removed service's tasks hold its networks until they have stopped (each within its stop
# grace period, 10 s by default): a network removed right after waits this long for them.
TASKS_RELEASE_SECONDS = 60.0
TASKS_RELEASE_POLL = 0.5
# A manager also reports service create, update and remove (a replica count changed by hand).
EVENT_TYPES = (*enginelog.EVENT_TYPES, "service")


class SwarmRuntime:
    """The Swarm backend: containers are services, networks attachable overlays."""

    orchestrator = ORCHESTRATOR

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._docker = DockerRuntime(engine)

    @property
    def calls(self) -> Counter[str]:
        """Engine API calls made so far, by kind."""
        return self._engine.calls

    def close(self) -> None:
        """Close the kept-alive connections."""
        self._engine.close()

    # -- the Engine and the cluster ------------------------------------------------------

    def _manager_info(self) -> dict[str, Any]:
        info = self._docker.read_info()
        swarm: Mapping[str, Any] = info.get("Swarm") or {}
        if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
            raise EngineUnavailable(
                f"the Engine at {self._engine.host} is not a Swarm manager (swarm state "
                f"{swarm.get('LocalNodeState') or 'inactive'!r}); --backend swarm needs one"
            )
        return info

    def ping(self) -> str:
        """Check the Engine answers and is an active Swarm manager; return its version."""
        return str(self._manager_info().get("ServerVersion") or "")

    def endpoint(self) -> tuple[str, bool]:
        """The manager's Engine URL; never the machine's own state (the cluster has its own)."""
        url, _ = self._docker.endpoint()
        return url, False

    def identity(self) -> EngineIdentity:
        """The cluster (``Swarm.Cluster.ID``): every manager of it shares one state."""
        info = self._manager_info()
        cluster = str(((info.get("Swarm") or {}).get("Cluster") or {}).get("ID") or "")
        url, _ = self.endpoint()
        return EngineIdentity(
            engine_id=f"swarm:{cluster}",
            name="swarm",
            root_dir="",
            address=url,
            local_default=False,
        )

    # -- observing -----------------------------------------------------------------------

    def start_listing(self, prefetch: str | None = None, keep_dir: Path | None = None) -> Listing:
        """Nothing is listed ahead: ``observe`` lists services, networks and volumes at once."""
        return Listing()

    def keep_inspects(self, listing: Listing) -> None:
        """Nothing to keep: services are listed in full."""

    def list_services_raw(self) -> list[dict[str, Any]]:
        """Every service with its task counts (``status=true``, API 1.41)."""
        return list(
            self._engine.call(
                "list services",
                "service.list",
                lambda api: api.get("/services", {"status": "true"}),
            )
        )

    def observe(
        self,
        request: ObserveRequest,
        cache: InspectCache | None = None,
        listing: Listing | None = None,
    ) -> ObservedState:
        """One snapshot: the project's services (and those of wanted names) in full, the
        networks and volumes, the wanted images on the manager. Four lists, concurrently."""
        info = self._manager_info()
        with ThreadPoolExecutor(max_workers=4) as pool:
            services_f = pool.submit(self.list_services_raw)
            networks_f = pool.submit(self._docker.list_networks_raw)
            volumes_f = pool.submit(self._docker.list_volumes_raw)
            images_f = {ref: pool.submit(self.inspect_image, ref) for ref in request.image_refs}
            networks = networks_f.result()
            names = {str(n.get("Id") or ""): str(n.get("Name") or "") for n in networks}
            services: dict[str, ObservedContainer] = {}
            for raw in services_f.result():
                spec = raw.get("Spec") or {}
                labels = spec.get("Labels") or {}
                name = str(spec.get("Name") or "")
                if (
                    name in request.container_names
                    or labels.get(constants.LABEL_PROJECT) == request.project
                ):
                    services[name] = normalize.observed_service(raw, names)
            volumes = observing.select_volumes(volumes_f.result(), request)
            selected = {
                name: normalize.overlay_network(found)
                for name, found in observing.select_networks(networks, [], request).items()
            }
            images = {ref: future.result() for ref, future in images_f.items()}
        facts = EngineFacts(
            api_version=self._engine.api.api_version,
            defaults=(),
            runtimes=tuple(sorted((info.get("Runtimes") or {}).keys())),
            orchestrator=ORCHESTRATOR,
        )
        return ObservedState(
            containers=services, volumes=volumes, networks=selected, images=images, engine=facts
        )

    def container_status(self, name: str) -> ContainerStatus | None:
        """The service's state from its task counts, None when there is no such service."""
        listed = self._engine.call(
            f"list service {name!r}",
            "service.list",
            lambda api: api.get(
                "/services",
                {"status": "true", "filters": client.encode_filters({"name": [name]})},
            ),
        )
        for raw in listed:
            if (raw.get("Spec") or {}).get("Name") == name:
                return normalize.service_status(raw)
        return None

    # -- images: the manager's Engine ----------------------------------------------------

    def set_progress(self, sink: ProgressSink | None) -> None:
        """Send the progress of later pulls on the manager to ``sink``."""
        self._docker.set_progress(sink)

    def inspect_image(self, ref: str) -> ImageInfo | None:
        """The manager's local image for ``ref``."""
        return self._docker.inspect_image(ref)

    def pull_image(self, ref: str, platform: str | None = None) -> ImageInfo:
        """Pull ``ref`` on the manager (each node pulls for its own tasks)."""
        return self._docker.pull_image(ref, platform)

    def pull_digest(self, ref: str, digest: str) -> ImageInfo:
        """Pull exactly ``digest`` on the manager and tag it ``ref``."""
        return self._docker.pull_digest(ref, digest)

    def tag_image(self, source: str, ref: str) -> None:
        """Tag an image on the manager."""
        self._docker.tag_image(source, ref)

    def build_image(self, ref: str, context_tar: bytes, build: ImageBuild) -> ImageInfo:
        """Refused: builds are refused at validate on Swarm (the image would exist on the
        manager only)."""
        raise PermanentBackendError(f"cannot build {ref!r}: builds are not supported on Swarm")

    def remove_image_if_unused(self, ident: str, refs: frozenset[str]) -> str:
        """Remove an image from the manager unless something uses it."""
        return self._docker.remove_image_if_unused(ident, refs)

    def registry_digest(self, ref: str) -> str:
        """The digest ``ref``'s tag has in its registry."""
        return self._docker.registry_digest(ref)

    # -- services ------------------------------------------------------------------------

    def _volumes(self, config: ContainerConfig) -> dict[str, VolumeConfig]:
        """The named volumes ``config`` mounts, as the manager has them (their driver travels
        with the mount, for the nodes)."""
        wanted = {m.source for m in config.mounts if m.type == "volume" and m.source}
        if not wanted:
            return {}
        listed = self._docker.list_volumes_raw()
        return {
            v["Name"]: observing.observed_volume(v).config for v in listed if v["Name"] in wanted
        }

    def create_container(
        self,
        name: str,
        config: ContainerConfig,
        labels: Mapping[str, str],
        keep_volumes: Mapping[str, str] | None = None,
    ) -> str:
        """Create the service ``name``; Swarm schedules its tasks. Returns the service ID.
        A service create is not retried (it is not idempotent, and a service of the name
        after a lost answer is a clash the next pass reports)."""
        body = translate.service_spec(name, config, labels, self._volumes(config))
        answer = self._engine.call(
            f"create service {name!r}",
            "service.create",
            lambda api: api.post("/services/create", body),
            retry=False,
            secrets=[value for _, value in config.env],
        )
        return str(answer["ID"])

    def _inspect_service(self, name: str) -> dict[str, Any]:
        raw: dict[str, Any] = self._engine.call(
            f"inspect service {name!r}",
            "service.inspect",
            lambda api: api.get(client.path("/services/{}", name)),
        )
        return raw

    def _write_spec(self, name: str, change: Any, secrets: list[str]) -> None:
        """Read the service, let ``change(spec) -> spec`` make the new spec, and update it
        at the version read; again when someone else updated it in between."""
        for attempt in range(UPDATE_ATTEMPTS):
            raw = self._inspect_service(name)
            version = int((raw.get("Version") or {}).get("Index") or 0)
            body = change(raw.get("Spec") or {})
            target = client.path("/services/{}/update", str(raw["ID"]))

            def update(
                api: client.Client, target: str = target, body: Any = body, version: int = version
            ) -> None:
                api.post(target, body, {"version": version})

            try:
                self._engine.call(
                    f"update service {name!r}",
                    "service.update",
                    update,
                    retry=False,
                    secrets=secrets,
                )
                return
            except (PermanentBackendError, TransientBackendError) as exc:
                if "out of sequence" not in str(exc) or attempt == UPDATE_ATTEMPTS - 1:
                    raise

    def update_service(self, name: str, config: ContainerConfig, labels: Mapping[str, str]) -> None:
        """Replace the service's whole spec with ``config`` (Swarm rolls its tasks by the
        update config). Its creation label is kept: it proves reconcile made the service."""

        def change(current: Mapping[str, Any]) -> dict[str, Any]:
            held = current.get("Labels") or {}
            kept = {k: v for k, v in held.items() if k == constants.LABEL_CREATION}
            return translate.service_spec(name, config, {**kept, **labels}, self._volumes(config))

        self._write_spec(name, change, [value for _, value in config.env])

    def start_container(self, name: str) -> None:
        """Nothing to do: Swarm runs a service's tasks itself."""

    def stop_container(self, name: str, timeout: int | None = None) -> None:
        """Scale the service to no tasks (its spec keeps everything else)."""

        def change(current: Mapping[str, Any]) -> dict[str, Any]:
            return {**current, "Mode": {"Replicated": {"Replicas": 0}}}

        self._write_spec(name, change, [])

    def remove_container(self, name: str) -> None:
        """Remove the service (Swarm stops its tasks); a missing one is not an error."""
        try:
            self._engine.call(
                f"remove service {name!r}",
                "service.remove",
                lambda api: api.delete(client.path("/services/{}", name)),
            )
        except NotFoundError:
            return

    def rename_container(self, name: str, new_name: str) -> None:
        """Refused: Swarm cannot rename a service (the planner never asks)."""
        raise PermanentBackendError(f"cannot rename service {name!r}: Swarm has no rename")

    def update_container(
        self,
        name: str,
        resources: ResourceConfig,
        restart_policy: str,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        """Refused: a service is updated as a whole (``update_service``)."""
        raise PermanentBackendError(f"cannot update service {name!r} as a container")

    def connect_network(self, container: str, attachment: NetworkAttachmentConfig) -> None:
        """Join a standalone container to an (attachable) network."""
        self._docker.connect_network(container, attachment)

    def disconnect_network(self, container: str, network: str) -> None:
        """Disconnect a standalone container from a network."""
        self._docker.disconnect_network(container, network)

    # -- volumes and networks ------------------------------------------------------------

    def create_volume(self, name: str, config: VolumeConfig, labels: Mapping[str, str]) -> None:
        """Create the volume on the manager (nodes make theirs when a task mounts it)."""
        self._docker.create_volume(name, config, labels)

    def remove_volume(self, name: str) -> None:
        """Remove the manager's volume."""
        self._docker.remove_volume(name)

    def create_network(self, name: str, config: NetworkConfig, labels: Mapping[str, str]) -> None:
        """Create the attachable overlay network a Network manifest becomes."""
        self._docker.create_network(name, swarm.network_view(config), labels)

    def remove_network(self, name: str) -> None:
        """Remove a network; a missing one is not an error. Service removal is asynchronous:
        while the removed services' tasks stop, the manager refuses ("in use by task"), so
        that is waited out (``TASKS_RELEASE_SECONDS``)."""
        deadline = time.monotonic() + TASKS_RELEASE_SECONDS
        while True:
            try:
                self._docker.remove_network(name)
                return
            except PermanentBackendError as exc:
                if "in use by task" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(TASKS_RELEASE_POLL)

    def events(self, stop: threading.Event) -> Iterator[EngineEvent]:
        """The manager's service, container, network, volume and image events. A service
        event names the service (``Actor.Attributes.name``), never its labels."""
        return enginelog.follow(self._engine, stop, EVENT_TYPES)
