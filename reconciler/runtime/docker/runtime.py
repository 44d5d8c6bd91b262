"""``DockerRuntime``: the Runtime Protocol over the Docker Engine API (20.10 / API 1.41 and up)."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from reconciler.errors import (
    BackendError,
    EngineUnavailable,
    ImageNotFound,
    NameTaken,
    PermanentBackendError,
    TransientBackendError,
)
from reconciler.runtime.base import (
    EngineEvent,
    InspectCache,
    Listing,
    ObserveRequest,
    ProgressSink,
)
from reconciler.runtime.docker import (
    client,
    enginelog,
    images,
    normalize,
    observing,
    translate,
)
from reconciler.runtime.docker.engine import (
    DEFAULT_TIMEOUT,
    Engine,
    NameInUse,
    NotFoundError,
)
from reconciler.runtime.docker.listing import INSPECT_WORKERS, Lists
from reconciler.runtime.docker.resources import NetworkAndVolumeOps, after
from reconciler.state.engines import EngineIdentity
from reconciler.values.configs import (
    ContainerConfig,
    ImageBuild,
    ResourceConfig,
)
from reconciler.values.observed import (
    ContainerStatus,
    EngineFacts,
    ImageInfo,
    ObservedContainer,
    ObservedState,
    repository_of,
)

# A stop without a timeout waits for the container's own StopTimeout; allow that much on the wire.
MAX_STOP_WAIT = 600


class DockerRuntime(NetworkAndVolumeOps):
    """The Docker Engine backend. Connects on first use; ``calls`` counts Engine round-trips."""

    orchestrator = ""  # plain containers (the Swarm backend says "swarm")

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._cgroupns_default: str | None = None
        self._facts = EngineFacts()
        # The first /info this runtime read (who the Engine is, and its clock then).
        self.first_info: dict[str, Any] | None = None
        self._insecure: tuple[frozenset[str], tuple[str, ...]] | None = None
        self._progress: ProgressSink | None = None

    @classmethod
    def from_env(
        cls,
        environment: Mapping[str, str] | None = None,
        timeout: int = DEFAULT_TIMEOUT,
        context: str | None = None,
    ) -> DockerRuntime:
        """A runtime for the Engine the docker context names (``context``: the --context
        option, else DOCKER_HOST, DOCKER_CONTEXT, the docker config's current context;
        ``environment`` defaults to the process's). No Engine call happens here."""
        return cls(Engine(environment, timeout=timeout, context=context))

    @property
    def calls(self) -> Counter[str]:
        """Engine API calls made so far, by kind (``sum(calls.values())`` is the total)."""
        return self._engine.calls

    @property
    def host(self) -> str:
        """The Engine address, as used in messages."""
        return self._engine.host

    def close(self) -> None:
        """Close the kept-alive connections."""
        self._engine.close()

    # -- reading -------------------------------------------------------------------------

    def ping(self) -> str:
        """Check the Engine is reachable; return its version. Raises EngineUnavailable."""
        return str(self.read_info().get("ServerVersion") or "")

    def endpoint(self) -> tuple[str, bool]:
        """The Engine's URL and whether it is the machine's usual socket (no Engine call)."""
        address = self._engine.address
        return (address.url, address.local_default) if address else (self.host, False)

    def identity(self) -> EngineIdentity:
        """Which Engine this is: ``/info``'s ID, name and data root, and the address."""
        info = self.read_info()
        url, local_default = self.endpoint()
        return EngineIdentity(
            engine_id=str(info.get("ID") or ""),
            name=str(info.get("Name") or ""),
            root_dir=str(info.get("DockerRootDir") or ""),
            address=url,
            local_default=local_default,
        )

    @property
    def knows_host_defaults(self) -> bool:
        """Whether the Engine info was read (it gives the host's cgroup namespace default)."""
        return self._cgroupns_default is not None

    def read_info(self) -> dict[str, Any]:
        """The Engine's ``/info`` (and the host defaults it tells, remembered)."""
        info: dict[str, Any] = self._engine.call(
            "read Engine info", "info", lambda api: api.get("/info")
        )
        self._remember_cgroup_version(info)
        if self.first_info is None:
            self.first_info = info
        return info

    def _remember_cgroup_version(self, info: Mapping[str, Any]) -> None:
        # The Engine's default cgroup namespace follows the host's cgroup version (v2: private);
        # an explicit mode equal to the default reads back as unset.
        self._cgroupns_default = "private" if str(info.get("CgroupVersion")) == "2" else "host"
        address = self._engine.address
        self._facts = normalize.engine_facts(
            info, self._engine.api.api_version, address.elsewhere if address else ""
        )

    def _cgroupns(self) -> str:
        if self._cgroupns_default is None:
            self.ping()
        return self._cgroupns_default or "host"

    def start_listing(self, prefetch: str | None = None, keep_dir: Path | None = None) -> Listing:
        """Begin the three lists of one ``observe`` (containers, volumes, networks) now, and
        the Engine info when it has not been read yet. With ``prefetch`` (a project), also
        inspect that project's containers as soon as the container list arrives: a one-shot
        command has no inspect cache, and would otherwise inspect only after its manifests
        are read."""
        return Lists(self, prefetch, keep_dir)

    def keep_inspects(self, listing: Listing) -> None:
        """Leave what this pass inspected in the listing's ``keep_dir`` (``inspectstore``)."""
        if isinstance(listing, Lists) and listing.cache is not None and listing.cache.done():
            with contextlib.suppress(BackendError):
                listing.keep(listing.cache.result())

    def observe(
        self,
        request: ObserveRequest,
        cache: InspectCache | None = None,
        listing: Listing | None = None,
    ) -> ObservedState:
        """One snapshot: one list per kind, one inspect per relevant container and image ref.

        The lists (begun by ``start_listing``, or here) and image inspects run concurrently;
        container inspects run on a small pool. Any Engine error propagates: a partial snapshot
        is never returned.
        """
        lists = listing if isinstance(listing, Lists) else Lists(self)
        if lists.info is not None:
            lists.info.result()
        if cache is None and lists.cache is not None:
            cache = lists.cache.result()
        cgroupns_default = self._cgroupns()
        with ThreadPoolExecutor(max_workers=INSPECT_WORKERS) as pool:
            images_f = {
                ref: pool.submit(self._image_cached, ref, cache) for ref in request.image_refs
            }
            listed = lists.containers.result()
            prefetched = lists.inspected.result() if lists.inspected is not None else {}
            id_to_name = {c["Id"]: observing.list_name(c) for c in listed}
            containers: dict[str, ObservedContainer] = {}
            inspected = []
            for entry in listed:
                if not observing.wanted(entry, request):
                    continue
                fingerprint = observing.fingerprint(entry)
                hit = cache.container(entry["Id"], fingerprint) if cache is not None else None
                if hit is not None:
                    containers[hit.name] = hit
                    continue
                future = prefetched.get(entry["Id"]) or pool.submit(
                    self.inspect_container_raw, entry["Id"], id_to_name[entry["Id"]]
                )
                inspected.append((entry["Id"], fingerprint, future))
            for ident, fingerprint, future in inspected:
                raw = future.result()
                if raw is not None:  # removed between list and inspect: it is gone
                    found = normalize.observed_container(raw, id_to_name, cgroupns_default)
                    containers[found.name] = found
                    if cache is not None:
                        cache.keep_container(ident, fingerprint, found)
            volumes = observing.select_volumes(lists.volumes.result(), request)
            networks = observing.select_networks(lists.networks.result(), listed, request)
            images = observing.images_by_ref(images_f)
        return ObservedState(
            containers=containers,
            volumes=volumes,
            networks=networks,
            images=images,
            engine=self._facts,
        )

    def list_containers_raw(self) -> list[dict[str, Any]]:
        """Every container, as the Engine lists them."""
        return list(
            self._engine.call(
                "list containers",
                "container.list",
                lambda api: api.get("/containers/json", {"all": 1}),
            )
        )

    def list_volumes_raw(self) -> list[dict[str, Any]]:
        """Every volume, as the Engine lists them."""
        answer = self._engine.call("list volumes", "volume.list", lambda api: api.get("/volumes"))
        return list(answer.get("Volumes") or ())

    def list_networks_raw(self) -> list[dict[str, Any]]:
        """Every network, as the Engine lists them."""
        return list(
            self._engine.call("list networks", "network.list", lambda api: api.get("/networks"))
        )

    def inspect_container_raw(self, ident: str, name: str) -> dict[str, Any] | None:
        """A container's inspect as the Engine gives it; None when it is gone."""
        try:
            raw: dict[str, Any] = self._engine.call(
                f"inspect container {name!r}",
                "container.inspect",
                lambda api: api.get(client.path("/containers/{}/json", ident)),
            )
        except NotFoundError:
            return None
        return raw

    def _image_cached(self, ref: str, cache: InspectCache | None) -> ImageInfo | None:
        if cache is not None:
            known, info = cache.image(ref)
            if known:
                return info
        info = self.inspect_image(ref)
        if cache is not None:
            cache.keep_image(ref, info)
        return info

    def inspect_image(self, ref: str) -> ImageInfo | None:
        """The local image for ``ref``, or None when it is not present."""
        try:
            raw = self._engine.call(
                f"inspect image {ref!r}",
                "image.inspect",
                lambda api: api.get(client.path("/images/{}/json", ref)),
            )
        except (ImageNotFound, NotFoundError):
            return None
        return normalize.image_info(raw)

    def container_status(self, name: str) -> ContainerStatus | None:
        """The run-time state of one container, or None when it does not exist."""
        raw = self.inspect_container_raw(name, name)
        return None if raw is None else normalize.container_status(raw)

    def pull_image(self, ref: str, platform: str | None = None) -> ImageInfo:
        """Pull ``ref`` (the ``latest`` tag when it names none; for ``platform`` when given)
        and return the local image."""
        repository, tag = translate.repository_and_tag(ref)

        def pull(api: client.Client) -> str:
            stream = api.pull(repository, tag, platform)
            failures = []
            for item in stream:
                failures.append(observing.pull_failure(item))
                if self._progress is not None and isinstance(item, dict):
                    self._progress(ref, item)
            return "; ".join(f for f in failures if f)

        try:
            failure = self._engine.call(f"pull image {ref!r}", "image.pull", pull, retry=False)
        except (PermanentBackendError, TransientBackendError) as exc:
            if isinstance(exc, EngineUnavailable) or not observing.registry_failure(str(exc)):
                raise
            raise ImageNotFound(f"{exc}: no registry has image {ref!r} for us") from exc
        if failure:
            raise ImageNotFound(f"cannot pull image {ref!r}: {failure}")
        info = self.inspect_image(ref)
        if info is None:
            raise ImageNotFound(f"image {ref!r} is not present locally after a pull")
        return info

    def set_progress(self, sink: ProgressSink | None) -> None:
        """Send each progress object of later pulls and builds to ``sink``."""
        self._progress = sink

    def pull_digest(self, ref: str, digest: str) -> ImageInfo:
        """Pull exactly ``digest`` of ``ref``'s repository and point the tag ``ref`` at it (a
        tag moved again meanwhile does not matter: the digest is what was asked for)."""
        pinned = f"{repository_of(ref)}@{digest}"
        info = self.pull_image(pinned)
        images.tag(self._engine, info.id, ref)
        return info

    def tag_image(self, source: str, ref: str) -> None:
        """Point the tag ``ref`` at the image ``source`` (an ID or a reference)."""
        images.tag(self._engine, source, ref)

    def build_image(self, ref: str, context_tar: bytes, build: ImageBuild) -> ImageInfo:
        """Build an image from ``context_tar`` as ``build`` says and tag it ``ref``."""
        ident = images.build(
            self._engine,
            ref,
            context_tar,
            dockerfile=build.dockerfile,
            args=dict(build.args),
            target=build.target,
            labels=dict(build.labels),
            platform=build.platform,
            progress=self._progress,
        )
        info = self.inspect_image(ident)
        if info is None:
            raise ImageNotFound(f"image {ref!r} is not present after its build")
        return info

    def remove_image_if_unused(self, ident: str, refs: frozenset[str]) -> str:
        """Remove an image reconcile fetched unless anything else may use it (see
        ``images.remove_if_unused``); ``removed``, ``gone``, or why it was kept."""
        return images.remove_if_unused(self._engine, ident, refs)

    def registry_digest(self, ref: str) -> str:
        """The digest ``ref``'s tag has in its registry now (a manifest HEAD; raises
        ``registry.RegistryError``). Registries the Engine treats as insecure are spoken to
        over plain HTTP, as the Engine would."""
        from reconciler.runtime.docker import registry

        if self._insecure is None:
            self._insecure = images.insecure_registries(self.read_info())
        names, cidrs = self._insecure
        return registry.Registry(partial(registry.insecure, names, cidrs)).digest(ref)

    # -- containers ----------------------------------------------------------------------

    def create_container(
        self,
        name: str,
        config: ContainerConfig,
        labels: Mapping[str, str],
        keep_volumes: Mapping[str, str] | None = None,
    ) -> str:
        """Create (not start) a container joined to all its networks; return its id.

        A create is retried after a transient error like any call, although it is not
        idempotent: the Engine may have created the container before the error (a timeout).
        A retry that then meets "name already in use" inspects the holder and adopts it when
        it carries exactly our ownership labels (same project, name and config hash), because
        the Engine commits a create atomically: such a container is the one we asked for. Any
        other holder is a clash and an error, as is "name in use" on the first attempt.
        """
        secrets = [value for _, value in config.env]
        attempts = 0
        query = {"name": name}
        if config.platform:
            query["platform"] = config.platform

        def create(api: client.Client) -> str:
            nonlocal attempts
            attempts += 1
            body = translate.container_body(config, labels, api.api_version, keep_volumes)
            return str(api.post("/containers/create", body, query)["Id"])

        try:
            ident = self._engine.call(
                f"create container {name!r}", "container.create", create, secrets=secrets
            )
        except NameInUse as exc:
            if attempts < 2:
                raise NameTaken(
                    f"cannot create container {name!r}: a container of that name already exists"
                ) from exc
            ident = self._adopt(name, labels, exc)
        except PermanentBackendError as exc:
            if "bind source path does not exist" in str(exc):
                raise PermanentBackendError(
                    f"cannot create container {name!r}: a bind mount source does not exist on "
                    f"the host ({after(str(exc), 'does not exist: ')}); reconcile never "
                    "creates bind sources"
                ) from exc
            raise
        extra = () if config.network_mode is not None else config.networks[1:]
        try:
            for attachment in extra:
                self.connect_network(ident, attachment)
        except Exception:
            # A container missing a network must not pass for a finished create.
            self.remove_container(ident)
            raise
        return ident

    def _adopt(self, name: str, labels: Mapping[str, str], cause: Exception) -> str:
        raw = self.inspect_container_raw(name, name)
        held: Mapping[str, str] = ((raw or {}).get("Config") or {}).get("Labels") or {}
        if raw is None or any(held.get(key) != value for key, value in labels.items()):
            raise PermanentBackendError(
                f"cannot create container {name!r}: a container of that name already exists"
            ) from cause
        return str(raw["Id"])

    def start_container(self, name: str) -> None:
        """Start a created or stopped container (a no-op when it runs); unpause a paused one."""
        try:
            self._engine.call(
                f"start container {name!r}",
                "container.start",
                lambda api: api.post(client.path("/containers/{}/start", name)),
            )
        except BackendError as exc:
            if "paused" not in str(exc).lower():
                raise
            self._engine.call(
                f"unpause container {name!r}",
                "container.unpause",
                lambda api: api.post(client.path("/containers/{}/unpause", name)),
            )

    def stop_container(self, name: str, timeout: int | None = None) -> None:
        """Stop a container, waiting ``timeout`` seconds (its own setting when None)."""
        # The HTTP wait covers the stop's own: a long StopTimeout must not time the call out.
        wire = (MAX_STOP_WAIT if timeout is None else timeout) + DEFAULT_TIMEOUT
        self._engine.call(
            f"stop container {name!r}",
            "container.stop",
            lambda api: api.post(
                client.path("/containers/{}/stop", name), None, {"t": timeout}, timeout=wire
            ),
        )

    def remove_container(self, name: str) -> None:
        """Remove a container by name or id, forcefully; a missing one is not an error."""
        try:
            self._engine.call(
                f"remove container {name!r}",
                "container.remove",
                lambda api: api.delete(client.path("/containers/{}", name), {"force": True}),
            )
        except NotFoundError:
            return

    def rename_container(self, name: str, new_name: str) -> None:
        """Rename a container."""
        self._engine.call(
            f"rename container {name!r} to {new_name!r}",
            "container.rename",
            lambda api: api.post(
                client.path("/containers/{}/rename", name), None, {"name": new_name}
            ),
        )

    def update_container(
        self,
        name: str,
        resources: ResourceConfig,
        restart_policy: str,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        """Change limits and the restart policy in place (``docker update``), with the
        table-driven fields the Engine changes in place (``options``, by manifest path).

        The Engine cannot lift a memory, reservation, cpus or shares limit in place (0 means
        "unchanged" to it); plan a recreate for that.
        """
        body = translate.update_body(resources, restart_policy, options or {})
        self._engine.call(
            f"update container {name!r}",
            "container.update",
            lambda api: api.post(client.path("/containers/{}/update", name), body),
        )

    def update_service(self, name: str, config: ContainerConfig, labels: Mapping[str, str]) -> None:
        """Refused: a plain Engine has containers, not services (the planner never asks)."""
        raise PermanentBackendError(f"cannot update {name!r} as a service: not a Swarm backend")

    # -- events --------------------------------------------------------------------------

    def events(self, stop: threading.Event) -> Iterator[EngineEvent]:
        """Container, network, volume and image events until ``stop`` is set."""
        return enginelog.follow(self._engine, stop)

    def replay_events(self, since_ns: int, until_ns: int) -> list[dict[str, Any]]:
        """Every event the Engine still holds from ``since_ns`` to ``until_ns`` (its clock)."""
        return enginelog.replay(self._engine, since_ns, until_ns)
