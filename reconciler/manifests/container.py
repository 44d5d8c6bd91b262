"""The ``Container`` kind: what people write in compose files, with explicit units."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from reconciler.manifests.common import (
    AbsPath,
    Duration,
    Metadata,
    Name,
    NanoCpus,
    Size,
    Strict,
    StrOrInt,
    check_abs_path,
)

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


class Port(Strict):
    """A container port, published on the host when ``hostPort`` is given."""

    container_port: int = Field(ge=1, le=65535)
    host_port: int | None = Field(default=None, ge=1, le=65535)
    host_ip: IPAddress | None = Field(default=None, alias="hostIP")
    protocol: Literal["tcp", "udp", "sctp"] = "tcp"

    @model_validator(mode="after")
    def _host_ip_needs_port(self) -> Port:
        if self.host_ip is not None and self.host_port is None:
            raise PydanticCustomError("host_ip_without_port", "hostIP is set but hostPort is not")
        return self


class VolumeMount(Strict):
    """A named volume (a ``Volume`` of this set) mounted into the container."""

    type: Literal["volume"]
    source: Name
    target: AbsPath
    read_only: bool = False


def _check_bind_source(value: str) -> str:
    if value.startswith(("./", "../")) or value in (".", ".."):
        return check_abs_path("/" + value)[1:]
    return check_abs_path(value)


class BindMount(Strict):
    """A host path mounted into the container. The source must exist; it is never created.
    A source starting with ``./`` or ``../`` is relative to the manifest file's directory."""

    type: Literal["bind"]
    source: Annotated[str, AfterValidator(_check_bind_source)]
    target: AbsPath
    read_only: bool = False
    propagation: Literal["private", "rprivate", "shared", "rshared", "slave", "rslave"] | None = (
        None
    )


def _mode(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        raise PydanticCustomError(
            "unquoted_mode",
            'write the mode as a quoted octal string such as "1777"; unquoted, YAML reads '
            "{value} as a decimal number",
            {"value": value},
        )
    return value


class TmpfsMount(Strict):
    """A tmpfs mounted into the container, optionally limited in size."""

    type: Literal["tmpfs"]
    target: AbsPath
    size_bytes: Size | None = None
    mode: Annotated[str, BeforeValidator(_mode), Field(pattern=r"^0?[0-7]{3,4}$")] | None = None


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

    host_path: AbsPath
    container_path: AbsPath | None = None
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


class NetworkAttachment(Strict):
    """A ``Network`` of this set the container joins, with DNS aliases on it."""

    name: Name
    aliases: list[Name] = Field(default_factory=list)
    ipv4_address: IPAddress | None = None


def _dependency_ref(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


class Dependency(Strict):
    """Another container this one starts after; ``healthy`` waits for its healthcheck."""

    name: Name
    condition: Literal["started", "healthy"] = "started"


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


class Resources(Strict):
    """Resource limits. ``memory`` alone also caps swap at the same value (no extra swap)."""

    memory: Size | None = None
    memory_reservation: Size | None = None
    memory_swap: Size | None = None
    cpus: NanoCpus | None = None
    cpu_shares: int | None = Field(default=None, ge=2, le=262144)
    pids: int | None = Field(default=None, ge=1, le=4194304)

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
    if not _EXTRA_HOST_RE.match(value):
        raise PydanticCustomError("extra_host", "{v} must look like host:ip", {"v": repr(value)})
    _check_ip(value.split(":", 1)[1])
    return value


def _stop_signal(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class ContainerSpec(Strict):
    """Desired configuration of one container. ``command`` replaces the image's ENTRYPOINT and
    ``args`` its CMD, as in Kubernetes."""

    image: str = Field(min_length=1, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_./:@-]*$")
    pull_policy: Literal["IfNotPresent", "Always", "Never"] = "IfNotPresent"
    command: list[str] | None = None
    args: list[str] | None = None
    env: Annotated[dict[str, StrOrInt], AfterValidator(_check_env)] = Field(default_factory=dict)
    user: StrOrInt | None = None
    working_dir: AbsPath | None = None
    hostname: str | None = Field(default=None, pattern=_HOSTNAME_RE, max_length=253)
    extra_hosts: list[Annotated[str, AfterValidator(_check_extra_host)]] = Field(
        default_factory=list
    )
    ports: list[Port] = Field(default_factory=list)
    mounts: list[Mount] = Field(default_factory=list)
    devices: list[Device] = Field(default_factory=list)
    device_cgroup_rules: list[
        Annotated[str, Field(pattern=r"^[abc] (\d+|\*):(\d+|\*) [rwm]{1,3}$")]
    ] = Field(default_factory=list)
    gpus: Gpus | None = None
    group_add: list[StrOrInt] = Field(default_factory=list)
    capabilities: Capabilities = Field(default_factory=Capabilities)
    privileged: bool = False
    read_only_root_filesystem: bool = False
    security_opt: list[str] = Field(default_factory=list)
    sysctls: dict[str, StrOrInt] = Field(default_factory=dict)
    networks: list[
        Annotated[
            NetworkAttachment,
            BeforeValidator(_network_ref, json_schema_input_type=str | NetworkAttachment),
        ]
    ] = Field(default_factory=list)
    network_mode: str | None = Field(
        default=None, pattern=r"^(bridge|host|none|container:[a-zA-Z0-9][a-zA-Z0-9_.-]*)$"
    )
    pid_mode: str | None = Field(default=None, pattern=_NAMESPACE_MODE_RE)
    ipc_mode: str | None = Field(default=None, pattern=_NAMESPACE_MODE_RE)
    uts_mode: Literal["host"] | None = None
    userns_mode: Literal["host"] | None = None
    cgroupns_mode: Literal["host", "private"] | None = None
    restart_policy: str = Field(default="unless-stopped", pattern=_RESTART_RE)
    healthcheck: Healthcheck | None = None
    restart_on_unhealthy: bool = True
    depends_on: list[
        Annotated[
            Dependency, BeforeValidator(_dependency_ref, json_schema_input_type=str | Dependency)
        ]
    ] = Field(default_factory=list)
    resources: Resources = Field(default_factory=Resources)
    stop_signal: (
        Annotated[
            str,
            BeforeValidator(_stop_signal, json_schema_input_type=str | int),
            Field(pattern=_SIGNAL_RE),
        ]
        | None
    ) = None
    stop_grace_period: Duration | None = None
    init: bool | None = None
    tty: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> ContainerSpec:
        targets = [m.target for m in self.mounts]
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
        deps = [d.name for d in self.depends_on]
        if len(deps) != len(set(deps)):
            raise PydanticCustomError("duplicate_dependency", "a dependency is listed twice")
        return self


class ContainerManifest(Strict):
    """A ``Container`` document."""

    api_version: Literal["reconcile/v1"]
    kind: Literal["Container"]
    metadata: Metadata
    spec: ContainerSpec
