"""The rule table of the host-access policy: ids, what each rule checks, and violations.

A rule id is ``<profile>/<name>``: the profile that introduces the rule and a short name. The
ids are API: they appear in every message, in policy files (per-rule overrides) and in docs.
``restricted`` holds every ``baseline`` rule plus its own; ``privileged`` holds none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from reconciler.errors import Location

Mode = Literal["enforce", "warn", "audit"]
Profile = Literal["privileged", "baseline", "restricted"]

MODES: tuple[Mode, ...] = ("enforce", "warn", "audit")
PROFILES: tuple[Profile, ...] = ("privileged", "baseline", "restricted")


@dataclass(frozen=True)
class Rule:
    """One rule: its id, what it checks, the Docker field it maps to, and how to allow it."""

    id: str
    checks: str
    field: str
    docker: str
    allow: str
    default_mode: Mode | None = None  # the strictest mode this rule runs in unless overridden
    supersedes: tuple[str, ...] = ()  # baseline rules this stricter rule replaces in its profile

    @property
    def profile(self) -> Profile:
        """The profile that introduces the rule."""
        profile = self.id.split("/", 1)[0]
        assert profile in ("baseline", "restricted"), self.id
        return "baseline" if profile == "baseline" else "restricted"

    @property
    def name(self) -> str:
        """The short name (the id without its profile)."""
        return self.id.split("/", 1)[1]


_EXEMPT = "rules:\n  RULE: {exempt: [NAME]}   # or {mode: warn} for every resource"

RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            "baseline/privileged",
            "the container is not privileged (every device, every capability, no confinement)",
            "spec.privileged",
            "HostConfig.Privileged",
            _EXEMPT,
        ),
        Rule(
            "baseline/host-namespaces",
            "no host network, pid, ipc, uts, user or cgroup namespace; container:NAME only "
            "for a container of the same set",
            "spec.networkMode, pidMode, ipcMode, utsMode, usernsMode, cgroupnsMode",
            "HostConfig.NetworkMode, PidMode, IpcMode, UTSMode, UsernsMode, CgroupnsMode",
            _EXEMPT,
        ),
        Rule(
            "baseline/capabilities",
            "added capabilities are within the baseline set (AUDIT_WRITE, CHOWN, DAC_OVERRIDE, "
            "FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, "
            "SYS_CHROOT)",
            "spec.capabilities.add",
            "HostConfig.CapAdd",
            _EXEMPT,
        ),
        Rule(
            "restricted/capabilities",
            "every capability is dropped (drop: [ALL]) and only NET_BIND_SERVICE is added",
            "spec.capabilities",
            "HostConfig.CapDrop, HostConfig.CapAdd",
            _EXEMPT,
            supersedes=("baseline/capabilities",),
        ),
        Rule(
            "baseline/bind-mounts",
            "bind sources exist, resolve (through symlinks) outside the always-denied paths "
            "and runtime sockets, and under an allowlisted prefix when the policy lists binds "
            "(read-only unless the entry allows read-write); a unix socket, or a directory "
            "holding one, only when the policy lists it under sockets; no shared propagation; "
            "host paths named by a volume's driver options (o=bind with device, overlay "
            "directories) are judged the same way",
            "spec.mounts[type=bind], Volume spec.driverOpts (device, o)",
            "HostConfig.Mounts (Type bind), volume DriverOpts",
            "binds:\n  - {path: /srv/app}                  # read-only\n"
            "  - {path: /srv/data, readWrite: true}\n"
            "sockets: [/run/app/app.sock]          # never a container runtime's",
        ),
        Rule(
            "restricted/bind-mounts",
            "no bind mounts at all (named volumes that are really binds included)",
            "spec.mounts[type=bind], Volume spec.driverOpts",
            "HostConfig.Mounts (Type bind)",
            "profile: baseline   # restricted never allows binds; use a named volume",
            supersedes=("baseline/bind-mounts", "baseline/bind-relabel"),
        ),
        Rule(
            "baseline/bind-relabel",
            "an SELinux relabel (selinux: z or Z) only of a bind source the policy allows "
            "read-write, and never of a top-level directory, a home directory, or a directory "
            "directly under /var or /run",
            "spec.mounts[type=bind].selinux",
            "HostConfig.Binds (:z, :Z)",
            "binds:\n  - {path: /srv/app/data, readWrite: true}   # the service's own directory\n"
            "rules:\n  RULE: {exempt: [NAME]}   # to relabel a system directory anyway",
        ),
        Rule(
            "baseline/volume-drivers",
            "named volumes use the local driver or a driver the policy lists",
            "Volume spec.driver",
            "volume Driver",
            "volumeDrivers: [DRIVER]",
        ),
        Rule(
            "baseline/volume-options",
            "local-driver volumes use only the driver's options (type, o, device, size) and "
            "a mount type from: tmpfs, nfs, nfs4, cifs, smb3, overlay, ext2, ext3, ext4, xfs, "
            "btrfs (or o=bind); never proc, sysfs or another type that exposes the host",
            "Volume spec.driverOpts (type, o, device)",
            "volume DriverOpts",
            "rules:\n  RULE: {exempt: [NAME]}   # no policy entry allows another mount type",
        ),
        Rule(
            "baseline/devices",
            "host devices are allowlisted (by default only /dev/null, /dev/zero, /dev/full, "
            "/dev/random, /dev/urandom), with permissions within the entry's; memory, port and "
            "raw disk devices are always denied; block-device volumes are judged the same way",
            "spec.devices, Volume spec.driverOpts.device",
            "HostConfig.Devices",
            "devices:\n  - {path: /dev/ttyUSB0, permissions: rw}",
        ),
        Rule(
            "baseline/device-cgroup-rules",
            "device cgroup rules are exactly allowlisted rules (permissions may be fewer); "
            "never a wildcard or type a",
            "spec.deviceCgroupRules",
            "HostConfig.DeviceCgroupRules",
            'deviceCgroupRules: ["c 188:0 rw"]',
        ),
        Rule(
            "baseline/gpus",
            "GPUs (gpus, an NVIDIA runtime, or an NVIDIA_VISIBLE_DEVICES variable) only when the "
            "policy grants them",
            "spec.gpus, spec.runtime, spec.env.NVIDIA_VISIBLE_DEVICES",
            "HostConfig.DeviceRequests, HostConfig.Runtime, Config.Env",
            "gpus: [NAME]    # or true for every container",
        ),
        Rule(
            "baseline/runtimes",
            "the OCI runtime is the Engine's default, one known to apply the isolation asked for "
            "(runc, io.containerd.runc.v2, crun, youki, runsc, io.containerd.runsc.v1, kata, "
            "kata-runtime, io.containerd.kata.v2) or one the policy lists; an NVIDIA runtime is "
            "a GPU request (baseline/gpus)",
            "spec.runtime",
            "HostConfig.Runtime",
            "runtimes: [RUNTIME]   # its name in the Engine's daemon.json",
        ),
        Rule(
            "baseline/logging",
            "the logging driver is built into the Engine and uses no host credentials, or the "
            "policy lists it (awslogs and gcplogs write with the host's cloud credentials; a "
            "plugin runs as root on the host); no option names a host file for the Engine to "
            "read (syslog-tls-ca-cert, syslog-tls-cert, syslog-tls-key, splunk-capath)",
            "spec.logging",
            "HostConfig.LogConfig",
            "loggingDrivers: [DRIVER]\n"
            "rules:\n  RULE: {exempt: [NAME]}   # no policy entry allows a host file option",
        ),
        Rule(
            "baseline/security-opt",
            "no unconfined seccomp (nor a profile that lets every call through: defaultAction "
            "SCMP_ACT_ALLOW or SCMP_ACT_LOG, or none at all), AppArmor or system paths, no "
            "label=disable (nor a bare disable), and SELinux labels limited to the container "
            "types (no user or role)",
            "spec.securityOpt",
            "HostConfig.SecurityOpt",
            _EXEMPT,
        ),
        Rule(
            "restricted/no-new-privileges",
            "securityOpt includes no-new-privileges",
            "spec.securityOpt",
            "HostConfig.SecurityOpt",
            "spec:\n  securityOpt: [no-new-privileges]   # in the manifest",
        ),
        Rule(
            "restricted/host-priority",
            "the container claims no priority over host processes: oomScoreAdj is not "
            "negative, and the rtprio ulimit is 0 (no real-time scheduling)",
            "spec.oomScoreAdj, spec.ulimits.rtprio",
            "HostConfig.OomScoreAdj, HostConfig.Ulimits",
            _EXEMPT,
        ),
        Rule(
            "restricted/tmpfs-options",
            "tmpfs mounts stay nosuid and nodev (no suid or dev option)",
            "spec.mounts[type=tmpfs].options",
            "HostConfig.Tmpfs",
            "spec:\n  mounts: [{type: tmpfs, target: /tmp, options: [exec]}]   # in the manifest",
        ),
        Rule(
            "restricted/run-as-non-root",
            "user is a numeric uid other than 0 (a name cannot be checked before the image runs)",
            "spec.user",
            "Config.User",
            'spec:\n  user: "1000:1000"   # in the manifest',
        ),
        Rule(
            "baseline/sysctls",
            "sysctls are in the safe set (kernel.shm_rmid_forced, net.ipv4.ip_local_port_range, "
            "net.ipv4.ip_unprivileged_port_start, net.ipv4.tcp_syncookies, "
            "net.ipv4.ping_group_range, net.ipv4.ip_local_reserved_ports, "
            "net.ipv4.tcp_keepalive_time, net.ipv4.tcp_fin_timeout, "
            "net.ipv4.tcp_keepalive_intvl, net.ipv4.tcp_keepalive_probes) or listed by the policy",
            "spec.sysctls",
            "HostConfig.Sysctls",
            "sysctls: [net.core.somaxconn]",
        ),
        Rule(
            "baseline/host-ports",
            "published host ports and addresses are within the policy's ranges (when it sets any)",
            "spec.ports[].hostPort, hostIP",
            "HostConfig.PortBindings",
            'ports:\n  ranges: ["8000-8999", "443"]\n  addresses: [127.0.0.1]',
        ),
        Rule(
            "baseline/network-drivers",
            "networks use the bridge driver or one the policy lists (macvlan and ipvlan put "
            "containers on a host interface's network; a plugin driver runs as root on the host)",
            "Network spec.driver",
            "network Driver",
            "networks:\n  drivers: [macvlan]",
        ),
        Rule(
            "baseline/host-interfaces",
            "the host interfaces a network names are listed by the policy: a macvlan or ipvlan "
            "parent, a bridge network's bridge name",
            "Network spec.driverOpts.parent, spec.driverOpts.com.docker.network.bridge.name",
            "network Options (parent, com.docker.network.bridge.name)",
            "networks:\n  parents: [eth0.100]\n  bridges: [br-lan]",
        ),
        Rule(
            "baseline/working-dir",
            "the working directory is not under /proc/*/fd (a leaked host file descriptor)",
            "spec.workingDir",
            "Config.WorkingDir",
            "spec:\n  workingDir: /app   # in the manifest; this is never allowed",
        ),
        Rule(
            "baseline/manifest-permissions",
            "the manifests directory, its subdirectories and manifest files are not writable "
            "by group or others and are owned by the reconciler's user (or root)",
            "the manifests directory",
            "(none: host files)",
            "chmod go-w DIR FILES; chown to the reconciler's user, or\n"
            "rules:\n  baseline/manifest-permissions: {mode: audit}",
            default_mode="warn",
        ),
    )
}


def active_rules(profile: Profile) -> tuple[Rule, ...]:
    """The rules a profile runs, superseded baseline rules left out."""
    if profile == "privileged":
        return ()
    chosen = [r for r in RULES.values() if profile == "restricted" or r.profile == "baseline"]
    gone = {old for r in chosen for old in r.supersedes}
    return tuple(r for r in chosen if r.id not in gone)


@dataclass(frozen=True)
class Violation:
    """One resource breaking one rule, and what the policy does about it (its mode)."""

    rule_id: str
    mode: Mode
    resource: str
    message: str
    location: Location
    field: str = ""

    def __str__(self) -> str:
        where = f" ({self.location})" if self.location.file else ""
        return f"[{self.rule_id}] {self.resource}: {self.message}{where}"


_MODE_WORDS: dict[Mode, str] = {
    "enforce": "refused (enforce): nothing is created or changed for it",
    "warn": "allowed with a warning (warn)",
    "audit": "allowed and recorded (audit)",
}


def explain(violation: Violation) -> str:
    """A few lines for people: the violation, the rule, its Docker field, and how to allow it."""
    rule = RULES.get(violation.rule_id)
    lines = [str(violation), f"  outcome: {_MODE_WORDS[violation.mode]}"]
    if rule is None:
        return "\n".join(lines)
    allow = rule.allow.replace("RULE", rule.id)
    lines += [
        f"  rule:    {rule.id} ({rule.profile} profile): {rule.checks}",
        f"  field:   {rule.field}  ->  Docker {rule.docker}",
        "  to allow it, in the policy file (docs/policy.md):",
        *(f"    {line}" for line in allow.splitlines()),
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class Finding:
    """A rule broken at a field of one manifest, before the policy's mode is applied."""

    rule_id: str
    path: tuple[str | int, ...]
    message: str
