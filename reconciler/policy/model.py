"""The policy file (a strict pydantic model) and ``Policy``, the resolved value rules read.

Two types for two stages, as for manifests: ``PolicyFile`` is what the YAML says and refuses
anything unknown or contradictory with a located message; ``Policy`` is the frozen value the
admission reads, with the built-in defaults merged in.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from reconciler.manifests.common import AbsPath, Name, Strict
from reconciler.manifests.container import IPAddress, Permissions
from reconciler.policy.paths import denial, device_denial, never_allowed, parts
from reconciler.policy.rules import RULES, Mode, Profile

BUILT_IN_SOURCE = "built-in baseline"

SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)

# OCI runtimes that apply the container's configuration as given (runc and its drop-in
# replacements) or isolate it further (gVisor, Kata's virtual machines), by the names the
# Engine and their own docs give them. A policy file may add others (``runtimes``).
KNOWN_RUNTIMES = frozenset(
    {
        "runc",
        "io.containerd.runc.v2",
        "crun",
        "youki",
        "runsc",
        "io.containerd.runsc.v1",
        "kata",
        "kata-runtime",
        "io.containerd.kata.v2",
    }
)

# Logging drivers built into the Engine that use no host credentials: they write under the
# Engine's own directory, to the host's journal or syslog, or to an address the options give,
# in the driver's own framing. awslogs and gcplogs (the host's cloud credentials) and plugins
# need a policy entry (``loggingDrivers``).
SAFE_LOGGING_DRIVERS = frozenset(
    {"none", "json-file", "local", "journald", "syslog", "gelf", "fluentd", "splunk", "logentries"}
)

# Harmless devices every profile allows, read and write but not mknod.
DEFAULT_DEVICES: tuple[tuple[str, str], ...] = tuple(
    (f"/dev/{name}", "rw") for name in ("null", "zero", "full", "random", "urandom")
)


def _rule_id(value: str) -> str:
    if value not in RULES:
        close = difflib.get_close_matches(value, sorted(RULES), n=1, cutoff=0.6)
        suffixed = [r for r in sorted(RULES) if r.endswith("/" + value)]
        hint = close or suffixed
        raise PydanticCustomError(
            "unknown_rule",
            "{rule} is not a rule id{hint}",
            {
                "rule": repr(value),
                "hint": f"; did you mean {hint[0]}?"
                if hint
                else "; see docs/policy.md for the rule table",
            },
        )
    return value


RuleId = Annotated[str, AfterValidator(_rule_id)]


class RuleOverride(Strict):
    """Per-rule settings: a mode other than the policy's, and resources exempt from it."""

    mode: Mode | None = None
    exempt: list[Name] = Field(default_factory=list)


def _bind_path(value: str) -> str:
    if parts(value) != tuple(p for p in value.split("/") if p) or "//" in value:
        raise PydanticCustomError(
            "unnormalized_path",
            "{path} must be a normalized path (no '.', '..' or repeated '/')",
            {"path": repr(value)},
        )
    if not parts(value):
        raise PydanticCustomError("bind_root", "/ cannot be allowed: it is the whole host")
    denied = never_allowed(value)
    if denied is not None:
        raise PydanticCustomError(
            "denied_path",
            "{path} {reason}; an allowlist entry cannot re-allow it",
            {"path": value, "reason": denied.reason},
        )
    return value


class BindAllow(Strict):
    """A host path prefix bind sources may be under; read-only unless ``readWrite``."""

    path: Annotated[AbsPath, AfterValidator(_bind_path)]
    read_write: bool = False

    @model_validator(mode="after")
    def _denied_root_read_only(self) -> BindAllow:
        found = denial(self.path)
        if found is not None and self.read_write:
            raise PydanticCustomError(
                "read_write_denied_root",
                "{path} is under {root}: it can be re-allowed read-only only; remove readWrite",
                {"path": repr(self.path), "root": found.root or "/"},
            )
        return self


def _device_path(value: str) -> str:
    reason = device_denial(value)
    if reason is not None:
        raise PydanticCustomError(
            "denied_device",
            "{path} {reason}; it cannot be allowlisted",
            {"path": value, "reason": reason},
        )
    return value


class DeviceAllow(Strict):
    """A host device node containers may be given, with at most these permissions."""

    path: Annotated[AbsPath, AfterValidator(_device_path)]
    permissions: Permissions = "rw"


_CGROUP_RULE_RE = re.compile(r"^[bc] \d+:\d+ [rwm]{1,3}$")


def _cgroup_rule(value: str) -> str:
    if "*" in value or value.startswith("a "):
        raise PydanticCustomError(
            "wildcard_cgroup_rule",
            "{rule} is a wildcard: only exact rules (c MAJOR:MINOR PERMS) can be allowlisted",
            {"rule": repr(value)},
        )
    if not _CGROUP_RULE_RE.match(value):
        raise PydanticCustomError(
            "cgroup_rule",
            '{rule} must look like "c 188:0 rw": type b or c, major:minor, permissions',
            {"rule": repr(value)},
        )
    return value


def _port_range(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, str):
        match = re.fullmatch(r"(\d{1,5})(?:-(\d{1,5}))?", value.strip())
        if match:
            low = int(match.group(1))
            high = int(match.group(2) or low)
            if 1 <= low <= high <= 65535:
                return (low, high)
        raise PydanticCustomError(
            "port_range",
            "{v} must be a port or a range LOW-HIGH within 1-65535",
            {"v": repr(value)},
        )
    return value


PortRange = Annotated[
    tuple[int, int], BeforeValidator(_port_range, json_schema_input_type=str | int)
]


class PortLimits(Strict):
    """Where containers may publish ports; an empty or absent list means no limit on that."""

    ranges: list[PortRange] = Field(default_factory=list)
    addresses: list[IPAddress] = Field(default_factory=list)


_SYSCTL_RE = r"^[a-z0-9_]+(\.[a-zA-Z0-9_*-]+)+$"
# A Linux interface name: at most 15 characters (IFNAMSIZ - 1), no '/' or whitespace.
_INTERFACE_RE = re.compile(r"^[a-zA-Z0-9_.:@-]{1,15}$")


def _interface(value: str) -> str:
    if not _INTERFACE_RE.match(value):
        raise PydanticCustomError(
            "interface_name",
            "{name} is not an interface name (1 to 15 letters, digits, or _ . : @ -)",
            {"name": repr(value)},
        )
    return value


Interface = Annotated[str, AfterValidator(_interface)]


class NetworkAllow(Strict):
    """Network drivers and host interfaces that Network manifests may use."""

    drivers: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    parents: list[Interface] = Field(default_factory=list)
    bridges: list[Interface] = Field(default_factory=list)


_RUNTIME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


def is_nvidia_runtime(name: str) -> bool:
    """Whether a runtime name is NVIDIA's (nvidia, nvidia-container-runtime...): it hands the
    container GPUs, so it is judged as a GPU request."""
    return "nvidia" in name.lower()


def _runtime(value: str) -> str:
    if not _RUNTIME_RE.match(value):
        raise PydanticCustomError(
            "runtime_name",
            "{name} is not a runtime name (letters, digits, and _ . -)",
            {"name": repr(value)},
        )
    if is_nvidia_runtime(value):
        raise PydanticCustomError(
            "nvidia_runtime",
            "{name} is an NVIDIA runtime, which is a GPU request: grant GPUs with gpus instead",
            {"name": value},
        )
    return value


class PolicyFile(Strict):
    """A ``Policy`` document: the profile, the mode, per-rule overrides and the allowlists."""

    api_version: Literal["reconcile/v1"]
    kind: Literal["Policy"]
    profile: Profile = "baseline"
    mode: Mode = "enforce"
    rules: dict[RuleId, RuleOverride] = Field(default_factory=dict)
    binds: list[BindAllow] | None = None
    devices: list[DeviceAllow] = Field(default_factory=list)
    device_cgroup_rules: list[Annotated[str, AfterValidator(_cgroup_rule)]] = Field(
        default_factory=list
    )
    gpus: bool | list[Name] = False
    sysctls: list[Annotated[str, Field(pattern=_SYSCTL_RE)]] = Field(default_factory=list)
    ports: PortLimits | None = None
    volume_drivers: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    runtimes: list[Annotated[str, AfterValidator(_runtime)]] = Field(default_factory=list)
    logging_drivers: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    sockets: list[Annotated[AbsPath, AfterValidator(_bind_path)]] = Field(default_factory=list)
    networks: NetworkAllow = Field(default_factory=NetworkAllow)


@dataclass(frozen=True)
class Override:
    """A rule's mode (None: the policy's) and the resource names exempt from it."""

    mode: Mode | None = None
    exempt: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Policy:
    """The host-access policy in force. ``binds`` None means "no allowlist" (baseline then
    allows any bind that is not always denied); an empty tuple allows no bind at all."""

    profile: Profile = "baseline"
    mode: Mode = "enforce"
    source: str = BUILT_IN_SOURCE
    overrides: Mapping[str, Override] = field(default_factory=lambda: MappingProxyType({}))
    binds: tuple[tuple[str, bool], ...] | None = None  # (path prefix, read-write allowed)
    devices: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType(dict(DEFAULT_DEVICES))
    )
    device_cgroup_rules: frozenset[str] = frozenset()
    gpus: bool | frozenset[str] = False
    sysctls: frozenset[str] = SAFE_SYSCTLS
    port_ranges: tuple[tuple[int, int], ...] = ()
    port_addresses: frozenset[str] = frozenset()
    volume_drivers: frozenset[str] = frozenset({"local"})
    runtimes: frozenset[str] = KNOWN_RUNTIMES  # besides the Engine's default (no runtime set)
    logging_drivers: frozenset[str] = SAFE_LOGGING_DRIVERS
    sockets: tuple[str, ...] = ()  # unix sockets (or directories of them) binds may reach
    network_drivers: frozenset[str] = frozenset({"bridge"})
    network_parents: frozenset[str] = frozenset()  # host interfaces macvlan/ipvlan may use
    bridge_names: frozenset[str] = frozenset()  # bridges a bridge network may name

    def mode_for(self, rule_id: str) -> Mode:
        """The mode ``rule_id`` runs in: its override, else the policy's (capped for rules
        with a default mode, such as the manifest-directory check, which only warns)."""
        override = self.overrides.get(rule_id)
        if override is not None and override.mode is not None:
            return override.mode
        cap = RULES[rule_id].default_mode
        if cap is not None and _STRENGTH[cap] < _STRENGTH[self.mode]:
            return cap
        return self.mode

    def exempt(self, rule_id: str, name: str) -> bool:
        """Whether the resource named ``name`` is exempt from ``rule_id``."""
        override = self.overrides.get(rule_id)
        return override is not None and name in override.exempt

    def gpus_granted(self, name: str) -> bool:
        """Whether the container ``name`` may be given GPUs."""
        return self.gpus if isinstance(self.gpus, bool) else name in self.gpus


_STRENGTH: dict[Mode, int] = {"audit": 0, "warn": 1, "enforce": 2}


def from_file(model: PolicyFile, source: str) -> Policy:
    """The ``Policy`` a validated file describes, built-in defaults merged in."""
    devices = dict(DEFAULT_DEVICES)
    devices.update((d.path, d.permissions) for d in model.devices)
    return Policy(
        profile=model.profile,
        mode=model.mode,
        source=source,
        overrides=MappingProxyType(
            {k: Override(v.mode, frozenset(v.exempt)) for k, v in model.rules.items()}
        ),
        binds=None if model.binds is None else tuple((b.path, b.read_write) for b in model.binds),
        devices=MappingProxyType(devices),
        device_cgroup_rules=frozenset(model.device_cgroup_rules),
        gpus=model.gpus if isinstance(model.gpus, bool) else frozenset(model.gpus),
        sysctls=SAFE_SYSCTLS | frozenset(model.sysctls),
        port_ranges=tuple(model.ports.ranges) if model.ports else (),
        port_addresses=frozenset(model.ports.addresses) if model.ports else frozenset(),
        volume_drivers=frozenset({"local", *model.volume_drivers}),
        runtimes=KNOWN_RUNTIMES | frozenset(model.runtimes),
        logging_drivers=SAFE_LOGGING_DRIVERS | frozenset(model.logging_drivers),
        sockets=tuple(model.sockets),
        network_drivers=frozenset({"bridge", *model.networks.drivers}),
        network_parents=frozenset(model.networks.parents),
        bridge_names=frozenset(model.networks.bridges),
    )
