"""Engine inspect/list JSON -> the project's comparable values, with 20.10+ quirks normalized.

Pure functions over plain dicts (recorded JSON in unit tests). The rules, which the planner
relies on, are listed in docs/decisions/docker-normalization.md; the short version is in each
function's comments. The aim: a container created from a ContainerConfig reads back equal to it
once the image's own defaults (env, labels, exposed ports, user...) are accounted for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.manifests import constants
from reconciler.manifests.fields import container_table
from reconciler.values import configs
from reconciler.values.configs import (
    ContainerConfig,
    DeviceConfig,
    GpuRequest,
    HealthcheckConfig,
    MountConfig,
    NetworkAttachmentConfig,
    Options,
    Pairs,
    PortBinding,
    ResourceConfig,
)
from reconciler.values.observed import (
    ContainerStatus,
    EngineFacts,
    ImageInfo,
    ObservedContainer,
    Ownership,
)

Json = Mapping[str, Any]

ZERO_TIME = "0001-01-01T00:00:00Z"
DEFAULT_NETWORK_MODES = ("", "default", "bridge")
DEFAULT_IPC_MODES = ("", "private", "shareable")


def ownership(labels: Mapping[str, str] | None) -> Ownership:
    """Ownership parsed from a resource's labels (one parser: ``Ownership.from_labels``)."""
    return Ownership.from_labels(labels or {})


_OWNERS = (constants.LABEL_PREFIX, constants.COMPOSE_LABEL_PREFIX)


def user_labels(labels: Mapping[str, str] | None) -> Pairs:
    """Labels as sorted pairs without the ownership labels of reconcile (``io.reconcile.*``)
    and of docker compose (``com.docker.compose.*``, on what ``adopt`` took over)."""
    return tuple(sorted((k, v) for k, v in (labels or {}).items() if not k.startswith(_OWNERS)))


def env_pairs(env: Iterable[str] | None) -> Pairs:
    """``KEY=VALUE`` strings as sorted pairs (a bare ``KEY`` reads as an empty value)."""
    pairs = []
    for item in env or ():
        key, _, value = item.partition("=")
        pairs.append((key, value))
    return tuple(sorted(pairs))


def _strings(values: Iterable[str] | None) -> tuple[str, ...]:
    return tuple(sorted(values or ()))


def _optional_tuple(values: Iterable[str] | str | None) -> tuple[str, ...] | None:
    if values is None:
        return None
    if isinstance(values, str):
        return (values,)
    return tuple(values)


def healthcheck(raw: Json | None) -> HealthcheckConfig | None:
    """A healthcheck (nanosecond durations) or None when none is configured."""
    if not raw or not raw.get("Test"):
        return None
    return HealthcheckConfig(
        test=tuple(raw["Test"]),
        interval=raw.get("Interval") or 0,
        timeout=raw.get("Timeout") or 0,
        start_period=raw.get("StartPeriod") or 0,
        retries=raw.get("Retries") or 0,
        start_interval=raw.get("StartInterval") or 0,
    )


def image_info(raw: Json) -> ImageInfo:
    """An image's id and the defaults it gives its containers, from image inspect."""
    config: Json = raw.get("Config") or {}
    return ImageInfo(
        id=raw["Id"],
        entrypoint=_optional_tuple(config.get("Entrypoint")),
        cmd=_optional_tuple(config.get("Cmd")),
        env=env_pairs(config.get("Env")),
        user=config.get("User") or "",
        working_dir=config.get("WorkingDir") or "",
        healthcheck=healthcheck(config.get("Healthcheck")),
        stop_signal=config.get("StopSignal") or None,
        labels=tuple(sorted((config.get("Labels") or {}).items())),
        exposed_ports=_strings((config.get("ExposedPorts") or {}).keys()),
        volumes=_strings((config.get("Volumes") or {}).keys()),
        platform="/".join(
            p for p in (raw.get("Os"), raw.get("Architecture"), raw.get("Variant")) if p
        ),
        repo_digests=_strings(raw.get("RepoDigests") or ()),
    )


def engine_facts(info: Json, api_version: str | None, elsewhere: str = "") -> EngineFacts:
    """What the planner judges by: the API version, the OCI runtimes and the defaults the
    Engine gives the table's fields (``info_default``), from ``/info``."""
    defaults = []
    for entry in container_table().driven:
        key = entry.engine.info_default
        if key and isinstance(info.get(key), str) and info[key]:
            defaults.append((entry.path, info[key]))
    return EngineFacts(
        api_version=api_version,
        runtimes=tuple(sorted(info.get("Runtimes") or {})),
        defaults=tuple(sorted(defaults)),
        elsewhere=elsewhere,
    )


def container_status(raw: Json) -> ContainerStatus:
    """Run-time state from container inspect (zero timestamps read as "")."""
    state: Json = raw.get("State") or {}
    health: Json = state.get("Health") or {}
    host: Json = raw.get("HostConfig") or {}
    started = state.get("StartedAt") or ""
    finished = state.get("FinishedAt") or ""
    return ContainerStatus(
        state=state.get("Status") or "",
        health=health.get("Status") or None,
        exit_code=state.get("ExitCode") or 0,
        restart_count=raw.get("RestartCount") or 0,
        started_at="" if started == ZERO_TIME else started,
        finished_at="" if finished == ZERO_TIME else finished,
        oom_killed=bool(state.get("OOMKilled")),
        pid=int(state.get("Pid") or 0),
        anonymous_volumes=anonymous_volumes(raw),
        restart_policy=restart_policy(host["RestartPolicy"]) if "RestartPolicy" in host else "",
    )


def restart_policy(raw: Json | None) -> str:
    """The policy as ``no``, ``always``, ``unless-stopped``, ``on-failure[:N]``."""
    raw = raw or {}
    name = raw.get("Name") or "no"
    retries = raw.get("MaximumRetryCount") or 0
    if name == "on-failure" and retries > 0:
        return f"on-failure:{retries}"
    return name


def resources(host: Json) -> ResourceConfig:
    """Limits; 0 is unlimited/unset. Swap equal to twice the memory is the Engine's default
    for "memory without swap", so it reads as 0; PidsLimit null, 0 and -1 all read 0."""
    memory = host.get("Memory") or 0
    swap = host.get("MemorySwap") or 0
    if memory > 0 and swap == 2 * memory:
        swap = 0
    pids = host.get("PidsLimit") or 0
    return ResourceConfig(
        memory=memory,
        memory_reservation=host.get("MemoryReservation") or 0,
        memory_swap=swap,
        nano_cpus=host.get("NanoCpus") or 0,
        cpu_shares=host.get("CpuShares") or 0,
        pids_limit=max(pids, 0),
    )


def _container_ref(mode: str, id_to_name: Mapping[str, str]) -> str:
    """``container:<id>`` -> ``container:<name>`` (ids may be full or abbreviated)."""
    target = mode.partition(":")[2]
    for cid, name in id_to_name.items():
        if target and cid.startswith(target):
            return f"container:{name}"
    return f"container:{target.lstrip('/')}"


def namespace_mode(
    mode: str | None, id_to_name: Mapping[str, str], defaults: Iterable[str] = ("",)
) -> str | None:
    """A pid/ipc/uts/userns/cgroupns/network mode: the Engine default reads None."""
    mode = mode or ""
    if mode in defaults or mode == "":
        return None
    if mode.startswith("container:"):
        return _container_ref(mode, id_to_name)
    return mode


def network_mode(mode: str | None, id_to_name: Mapping[str, str]) -> str | None:
    """Modes ``host``, ``none`` and ``container:<name>`` are kept; the default, ``bridge`` and
    user networks read None (membership of networks is in ``ContainerConfig.networks``)."""
    mode = mode or ""
    if mode in ("host", "none"):
        return mode
    if mode.startswith("container:"):
        return _container_ref(mode, id_to_name)
    return None


def ports(host: Json, config: Json) -> tuple[PortBinding, ...]:
    """Published ports from PortBindings, plus exposed-only ones from ExposedPorts (which
    include the image's EXPOSE). Host IP 0.0.0.0 reads ""; an empty host port reads 0."""
    result: list[PortBinding] = []
    bindings: Json = host.get("PortBindings") or {}
    published = set()
    for key, entries in bindings.items():
        number, _, protocol = key.partition("/")
        for entry in entries or ():
            published.add(key)
            host_ip = entry.get("HostIp") or ""
            first, _, last = (entry.get("HostPort") or "").partition("-")
            result.append(
                PortBinding(
                    container_port=int(number),
                    protocol=protocol or "tcp",
                    host_ip="" if host_ip == "0.0.0.0" else host_ip,
                    host_port=int(first) if first.isdigit() else 0,
                    host_port_end=int(last) if last.isdigit() and last != first else None,
                )
            )
    for key in config.get("ExposedPorts") or {}:
        if key not in published:
            number, _, protocol = key.partition("/")
            result.append(PortBinding(container_port=int(number), protocol=protocol or "tcp"))
    return tuple(sorted(result))


def _bind_targets(binds: Iterable[str] | None) -> set[str]:
    targets = set()
    for bind in binds or ():
        parts = bind.split(":")
        if len(parts) >= 2:
            targets.add(parts[1])
    return targets


_ANONYMOUS_RE = re.compile(r"^[0-9a-f]{64}$")
_TMPFS_SIZE_RE = re.compile(r"^([0-9]+)([kKmMgG]?)$")


def is_anonymous_volume(name: str) -> bool:
    """Whether a volume name is one the Engine made up (an anonymous volume)."""
    return bool(_ANONYMOUS_RE.match(name))


def tmpfs_mount(target: str, options: str) -> MountConfig:
    """A tmpfs from ``HostConfig.Tmpfs`` (``size=64m,mode=1777,exec``). Sizes read as the
    kernel reads them (k, m, g: powers of 1024); the Engine's default flags are dropped."""
    size: int | None = None
    mode: int | None = None
    flags = []
    for option in filter(None, options.split(",")):
        key, _, value = option.partition("=")
        match = _TMPFS_SIZE_RE.match(value)
        if key == "size" and match:
            power = " kmg".index(match.group(2).lower() or " ")
            size = int(match.group(1)) * 1024**power
        elif key == "mode" and value:
            mode = int(value, 8)
        elif key not in ("rw", "rprivate"):
            flags.append(option)
    return MountConfig(
        target=target,
        type="tmpfs",
        tmpfs_size=size,
        tmpfs_mode=mode,
        tmpfs_options=configs.tmpfs_flags(flags),
    )


def mounts(raw: Json) -> tuple[MountConfig, ...]:
    """Mounts as requested: HostConfig.Mounts (the only place 20.10 keeps tmpfs size/mode and
    an explicit bind propagation), then legacy Binds (SELinux relabels) found in the
    ``Mounts`` list, then HostConfig.Tmpfs (tmpfs flags). Anonymous volumes read with an
    empty source; those of the image's VOLUMEs are the planner's to drop."""
    host: Json = raw.get("HostConfig") or {}
    result: list[MountConfig] = []
    seen: set[str] = set()
    for mount in host.get("Mounts") or ():
        kind = mount.get("Type") or "volume"
        target = mount.get("Target") or ""
        seen.add(target)
        bind: Json = mount.get("BindOptions") or {}
        tmpfs: Json = mount.get("TmpfsOptions") or {}
        volume: Json = mount.get("VolumeOptions") or {}
        source = mount.get("Source") or ""
        if kind == "volume" and is_anonymous_volume(source):
            source = ""
        result.append(
            MountConfig(
                target=target,
                type=kind,
                source=source,
                read_only=bool(mount.get("ReadOnly")),
                propagation=(bind.get("Propagation") or None) if kind == "bind" else None,
                tmpfs_size=(tmpfs.get("SizeBytes") or None) if kind == "tmpfs" else None,
                tmpfs_mode=(tmpfs.get("Mode") or None) if kind == "tmpfs" else None,
                no_copy=bool(volume.get("NoCopy")) if kind == "volume" else False,
            )
        )
    named = _bind_targets(host.get("Binds"))
    for mount in raw.get("Mounts") or ():
        target = mount.get("Destination") or ""
        kind = mount.get("Type") or ""
        if target in seen or kind not in ("volume", "bind") or target not in named:
            continue
        propagation = mount.get("Propagation") or ""
        modes = set((mount.get("Mode") or "").split(","))
        name = (mount.get("Name") if kind == "volume" else mount.get("Source")) or ""
        result.append(
            MountConfig(
                target=target,
                type=kind,
                source="" if kind == "volume" and is_anonymous_volume(name) else name,
                read_only=not mount.get("RW", True),
                propagation=None if propagation in ("", "rprivate") else propagation,
                selinux=next((m for m in ("z", "Z") if m in modes), None),
                no_copy="nocopy" in modes,
            )
        )
        seen.add(target)
    for target, options in (host.get("Tmpfs") or {}).items():
        if target not in seen:
            result.append(tmpfs_mount(target, options or ""))
    return tuple(sorted(result))


def anonymous_volumes(raw: Json) -> tuple[tuple[str, str], ...]:
    """(target, volume name) of every anonymous volume a container has mounted."""
    found = {
        (m.get("Destination") or "", m.get("Name") or "")
        for m in raw.get("Mounts") or ()
        if m.get("Type") == "volume" and is_anonymous_volume(m.get("Name") or "")
    }
    return tuple(sorted(found))


def gpus(requests: Iterable[Json] | None) -> GpuRequest | None:
    """The first device request that asks for GPUs."""
    for request in requests or ():
        capabilities = sorted({c for group in request.get("Capabilities") or () for c in group})
        if "gpu" in capabilities:
            return GpuRequest(
                driver=request.get("Driver") or "",
                count=request.get("Count") or 0,
                device_ids=tuple(request.get("DeviceIDs") or ()),
                capabilities=tuple(capabilities),
            )
    return None


def networks(raw: Json, name: str) -> tuple[NetworkAttachmentConfig, ...]:
    """Attachments with the aliases someone asked for: the Engine's own additions (the short
    id, the hostname, the name) are dropped. A container only on the default bridge reads ()."""
    host: Json = raw.get("HostConfig") or {}
    config: Json = raw.get("Config") or {}
    attached: Json = (raw.get("NetworkSettings") or {}).get("Networks") or {}
    mode = host.get("NetworkMode") or ""
    if mode in ("host", "none") or mode.startswith("container:"):
        return ()
    if mode in DEFAULT_NETWORK_MODES and set(attached) == {"bridge"}:
        return ()
    implicit = {raw.get("Id", "")[:12], config.get("Hostname") or "", name}
    result = []
    for net_name, raw_endpoint in attached.items():
        endpoint: Json = raw_endpoint or {}
        ipam: Json = endpoint.get("IPAMConfig") or {}
        aliases = sorted({a for a in endpoint.get("Aliases") or () if a not in implicit})
        result.append(
            NetworkAttachmentConfig(
                name=net_name,
                aliases=tuple(aliases),
                ipv4_address=ipam.get("IPv4Address") or None,
                ipv6_address=ipam.get("IPv6Address") or None,
                mac_address=(endpoint.get("MacAddress") or "").lower() or None,
            )
        )
    return tuple(sorted(result))


def container_config(
    raw: Json, id_to_name: Mapping[str, str], cgroupns_default: str
) -> ContainerConfig:
    """The comparable configuration of a container from ``docker inspect``."""
    host: Json = raw.get("HostConfig") or {}
    config: Json = raw.get("Config") or {}
    name = (raw.get("Name") or "").lstrip("/")
    net_mode = network_mode(host.get("NetworkMode"), id_to_name)
    uts = namespace_mode(host.get("UTSMode"), id_to_name)
    hostname = config.get("Hostname") or None
    # The Engine invents a hostname (the short id) or inherits the host's/other container's.
    if (
        hostname == raw.get("Id", "")[:12]
        or uts == "host"
        or (net_mode is not None and net_mode != "none")
    ):
        hostname = None
    return ContainerConfig(
        image=config.get("Image") or "",
        entrypoint=_optional_tuple(config.get("Entrypoint")),
        cmd=_optional_tuple(config.get("Cmd")),
        env=env_pairs(config.get("Env")),
        user=config.get("User") or None,
        working_dir=config.get("WorkingDir") or None,
        hostname=hostname,
        extra_hosts=_strings(host.get("ExtraHosts")),
        ports=ports(host, config),
        mounts=mounts(raw),
        devices=tuple(
            sorted(
                DeviceConfig(
                    host_path=d.get("PathOnHost") or "",
                    container_path=d.get("PathInContainer") or "",
                    permissions=d.get("CgroupPermissions") or "rwm",
                )
                for d in host.get("Devices") or ()
            )
        ),
        device_cgroup_rules=_strings(host.get("DeviceCgroupRules")),
        gpus=gpus(host.get("DeviceRequests")),
        group_add=_strings(host.get("GroupAdd")),
        cap_add=_capabilities(host.get("CapAdd")),
        cap_drop=_capabilities(host.get("CapDrop")),
        privileged=bool(host.get("Privileged")),
        read_only_rootfs=bool(host.get("ReadonlyRootfs")),
        security_opt=configs.security_options(host.get("SecurityOpt") or ()),
        sysctls=tuple(sorted((host.get("Sysctls") or {}).items())),
        networks=networks(raw, name),
        network_mode=net_mode,
        pid_mode=namespace_mode(host.get("PidMode"), id_to_name),
        ipc_mode=namespace_mode(host.get("IpcMode"), id_to_name, DEFAULT_IPC_MODES),
        uts_mode=uts,
        userns_mode=namespace_mode(host.get("UsernsMode"), id_to_name),
        cgroupns_mode=namespace_mode(host.get("CgroupnsMode"), id_to_name, (cgroupns_default,)),
        restart_policy=restart_policy(host.get("RestartPolicy")),
        healthcheck=healthcheck(config.get("Healthcheck")),
        resources=resources(host),
        stop_signal=config.get("StopSignal") or None,
        stop_timeout=config.get("StopTimeout"),
        init=host.get("Init"),
        tty=bool(config.get("Tty")),
        labels=user_labels(config.get("Labels")),
        options=options(raw),
        content=(config.get("Labels") or {}).get(constants.LABEL_CONTENT) or None,
    )


def _dig(raw: Json, path: str) -> Any:
    node: Any = raw
    for key in path.split("."):
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def options(raw: Json) -> Options:
    """The table-driven fields as the Engine reports them (its own defaults read unset)."""
    result = []
    for entry in container_table().driven:
        assert entry.engine.shape is not None
        value = entry.engine.shape.from_engine(_dig(raw, entry.engine.path))
        if value is not None:
            result.append((entry.path, value))
    return tuple(sorted(result))


def _capabilities(values: Iterable[str] | None) -> tuple[str, ...]:
    return tuple(sorted({v.upper().removeprefix("CAP_") for v in values or ()}))


def observed_container(
    raw: Json, id_to_name: Mapping[str, str], cgroupns_default: str
) -> ObservedContainer:
    """An inspected container with its ownership, status and comparable config."""
    labels: Mapping[str, str] = (raw.get("Config") or {}).get("Labels") or {}
    return ObservedContainer(
        id=raw["Id"],
        name=(raw.get("Name") or "").lstrip("/"),
        image_id=raw.get("Image") or "",
        ownership=ownership(labels),
        status=container_status(raw),
        config=container_config(raw, id_to_name, cgroupns_default),
        labels=dict(labels),
    )
