"""The container options added with issue 14, as the policy judges them: runtimes (an NVIDIA
runtime is a GPU request), logging drivers and options, ulimits and oomScoreAdj, tmpfs flags,
SELinux relabels of binds, port ranges, and the options that give no host access at all.

Spec lines start at line 5 of m.yaml, column 3 (see ``support.container``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import ManifestError
from reconciler.policy import RULES, Policy, explain, load_policy
from reconciler.policy.model import KNOWN_RUNTIMES, SAFE_LOGGING_DRIVERS
from tests.policy.support import (
    FakeHost,
    admit_text,
    container,
    fake_host,
    messages,
    network,
    policy,
    volume,
)

RESTRICTED = policy("profile: restricted\n")
# What restricted needs of any container; each test adds its own lines after these.
HARDENED = (
    '  image: x\n  user: "1000:1000"\n  capabilities: {drop: [ALL]}\n'
    "  securityOpt: [no-new-privileges]\n"
)


def judged(spec: str, pol: Policy | None = None, host: FakeHost | None = None) -> list[str]:
    """Every message for one container named web with this spec."""
    return messages(admit_text(container(spec), policy=pol, host=host))


# --- runtime ---------------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", sorted(KNOWN_RUNTIMES))
def test_known_runtimes_are_allowed(runtime: str) -> None:
    assert judged(f"  image: x\n  runtime: {runtime}\n") == []
    assert judged(HARDENED + f"  runtime: {runtime}\n", RESTRICTED) == []


def test_the_rule_text_lists_the_known_runtimes() -> None:
    listed = RULES["baseline/runtimes"].checks.split("(", 1)[1].split(")", 1)[0]
    assert sorted(listed.split(", ")) == sorted(KNOWN_RUNTIMES)


def test_another_runtime_needs_the_policy() -> None:
    spec = "  image: x\n  runtime: sysbox-runc\n"
    assert judged(spec) == [
        '[baseline/runtimes] container "web": runtime sysbox-runc is not allowed (allowed: '
        "crun, io.containerd.kata.v2, io.containerd.runc.v2, io.containerd.runsc.v1, kata, "
        "kata-runtime, runc, runsc, youki): a runtime runs as root on the host and applies, "
        "or not, every isolation setting of the container (m.yaml:6:3)"
    ]
    assert judged(spec, policy("runtimes: [sysbox-runc]\n")) == []
    # Restricted runs the baseline rule too.
    restricted = judged(HARDENED + "  runtime: sysbox-runc\n", RESTRICTED)
    assert [m.split(":")[0] for m in restricted] == ['[baseline/runtimes] container "web"']


@pytest.mark.parametrize("runtime", ["nvidia", "nvidia-container-runtime", "NVIDIA-legacy"])
def test_an_nvidia_runtime_is_a_gpu_request(runtime: str) -> None:
    spec = f"  image: x\n  runtime: {runtime}\n"
    # Judged exactly as gpus: the GPU rule and its grant, never the runtime allowlist.
    assert judged(spec) == [
        f'[baseline/gpus] container "web": runtime {runtime} is NVIDIA\'s, which gives the '
        "container GPUs (those its image's NVIDIA_VISIBLE_DEVICES names); GPUs are not granted "
        "to this container (m.yaml:6:3)"
    ]
    assert judged(spec, policy("gpus: [web]\n")) == []
    assert judged(spec, policy("gpus: true\n")) == []
    assert len(judged(spec, policy("gpus: [other]\n"))) == 1


def test_a_policy_file_cannot_list_an_nvidia_runtime(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("apiVersion: reconcile/v1\nkind: Policy\nruntimes: [nvidia, ok, 'no/slash']\n")
    path.chmod(0o644)
    with pytest.raises(ManifestError) as caught:
        load_policy(path, environ={})
    assert [str(p).replace(f"{tmp_path}/", "") for p in caught.value.problems] == [
        "policy.yaml:3:12: runtimes[0]: nvidia is an NVIDIA runtime, which is a GPU request: "
        "grant GPUs with gpus instead",
        "policy.yaml:3:24: runtimes[2]: 'no/slash' is not a runtime name (letters, digits, and "
        "_ . -)",
    ]


# --- logging ---------------------------------------------------------------------------------


@pytest.mark.parametrize("driver", sorted(SAFE_LOGGING_DRIVERS))
def test_built_in_logging_drivers_without_host_credentials_are_allowed(driver: str) -> None:
    assert judged(f"  image: x\n  logging: {{driver: {driver}}}\n") == []
    assert judged(HARDENED + f"  logging: {{driver: {driver}}}\n", RESTRICTED) == []


def test_logging_options_are_allowed_even_when_they_name_an_address_or_socket() -> None:
    # The Engine writes the driver's own frames there and reads nothing back for the container.
    spec = (
        "  image: x\n  logging:\n    driver: syslog\n    options:\n"
        "      syslog-address: unix:///run/docker.sock\n      tag: web\n"
    )
    assert judged(spec) == []
    rotated = '  logging: {driver: json-file, options: {max-size: 10m, max-file: "3"}}\n'
    assert judged(HARDENED + rotated, RESTRICTED) == []


@pytest.mark.parametrize(
    ("driver", "why"),
    [
        (
            "awslogs",
            "it writes with the host's AWS credentials (the Engine's, or the instance role)",
        ),
        (
            "gcplogs",
            "it writes with the host's Google Cloud credentials (the Engine's, or the "
            "instance's service account)",
        ),
        ("loki", "a logging plugin runs as root on the host"),
    ],
)
def test_cloud_drivers_and_plugins_need_the_policy(driver: str, why: str) -> None:
    spec = f"  image: x\n  logging: {{driver: {driver}}}\n"
    assert judged(spec) == [
        f'[baseline/logging] container "web": logging driver {driver} is not allowed (allowed: '
        "fluentd, gelf, journald, json-file, local, logentries, none, splunk, syslog): "
        f"{why} (m.yaml:6:13)"
    ]
    assert judged(spec, policy(f"loggingDrivers: [{driver}]\n")) == []


@pytest.mark.parametrize(
    "option", ["syslog-tls-ca-cert", "syslog-tls-cert", "syslog-tls-key", "splunk-capath"]
)
def test_logging_options_naming_host_files_are_refused(option: str) -> None:
    spec = f"  image: x\n  logging: {{driver: syslog, options: {{{option}: /etc/pki/host.pem}}}}\n"
    assert judged(spec) == [
        f'[baseline/logging] container "web": logging option {option} names the host file '
        "/etc/pki/host.pem: the Engine would read it as root for the container (a CA bundle to "
        "trust, or a certificate and key to present as the host) (m.yaml:6:39)"
    ]
    exempt = policy("rules:\n  baseline/logging: {exempt: [web]}\n")
    assert judged(spec, exempt) == []


# --- ulimits and oomScoreAdj -------------------------------------------------------------------


def test_ulimits_are_allowed_by_baseline() -> None:
    spec = (
        "  image: x\n  ulimits:\n    nofile: {soft: 65536, hard: 65536}\n    memlock: -1\n"
        "    rtprio: 99\n    nice: 40\n    core: 0\n"
    )
    assert judged(spec) == []


def test_restricted_allows_ulimits_but_real_time_priority() -> None:
    ok = HARDENED + "  ulimits: {nofile: 65536, memlock: -1, nice: 40, rtprio: 0}\n"
    assert judged(ok, RESTRICTED) == []


@pytest.mark.parametrize(
    ("value", "shown"), [("99", "99"), ("-1", "unlimited"), ("{soft: 0, hard: 10}", "10")]
)
def test_restricted_refuses_real_time_priority(value: str, shown: str) -> None:
    spec = HARDENED + f"  ulimits:\n    rtprio: {value}\n"
    assert judged(spec, RESTRICTED) == [
        f'[restricted/host-priority] container "web": ulimit rtprio {shown} lets the '
        "container's processes take real-time scheduling, ahead of every host process "
        "(restricted allows rtprio 0 only) (m.yaml:10:5)"
    ]


def test_a_negative_oom_score_adj_is_allowed_by_baseline_only() -> None:
    assert judged("  image: x\n  oomScoreAdj: -500\n") == []
    assert judged(HARDENED + "  oomScoreAdj: 500\n", RESTRICTED) == []
    assert judged(HARDENED + "  oomScoreAdj: 0\n", RESTRICTED) == []
    assert judged(HARDENED + "  oomScoreAdj: -500\n", RESTRICTED) == [
        '[restricted/host-priority] container "web": oomScoreAdj -500 is negative: the kernel '
        "would kill host processes before this container when the host runs out of memory "
        "(restricted allows 0 to 1000) (m.yaml:9:3)"
    ]
    exempt = policy("profile: restricted\nrules:\n  restricted/host-priority: {exempt: [web]}\n")
    assert judged(HARDENED + "  oomScoreAdj: -500\n", exempt) == []


# --- tmpfs flags -----------------------------------------------------------------------------


def test_baseline_allows_every_tmpfs_flag() -> None:
    spec = "  image: x\n  mounts: [{type: tmpfs, target: /t, options: [exec, suid, dev]}]\n"
    assert judged(spec) == []


def test_restricted_keeps_tmpfs_nosuid_and_nodev() -> None:
    ok = HARDENED + (
        "  mounts: [{type: tmpfs, target: /t, options: [exec, nosuid, nodev, noatime]}]\n"
    )
    assert judged(ok, RESTRICTED) == []
    bad = HARDENED + "  mounts: [{type: tmpfs, target: /t, options: [suid, exec, dev]}]\n"
    assert judged(bad, RESTRICTED) == [
        '[restricted/tmpfs-options] container "web": tmpfs option suid is not allowed '
        "(restricted keeps every tmpfs nosuid and nodev) (m.yaml:9:48)",
        '[restricted/tmpfs-options] container "web": tmpfs option dev is not allowed '
        "(restricted keeps every tmpfs nosuid and nodev) (m.yaml:9:60)",
    ]


# --- SELinux relabels ------------------------------------------------------------------------


def relabel_host() -> FakeHost:
    host = fake_host({"/srv/home-link": "/home/alice"})
    host.paths |= {"/home/alice/app/data", "/var/www/html", "/run/mysqld/x", "/var/home/bob/x"}
    return host


def relabelled(
    source: str, flag: str = "Z", pol: Policy | None = None, ro: bool = False
) -> list[str]:
    extra = ", readOnly: true" if ro else ""
    mount = f"{{type: bind, source: {source}, target: /m, selinux: {flag}{extra}}}"
    spec = f"  image: x\n  mounts: [{mount}]\n"
    return judged(spec, pol, relabel_host())


@pytest.mark.parametrize("flag", ["z", "Z"])
def test_relabelling_a_directory_of_the_service_s_own_is_allowed(flag: str) -> None:
    assert relabelled("/srv/app/data", flag) == []
    assert relabelled("/home/alice/app/data", flag) == []
    rw = policy("binds: [{path: /srv/app/data, readWrite: true}]\n")
    assert relabelled("/srv/app/data", flag, rw, ro=True) == []


def relabel_refusal(text: str) -> list[str]:
    return [f'[baseline/bind-relabel] container "web": selinux {text} (m.yaml:6:60)']


@pytest.mark.parametrize(
    ("source", "shown", "kind"),
    [
        ("/srv", "/srv", "a top-level directory"),
        ("/tmp", "/tmp", "a top-level directory"),
        ("/home/alice", "/home/alice", "a home directory"),
        ("/srv/home-link", "/srv/home-link (resolves to /home/alice)", "a home directory"),
        ("/var/home/bob", "/var/home/bob", "a home directory"),
        ("/var/www", "/var/www", "a directory of host data directly under /var"),
        ("/run/mysqld", "/run/mysqld", "a host service's runtime directory"),
    ],
)
def test_relabelling_a_system_directory_is_refused(source: str, shown: str, kind: str) -> None:
    column = 60 + len(source) - len("/srv/app/data")
    assert relabelled(source) == [
        f'[baseline/bind-relabel] container "web": selinux Z relabels every file under {shown}, '
        f"{kind}: the host's own services and users would lose access to them; bind a "
        f"directory of the service's own below it (m.yaml:6:{column})"
    ]


def test_a_relabel_writes_so_it_needs_a_read_write_entry() -> None:
    ro = policy("binds: [{path: /srv/app}]\n")
    assert relabelled("/srv/app/data", "z", ro, ro=True) == relabel_refusal(
        "z relabels every file under /srv/app/data, a write to the host path, and the policy "
        "allows it read-only only: give its policy entry readWrite: true, or remove selinux"
    )
    etc = policy("binds: [{path: /etc/myapp}]\n")
    assert relabelled("/etc/myapp/conf", "z", etc, ro=True) == [
        '[baseline/bind-relabel] container "web": selinux z relabels every file under '
        "/etc/myapp/conf, a write to the host path, and /etc subtrees are allowed read-only "
        "only: remove selinux (m.yaml:6:62)"
    ]


def test_a_refused_bind_is_reported_once_by_the_bind_rule() -> None:
    found = relabelled("/var/lib")
    assert found == [
        '[baseline/bind-mounts] container "web": bind source /var/lib contains /var/lib/docker, '
        "which is always denied (m.yaml:6:25)"
    ]


def test_restricted_reports_a_relabelled_bind_once() -> None:
    spec = HARDENED + "  mounts: [{type: bind, source: /srv, target: /m, selinux: Z}]\n"
    assert judged(spec, RESTRICTED, relabel_host()) == [
        '[restricted/bind-mounts] container "web": bind mount of /srv is not allowed '
        "(restricted allows no bind mounts) (m.yaml:9:25)"
    ]


def test_a_relabel_refusal_explains_how_to_allow_it() -> None:
    spec = "  image: x\n  mounts: [{type: bind, source: /var/www, target: /m, selinux: z}]\n"
    (violation,) = admit_text(container(spec), host=relabel_host()).denied
    assert explain(violation) == (
        '[baseline/bind-relabel] container "web": selinux z relabels every file under /var/www, '
        "a directory of host data directly under /var: the host's own services and users would "
        "lose access to them; bind a directory of the service's own below it (m.yaml:6:55)\n"
        "  outcome: refused (enforce): nothing is created or changed for it\n"
        "  rule:    baseline/bind-relabel (baseline profile): an SELinux relabel (selinux: z or "
        "Z) only of a bind source the policy allows read-write, and never of a top-level "
        "directory, a home directory, or a directory directly under /var or /run\n"
        "  field:   spec.mounts[type=bind].selinux  ->  Docker HostConfig.Binds (:z, :Z)\n"
        "  to allow it, in the policy file (docs/policy.md):\n"
        "    binds:\n"
        "      - {path: /srv/app/data, readWrite: true}   # the service's own directory\n"
        "    rules:\n"
        "      baseline/bind-relabel: {exempt: [NAME]}   # to relabel a system directory anyway"
    )


def test_an_exemption_allows_a_relabel_the_rule_refuses() -> None:
    exempt = policy("rules:\n  baseline/bind-relabel: {exempt: [web]}\n")
    assert relabelled("/var/www", pol=exempt) == []


@pytest.mark.parametrize(("propagation", "refused"), [("shared", True), ("private", False)])
def test_shared_propagation_is_refused_with_or_without_a_relabel(
    propagation: str, refused: bool
) -> None:
    spec = (
        "  image: x\n  mounts: [{type: bind, source: /srv/app/data, target: /m, selinux: z, "
        f"propagation: {propagation}}}]\n"
    )
    found = judged(spec, host=relabel_host())
    assert [m.split(":")[0] for m in found] == (
        ['[baseline/bind-mounts] container "web"'] if refused else []
    )


# --- port ranges -----------------------------------------------------------------------------

SPLIT = policy('ports: {ranges: ["8000-8499", "8500-8999", 443]}\n')


def port(host_port: str, container_port: str = '"80-90"') -> str:
    return f"  image: x\n  ports: [{{containerPort: {container_port}, hostPort: {host_port}}}]\n"


def test_a_host_port_range_within_the_allowed_ranges_is_allowed() -> None:
    assert judged(port('"8000-8010"'), SPLIT) == []
    # Covered by two adjacent ranges, each port by one of them.
    assert judged(port('"8495-8505"'), SPLIT) == []
    # A range for a single container port: the Engine picks a free port in it.
    assert judged(port('"8000-8999"', "80"), SPLIT) == []


def test_a_host_port_range_outside_the_allowed_ranges_is_refused() -> None:
    assert judged(port('"9000-9010"'), SPLIT) == [
        '[baseline/host-ports] container "web": host ports 9000-9010 are outside the allowed '
        "ranges (8000-8499, 8500-8999, 443) (m.yaml:6:36)"
    ]


def test_a_host_port_range_partly_outside_names_the_ports_outside() -> None:
    assert judged(port('"8990-9000"'), SPLIT) == [
        '[baseline/host-ports] container "web": host ports 8990-9000 are not all within the '
        "allowed ranges (8000-8499, 8500-8999, 443): 9000 is outside (m.yaml:6:36)"
    ]
    assert judged(port('"440-450"', '"80-90"'), SPLIT) == [
        '[baseline/host-ports] container "web": host ports 440-450 are not all within the '
        "allowed ranges (8000-8499, 8500-8999, 443): 440-442, 444-450 are outside (m.yaml:6:36)"
    ]


def test_a_host_port_range_is_judged_by_its_address_too() -> None:
    local = policy('ports: {ranges: ["8000-8999"], addresses: [127.0.0.1]}\n')
    assert judged(port('"8000-8010"'), local) == [
        '[baseline/host-ports] container "web": host address 0.0.0.0 (every address) is not '
        "allowed (allowed: 127.0.0.1) (m.yaml:6:36)"
    ]


# --- options with no host access -------------------------------------------------------------

NO_HOST_ACCESS = (
    "  platform: linux/arm64\n"
    "  stdinOpen: true\n"
    "  shmSize: 256Mi\n"
    "  dns: [127.0.0.53, 1.1.1.1]\n"
    "  dnsSearch: [example.org]\n"
    "  dnsOptions: [ndots:2]\n"
    '  extraHosts: ["host.docker.internal:host-gateway", "db:10.0.0.5"]\n'
    "  resources: {cpusetCpus: 0-1, cpusetMems: '0'}\n"
    "  networks:\n"
    "    - {name: lan, ipv4Address: 172.30.0.10, ipv6Address: 'fd00::10', "
    "macAddress: '02:42:ac:1e:00:0a'}\n"
    "  mounts:\n"
    "    - {type: volume, target: /cache}\n"
    "    - {type: volume, source: data, target: /data, noCopy: true}\n"
    "  ports: [{containerPort: 8000-8001}]\n"
)
LAN = network("{enableIPv6: true, subnets: [{subnet: 172.30.0.0/24}, {subnet: 'fd00::/64'}]}")


@pytest.mark.parametrize("profile", ["baseline", "restricted"])
def test_options_without_host_access_pass_every_profile(profile: str) -> None:
    docs = (container(HARDENED + NO_HOST_ACCESS), LAN, volume("{}"))
    assert messages(admit_text(*docs, policy=policy(f"profile: {profile}\n"))) == []


def test_a_misspelt_policy_key_suggests_the_new_ones(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("apiVersion: reconcile/v1\nkind: Policy\nloggingDriver: [awslogs]\n")
    path.chmod(0o644)
    with pytest.raises(ManifestError) as caught:
        load_policy(path, environ={})
    assert [str(p).replace(f"{tmp_path}/", "") for p in caught.value.problems] == [
        "policy.yaml:3:1: loggingDriver: unknown field 'loggingDriver'; did you mean "
        "loggingDrivers?"
    ]


def test_the_policy_file_adds_runtimes_and_logging_drivers() -> None:
    pol = policy("runtimes: [sysbox-runc]\nloggingDrivers: [awslogs]\n")
    assert pol.runtimes == KNOWN_RUNTIMES | {"sysbox-runc"}
    assert pol.logging_drivers == SAFE_LOGGING_DRIVERS | {"awslogs"}
    assert Policy().runtimes == KNOWN_RUNTIMES
    assert Policy().logging_drivers == SAFE_LOGGING_DRIVERS
