"""The container rules that read the manifest: privilege, namespaces, capabilities, security
options, user, sysctls, ports and working directory (and a seccomp profile's file, if named)."""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Iterator, Set

from reconciler.manifests.container import ContainerSpec, port_range
from reconciler.policy import seccomp
from reconciler.policy.model import Policy
from reconciler.policy.paths import HostFS
from reconciler.policy.rules import Finding

BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
RESTRICTED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})

_NAMESPACES = (
    ("networkMode", "network_mode"),
    ("pidMode", "pid_mode"),
    ("ipcMode", "ipc_mode"),
    ("utsMode", "uts_mode"),
    ("usernsMode", "userns_mode"),
    ("cgroupnsMode", "cgroupns_mode"),
)

# SELinux types a container may run as: the Pod Security Standards' baseline list.
_SELINUX_TYPES = frozenset({"container_t", "container_init_t", "container_kvm_t"})
_UNCONFINED = {
    "seccomp": "unconfined",
    "apparmor": "unconfined",
    "systempaths": "unconfined",
    "label": "disable",
}
_NUMERIC_USER_RE = re.compile(r"^(\d+)(:\d+)?$")
_PROC_FD_RE = re.compile(r"^/proc/[^/]+/fd(/|$)")


def container_findings(
    spec: ContainerSpec, in_set: Set[str], policy: Policy, host: HostFS
) -> Iterator[Finding]:
    """Every rule of this module, for one container (the admission keeps the active ones)."""
    if spec.privileged:
        yield Finding("baseline/privileged", ("spec", "privileged"), "privileged is not allowed")
    yield from _namespaces(spec, in_set)
    yield from _capabilities(spec)
    yield from _security_opt(spec, host)
    yield from _user(spec)
    yield from _sysctls(spec, policy)
    yield from _ports(spec, policy)
    if spec.working_dir is not None:
        normal = "/" + posixpath.normpath(spec.working_dir).lstrip("/")
        if _PROC_FD_RE.match(normal):
            yield Finding(
                "baseline/working-dir",
                ("spec", "workingDir"),
                f"workingDir {spec.working_dir} is under /proc/*/fd: it would start the "
                "container in a host directory through a leaked file descriptor",
            )


def _namespaces(spec: ContainerSpec, in_set: Set[str]) -> Iterator[Finding]:
    for key, attr in _NAMESPACES:
        mode = getattr(spec, attr)
        if mode == "host":
            yield Finding("baseline/host-namespaces", ("spec", key), f"{key} host is not allowed")
        elif isinstance(mode, str) and mode.startswith("container:"):
            other = mode.removeprefix("container:")
            if other not in in_set:
                yield Finding(
                    "baseline/host-namespaces",
                    ("spec", key),
                    f"{key} {mode} joins a container that is not in this set",
                )


def _capabilities(spec: ContainerSpec) -> Iterator[Finding]:
    caps = spec.capabilities
    extra = sorted(set(caps.add) - BASELINE_CAPABILITIES)
    if extra:
        yield Finding(
            "baseline/capabilities",
            ("spec", "capabilities", "add"),
            f"adding {', '.join(extra)} is not allowed (baseline allows only "
            f"{', '.join(sorted(BASELINE_CAPABILITIES))})",
        )
    if "ALL" not in caps.drop:
        yield Finding(
            "restricted/capabilities",
            ("spec", "capabilities", "drop"),
            "capabilities.drop must include ALL",
        )
    beyond = sorted(set(caps.add) - RESTRICTED_CAPABILITIES)
    if beyond:
        yield Finding(
            "restricted/capabilities",
            ("spec", "capabilities", "add"),
            f"adding {', '.join(beyond)} is not allowed (restricted allows only NET_BIND_SERVICE)",
        )


def _split_opt(option: str) -> tuple[str, str]:
    """``key=value`` or the older ``key:value`` form -> (key, value), cut as the Engine cuts
    it (parseSecurityOpt): at the first '=' if there is one, else at the first ':'."""
    key, _, value = option.partition("=" if "=" in option else ":")
    return key.strip(), value.strip()


def _shown(option: str) -> str:
    """An option for a message: an inline seccomp profile can be long."""
    return option if len(option) <= 60 else option[:57] + "..."


def _security_opt(spec: ContainerSpec, host: HostFS) -> Iterator[Finding]:
    nnp = False
    for i, option in enumerate(spec.security_opt):
        key, value = _split_opt(option)
        where = ("spec", "securityOpt", i)
        if key == "no-new-privileges" and value in ("", "true"):
            nnp = True
        if _UNCONFINED.get(key) == value:
            yield Finding("baseline/security-opt", where, f"securityOpt {option} is not allowed")
        elif key == "disable" and not value:
            yield Finding(
                "baseline/security-opt",
                where,
                f"securityOpt {option} is not allowed (the Engine reads it as label=disable)",
            )
        elif key == "seccomp":
            reason = seccomp.profile_reason(value, host)
            if reason is not None:
                yield Finding(
                    "baseline/security-opt",
                    where,
                    f"securityOpt {_shown(option)} is not allowed: the profile {reason}",
                )
        elif key == "label":
            sub, _, label = value.partition(":")
            if sub in ("user", "role") or (sub == "type" and label not in _SELINUX_TYPES):
                yield Finding(
                    "baseline/security-opt",
                    where,
                    f"securityOpt {option} is not allowed (SELinux: only level, or type "
                    f"{', '.join(sorted(_SELINUX_TYPES))})",
                )
    if not nnp:
        yield Finding(
            "restricted/no-new-privileges",
            ("spec", "securityOpt"),
            "securityOpt must include no-new-privileges",
        )


def _user(spec: ContainerSpec) -> Iterator[Finding]:
    user = spec.user
    match = _NUMERIC_USER_RE.match(user.strip()) if user is not None else None
    if match is None:
        what = (
            "is not set (the image's user, often root, applies)"
            if user is None
            else (f"{user!r} is not numeric (a name cannot be checked before the container runs)")
        )
        yield Finding("restricted/run-as-non-root", ("spec", "user"), f"user {what}")
    elif int(match.group(1)) == 0:
        yield Finding("restricted/run-as-non-root", ("spec", "user"), "user 0 is root")


def _sysctls(spec: ContainerSpec, policy: Policy) -> Iterator[Finding]:
    for key in sorted(spec.sysctls):
        if key not in policy.sysctls:
            yield Finding(
                "baseline/sysctls", ("spec", "sysctls", key), f"sysctl {key} is not in the safe set"
            )


def _ports(spec: ContainerSpec, policy: Policy) -> Iterator[Finding]:
    for i, port in enumerate(spec.ports):
        if port.host_port is None:
            continue
        where = ("spec", "ports", i)
        ranges = policy.port_ranges
        first, last = port_range(port.host_port)
        if ranges and not any(low <= first and last <= high for low, high in ranges):
            shown = ", ".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ranges)
            what = f"port {first}" if first == last else f"ports {first}-{last}"
            yield Finding(
                "baseline/host-ports",
                (*where, "hostPort"),
                f"host {what} {'is' if first == last else 'are'} outside the allowed ranges "
                f"({shown})",
            )
        addresses = policy.port_addresses
        address = port.host_ip or "0.0.0.0"
        if addresses and not _address_allowed(address, addresses):
            yield Finding(
                "baseline/host-ports",
                (*where, "hostIP" if port.host_ip else "hostPort"),
                f"host address {address}{'' if port.host_ip else ' (every address)'} is not "
                f"allowed (allowed: {', '.join(sorted(addresses))})",
            )


def _address_allowed(address: str, allowed: Set[str]) -> bool:
    return ipaddress.ip_address(address) in {ipaddress.ip_address(a) for a in allowed}
