"""One test per container rule, allowed and denied, with the exact message and location.

Spec lines start at line 5 of m.yaml, column 3 (see ``support.container``).
"""

from __future__ import annotations

import pytest

from reconciler.policy import Policy, admit
from tests.policy.support import admit_text, container, fake_host, manifests, messages, policy

RESTRICTED_OK = (
    '  user: "1000:1000"\n  capabilities: {drop: [ALL]}\n  securityOpt: [no-new-privileges]\n'
)


def only(rule: str, *docs: str, pol: Policy | None = None) -> list[str]:
    """The messages of one rule."""
    return [m for m in messages(admit_text(*docs, policy=pol)) if m.startswith(f"[{rule}]")]


def test_a_plain_container_passes_baseline() -> None:
    assert messages(admit_text(container("  image: nginx\n"))) == []


def test_a_hardened_container_passes_restricted() -> None:
    doc = container("  image: nginx\n" + RESTRICTED_OK)
    assert messages(admit_text(doc, policy=policy("profile: restricted\n"))) == []


def test_privileged() -> None:
    assert only("baseline/privileged", container("  image: x\n  privileged: false\n")) == []
    assert only("baseline/privileged", container("  image: x\n  privileged: true\n")) == [
        '[baseline/privileged] container "web": privileged is not allowed (m.yaml:6:3)'
    ]


@pytest.mark.parametrize(
    "key", ["networkMode", "pidMode", "ipcMode", "utsMode", "usernsMode", "cgroupnsMode"]
)
def test_host_namespaces(key: str) -> None:
    assert only("baseline/host-namespaces", container(f"  image: x\n  {key}: host\n")) == [
        f'[baseline/host-namespaces] container "web": {key} host is not allowed (m.yaml:6:3)'
    ]


def test_private_namespaces_and_joining_a_container_of_the_set_are_allowed() -> None:
    docs = (
        container("  image: x\n  networkMode: none\n  ipcMode: shareable\n", "db"),
        container("  image: x\n  networkMode: container:db\n  pidMode: container:db\n"),
    )
    assert only("baseline/host-namespaces", *docs) == []


def test_joining_a_container_outside_the_set_is_refused_even_if_the_loader_missed_it() -> None:
    _, web = manifests(
        container("  image: x\n", "db"),
        container("  image: x\n  ipcMode: container:db\n"),
    )
    # Defence in depth: hand admission a set without db, as a buggy caller might.
    admission = admit([web], Policy(), host=fake_host())
    assert messages(admission) == [
        '[baseline/host-namespaces] container "web": ipcMode container:db joins a container '
        "that is not in this set (m.yaml:12:3)"
    ]


def test_baseline_capabilities() -> None:
    ok = container("  image: x\n  capabilities: {add: [NET_BIND_SERVICE, CHOWN, SYS_CHROOT]}\n")
    assert only("baseline/capabilities", ok) == []
    bad = container("  image: x\n  capabilities: {add: [CAP_SYS_ADMIN, NET_RAW, CHOWN]}\n")
    assert only("baseline/capabilities", bad) == [
        '[baseline/capabilities] container "web": adding NET_RAW, SYS_ADMIN is not allowed '
        "(baseline allows only AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, "
        "NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT) (m.yaml:6:18)"
    ]


def test_adding_all_capabilities_is_refused() -> None:
    bad = container("  image: x\n  capabilities: {add: [ALL]}\n")
    assert only("baseline/capabilities", bad)[0].startswith(
        '[baseline/capabilities] container "web": adding ALL is not allowed'
    )


def test_restricted_capabilities() -> None:
    restricted = policy("profile: restricted\n")
    ok = container(
        '  image: x\n  user: "1"\n  securityOpt: [no-new-privileges]\n'
        "  capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}\n"
    )
    assert messages(admit_text(ok, policy=restricted)) == []
    bad = container(
        '  image: x\n  user: "1"\n  securityOpt: [no-new-privileges]\n'
        "  capabilities: {drop: [NET_RAW], add: [CHOWN]}\n"
    )
    # The restricted rule supersedes the baseline one: CHOWN is reported once.
    assert messages(admit_text(bad, policy=restricted)) == [
        '[restricted/capabilities] container "web": capabilities.drop must include ALL '
        "(m.yaml:8:18)",
        '[restricted/capabilities] container "web": adding CHOWN is not allowed (restricted '
        "allows only NET_BIND_SERVICE) (m.yaml:8:35)",
    ]


@pytest.mark.parametrize(
    "option",
    [
        "seccomp=unconfined",
        "seccomp:unconfined",
        "apparmor=unconfined",
        "apparmor:unconfined",
        "label=disable",
        "label:disable",
        "systempaths=unconfined",
    ],
)
def test_unconfined_security_options(option: str) -> None:
    doc = container(f'  image: x\n  securityOpt: ["{option}"]\n')
    assert only("baseline/security-opt", doc) == [
        f'[baseline/security-opt] container "web": securityOpt {option} is not allowed '
        "(m.yaml:6:17)"
    ]


def test_selinux_labels() -> None:
    ok = container('  image: x\n  securityOpt: ["label=type:container_t", "label=level:s0:c1"]\n')
    assert only("baseline/security-opt", ok) == []
    bad = container('  image: x\n  securityOpt: ["label=type:spc_t", "label=user:root"]\n')
    assert [m.split(" is not allowed")[0] for m in only("baseline/security-opt", bad)] == [
        '[baseline/security-opt] container "web": securityOpt label=type:spc_t',
        '[baseline/security-opt] container "web": securityOpt label=user:root',
    ]


def test_custom_seccomp_profiles_and_apparmor_profiles_are_allowed() -> None:
    host = fake_host()
    host.files["/etc/p.json"] = '{"defaultAction": "SCMP_ACT_ERRNO"}'
    doc = container('  image: x\n  securityOpt: ["seccomp=/etc/p.json", "apparmor=docker-x"]\n')
    assert messages(admit_text(doc, host=host)) == []


@pytest.mark.parametrize("option", ["no-new-privileges", "no-new-privileges:true"])
def test_restricted_requires_no_new_privileges(option: str) -> None:
    restricted = policy("profile: restricted\n")
    base = '  image: x\n  user: "1"\n  capabilities: {drop: [ALL]}\n'
    doc = container(base + f'  securityOpt: ["{option}"]\n')
    assert only("restricted/no-new-privileges", doc, pol=restricted) == []
    off = container(base + '  securityOpt: ["no-new-privileges:false"]\n')
    assert only("restricted/no-new-privileges", off, pol=restricted) == [
        '[restricted/no-new-privileges] container "web": securityOpt must include '
        "no-new-privileges (m.yaml:8:3)"
    ]


def test_no_new_privileges_is_not_required_by_baseline() -> None:
    assert only("restricted/no-new-privileges", container("  image: x\n")) == []


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ('"1000"', None),
        ('"1000:0"', None),
        ("65534", None),
        ('"0"', "user 0 is root (m.yaml:6:3)"),
        ('"0:1000"', "user 0 is root (m.yaml:6:3)"),
        (
            "nobody",
            "user 'nobody' is not numeric (a name cannot be checked before the container "
            "runs) (m.yaml:6:3)",
        ),
    ],
)
def test_restricted_run_as_non_root(user: str, expected: str | None) -> None:
    doc = container(
        f"  image: x\n  user: {user}\n  capabilities: {{drop: [ALL]}}\n"
        "  securityOpt: [no-new-privileges]\n"
    )
    found = only("restricted/run-as-non-root", doc, pol=policy("profile: restricted\n"))
    assert found == (
        [] if expected is None else [f'[restricted/run-as-non-root] container "web": {expected}']
    )


def test_restricted_needs_a_user() -> None:
    doc = container("  image: x\n  capabilities: {drop: [ALL]}\n")
    assert only("restricted/run-as-non-root", doc, pol=policy("profile: restricted\n")) == [
        '[restricted/run-as-non-root] container "web": user is not set (the image\'s user, '
        "often root, applies) (m.yaml:4:1)"
    ]


def test_sysctls() -> None:
    ok = container("  image: x\n  sysctls: {net.ipv4.tcp_syncookies: 1}\n")
    assert only("baseline/sysctls", ok) == []
    bad = container("  image: x\n  sysctls: {net.core.somaxconn: 1024, kernel.msgmax: 1}\n")
    assert only("baseline/sysctls", bad) == [
        '[baseline/sysctls] container "web": sysctl kernel.msgmax is not in the safe set '
        "(m.yaml:6:39)",
        '[baseline/sysctls] container "web": sysctl net.core.somaxconn is not in the safe set '
        "(m.yaml:6:13)",
    ]
    added = policy("sysctls: [net.core.somaxconn, kernel.msgmax]\n")
    assert only("baseline/sysctls", bad, pol=added) == []


def test_host_ports_are_unlimited_by_default() -> None:
    doc = container("  image: x\n  ports: [{containerPort: 80, hostPort: 80}]\n")
    assert only("baseline/host-ports", doc) == []


def test_host_ports_limited_to_ranges_and_addresses() -> None:
    limits = policy('ports: {ranges: ["8000-8999", 443], addresses: [127.0.0.1]}\n')
    ok = container(
        "  image: x\n  ports:\n"
        "    - {containerPort: 80, hostPort: 8080, hostIP: 127.0.0.1}\n"
        "    - {containerPort: 443, hostPort: 443, hostIP: 127.0.0.1}\n"
        "    - {containerPort: 9000}\n"
    )
    assert only("baseline/host-ports", ok, pol=limits) == []
    bad = container(
        "  image: x\n  ports:\n"
        "    - {containerPort: 80, hostPort: 80, hostIP: 127.0.0.1}\n"
        "    - {containerPort: 81, hostPort: 8081}\n"
    )
    assert only("baseline/host-ports", bad, pol=limits) == [
        '[baseline/host-ports] container "web": host port 80 is outside the allowed ranges '
        "(8000-8999, 443) (m.yaml:7:27)",
        '[baseline/host-ports] container "web": host address 0.0.0.0 (every address) is not '
        "allowed (allowed: 127.0.0.1) (m.yaml:8:27)",
    ]


@pytest.mark.parametrize(
    "workdir", ["/proc/self/fd/7", "/proc/1/fd", "/proc/self/../self/fd/3", "//proc/self/fd/8"]
)
def test_working_dir_under_proc_fd(workdir: str) -> None:
    doc = container(f"  image: x\n  workingDir: {workdir}\n")
    assert only("baseline/working-dir", doc) == [
        f'[baseline/working-dir] container "web": workingDir {workdir} is under /proc/*/fd: it '
        "would start the container in a host directory through a leaked file descriptor "
        "(m.yaml:6:3)"
    ]


def test_working_dir_elsewhere_is_allowed() -> None:
    assert only("baseline/working-dir", container("  image: x\n  workingDir: /proc-fd/x\n")) == []


def test_gpus_need_a_grant() -> None:
    gpu = container("  image: x\n  gpus: {count: 1}\n", "worker")
    assert only("baseline/gpus", gpu) == [
        '[baseline/gpus] container "worker": GPUs are not granted to this container (m.yaml:6:3)'
    ]
    assert only("baseline/gpus", gpu, pol=policy("gpus: [worker]\n")) == []
    assert only("baseline/gpus", gpu, pol=policy("gpus: true\n")) == []
    assert len(only("baseline/gpus", gpu, pol=policy("gpus: [other]\n"))) == 1


def test_nvidia_visible_devices_counts_as_a_gpu_request() -> None:
    env = container("  image: x\n  env: {NVIDIA_VISIBLE_DEVICES: all}\n")
    assert only("baseline/gpus", env) == [
        '[baseline/gpus] container "web": NVIDIA_VISIBLE_DEVICES=all requests GPUs through the '
        "NVIDIA runtime; GPUs are not granted to this container (m.yaml:6:9)"
    ]
    void = container("  image: x\n  env: {NVIDIA_VISIBLE_DEVICES: void}\n")
    assert only("baseline/gpus", void) == []


def test_the_privileged_profile_checks_nothing() -> None:
    doc = container(
        "  image: x\n  privileged: true\n  networkMode: host\n"
        "  mounts: [{type: bind, source: /, target: /host}]\n"
        "  devices: [{hostPath: /dev/mem}]\n"
    )
    assert messages(admit_text(doc, policy=policy("profile: privileged\n"))) == []
