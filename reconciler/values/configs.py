"""Engine-facing configuration of containers, volumes and networks as comparable values.

Both sides of a diff speak this language: ``desired`` builds these from manifests, and the
runtime backend builds them from live ``inspect`` output, with the Engine's quirks normalized
away (``CAP_`` prefixes, NanoCpus, ``""`` restart policies...). Every collection is a sorted
tuple so that equality is field-by-field and order-independent where order does not matter.
``None`` means "not set here": the image's or the Engine's default applies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Pairs = tuple[tuple[str, str], ...]
# The table-driven fields (``manifests.fields``): (manifest path, comparable value), sorted by
# path; a field that is unset (the Engine's default) is absent.
Options = tuple[tuple[str, Any], ...]


@dataclass(frozen=True, order=True)
class PortBinding:
    """A container port; ``host_port`` None means exposed only, not published."""

    container_port: int
    protocol: str = "tcp"
    host_ip: str = ""
    host_port: int | None = None
    host_port_end: int | None = None  # a host range for one container port: the Engine picks


@dataclass(frozen=True, order=True)
class MountConfig:
    """A mount; ``source`` is the volume name for volumes, the host path for binds."""

    target: str
    type: str  # volume | bind | tmpfs
    source: str = ""
    read_only: bool = False
    propagation: str | None = None
    tmpfs_size: int | None = None
    tmpfs_mode: int | None = None
    tmpfs_options: tuple[str, ...] = ()  # flags beyond the default noexec, nosuid, nodev
    selinux: str | None = None  # z or Z: relabel the bind source (shared or private)
    no_copy: bool = False


@dataclass(frozen=True, order=True)
class DeviceConfig:
    """A host device node mapped into the container with cgroup permissions."""

    host_path: str
    container_path: str
    permissions: str = "rwm"


@dataclass(frozen=True)
class GpuRequest:
    """An Engine device request for GPUs; ``count`` -1 means all."""

    driver: str = "nvidia"
    count: int = 0
    device_ids: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ("gpu",)


@dataclass(frozen=True, order=True)
class NetworkAttachmentConfig:
    """Membership of one network with the container's extra DNS aliases on it."""

    name: str
    aliases: tuple[str, ...] = ()
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    mac_address: str | None = None


@dataclass(frozen=True)
class HealthcheckConfig:
    """A healthcheck; durations in nanoseconds, 0 meaning the Engine default."""

    test: tuple[str, ...]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    retries: int = 0
    start_interval: int = 0


@dataclass(frozen=True)
class ResourceConfig:
    """Limits the Engine can change in place (``docker update``); 0 means unlimited."""

    memory: int = 0
    memory_reservation: int = 0
    memory_swap: int = 0
    nano_cpus: int = 0
    cpu_shares: int = 0
    pids_limit: int = 0


@dataclass(frozen=True)
class RolloutConfig:
    """How Swarm replaces a service's tasks (update or rollback); ``delay`` in nanoseconds."""

    parallelism: int = 1
    delay: int = 0
    failure_action: str = "pause"
    order: str = "stop-first"


@dataclass(frozen=True)
class ServiceConfig:
    """What only a Swarm service has; the docker backend reads ``replicas`` only (to refuse
    more than one)."""

    replicas: int = 1
    constraints: tuple[str, ...] = ()
    update: RolloutConfig = field(default_factory=RolloutConfig)
    rollback: RolloutConfig = field(default_factory=RolloutConfig)


@dataclass(frozen=True)
class ContainerConfig:
    """Everything reconcile sets on a container, in comparable form."""

    image: str
    platform: str | None = None
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    env: Pairs = ()
    user: str | None = None
    working_dir: str | None = None
    hostname: str | None = None
    extra_hosts: tuple[str, ...] = ()
    ports: tuple[PortBinding, ...] = ()
    mounts: tuple[MountConfig, ...] = ()
    devices: tuple[DeviceConfig, ...] = ()
    device_cgroup_rules: tuple[str, ...] = ()
    gpus: GpuRequest | None = None
    group_add: tuple[str, ...] = ()
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    read_only_rootfs: bool = False
    security_opt: tuple[str, ...] = ()
    sysctls: Pairs = ()
    networks: tuple[NetworkAttachmentConfig, ...] = ()
    network_mode: str | None = None
    pid_mode: str | None = None
    ipc_mode: str | None = None
    uts_mode: str | None = None
    userns_mode: str | None = None
    cgroupns_mode: str | None = None
    restart_policy: str = "no"
    healthcheck: HealthcheckConfig | None = None
    resources: ResourceConfig = field(default_factory=ResourceConfig)
    stop_signal: str | None = None
    stop_timeout: int | None = None
    init: bool | None = None
    tty: bool = False
    labels: Pairs = ()
    options: Options = ()
    # A digest of the content of its configuration binds (``configuration: true``), carried
    # by a label: a change of content is a change of the container.
    content: str | None = None
    # Swarm service settings (``spec.swarm``); None when the manifest has none.
    service: ServiceConfig | None = None

    def option(self, path: str) -> Any:
        """A table-driven field's comparable value, None when unset."""
        for key, value in self.options:
            if key == path:
                return value
        return None


@dataclass(frozen=True)
class VolumeConfig:
    """A named volume's driver settings."""

    driver: str = "local"
    driver_opts: Pairs = ()
    labels: Pairs = ()


@dataclass(frozen=True, order=True)
class SubnetConfig:
    """One IPAM pool of a network."""

    subnet: str
    gateway: str | None = None
    ip_range: str | None = None


@dataclass(frozen=True)
class NetworkConfig:
    """A user-defined network's settings."""

    driver: str = "bridge"
    internal: bool = False
    attachable: bool = False
    enable_ipv6: bool = False
    driver_opts: Pairs = ()
    subnets: tuple[SubnetConfig, ...] = ()
    labels: Pairs = ()


# The flags the Engine gives every tmpfs unless told otherwise: writing them changes nothing.
TMPFS_DEFAULT_FLAGS = frozenset({"noexec", "nosuid", "nodev"})


def tmpfs_flags(flags: Iterable[str]) -> tuple[str, ...]:
    """Tmpfs flags as compared: sorted, without the Engine's defaults."""
    return tuple(sorted(set(flags) - TMPFS_DEFAULT_FLAGS))


# Security options the Engine splits at ``=`` (or, deprecated, at ``:``): the key decides.
_SECURITY_KEYS = frozenset(
    {"label", "apparmor", "seccomp", "systempaths", "no-new-privileges", "writable-cgroups"}
)


def security_options(options: Iterable[str]) -> tuple[str, ...]:
    """Security options in one spelling per meaning, sorted, so that what means the same to
    the Engine compares equal: ``key=value`` (never ``key:value``), ``no-new-privileges``
    alone as ``no-new-privileges=true``, and ``no-new-privileges=false`` (the default) left
    out. Unknown options are kept as written."""
    out = set()
    for option in options:
        key, value = option, None
        for separator in ("=", ":"):
            head, found, tail = option.partition(separator)
            if found and head in _SECURITY_KEYS:
                key, value = head, tail
                break
        if key == "no-new-privileges":
            if (value or "true").lower() in ("false", "0"):
                continue
            out.add("no-new-privileges=true")
        elif key in _SECURITY_KEYS and value is not None:
            out.add(f"{key}={value}")
        else:
            out.add(option)
    return tuple(sorted(out))


@dataclass(frozen=True)
class ImageBuild:
    """How a container's image is built (``spec.build``): the context directory, the
    Dockerfile in it, build args, target stage, image labels, and ``digest``, a digest of
    all that and of the context's files (``.dockerignore`` honoured), which the built image
    carries as a label: an image whose label differs is built again."""

    context: str
    dockerfile: str = "Dockerfile"
    args: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    target: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    platform: str | None = None
    digest: str = ""


@dataclass(frozen=True)
class UpdateSettings:
    """Whether and how often the loop follows a container's image tag in its registry
    (``spec.updatePolicy``); seconds."""

    mode: str = "off"  # off | notify | apply
    interval: float = 6 * 3600.0
    min_age: float = 0.0
