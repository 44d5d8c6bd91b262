"""The container rules that read the manifest: privilege, namespaces, capabilities, security
options, user, sysctls, ports, working directory, runtime, logging and priority over host
processes (and a seccomp profile's file, if named)."""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Iterator, Sequence, Set

from reconciler.manifests.container import ContainerSpec, port_range
from reconciler.policy import seccomp
from reconciler.policy.model import Policy, is_nvidia_runtime
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

# Logging drivers that write with the host's cloud identity (the Engine's environment, or the
# instance's role through the metadata service).
_CLOUD_LOGGING = {
    "awslogs": "it writes with the host's AWS credentials (the Engine's, or the instance role)",
    "gcplogs": "it writes with the host's Google Cloud credentials (the Engine's, or the "
    "instance's service account)",
}
# Logging options whose value is a host file the Engine reads: a CA bundle, or a client
# certificate and key it then presents on the container's behalf.
_FILE_OPTIONS = ("splunk-capath", "syslog-tls-ca-cert", "syslog-tls-cert", "syslog-tls-key")
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
    yield from _runtime(spec, policy)
    yield from _logging(spec, policy)
    yield from _host_priority(spec)
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
        outside = _uncovered(first, last, ranges) if ranges else []
        if outside:
            shown = ", ".join(_range(r) for r in ranges)
            if outside == [(first, last)]:
                what = f"port {first} is" if first == last else f"ports {first}-{last} are"
                message = f"host {what} outside the allowed ranges ({shown})"
            else:
                # A range is allowed when the allowed ranges cover it, each port by one of them.
                gaps = ", ".join(_range(r) for r in outside)
                single = len(outside) == 1 and outside[0][0] == outside[0][1]
                message = (
                    f"host ports {first}-{last} are not all within the allowed ranges ({shown}): "
                    f"{gaps} {'is' if single else 'are'} outside"
                )
            yield Finding("baseline/host-ports", (*where, "hostPort"), message)
        addresses = policy.port_addresses
        address = port.host_ip or "0.0.0.0"
        if addresses and not _address_allowed(address, addresses):
            yield Finding(
                "baseline/host-ports",
                (*where, "hostIP" if port.host_ip else "hostPort"),
                f"host address {address}{'' if port.host_ip else ' (every address)'} is not "
                f"allowed (allowed: {', '.join(sorted(addresses))})",
            )


def _range(bounds: tuple[int, int]) -> str:
    low, high = bounds
    return str(low) if low == high else f"{low}-{high}"


def _uncovered(first: int, last: int, ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of the ports ``first``-``last`` that no range covers, in order."""
    gaps: list[tuple[int, int]] = []
    at = first
    for low, high in sorted(ranges):
        if high < at:
            continue
        if low > last:
            break
        if low > at:
            gaps.append((at, low - 1))
        at = high + 1
        if at > last:
            return gaps
    gaps.append((at, last))
    return gaps


def _address_allowed(address: str, allowed: Set[str]) -> bool:
    return ipaddress.ip_address(address) in {ipaddress.ip_address(a) for a in allowed}


def _runtime(spec: ContainerSpec, policy: Policy) -> Iterator[Finding]:
    runtime = spec.runtime
    # An NVIDIA runtime is a GPU request, judged by baseline/gpus (devices.gpu_findings).
    if runtime is None or is_nvidia_runtime(runtime) or runtime in policy.runtimes:
        return
    yield Finding(
        "baseline/runtimes",
        ("spec", "runtime"),
        f"runtime {runtime} is not allowed (allowed: {', '.join(sorted(policy.runtimes))}): "
        "a runtime runs as root on the host and applies, or not, every isolation setting of "
        "the container",
    )


def _logging(spec: ContainerSpec, policy: Policy) -> Iterator[Finding]:
    logging = spec.logging
    if logging is None:
        return
    driver = logging.driver
    if driver not in policy.logging_drivers:
        why = _CLOUD_LOGGING.get(driver, "a logging plugin runs as root on the host")
        yield Finding(
            "baseline/logging",
            ("spec", "logging", "driver"),
            f"logging driver {driver} is not allowed (allowed: "
            f"{', '.join(sorted(policy.logging_drivers))}): {why}",
        )
    for key in _FILE_OPTIONS:
        if key in logging.options:
            yield Finding(
                "baseline/logging",
                ("spec", "logging", "options", key),
                f"logging option {key} names the host file {logging.options[key]}: the Engine "
                "would read it as root for the container (a CA bundle to trust, or a "
                "certificate and key to present as the host)",
            )


def _host_priority(spec: ContainerSpec) -> Iterator[Finding]:
    score = spec.oom_score_adj
    if score is not None and score < 0:
        yield Finding(
            "restricted/host-priority",
            ("spec", "oomScoreAdj"),
            f"oomScoreAdj {score} is negative: the kernel would kill host processes before "
            "this container when the host runs out of memory (restricted allows 0 to 1000)",
        )
    limit = spec.ulimits.get("rtprio")
    if limit is not None:
        hard = limit if isinstance(limit, int) else limit.hard
        if hard != 0:
            shown = "unlimited" if hard == -1 else str(hard)
            yield Finding(
                "restricted/host-priority",
                ("spec", "ulimits", "rtprio"),
                f"ulimit rtprio {shown} lets the container's processes take real-time "
                "scheduling, ahead of every host process (restricted allows rtprio 0 only)",
            )
