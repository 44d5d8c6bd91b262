"""The project's config values -> Engine API request bodies (the inverse of ``normalize``).

Bodies are raw API JSON, so that exactly what a ContainerConfig says is sent, nothing more:
every field the config leaves unset is omitted and the Engine's default applies, which
``normalize`` reads back as unset.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.manifests.constants import LABEL_CONTENT
from reconciler.manifests.fields import ENDPOINT_MAC_API, api_tuple, container_table
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
        ("StartInterval", check.start_interval),
    ):
        if value:
            body[key] = value
    return body


def mount(spec: MountConfig) -> Body:
    """A Mount API entry; the Engine refuses a missing bind source instead of creating it.
    A volume without a source is an anonymous one."""
    body: Body = {"Type": spec.type, "Target": spec.target, "ReadOnly": spec.read_only}
    if spec.type != "tmpfs" and spec.source:
        body["Source"] = spec.source
    if spec.type == "bind" and spec.propagation:
        body["BindOptions"] = {"Propagation": spec.propagation}
    if spec.type == "volume" and spec.no_copy:
        body["VolumeOptions"] = {"NoCopy": True}
    if spec.type == "tmpfs":
        options: Body = {}
        if spec.tmpfs_size is not None:
            options["SizeBytes"] = spec.tmpfs_size
        if spec.tmpfs_mode is not None:
            options["Mode"] = spec.tmpfs_mode
        if options:
            body["TmpfsOptions"] = options
    return body


def bind(spec: MountConfig) -> str:
    """A ``HostConfig.Binds`` entry, for what only it can say: an SELinux relabel."""
    options = ["ro" if spec.read_only else "rw"]
    if spec.selinux:
        options.append(spec.selinux)
    if spec.propagation:
        options.append(spec.propagation)
    return f"{spec.source}:{spec.target}:{','.join(options)}"


def tmpfs(spec: MountConfig) -> str:
    """A ``HostConfig.Tmpfs`` value, for what only it can say before API 1.46: mount flags."""
    options = list(spec.tmpfs_options)
    if spec.tmpfs_size is not None:
        options.append(f"size={spec.tmpfs_size}")
    if spec.tmpfs_mode is not None:
        options.append(f"mode={spec.tmpfs_mode:o}")
    if spec.read_only:
        options.append("ro")
    return ",".join(options)


def endpoint(attachment: NetworkAttachmentConfig, api_version: str | None = None) -> Body:
    """An EndpointSettings body for create or connect (a MAC address per endpoint needs API
    1.44; before, the create body's Config.MacAddress carries it)."""
    body: Body = {}
    if attachment.aliases:
        body["Aliases"] = list(attachment.aliases)
    ipam: Body = {}
    if attachment.ipv4_address:
        ipam["IPv4Address"] = attachment.ipv4_address
    if attachment.ipv6_address:
        ipam["IPv6Address"] = attachment.ipv6_address
    if ipam:
        body["IPAMConfig"] = ipam
    if attachment.mac_address and api_tuple(api_version or "0") >= api_tuple(ENDPOINT_MAC_API):
        body["MacAddress"] = attachment.mac_address
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


def update_body(
    spec: ResourceConfig, policy: str, options: Mapping[str, Any] | None = None
) -> Body:
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
    for entry in container_table().driven:
        value = (options or {}).get(entry.path)
        if entry.engine.in_place and value is not None and entry.engine.shape is not None:
            body[entry.engine.path.rpartition(".")[2]] = entry.engine.shape.to_engine(value)
    return body


def _put_options(config: ContainerConfig, body: Body, host: Body) -> None:
    """The table-driven fields, each at its Engine path (``Config.X`` at the body's top)."""
    values = dict(config.options)
    for entry in container_table().driven:
        value = values.get(entry.path)
        if value is None or entry.engine.shape is None:
            continue
        section, _, key = entry.engine.path.partition(".")
        (host if section == "HostConfig" else body)[key] = entry.engine.shape.to_engine(value)


def container_body(
    config: ContainerConfig,
    labels: Mapping[str, str],
    api_version: str | None = None,
    keep_volumes: Mapping[str, str] | None = None,
) -> Body:
    """The create body: Config, HostConfig and the first network's NetworkingConfig.

    ``keep_volumes`` (target -> anonymous volume name): the anonymous volumes of the container
    this one replaces, mounted again where this one has an anonymous volume (its own or its
    image's), so that a recreate keeps their data as compose does."""
    body: Body = {
        "Image": config.image,
        "Env": [f"{key}={value}" for key, value in config.env],
        "Labels": {
            **dict(config.labels),
            **labels,
            **({LABEL_CONTENT: config.content} if config.content else {}),
        },
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
            number = str(port.host_port) if port.host_port else ""
            if port.host_port_end:
                number += f"-{port.host_port_end}"
            bindings.setdefault(f"{port.container_port}/{port.protocol}", []).append(
                {"HostIp": port.host_ip, "HostPort": number}
            )
    keep_volumes = keep_volumes or {}
    mounts, binds, tmpfs_map = [], [], {}
    for spec in config.mounts:
        if spec.type == "bind" and spec.selinux:
            binds.append(bind(spec))
        elif spec.type == "tmpfs" and spec.tmpfs_options:
            tmpfs_map[spec.target] = tmpfs(spec)
        else:
            body_mount = mount(spec)
            if spec.type == "volume" and not spec.source and spec.target in keep_volumes:
                body_mount["Source"] = keep_volumes[spec.target]
            mounts.append(body_mount)
    declared = {m.target for m in config.mounts}
    for target, volume in sorted(keep_volumes.items()):
        if target not in declared:  # an anonymous volume of the image's VOLUMEs
            mounts.append({"Type": "volume", "Source": volume, "Target": target})
    host: Body = {
        "PortBindings": bindings,
        "Mounts": mounts,
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
    if binds:
        host["Binds"] = binds
    if tmpfs_map:
        host["Tmpfs"] = tmpfs_map
    if config.network_mode is not None:
        host["NetworkMode"] = config.network_mode
    elif config.networks:
        first = config.networks[0]
        host["NetworkMode"] = first.name
        body["NetworkingConfig"] = {"EndpointsConfig": {first.name: endpoint(first, api_version)}}
        if first.mac_address and api_tuple(api_version or "0") < api_tuple(ENDPOINT_MAC_API):
            body["MacAddress"] = first.mac_address
    _put_options(config, body, host)
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
