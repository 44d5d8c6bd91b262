"""A container's config as a Swarm service spec (``/services/create`` and ``/update``
bodies), and a network as an attachable overlay. What the spec cannot hold was refused
before (``loading.swarmcheck``); what is written is ``values.swarm.service_view``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.runtime.docker import translate as docker_translate
from reconciler.values import swarm
from reconciler.values.configs import (
    ContainerConfig,
    MountConfig,
    RolloutConfig,
    ServiceConfig,
    VolumeConfig,
)

Body = dict[str, Any]
NANOS = 1_000_000_000


def swarm_host(entry: str) -> str:
    """An extra host as Swarm writes it (``IP name``) from Docker's ``name:IP``."""
    name, _, address = entry.partition(":")
    return f"{address} {name}"


def _mount(mount: MountConfig, volumes: Mapping[str, VolumeConfig]) -> Body:
    body: Body = {"Type": mount.type, "Target": mount.target, "ReadOnly": mount.read_only}
    if mount.source:
        body["Source"] = mount.source
    if mount.type == "bind" and mount.propagation:
        body["BindOptions"] = {"Propagation": mount.propagation}
    if mount.type == "volume":
        options: Body = {"NoCopy": mount.no_copy}
        volume = volumes.get(mount.source)
        if volume is not None:
            # Each node creates the volume when a task mounts it: with its manifest's driver.
            options["DriverConfig"] = {
                "Name": volume.driver,
                "Options": dict(volume.driver_opts),
            }
        body["VolumeOptions"] = options
    if mount.type == "tmpfs":
        tmpfs: Body = {}
        if mount.tmpfs_size:
            tmpfs["SizeBytes"] = mount.tmpfs_size
        if mount.tmpfs_mode is not None:
            tmpfs["Mode"] = mount.tmpfs_mode
        body["TmpfsOptions"] = tmpfs
    return body


def _rollout(config: RolloutConfig) -> Body:
    return {
        "Parallelism": config.parallelism,
        "Delay": config.delay,
        "FailureAction": config.failure_action,
        "Order": config.order,
    }


def service_spec(
    name: str,
    config: ContainerConfig,
    labels: Mapping[str, str],
    volumes: Mapping[str, VolumeConfig] | None = None,
) -> Body:
    """The whole ``ServiceSpec`` of ``config``; ``labels`` are the service's own (ownership),
    ``config.labels`` go on its task containers; ``volumes``: the named volumes it mounts,
    as the manager has them (their driver settings travel with the mount)."""
    view = swarm.service_view(config)
    settings = view.service or ServiceConfig()
    spec: Body = {
        "Image": view.image,
        "Env": [f"{key}={value}" for key, value in view.env],
        "Labels": dict(view.labels),
        "Mounts": [_mount(m, volumes or {}) for m in view.mounts],
        "ReadOnly": view.read_only_rootfs,
        "TTY": view.tty,
    }
    optional = {
        "Command": list(view.entrypoint) if view.entrypoint is not None else None,
        "Args": list(view.cmd) if view.cmd is not None else None,
        "User": view.user,
        "Dir": view.working_dir,
        "Hostname": view.hostname,
        "Hosts": [swarm_host(h) for h in view.extra_hosts] or None,
        "Groups": list(view.group_add) or None,
        "CapabilityAdd": list(view.cap_add) or None,
        "CapabilityDrop": list(view.cap_drop) or None,
        "Sysctls": dict(view.sysctls) or None,
        "Healthcheck": docker_translate.healthcheck(view.healthcheck) if view.healthcheck else None,
        "StopSignal": view.stop_signal,
        "StopGracePeriod": view.stop_timeout * NANOS if view.stop_timeout is not None else None,
        "Init": view.init,
    }
    spec.update({key: value for key, value in optional.items() if value is not None})
    condition, attempts = swarm.restart_condition(view.restart_policy)
    res = view.resources
    limits = {"MemoryBytes": res.memory, "NanoCPUs": res.nano_cpus, "Pids": res.pids_limit}
    task: Body = {
        "ContainerSpec": spec,
        "Resources": {
            "Limits": {key: value for key, value in limits.items() if value},
            "Reservations": (
                {"MemoryBytes": res.memory_reservation} if res.memory_reservation else {}
            ),
        },
        "RestartPolicy": {"Condition": condition, "MaxAttempts": attempts},
        "Placement": {"Constraints": list(settings.constraints)},
        "Networks": [
            {"Target": n.name, "Aliases": list(n.aliases)} if n.aliases else {"Target": n.name}
            for n in view.networks
        ],
    }
    return {
        "Name": name,
        "Labels": dict(labels),
        "TaskTemplate": task,
        "Mode": {"Replicated": {"Replicas": settings.replicas}},
        "UpdateConfig": _rollout(settings.update),
        "RollbackConfig": _rollout(settings.rollback),
        "EndpointSpec": {
            "Mode": "vip",
            "Ports": [
                {
                    "Protocol": p.protocol,
                    "TargetPort": p.container_port,
                    "PublishedPort": p.host_port,
                    "PublishMode": "ingress",
                }
                for p in view.ports
            ],
        },
    }
