"""The project's config values -> Engine API request bodies (the inverse of ``normalize``).

Bodies are raw API JSON, so that exactly what a ContainerConfig says is sent, nothing more:
every field the config leaves unset is omitted and the Engine's default applies, which
``normalize`` reads back as unset.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.values.configs import (
    ContainerConfig,
    HealthcheckConfig,
    MountConfig,
    NetworkAttachmentConfig,
    NetworkConfig,
    ResourceConfig,
    VolumeConfig,
)

Body = dict[str, Any]


def restart_policy(policy: str) -> Body:
    """``on-failure:3`` -> ``{"Name": "on-failure", "MaximumRetryCount": 3}``."""
    name, _, retries = policy.partition(":")
    return {"Name": name or "no", "MaximumRetryCount": int(retries) if retries else 0}


def healthcheck(check: HealthcheckConfig) -> Body:
    """A healthcheck body; zero durations are left for the Engine (or image) to default."""
    body: Body = {"Test": list(check.test)}
    for key, value in (
        ("Interval", check.interval),
        ("Timeout", check.timeout),
        ("StartPeriod", check.start_period),
        ("Retries", check.retries),
    ):
        if value:
            body[key] = value
    return body


def mount(spec: MountConfig) -> Body:
    """A Mount API entry; the Engine refuses a missing bind source instead of creating it."""
    body: Body = {"Type": spec.type, "Target": spec.target, "ReadOnly": spec.read_only}
    if spec.type != "tmpfs":
        body["Source"] = spec.source
    if spec.type == "bind" and spec.propagation:
        body["BindOptions"] = {"Propagation": spec.propagation}
    if spec.type == "tmpfs":
        options: Body = {}
        if spec.tmpfs_size is not None:
            options["SizeBytes"] = spec.tmpfs_size
        if spec.tmpfs_mode is not None:
            options["Mode"] = spec.tmpfs_mode
        if options:
            body["TmpfsOptions"] = options
    return body


def endpoint(attachment: NetworkAttachmentConfig) -> Body:
    """An EndpointSettings body for create or connect."""
    body: Body = {}
    if attachment.aliases:
        body["Aliases"] = list(attachment.aliases)
    if attachment.ipv4_address:
        body["IPAMConfig"] = {"IPv4Address": attachment.ipv4_address}
    return body


def resources(spec: ResourceConfig) -> Body:
    """Limits for create; 0 is omitted (unlimited, or for swap the Engine's 2x memory)."""
    body: Body = {}
    for key, value in (
        ("Memory", spec.memory),
        ("MemoryReservation", spec.memory_reservation),
        ("MemorySwap", spec.memory_swap),
        ("NanoCpus", spec.nano_cpus),
        ("CpuShares", spec.cpu_shares),
        ("PidsLimit", spec.pids_limit),
    ):
        if value:
            body[key] = value
    return body


def update_body(spec: ResourceConfig, policy: str) -> Body:
    """A ``/containers/{id}/update`` body.

    The Engine reads 0 as "leave unchanged" for memory, reservation, cpus and shares, so those
    cannot be lifted in place (the planner recreates). Swap is sent explicitly (2x memory when
    unset, like create) because an update of memory alone would otherwise keep the old swap.
    PidsLimit 0 does lift the limit.
    """
    body = resources(spec)
    body["PidsLimit"] = spec.pids_limit
    if spec.memory and not spec.memory_swap:
        body["MemorySwap"] = 2 * spec.memory
    body["RestartPolicy"] = restart_policy(policy)
    return body


def container_body(config: ContainerConfig, labels: Mapping[str, str]) -> Body:
    """The create body: Config, HostConfig and the first network's NetworkingConfig."""
    body: Body = {
        "Image": config.image,
        "Env": [f"{key}={value}" for key, value in config.env],
        "Labels": {**dict(config.labels), **labels},
        "Tty": config.tty,
    }
    optional: dict[str, Any] = {
        "Entrypoint": list(config.entrypoint) if config.entrypoint is not None else None,
        "Cmd": list(config.cmd) if config.cmd is not None else None,
        "User": config.user,
        "WorkingDir": config.working_dir,
        "Hostname": config.hostname,
        "Healthcheck": healthcheck(config.healthcheck) if config.healthcheck else None,
        "StopSignal": config.stop_signal,
        "StopTimeout": config.stop_timeout,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    if config.ports:
        body["ExposedPorts"] = {f"{p.container_port}/{p.protocol}": {} for p in config.ports}

    bindings: dict[str, list[Body]] = {}
    for port in config.ports:
        if port.host_port is not None:
            bindings.setdefault(f"{port.container_port}/{port.protocol}", []).append(
                {"HostIp": port.host_ip, "HostPort": str(port.host_port) if port.host_port else ""}
            )
    host: Body = {
        "PortBindings": bindings,
        "Mounts": [mount(m) for m in config.mounts],
        "Devices": [
            {
                "PathOnHost": d.host_path,
                "PathInContainer": d.container_path,
                "CgroupPermissions": d.permissions,
            }
            for d in config.devices
        ],
        "DeviceCgroupRules": list(config.device_cgroup_rules),
        "CapAdd": list(config.cap_add),
        "CapDrop": list(config.cap_drop),
        "Privileged": config.privileged,
        "ReadonlyRootfs": config.read_only_rootfs,
        "SecurityOpt": list(config.security_opt),
        "Sysctls": dict(config.sysctls),
        "GroupAdd": list(config.group_add),
        "ExtraHosts": list(config.extra_hosts),
        "RestartPolicy": restart_policy(config.restart_policy),
        **resources(config.resources),
    }
    if config.gpus is not None:
        host["DeviceRequests"] = [
            {
                "Driver": config.gpus.driver,
                "Count": config.gpus.count,
                "DeviceIDs": list(config.gpus.device_ids),
                "Capabilities": [list(config.gpus.capabilities)],
            }
        ]
    modes = {
        "PidMode": config.pid_mode,
        "IpcMode": config.ipc_mode,
        "UTSMode": config.uts_mode,
        "UsernsMode": config.userns_mode,
        "CgroupnsMode": config.cgroupns_mode,
        "Init": config.init,
    }
    host.update({key: value for key, value in modes.items() if value is not None})
    if config.network_mode is not None:
        host["NetworkMode"] = config.network_mode
    elif config.networks:
        first = config.networks[0]
        host["NetworkMode"] = first.name
        body["NetworkingConfig"] = {"EndpointsConfig": {first.name: endpoint(first)}}
    body["HostConfig"] = host
    return body


def repository_and_tag(ref: str) -> tuple[str, str]:
    """What a pull asks for: ``repo@sha256:..`` -> the digest, ``repo:tag`` -> the tag, a
    bare repository -> ``latest``. A colon before the last slash is a registry's port."""
    repository, at, digest = ref.rpartition("@")
    if at:
        return repository, digest
    repository, colon, tag = ref.rpartition(":")
    if colon and "/" not in tag:
        return repository, tag
    return ref, "latest"


def volume_body(name: str, config: VolumeConfig, labels: Mapping[str, str]) -> Body:
    """A ``/volumes/create`` body."""
    return {
        "Name": name,
        "Driver": config.driver,
        "DriverOpts": dict(config.driver_opts),
        "Labels": {**dict(config.labels), **labels},
    }


def network_body(name: str, config: NetworkConfig, labels: Mapping[str, str]) -> Body:
    """A ``/networks/create`` body (CheckDuplicate: a second network of one name is refused)."""
    body: Body = {
        "Name": name,
        "CheckDuplicate": True,
        "Driver": config.driver,
        "Internal": config.internal,
        "Attachable": config.attachable,
        "EnableIPv6": config.enable_ipv6,
        "Options": dict(config.driver_opts),
        "Labels": {**dict(config.labels), **labels},
    }
    if config.subnets:
        pools = []
        for subnet in config.subnets:
            pool = {"Subnet": subnet.subnet}
            if subnet.gateway:
                pool["Gateway"] = subnet.gateway
            if subnet.ip_range:
                pool["IPRange"] = subnet.ip_range
            pools.append(pool)
        body["IPAM"] = {"Driver": "default", "Config": pools}
    return body
