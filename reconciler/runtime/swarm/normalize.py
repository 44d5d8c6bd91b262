"""A Swarm service as reconcile compares it: its spec read back into the container
vocabulary (``values.configs``), its task counts into a container status. The inverse of
``translate``: what it writes reads back equal."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from reconciler.runtime.docker import normalize as docker_normalize
from reconciler.values import swarm
from reconciler.values.configs import (
    ContainerConfig,
    MountConfig,
    NetworkAttachmentConfig,
    PortBinding,
    ResourceConfig,
    RolloutConfig,
    ServiceConfig,
)
from reconciler.values.observed import ContainerStatus, ObservedContainer, ObservedNetwork

Json = Mapping[str, Any]
NANOS = 1_000_000_000


def docker_host(entry: str) -> str:
    """An extra host as Docker writes it (``name:IP``) from Swarm's ``IP name``."""
    address, _, name = entry.partition(" ")
    return f"{name.strip()}:{address}"


def image_ref(image: str) -> str:
    """The reference as written: without the digest the Engine pins when a registry knows it."""
    return image.partition("@")[0] if "@sha256:" in image else image


def _mount(raw: Json) -> MountConfig:
    tmpfs: Json = raw.get("TmpfsOptions") or {}
    return MountConfig(
        target=raw.get("Target") or "",
        type=raw.get("Type") or "volume",
        source=raw.get("Source") or "",
        read_only=bool(raw.get("ReadOnly")),
        propagation=(raw.get("BindOptions") or {}).get("Propagation") or None,
        tmpfs_size=tmpfs.get("SizeBytes") or None,
        tmpfs_mode=tmpfs.get("Mode"),
        no_copy=bool((raw.get("VolumeOptions") or {}).get("NoCopy")),
    )


def _rollout(raw: Json | None) -> RolloutConfig:
    raw = raw or {}
    return RolloutConfig(
        parallelism=int(raw.get("Parallelism") or 0),
        delay=int(raw.get("Delay") or 0),
        failure_action=raw.get("FailureAction") or "pause",
        order=raw.get("Order") or "stop-first",
    )


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(sorted(str(v) for v in value or ()))


def service_config(spec: Json, network_names: Mapping[str, str]) -> ContainerConfig:
    """A service spec as a container config; ``network_names`` maps network IDs (what
    Swarm keeps as a task's network ``Target``) to names."""
    task: Json = spec.get("TaskTemplate") or {}
    container: Json = task.get("ContainerSpec") or {}
    resources: Json = task.get("Resources") or {}
    limits: Json = resources.get("Limits") or {}
    restart: Json = task.get("RestartPolicy") or {}
    replicated: Json = (spec.get("Mode") or {}).get("Replicated") or {}
    grace = container.get("StopGracePeriod")
    env = (str(e).partition("=") for e in container.get("Env") or ())
    return ContainerConfig(
        image=image_ref(container.get("Image") or ""),
        entrypoint=tuple(container["Command"]) if container.get("Command") is not None else None,
        cmd=tuple(container["Args"]) if container.get("Args") is not None else None,
        env=tuple(sorted((key, value) for key, _, value in env)),
        user=container.get("User") or None,
        working_dir=container.get("Dir") or None,
        hostname=container.get("Hostname") or None,
        extra_hosts=tuple(sorted(docker_host(h) for h in container.get("Hosts") or ())),
        ports=tuple(
            sorted(
                PortBinding(
                    int(p.get("TargetPort") or 0),
                    p.get("Protocol") or "tcp",
                    "",
                    p.get("PublishedPort"),
                )
                for p in (spec.get("EndpointSpec") or {}).get("Ports") or ()
            )
        ),
        mounts=tuple(sorted(_mount(m) for m in container.get("Mounts") or ())),
        group_add=_strings(container.get("Groups")),
        cap_add=_strings(container.get("CapabilityAdd")),
        cap_drop=_strings(container.get("CapabilityDrop")),
        read_only_rootfs=bool(container.get("ReadOnly")),
        sysctls=tuple(sorted((container.get("Sysctls") or {}).items())),
        networks=tuple(
            sorted(
                NetworkAttachmentConfig(
                    network_names.get(n.get("Target") or "", n.get("Target") or ""),
                    _strings(n.get("Aliases")),
                )
                for n in task.get("Networks") or ()
            )
        ),
        restart_policy=swarm.restart_policy(
            restart.get("Condition") or "any", int(restart.get("MaxAttempts") or 0)
        ),
        healthcheck=docker_normalize.healthcheck(container.get("Healthcheck")),
        resources=ResourceConfig(
            memory=int(limits.get("MemoryBytes") or 0),
            memory_reservation=int((resources.get("Reservations") or {}).get("MemoryBytes") or 0),
            nano_cpus=int(limits.get("NanoCPUs") or 0),
            pids_limit=int(limits.get("Pids") or 0),
        ),
        stop_signal=container.get("StopSignal") or None,
        stop_timeout=int(grace) // NANOS if grace is not None else None,
        init=container.get("Init"),
        tty=bool(container.get("TTY")),
        labels=tuple(sorted((container.get("Labels") or {}).items())),
        service=ServiceConfig(
            replicas=int(replicated.get("Replicas") or 0),
            constraints=_strings((task.get("Placement") or {}).get("Constraints")),
            update=_rollout(spec.get("UpdateConfig")),
            rollback=_rollout(spec.get("RollbackConfig")),
        ),
    )


def service_status(raw: Json) -> ContainerStatus:
    """A service's run-time state from its task counts (the list's ``ServiceStatus``):
    ``running`` when as many tasks run as it asks for, ``exited`` when it asks for none,
    else ``created`` (Swarm is still starting, or restarting, tasks). With a healthcheck,
    ``healthy`` once they all run (Swarm holds a task in ``starting`` until it passes)."""
    spec: Json = raw.get("Spec") or {}
    counts: Json = raw.get("ServiceStatus") or {}
    running = int(counts.get("RunningTasks") or 0)
    wanted = int(((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas") or 0)
    if wanted == 0:
        state = "exited"
    elif running >= wanted:
        state = "running"
    else:
        state = "created"
    container: Json = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
    health = None
    if docker_normalize.healthcheck(container.get("Healthcheck")) is not None:
        health = "healthy" if state == "running" else "starting"
    restart: Json = (spec.get("TaskTemplate") or {}).get("RestartPolicy") or {}
    return ContainerStatus(
        state=state,
        health=health,
        restart_policy=swarm.restart_policy(
            restart.get("Condition") or "any", int(restart.get("MaxAttempts") or 0)
        ),
    )


def observed_service(raw: Json, network_names: Mapping[str, str]) -> ObservedContainer:
    """A listed service (``/services?status=true``) as an observed container."""
    spec: Json = raw.get("Spec") or {}
    labels = dict(spec.get("Labels") or {})
    config = service_config(spec, network_names)
    return ObservedContainer(
        id=raw.get("ID") or "",
        name=spec.get("Name") or "",
        image_id="",
        ownership=docker_normalize.ownership(labels),
        status=service_status(raw),
        config=config,
        labels=labels,
    )


# Driver options the Engine adds to every overlay network it makes (the VXLAN ids it picked).
ENGINE_OVERLAY_OPTIONS = frozenset({"com.docker.network.driver.overlay.vxlanid_list"})


def overlay_network(found: ObservedNetwork) -> ObservedNetwork:
    """A network as compared: without the driver options the Engine picks for an overlay."""
    options = tuple(o for o in found.config.driver_opts if o[0] not in ENGINE_OVERLAY_OPTIONS)
    return dataclasses.replace(found, config=dataclasses.replace(found.config, driver_opts=options))
