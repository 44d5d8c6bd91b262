"""The ``Container`` kind: what people write in compose files, with explicit units."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from reconciler.manifests import hints
from reconciler.manifests.common import (
    AbsPath,
    Duration,
    Name,
    NanoCpus,
    Size,
    Strict,
    StrOrInt,
    check_abs_path,
)
from reconciler.manifests.fields import (
    CPU_LIST,
    FLAG,
    LOGGING,
    NUMBER,
    ORDERED,
    SCALAR,
    SIZE,
    ULIMITS,
    Engine,
    cpu_list,
)
from reconciler.manifests.images import Build, UpdatePolicy, build_ref, update_ref
from reconciler.manifests.metadata import Metadata

CAPABILITIES = frozenset(
    {
        "AUDIT_CONTROL",
        "AUDIT_READ",
        "AUDIT_WRITE",
        "BLOCK_SUSPEND",
        "BPF",
        "CHECKPOINT_RESTORE",
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "IPC_LOCK",
        "IPC_OWNER",
        "KILL",
        "LEASE",
        "LINUX_IMMUTABLE",
        "MAC_ADMIN",
        "MAC_OVERRIDE",
        "MKNOD",
        "NET_ADMIN",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_RAW",
        "PERFMON",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_CHROOT",
        "SYS_MODULE",
        "SYS_NICE",
        "SYS_PACCT",
        "SYS_PTRACE",
        "SYS_RAWIO",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "SYSLOG",
        "WAKE_ALARM",
    }
)


def _check_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise PydanticCustomError(
            "invalid_ip", "{ip} is not an IP address", {"ip": repr(value)}
        ) from None


IPAddress = Annotated[str, AfterValidator(_check_ip)]


_RANGE_RE = re.compile(r"^([0-9]{1,5})(?:-([0-9]{1,5}))?$")


def port_range(value: int | str) -> tuple[int, int]:
    """``80`` -> (80, 80); ``"8000-8010"`` -> (8000, 8010)."""
    if isinstance(value, int):
        return value, value
    match = _RANGE_RE.match(value)
    assert match is not None, "validated by _check_port_range"
    return int(match.group(1)), int(match.group(2) or match.group(1))


def _check_port_range(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    text = str(value)
    match = _RANGE_RE.match(text)
    first, last = (int(match.group(1)), int(match.group(2) or match.group(1))) if match else (0, 0)
    if not match or not 1 <= first <= last <= 65535:
        raise PydanticCustomError(
            "port_range",
            '{v} is not a port (1-65535) or a range of ports such as "8000-8010"',
            {"v": repr(value)},
        )
    return first if first == last else text


PortOrRange = Annotated[
    int | str, BeforeValidator(_check_port_range, json_schema_input_type=int | str)
]


class Port(Strict):
    """A container port (or a range, ``"8000-8010"``), published on the host when
    ``hostPort`` is given: a port, a range as long as the container's, or a range for a single
    container port (the Engine picks a free one in it)."""

    container_port: Annotated[PortOrRange, BeforeValidator(hints.unresolved_variable)]
    host_port: Annotated[PortOrRange | None, BeforeValidator(hints.unresolved_variable)] = None
    host_ip: Annotated[IPAddress | None, BeforeValidator(hints.unresolved_variable)] = Field(
        default=None, alias="hostIP"
    )
    protocol: Literal["tcp", "udp", "sctp"] = "tcp"

    @model_validator(mode="after")
    def _consistent(self) -> Port:
        if self.host_ip is not None and self.host_port is None:
            raise PydanticCustomError("host_ip_without_port", "hostIP is set but hostPort is not")
        if self.host_port is not None:
            first, last = port_range(self.container_port)
            host_first, host_last = port_range(self.host_port)
            if last > first and host_last - host_first != last - first:
                raise PydanticCustomError(
                    "port_range_length",
                    "hostPort {host} and containerPort {port} are ranges of different lengths",
                    {"host": repr(self.host_port), "port": repr(self.container_port)},
                )
        return self


class VolumeMount(Strict):
    """A named volume (a ``Volume`` of this set) mounted into the container; without a
    ``source``, an anonymous volume (kept across recreates, as compose keeps it). ``noCopy``:
    do not copy the image's files at the target into a new, empty volume."""

    type: Literal["volume"]
    source: Annotated[Name | None, BeforeValidator(hints.unresolved_variable)] = None
    target: Annotated[AbsPath, BeforeValidator(hints.unresolved_variable)]
    read_only: bool = False
    no_copy: Annotated[bool, Engine("HostConfig.Mounts[].VolumeOptions.NoCopy")] = False


def _check_bind_source(value: str) -> str:
    if value.startswith(("./", "../")) or value in (".", ".."):
        return check_abs_path("/" + value)[1:]
    return check_abs_path(value)


class BindMount(Strict):
    """A host path mounted into the container. The source must exist unless
    ``createHostPath`` (compose's default) says to create a missing directory. A source
    starting with ``./`` or ``../`` is relative to the manifest file's directory."""

    type: Literal["bind"]
    source: Annotated[
        str, AfterValidator(_check_bind_source), BeforeValidator(hints.unresolved_variable)
    ]
    target: Annotated[AbsPath, BeforeValidator(hints.unresolved_variable)]
    read_only: bool = False
    propagation: Literal["private", "rprivate", "shared", "rshared", "slave", "rslave"] | None = (
        None
    )
    selinux: Annotated[Literal["z", "Z"] | None, Engine("HostConfig.Binds", min_api="1.24")] = None
    configuration: Annotated[bool, Engine("")] = Field(
        default=False,
        description="the source is configuration: a change of its content (hashed) recreates "
        "the container, in apply and in the loop, which watches it",
    )
    create_host_path: Annotated[bool, Engine("")] = Field(
        default=False,
        description="create a missing source directory (as compose does), when the policy "
        "allows the path",
    )


def _path_ref(value: Any) -> Any:
    return {"path": value} if isinstance(value, str) else value


class EnvFile(Strict):
    """A file of ``KEY=VALUE`` lines (dotenv, as docker compose reads ``env_file``), plain or
    encrypted with SOPS or age. A path starting with ``./`` or ``../`` is relative to the
    manifest file's directory."""

    path: Annotated[str, AfterValidator(_check_bind_source)]
    required: bool = True


class Secret(Strict):
    """A file given to the container read-only at ``target`` (default ``/run/secrets/NAME``),
    from a root-only place on the host: the content of ``file`` (decrypted when it is
    encrypted with SOPS or age), or ``content`` written in the manifest (for configuration
    that is no secret, as compose's ``configs.content``: it is kept in the revision history
    like the rest of the manifest)."""

    name: Name
    file: Annotated[str, AfterValidator(_check_bind_source)] | None = None
    content: str | None = Field(default=None, max_length=1024 * 1024)
    target: AbsPath | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Secret:
        if (self.file is None) == (self.content is None):
            raise PydanticCustomError("secret_source", "give exactly one of file and content")
        return self

    @property
    def mount_target(self) -> str:
        """Where the container sees it."""
        return self.target or f"/run/secrets/{self.name}"


def _mode(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        raise PydanticCustomError(
            "unquoted_mode",
            'write the mode as a quoted octal string such as "1777"; unquoted, YAML reads '
            "{value} as a decimal number",
            {"value": value},
        )
    return value


# Mount flags a tmpfs takes (``docker run --tmpfs /x:exec``). The Engine mounts every tmpfs
# noexec, nosuid and nodev unless told exec, suid or dev.
TMPFS_FLAGS = frozenset(
    {
        "exec",
        "noexec",
        "suid",
        "nosuid",
        "dev",
        "nodev",
        "sync",
        "async",
        "atime",
        "noatime",
        "diratime",
        "nodiratime",
        "relatime",
        "norelatime",
        "strictatime",
        "nostrictatime",
    }
)


def _check_tmpfs_flag(value: str) -> str:
    if value not in TMPFS_FLAGS:
        raise PydanticCustomError(
            "tmpfs_option",
            "{v} is not a tmpfs option; use {known} (size and mode are fields of their own)",
            {"v": repr(value), "known": ", ".join(sorted(TMPFS_FLAGS))},
        )
    return value


class TmpfsMount(Strict):
    """A tmpfs mounted into the container, optionally limited in size, with mount flags
    (``options: [exec]``; the Engine's default is noexec, nosuid, nodev)."""

    type: Literal["tmpfs"]
    target: AbsPath
    size_bytes: Size | None = None
    mode: Annotated[str, BeforeValidator(_mode), Field(pattern=r"^0?[0-7]{3,4}$")] | None = None
    options: Annotated[
        list[Annotated[str, AfterValidator(_check_tmpfs_flag)]],
        Engine("HostConfig.Tmpfs", min_api="1.24"),
    ] = Field(default_factory=list)


Mount = Annotated[VolumeMount | BindMount | TmpfsMount, Field(discriminator="type")]


def _check_permissions(value: str) -> str:
    if not value or len(set(value)) != len(value) or not set(value) <= set("rwm"):
        raise PydanticCustomError(
            "device_permissions",
            "{v} is not a set of device permissions: use r, w and m, each at most once",
            {"v": repr(value)},
        )
    return "".join(c for c in "rwm" if c in value)


Permissions = Annotated[str, AfterValidator(_check_permissions)]


class Device(Strict):
    """A host device node given to the container, with cgroup permissions (r, w, m)."""

    host_path: Annotated[AbsPath, BeforeValidator(hints.unresolved_variable)]
    container_path: Annotated[AbsPath | None, BeforeValidator(hints.unresolved_variable)] = None
    permissions: Permissions = "rwm"


class Gpus(Strict):
    """GPUs requested through the Engine's device requests (``docker run --gpus``)."""

    count: int | Literal["all"] | None = None
    device_ids: list[str] | None = Field(default=None, alias="deviceIDs")
    driver: str = "nvidia"
    capabilities: list[str] = Field(default_factory=lambda: ["gpu"])

    @model_validator(mode="after")
    def _one_of(self) -> Gpus:
        if (self.count is None) == (self.device_ids is None):
            raise PydanticCustomError("gpus_one_of", "give exactly one of count or deviceIDs")
        if isinstance(self.count, int) and self.count < 1:
            raise PydanticCustomError("gpus_count", 'count must be at least 1 (or "all")')
        return self


def _capability(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    name = value.upper().removeprefix("CAP_")
    if name != "ALL" and name not in CAPABILITIES:
        raise PydanticCustomError(
            "unknown_capability", "{cap} is not a Linux capability", {"cap": repr(value)}
        )
    return name


Capability = Annotated[str, BeforeValidator(_capability)]


class Capabilities(Strict):
    """Capabilities added to and dropped from the Engine's default set."""

    add: list[Capability] = Field(default_factory=list)
    drop: list[Capability] = Field(default_factory=list)


def _network_ref(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


def _check_mac(value: str) -> str:
    if not re.match(r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$", value):
        raise PydanticCustomError(
            "mac_address", "{v} is not a MAC address (02:42:ac:11:00:02)", {"v": repr(value)}
        )
    return value.lower()


def _check_ipv4(value: str) -> str:
    if ipaddress.ip_address(value).version != 4:
        raise PydanticCustomError("ipv4_address", "{v} is not an IPv4 address", {"v": repr(value)})
    return value


def _check_ipv6(value: str) -> str:
    if ipaddress.ip_address(value).version != 6:
        raise PydanticCustomError("ipv6_address", "{v} is not an IPv6 address", {"v": repr(value)})
    return value


class NetworkAttachment(Strict):
    """A ``Network`` of this set the container joins, with DNS aliases and, optionally, a
    static address and MAC address on it."""

    name: Name
    aliases: list[Name] = Field(default_factory=list)
    ipv4_address: Annotated[
        Annotated[IPAddress, AfterValidator(_check_ipv4)] | None,
        Engine("EndpointSettings.IPAMConfig.IPv4Address"),
    ] = None
    ipv6_address: Annotated[
        Annotated[IPAddress, AfterValidator(_check_ipv6)] | None,
        Engine("EndpointSettings.IPAMConfig.IPv6Address"),
    ] = None
    mac_address: Annotated[
        Annotated[str, AfterValidator(_check_mac)] | None,
        Engine(
            "EndpointSettings.MacAddress",
            min_api="1.41",
            note="before API 1.44 (Docker 25.0), only for a container on one network "
            "(Config.MacAddress)",
        ),
    ] = None


def _dependency_ref(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


# Compose's spellings of a dependency's condition, and ours.
_COMPOSE_CONDITIONS = {
    "service_started": "started",
    "service_healthy": "healthy",
    "service_completed_successfully": "completed",
}


def _compose_condition(value: Any) -> Any:
    if isinstance(value, str) and value in _COMPOSE_CONDITIONS:
        raise PydanticCustomError(
            "compose_condition",
            "{value} is the compose spelling; here it is condition: {ours}",
            {"value": repr(value), "ours": _COMPOSE_CONDITIONS[value]},
        )
    return value


class Dependency(Strict):
    """Another container this one starts after. ``healthy`` waits for its healthcheck,
    ``completed`` until it has exited with code 0 (a one-shot: a migration). ``restart``:
    restart this one after the dependency is recreated or restarted. ``required: false``: the
    dependency may be left out of the set, and one that does not come up does not block."""

    name: Name
    condition: Annotated[
        Literal["started", "healthy", "completed"], BeforeValidator(_compose_condition)
    ] = "started"
    restart: bool = False
    required: bool = True


def _health_test(value: Any) -> Any:
    return ["CMD-SHELL", value] if isinstance(value, str) else value


class Healthcheck(Strict):
    """The container's healthcheck; a string ``test`` runs through the shell."""

    test: Annotated[
        list[str], BeforeValidator(_health_test, json_schema_input_type=str | list[str])
    ] = Field(min_length=1)
    interval: Duration | None = None
    timeout: Duration | None = None
    start_period: Duration | None = None
    start_interval: Annotated[
        Duration | None, Engine("Config.Healthcheck.StartInterval", min_api="1.44")
    ] = None
    retries: int | None = Field(default=None, ge=0, le=1000)

    @model_validator(mode="after")
    def _test_form(self) -> Healthcheck:
        head = self.test[0]
        if head not in ("CMD", "CMD-SHELL", "NONE"):
            raise PydanticCustomError(
                "health_test", "test must start with CMD, CMD-SHELL or NONE, or be a string"
            )
        if head != "NONE" and len(self.test) < 2:
            raise PydanticCustomError("health_test", "test {head} needs a command", {"head": head})
        return self


def _cpu_list(value: str) -> str:
    try:
        cpu_list(value)
    except ValueError:
        raise PydanticCustomError(
            "cpu_list", "{v} is not a list of CPUs or nodes such as 0-3 or 0,2", {"v": repr(value)}
        ) from None
    return value


class Resources(Strict):
    """Resource limits. ``memory`` alone also caps swap at the same value (no extra swap)."""

    memory: Annotated[Size | None, Engine("HostConfig.Memory", in_place=True)] = None
    memory_reservation: Annotated[
        Size | None, Engine("HostConfig.MemoryReservation", in_place=True)
    ] = None
    memory_swap: Annotated[
        Size | None,
        Engine("HostConfig.MemorySwap", in_place=True),
        BeforeValidator(hints.memory_swap_minus_one),
    ] = None
    cpus: Annotated[NanoCpus | None, Engine("HostConfig.NanoCpus", in_place=True)] = None
    cpu_shares: Annotated[int | None, Engine("HostConfig.CpuShares", in_place=True)] = Field(
        default=None, ge=2, le=262144
    )
    pids: Annotated[int | None, Engine("HostConfig.PidsLimit", in_place=True)] = Field(
        default=None, ge=1, le=4194304
    )
    cpuset_cpus: Annotated[
        Annotated[str, AfterValidator(_cpu_list)] | None,
        Engine("HostConfig.CpusetCpus", in_place=True, shape=CPU_LIST),
    ] = Field(default=None, description="CPUs the container may run on: 0-3 or 0,2")
    cpuset_mems: Annotated[
        Annotated[str, AfterValidator(_cpu_list)] | None,
        Engine("HostConfig.CpusetMems", in_place=True, shape=CPU_LIST),
    ] = Field(default=None, description="memory nodes the container may use (NUMA): 0-1 or 0")

    @model_validator(mode="after")
    def _swap_needs_memory(self) -> Resources:
        if self.memory_swap is not None:
            if self.memory is None:
                raise PydanticCustomError("swap_without_memory", "memorySwap needs memory")
            if self.memory_swap < self.memory:
                raise PydanticCustomError(
                    "swap_below_memory", "memorySwap (memory plus swap) must be at least memory"
                )
        return self


_RESTART_RE = r"^(no|always|unless-stopped|on-failure(:[1-9][0-9]{0,5})?)$"
_NAMESPACE_MODE_RE = r"^(host|private|shareable|container:[a-zA-Z0-9][a-zA-Z0-9_.-]*)$"
_EXTRA_HOST_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*:.+$")
_SIGNAL_RE = r"^(SIG)?[A-Z0-9+-]+$|^[0-9]{1,2}$"
_HOSTNAME_RE = (
    r"^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)
_ENV_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.-]*$")


def _check_env(value: dict[str, str]) -> dict[str, str]:
    for key, item in value.items():
        if not _ENV_NAME_RE.match(key):
            raise PydanticCustomError(
                "env_name", "{key} is not a valid variable name", {"key": repr(key)}
            )
        if "\x00" in str(item):
            # No process can receive it (runc refuses to start), and the Engine's error
            # would echo the value.
            raise PydanticCustomError(
                "env_value", "the value of {key} contains a NUL character", {"key": key}
            )
    return value


def _check_extra_host(value: str) -> str:
    """``host:ip``, ``host=ip`` (compose's newer spelling) or ``host:host-gateway`` (the
    host's own address, as the Engine resolves it), read as ``host:ip``."""
    if "=" in value and not _EXTRA_HOST_RE.match(value):
        value = value.replace("=", ":", 1)
    if not _EXTRA_HOST_RE.match(value):
        raise PydanticCustomError(
            "extra_host", "{v} must look like host:ip or host:host-gateway", {"v": repr(value)}
        )
    host, address = value.split(":", 1)
    if address != "host-gateway":
        address = _check_ip(address.removeprefix("[").removesuffix("]"))
    return f"{host}:{address}"


ULIMIT_NAMES = frozenset(
    {
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    }
)


class Ulimit(Strict):
    """A soft and a hard limit (-1: unlimited)."""

    soft: int = Field(ge=-1)
    hard: int = Field(ge=-1)

    @model_validator(mode="after")
    def _soft_within_hard(self) -> Ulimit:
        if self.hard != -1 and (self.soft == -1 or self.soft > self.hard):
            raise PydanticCustomError("ulimit_soft", "soft must not be above hard")
        return self


def _check_ulimits(value: dict[str, Any]) -> dict[str, Any]:
    for name in value:
        if name not in ULIMIT_NAMES:
            raise PydanticCustomError(
                "ulimit_name",
                "{name} is not a ulimit; use {known}",
                {"name": repr(name), "known": ", ".join(sorted(ULIMIT_NAMES))},
            )
    return value


class Logging(Strict):
    """The container's log driver and its options (``json-file`` with ``max-size: 10m``...).
    Options are passed to the driver as written."""

    driver: str = Field(min_length=1, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_./:-]*$")
    options: dict[str, StrOrInt] = Field(default_factory=dict)


def _check_platform(value: str) -> str:
    parts = value.split("/")
    if not 2 <= len(parts) <= 3 or not all(re.match(r"^[a-z0-9_]+$", p) for p in parts):
        raise PydanticCustomError(
            "platform", "{v} is not a platform such as linux/amd64 or linux/arm/v7", {"v": value}
        )
    return value


def _stop_signal(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class RolloutSettings(Strict):
    """How Swarm replaces a service's tasks on an update (or a rollback)."""

    parallelism: int = Field(default=1, ge=0, le=1000)
    delay: Duration | None = None
    failure_action: Literal["pause", "continue", "rollback"] = "pause"
    order: Literal["stop-first", "start-first"] = "stop-first"


class SwarmSettings(Strict):
    """What only a Swarm service has (``reconcile --backend swarm``): replicas, placement,
    update and rollback settings. The docker backend runs one container."""

    replicas: int = Field(default=1, ge=0, le=10000)
    constraints: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    update: RolloutSettings = Field(default_factory=RolloutSettings)
    rollback: RolloutSettings = Field(default_factory=RolloutSettings)


class ContainerSpec(Strict):
    """Desired configuration of one container. ``command`` replaces the image's ENTRYPOINT and
    ``args`` its CMD, as in Kubernetes."""

    image: Annotated[
        str, Engine("Config.Image"), BeforeValidator(hints.unresolved_variable_strict)
    ] = Field(min_length=1, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_./:@-]*$")
    platform: Annotated[
        Annotated[str, AfterValidator(_check_platform)] | None,
        Engine(
            "platform",
            min_api="1.41",
            note="the create and pull parameter; compared with the image's platform",
        ),
    ] = Field(default=None, description="the image's platform, such as linux/arm64")
    pull_policy: Annotated[Literal["IfNotPresent", "Always", "Never"], Engine("")] = "IfNotPresent"
    build: Annotated[
        Annotated[Build, BeforeValidator(build_ref, json_schema_input_type=str | Build)] | None,
        Engine("", note="built and tagged as image; rebuilt when the context changes"),
    ] = None
    update_policy: Annotated[
        Annotated[
            UpdatePolicy, BeforeValidator(update_ref, json_schema_input_type=str | UpdatePolicy)
        ],
        Engine("", note="follows the tag's digest in its registry"),
    ] = Field(default_factory=UpdatePolicy)
    command: Annotated[list[str] | None, Engine("Config.Entrypoint")] = None
    args: Annotated[list[str] | None, Engine("Config.Cmd")] = None
    env: Annotated[dict[str, StrOrInt], AfterValidator(_check_env), Engine("Config.Env")] = Field(
        default_factory=dict
    )
    env_files: Annotated[
        list[Annotated[EnvFile, BeforeValidator(_path_ref, json_schema_input_type=str | EnvFile)]],
        Engine("Config.Env", note="read in order; env overrides them; values masked"),
    ] = Field(default_factory=list)
    secrets: Annotated[
        list[Secret],
        Engine("HostConfig.Mounts", note="a read-only bind from reconcile's secret store"),
    ] = Field(default_factory=list)
    user: Annotated[
        StrOrInt | None, Engine("Config.User"), BeforeValidator(hints.unresolved_variable)
    ] = None
    working_dir: Annotated[
        AbsPath | None, Engine("Config.WorkingDir"), BeforeValidator(hints.unresolved_variable)
    ] = None
    hostname: Annotated[
        str | None, Engine("Config.Hostname"), BeforeValidator(hints.unresolved_variable_strict)
    ] = Field(default=None, pattern=_HOSTNAME_RE, max_length=253)
    domainname: Annotated[str | None, Engine("Config.Domainname", shape=SCALAR)] = Field(
        default=None, pattern=_HOSTNAME_RE, max_length=253, description="the NIS domain name"
    )
    extra_hosts: Annotated[
        list[
            Annotated[
                str,
                AfterValidator(_check_extra_host),
                BeforeValidator(hints.unresolved_variable_strict),
            ]
        ],
        Engine("HostConfig.ExtraHosts"),
    ] = Field(default_factory=list)
    dns: Annotated[list[IPAddress], Engine("HostConfig.Dns", shape=ORDERED)] = Field(
        default_factory=list, description="DNS servers, in order"
    )
    dns_search: Annotated[
        list[Annotated[str, Field(pattern=_HOSTNAME_RE)]],
        Engine("HostConfig.DnsSearch", shape=ORDERED),
    ] = Field(default_factory=list, description="DNS search domains, in order")
    dns_options: Annotated[
        list[Annotated[str, Field(pattern=r"^[a-z0-9-]+(:[0-9]+)?$")]],
        Engine("HostConfig.DnsOptions", shape=ORDERED),
    ] = Field(default_factory=list, description="resolv.conf options: ndots:2, timeout:1...")
    ports: Annotated[
        list[Annotated[Port, BeforeValidator(hints.port_string)]],
        Engine("Config.ExposedPorts, HostConfig.PortBindings"),
    ] = Field(default_factory=list)
    mounts: Annotated[
        list[Annotated[Mount, BeforeValidator(hints.mount_string)]],
        Engine("HostConfig.Mounts, HostConfig.Binds"),
    ] = Field(default_factory=list)
    devices: Annotated[list[Device], Engine("HostConfig.Devices")] = Field(default_factory=list)
    device_cgroup_rules: Annotated[
        list[Annotated[str, Field(pattern=r"^[abc] (\d+|\*):(\d+|\*) [rwm]{1,3}$")]],
        Engine("HostConfig.DeviceCgroupRules", min_api="1.29"),
    ] = Field(default_factory=list)
    gpus: Annotated[
        Gpus | None,
        Engine("HostConfig.DeviceRequests", min_api="1.40"),
        BeforeValidator(hints.gpus_string),
    ] = None
    runtime: Annotated[
        str | None,
        Engine("HostConfig.Runtime", shape=SCALAR, info_default="DefaultRuntime"),
    ] = Field(
        default=None,
        pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$",
        description="the OCI runtime (nvidia, runsc...); the Engine's default when left out",
    )
    group_add: Annotated[list[StrOrInt], Engine("HostConfig.GroupAdd")] = Field(
        default_factory=list
    )
    capabilities: Annotated[Capabilities, Engine("HostConfig.CapAdd, HostConfig.CapDrop")] = Field(
        default_factory=Capabilities
    )
    privileged: Annotated[bool, Engine("HostConfig.Privileged")] = False
    read_only_root_filesystem: Annotated[bool, Engine("HostConfig.ReadonlyRootfs")] = False
    security_opt: Annotated[list[str], Engine("HostConfig.SecurityOpt")] = Field(
        default_factory=list
    )
    sysctls: Annotated[dict[str, StrOrInt], Engine("HostConfig.Sysctls")] = Field(
        default_factory=dict
    )
    ulimits: Annotated[
        dict[str, Ulimit | Annotated[int, Field(ge=-1)]],
        AfterValidator(_check_ulimits),
        Engine("HostConfig.Ulimits", shape=ULIMITS),
    ] = Field(
        default_factory=dict, description="nofile: 65536, or nofile: {soft: 1024, hard: 4096}"
    )
    shm_size: Annotated[Size | None, Engine("HostConfig.ShmSize", shape=SIZE, unset="ignored")] = (
        Field(default=None, description="the size of /dev/shm")
    )
    oom_score_adj: Annotated[int | None, Engine("HostConfig.OomScoreAdj", shape=NUMBER)] = Field(
        default=None, ge=-1000, le=1000
    )
    logging: Annotated[
        Logging | None, Engine("HostConfig.LogConfig", shape=LOGGING, unset="ignored")
    ] = None
    networks: Annotated[
        list[
            Annotated[
                NetworkAttachment,
                BeforeValidator(_network_ref, json_schema_input_type=str | NetworkAttachment),
            ]
        ],
        Engine("NetworkingConfig, /networks/{id}/connect", in_place=True),
    ] = Field(default_factory=list)
    network_mode: Annotated[str | None, Engine("HostConfig.NetworkMode")] = Field(
        default=None, pattern=r"^(bridge|host|none|container:[a-zA-Z0-9][a-zA-Z0-9_.-]*)$"
    )
    pid_mode: Annotated[str | None, Engine("HostConfig.PidMode")] = Field(
        default=None, pattern=_NAMESPACE_MODE_RE
    )
    ipc_mode: Annotated[str | None, Engine("HostConfig.IpcMode")] = Field(
        default=None, pattern=_NAMESPACE_MODE_RE
    )
    uts_mode: Annotated[Literal["host"] | None, Engine("HostConfig.UTSMode")] = None
    userns_mode: Annotated[Literal["host"] | None, Engine("HostConfig.UsernsMode")] = None
    cgroupns_mode: Annotated[
        Literal["host", "private"] | None, Engine("HostConfig.CgroupnsMode", min_api="1.41")
    ] = None
    restart_policy: Annotated[str, Engine("HostConfig.RestartPolicy", in_place=True)] = Field(
        default="unless-stopped", pattern=_RESTART_RE
    )
    healthcheck: Annotated[Healthcheck | None, Engine("Config.Healthcheck")] = None
    restart_on_unhealthy: Annotated[bool, Engine("")] = True
    one_shot: Annotated[bool, Engine("")] = Field(
        default=False,
        description="a job that runs to completion (a migration): once it exited with code "
        "0 it is done and never started again (also implied for the target of a dependsOn "
        "with condition completed)",
    )
    depends_on: Annotated[
        list[
            Annotated[
                Dependency,
                BeforeValidator(_dependency_ref, json_schema_input_type=str | Dependency),
            ]
        ],
        Engine(""),
    ] = Field(default_factory=list)
    resources: Resources = Field(default_factory=Resources)
    stop_signal: Annotated[
        Annotated[
            str,
            BeforeValidator(_stop_signal, json_schema_input_type=str | int),
            Field(pattern=_SIGNAL_RE),
        ]
        | None,
        Engine("Config.StopSignal"),
    ] = None
    stop_grace_period: Annotated[Duration | None, Engine("Config.StopTimeout", min_api="1.25")] = (
        None
    )
    init: Annotated[bool | None, Engine("HostConfig.Init", min_api="1.25")] = None
    tty: Annotated[bool, Engine("Config.Tty")] = False
    stdin_open: Annotated[bool, Engine("Config.OpenStdin", shape=FLAG)] = Field(
        default=False, description="keep STDIN open (docker run -i)"
    )
    swarm: Annotated[SwarmSettings | None, Engine("")] = Field(
        default=None, description="Swarm service settings (--backend swarm only)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> ContainerSpec:
        secret_names = [s.name for s in self.secrets]
        if len(secret_names) != len(set(secret_names)):
            raise PydanticCustomError("duplicate_secret", "a secret is listed twice")
        targets = [m.target for m in self.mounts] + [s.mount_target for s in self.secrets]
        dupes = sorted({t for t in targets if targets.count(t) > 1})
        if dupes:
            raise PydanticCustomError(
                "duplicate_target", "two mounts share the target {t}", {"t": repr(dupes[0])}
            )
        names = [n.name for n in self.networks]
        if len(names) != len(set(names)):
            raise PydanticCustomError("duplicate_network", "a network is listed twice")
        if self.network_mode not in (None, "bridge") and self.networks:
            raise PydanticCustomError(
                "network_mode_conflict",
                "networks cannot be joined with networkMode {mode}",
                {"mode": repr(self.network_mode)},
            )
        if self.stop_grace_period is not None and self.stop_grace_period % 1_000_000_000:
            raise PydanticCustomError(
                "grace_whole_seconds", "stopGracePeriod must be a whole number of seconds"
            )
        if self.one_shot and not self.restart_policy.startswith(("no", "on-failure")):
            raise PydanticCustomError(
                "one_shot_restart",
                "oneShot needs restartPolicy no or on-failure (the Engine would start a "
                "finished one-shot again with {policy})",
                {"policy": self.restart_policy},
            )
        if self.update_policy.mode != "off":
            why = _not_followable(self)
            if why:
                raise PydanticCustomError(
                    "update_policy_image",
                    "updatePolicy {mode}: {why}",
                    {"mode": self.update_policy.mode, "why": why},
                )
        if self.build is not None and "@" in self.image:
            raise PydanticCustomError(
                "build_digest", "a built image is tagged as image, which cannot be a digest"
            )
        deps = [d.name for d in self.depends_on]
        if len(deps) != len(set(deps)):
            raise PydanticCustomError("duplicate_dependency", "a dependency is listed twice")
        return self


def _not_followable(spec: ContainerSpec) -> str:
    """Why the image of ``spec`` has no tag in a registry to follow ("" when it has)."""
    if "@" in spec.image:
        return "the image is pinned by digest, which never changes"
    if spec.image.startswith("sha256:"):
        return "the image is named by its ID"
    if spec.build is not None:
        return "the image is built here, not pulled from a registry"
    if spec.pull_policy == "Never":
        return "pullPolicy is Never"
    return ""


class ContainerManifest(Strict):
    """A ``Container`` document."""

    api_version: Literal["reconcile/v1"]
    kind: Literal["Container"]
    metadata: Metadata
    spec: ContainerSpec
