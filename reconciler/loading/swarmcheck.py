"""What the Swarm backend cannot give a service, refused by name before anything changes.

An allowlist: every field a manifest sets (defaults left out) that is not mapped to a service
is a problem with its ``file:line:col`` and the reason, so a field added to the manifest
language later is refused on Swarm until it is mapped, never dropped silently. Pure; run by
``validate`` and by every pass on the Swarm backend. See docs/decisions/swarm-backend.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from reconciler.errors import Problem
from reconciler.loading.results import FieldPath, LoadedManifest, format_path

_NAMESPACES = "a Swarm task's namespaces are set up by Swarm; a service cannot share the host's"
_NOT_MAPPED = "has no Swarm service mapping in this backend yet"

# Why a field is refused, where there is more to say than "not mapped".
REASONS = {
    "devices": "Swarm services cannot map host devices into their tasks",
    "deviceCgroupRules": "Swarm services cannot set device cgroup rules",
    "gpus": "Swarm services cannot request GPUs as containers do (generic resources are "
    "not mapped)",
    "privileged": "a Swarm service cannot run privileged",
    "networkMode": _NAMESPACES + " or another container's network",
    "pidMode": _NAMESPACES,
    "ipcMode": _NAMESPACES,
    "utsMode": _NAMESPACES,
    "usernsMode": _NAMESPACES,
    "cgroupnsMode": _NAMESPACES,
    "secrets": "reconcile's secret files are kept on this machine, not on the nodes (Swarm "
    "secrets are not mapped yet)",
    "build": "an image built here would exist on this machine's Engine only; push it to a "
    "registry the nodes can reach",
    "updatePolicy": "following a tag is not mapped to services yet",
    "oneShot": "a service runs until removed; a run-to-completion job is not mapped yet",
    "hostIP": "the routing mesh publishes a port on every address of every node; it cannot "
    "bind one address",
    "selinux": "a service's bind mounts cannot be relabelled",
    "options": "a service's tmpfs takes a size and a mode only",
    "configuration": "its content is read on this machine, but the task reads the file on its node",
    "createHostPath": "the directory would be created on this machine, not on the node",
    "memorySwap": "a service has no swap limit",
    "ipv4Address": "a service's tasks get their addresses from Swarm",
    "ipv6Address": "a service's tasks get their addresses from Swarm",
    "macAddress": "a service's tasks get their addresses from Swarm",
}

# Fields a service holds; a dict value means "these of its keys", a list item's keys for lists.
_MOUNT = {
    "type": None,
    "source": None,
    "target": None,
    "readOnly": None,
    "noCopy": None,
    "propagation": None,
    "sizeBytes": None,
    "mode": None,
}
_ALLOWED: dict[str, Any] = {
    "image": None,
    "pullPolicy": None,
    "command": None,
    "args": None,
    "env": None,
    "envFiles": None,
    "user": None,
    "workingDir": None,
    "hostname": None,
    "extraHosts": None,
    "groupAdd": None,
    "capabilities": None,
    "readOnlyRootFilesystem": None,
    "sysctls": None,
    "init": None,
    "tty": None,
    "stopSignal": None,
    "stopGracePeriod": None,
    "healthcheck": None,
    "restartPolicy": None,
    "restartOnUnhealthy": None,
    "dependsOn": None,
    "swarm": None,
    "ports": {"containerPort": None, "hostPort": None, "protocol": None},
    "mounts": _MOUNT,
    "networks": {"name": None, "aliases": None},
    "resources": {"memory": None, "memoryReservation": None, "cpus": None, "pids": None},
}


def _walk(
    value: dict[str, Any], allowed: dict[str, Any], path: FieldPath
) -> Iterable[tuple[FieldPath, str]]:
    for key, item in value.items():
        here = (*path, key)
        if key not in allowed:
            yield here, REASONS.get(key, _NOT_MAPPED)
            continue
        inner = allowed[key]
        if inner is None:
            continue
        for index, element in enumerate(item) if isinstance(item, list) else [(None, item)]:
            where = here if index is None else (*here, index)
            if isinstance(element, dict):
                yield from _walk(element, inner, where)


def _ports(spec: dict[str, Any]) -> Iterable[tuple[FieldPath, str]]:
    for index, port in enumerate(spec.get("ports") or ()):
        where: FieldPath = ("spec", "ports", index)
        if "hostPort" not in port:
            yield where, "a port without hostPort would be published on a random port"
        elif isinstance(port.get("hostPort"), str) or isinstance(port.get("containerPort"), str):
            yield (*where, "hostPort"), "a port range " + _NOT_MAPPED


def container_problems(spec: dict[str, Any]) -> list[tuple[FieldPath, str]]:
    """(field path, why) for each field of a Container spec (as dumped, by alias, defaults
    left out) a Swarm service cannot hold."""
    return [*_walk(spec, _ALLOWED, ("spec",)), *_ports(spec)]


def network_problems(spec: dict[str, Any]) -> list[tuple[FieldPath, str]]:
    """(field path, why) for a Network spec a Swarm overlay cannot be."""
    driver = spec.get("driver", "bridge")
    if driver not in ("bridge", "overlay"):
        return [(("spec", "driver"), f"Swarm networks are overlay networks, not {driver}")]
    if driver == "bridge" and spec.get("driverOpts"):
        return [(("spec", "driverOpts"), "bridge options do not apply to an overlay network")]
    return []


def problems(manifests: Sequence[LoadedManifest]) -> list[Problem]:
    """Every field of ``manifests`` the Swarm backend cannot honour, located."""
    found = []
    for loaded in manifests:
        spec = loaded.document.get("spec") or {}
        if loaded.kind == "Container":
            refused = container_problems(spec)
        elif loaded.kind == "Network":
            refused = network_problems(spec)
        else:
            refused = []
        for path, why in refused:
            found.append(
                Problem(
                    loaded.locate(*path),
                    format_path(path),
                    f'container "{loaded.name}" cannot run as a Swarm service: {why}'
                    if loaded.kind == "Container"
                    else f'network "{loaded.name}" cannot be a Swarm network: {why}',
                )
            )
    return sorted(found)
