"""Bind mounts and disguised volumes: denied paths, allowlists by component after resolving
symlinks, symlink and ``..`` tricks, prefix aliasing, and the resolved sources admission
hands on."""

from __future__ import annotations

import pytest

from reconciler.manifests import ContainerManifest
from reconciler.manifests.container import BindMount
from reconciler.policy import Policy
from tests.policy.support import admit_text, container, fake_host, messages, policy, volume

ALLOW = policy("binds:\n  - {path: /srv/app}\n  - {path: /srv/data, readWrite: true}\n")


def bind(source: str, extra: str = "") -> str:
    return container(
        f"  image: x\n  mounts: [{{type: bind, source: {source}, target: /m{extra}}}]\n"
    )


def judged(source: str, pol: Policy | None = None, extra: str = "", **links: str) -> list[str]:
    host = fake_host({"/" + k.replace("__", "/"): v for k, v in links.items()})
    return messages(admit_text(bind(source, extra), policy=pol, host=host))


def refusal(text: str) -> list[str]:
    return [f'[baseline/bind-mounts] container "web": bind source {text} (m.yaml:6:25)']


def test_baseline_without_an_allowlist_allows_ordinary_paths() -> None:
    assert judged("/srv/app/conf") == []
    assert judged("/tmp/x") == []


@pytest.mark.parametrize(
    ("source", "why"),
    [
        (
            "/etc",
            "is always denied (a policy bind entry naming a subdirectory of /etc can "
            "re-allow it, read-only)",
        ),
        (
            "/etc/shadow",
            "is under /etc, always denied (a policy bind entry naming a "
            "subdirectory of /etc can re-allow it, read-only)",
        ),
        ("/proc/1/root", "is under /proc, always denied"),
        (
            "/usr/share/zoneinfo/UTC",
            "is under /usr, always denied (a policy bind entry naming "
            "a subdirectory of /usr can re-allow it, read-only)",
        ),
        (
            "/lib64/ld.so",
            "is under /lib64, always denied (a policy bind entry naming a "
            "subdirectory of /lib64 can re-allow it, read-only)",
        ),
        ("/dev/null", "is under /dev, always denied"),
        ("/var/lib/docker/volumes", "is under /var/lib/docker, always denied"),
        ("/var/lib", "contains /var/lib/docker, which is always denied"),
        ("/var", "contains /var/lib/docker, which is always denied"),
        ("/", "is the whole host: always denied"),
        (
            "/run/docker.sock",
            "is a container runtime socket: access to it is root on the host, even read-only",
        ),
        (
            "/run/containerd/containerd.sock",
            "is a container runtime socket: access to it is root on the host, even read-only",
        ),
        (
            "/home/me/docker.sock",
            "is a container runtime socket: access to it is root on the host, even read-only",
        ),
        (
            "/run",
            "contains the container runtime socket /run/docker.sock (access to it is root "
            "on the host, even read-only)",
        ),
        (
            "/run/user/1000",
            "contains the container runtime socket /run/user/*/docker.sock "
            "(access to it is root on the host, even read-only)",
        ),
    ],
)
def test_always_denied(source: str, why: str) -> None:
    assert judged(source) == refusal(f"{source} {why}")
    # ... even when the policy allowlists it: a policy file refuses such entries (see
    # test_policy_file), so this one is built by hand.
    everything = Policy(binds=(("/", True), ("/etc", True), ("/var", True), ("/run", True)))
    assert judged(source, everything) == refusal(f"{source} {why}")


def test_the_docker_socket_read_only_is_still_denied() -> None:
    assert judged("/var/run/docker.sock", extra=", readOnly: true") == refusal(
        "/var/run/docker.sock (resolves to /run/docker.sock) is a container runtime socket: "
        "access to it is root on the host, even read-only"
    )


def test_a_symlink_to_a_denied_path_is_judged_where_it_points() -> None:
    assert judged("/srv/app/conf/link", srv__app__conf__link="/etc") == refusal(
        "/srv/app/conf/link (resolves to /etc) is always denied (a policy bind entry naming a "
        "subdirectory of /etc can re-allow it, read-only)"
    )


def test_a_relative_symlink_to_the_docker_socket() -> None:
    assert judged("/srv/app/s", srv__app__s="../../run/docker.sock") == refusal(
        "/srv/app/s (resolves to /run/docker.sock) is a container runtime socket: access to it "
        "is root on the host, even read-only"
    )


def test_dot_dot_escapes_are_resolved() -> None:
    assert judged("/srv/app/../../etc/shadow", ALLOW) == refusal(
        "/srv/app/../../etc/shadow (resolves to /etc/shadow) is under /etc, always denied (a "
        "policy bind entry naming a subdirectory of /etc can re-allow it, read-only)"
    )


def test_dot_dot_after_a_symlink_applies_to_the_resolved_path() -> None:
    # /srv/app/conf/up -> /srv/app-evil/x, so up/.. is /srv/app-evil, outside the allowlist.
    found = judged("/srv/app/conf/up/..", ALLOW, srv__app__conf__up="/srv/app-evil/x")
    assert found == refusal(
        "/srv/app/conf/up/.. (resolves to /srv/app-evil) is not under an allowlisted path "
        "(allowed: /srv/app, /srv/data)"
    )


def test_the_allowlist_compares_by_component_not_by_prefix() -> None:
    assert judged("/srv/app/conf", ALLOW, extra=", readOnly: true") == []
    assert judged("/srv/app-evil/x", ALLOW, extra=", readOnly: true") == refusal(
        "/srv/app-evil/x is not under an allowlisted path (allowed: /srv/app, /srv/data)"
    )
    ok = policy("binds: [{path: /srv/ok}]\n")
    assert judged("/srv/ok-evil", ok, extra=", readOnly: true") == refusal(
        "/srv/ok-evil is not under an allowlisted path (allowed: /srv/ok)"
    )


def test_a_symlink_inside_an_allowlisted_path_pointing_out_of_it_is_refused() -> None:
    found = judged("/srv/app/conf/l", ALLOW, extra=", readOnly: true", srv__app__conf__l="/tmp")
    assert found == refusal(
        "/srv/app/conf/l (resolves to /tmp) is not under an allowlisted path "
        "(allowed: /srv/app, /srv/data)"
    )


def test_allowlisted_binds_are_read_only_unless_the_entry_allows_read_write() -> None:
    assert judged("/srv/app/conf", ALLOW) == refusal(
        "/srv/app/conf is allowed read-only only: set readOnly: true, or give its policy entry "
        "readWrite: true"
    )
    assert judged("/srv/data", ALLOW) == []


def test_an_allowlist_entry_that_is_a_symlink_is_compared_resolved() -> None:
    pol = policy("binds: [{path: /srv/link}]\n")
    found = judged("/srv/app/conf", pol, extra=", readOnly: true", srv__link="/srv/app")
    assert found == []


def test_a_missing_source_is_an_error_never_created() -> None:
    assert judged("/srv/nope") == refusal(
        "/srv/nope does not exist; reconcile never creates bind sources: create it (with the "
        "owner and mode the service needs) first"
    )


def test_a_subpath_of_etc_can_be_re_allowed_read_only_by_an_explicit_entry() -> None:
    pol = policy("binds: [{path: /etc/myapp}]\n")
    assert judged("/etc/myapp/conf", pol, extra=", readOnly: true") == []
    assert judged("/etc/myapp/conf", pol) == refusal(
        "/etc/myapp/conf is under /etc: allowed read-only only; set readOnly: true"
    )
    assert judged("/etc/shadow", pol, extra=", readOnly: true") == refusal(
        "/etc/shadow is under /etc, always denied (a policy bind entry naming a subdirectory of "
        "/etc can re-allow it, read-only)"
    )


def test_a_re_allowed_entry_that_is_a_symlink_to_etc_itself_re_allows_nothing() -> None:
    pol = policy("binds: [{path: /srv/etc}]\n")
    found = judged("/etc/shadow", pol, extra=", readOnly: true", srv__etc="/etc")
    assert found == refusal(
        "/etc/shadow is under /etc, always denied (a policy bind entry naming a subdirectory of "
        "/etc can re-allow it, read-only)"
    )


def test_shared_propagation_is_refused() -> None:
    found = judged("/srv/app/conf", extra=", propagation: rshared")
    assert found == [
        '[baseline/bind-mounts] container "web": propagation rshared lets mounts made in the '
        "container appear on the host; use rprivate (the default), private, slave or rslave "
        "(m.yaml:6:60)"
    ]
    assert judged("/srv/app/conf", extra=", propagation: rslave") == []


def test_restricted_allows_no_bind_at_all() -> None:
    pol = policy("profile: restricted\nbinds: [{path: /srv/app}]\n")
    doc = container(
        '  image: x\n  user: "1"\n  capabilities: {drop: [ALL]}\n'
        "  securityOpt: [no-new-privileges]\n"
        "  mounts: [{type: bind, source: /srv/app/conf, target: /m, readOnly: true}]\n"
    )
    assert messages(admit_text(doc, policy=pol)) == [
        '[restricted/bind-mounts] container "web": bind mount of /srv/app/conf is not allowed '
        "(restricted allows no bind mounts) (m.yaml:9:25)"
    ]


def test_admission_hands_on_resolved_bind_sources() -> None:
    host = fake_host({"/srv/current": "/srv/app"})
    doc = container(
        "  image: x\n  mounts:\n"
        "    - {type: bind, source: /srv/current/conf, target: /a}\n"
        "    - {type: bind, source: /srv/app/./data/, target: /b}\n"
        "    - {type: tmpfs, target: /t}\n"
    )
    admission = admit_text(doc, host=host)
    manifest = admission.manifests[0].manifest
    assert isinstance(manifest, ContainerManifest)
    sources = [m.source for m in manifest.spec.mounts if isinstance(m, BindMount)]
    assert sources == ["/srv/app/conf", "/srv/app/data"]
    # Positions survive: a later problem still points at the right line.
    assert admission.manifests[0].locate("spec", "mounts", 1).line == 8


@pytest.mark.parametrize(
    ("opts", "why"),
    [
        ("{o: bind, device: /etc}", "device=/etc, o=bind"),
        ("{type: none, o: bind, device: /etc}", "device=/etc, o=bind, type=none"),
        ("{type: none, o: 'rbind,ro', device: /etc}", "device=/etc, o=rbind,ro, type=none"),
        ("{type: ext4, device: /etc}", "device=/etc, type=ext4"),
    ],
)
def test_a_volume_that_is_a_bind_of_etc_is_judged_as_that_bind(opts: str, why: str) -> None:
    docs = (
        volume(f"{{driverOpts: {opts}}}"),
        container("  image: x\n  mounts: [{type: volume, source: data, target: /d}]\n"),
    )
    assert messages(admit_text(*docs)) == [
        f'[baseline/bind-mounts] container "web": volume "data" is a bind ({why}): bind source '
        "/etc is always denied (a policy bind entry naming a subdirectory of /etc can re-allow "
        "it, read-only) (m.yaml:11:27)"
    ]


def test_a_volume_bind_follows_the_allowlist_and_read_only_rules() -> None:
    docs = (
        volume("{driverOpts: {type: none, o: bind, device: /srv/app/conf}}"),
        container("  image: x\n  mounts: [{type: volume, source: data, target: /d}]\n"),
        container(
            "  image: x\n  mounts: [{type: volume, source: data, target: /d, readOnly: true}]\n",
            "reader",
        ),
    )
    assert messages(admit_text(*docs, policy=ALLOW)) == [
        '[baseline/bind-mounts] container "web": volume "data" is a bind (device=/srv/app/conf, '
        "o=bind, type=none): bind source /srv/app/conf is allowed read-only only: set readOnly: "
        "true, or give its policy entry readWrite: true (m.yaml:11:27)"
    ]


def test_a_volume_on_a_raw_disk_is_judged_as_a_device() -> None:
    docs = (
        volume("{driverOpts: {type: ext4, device: /dev/sda}}"),
        container("  image: x\n  mounts: [{type: volume, source: data, target: /d}]\n"),
    )
    assert messages(admit_text(*docs)) == [
        '[baseline/devices] container "web": volume "data" mounts a block device (device=/dev/sda, '
        "type=ext4): device /dev/sda is physical memory, an I/O port or a raw disk: always "
        "denied (m.yaml:11:27)"
    ]


def test_an_unmounted_disguised_volume_is_judged_on_its_own() -> None:
    assert messages(admit_text(volume("{driverOpts: {o: bind, device: /run}}"))) == [
        '[baseline/bind-mounts] volume "data": it is a bind (device=/run, o=bind): bind source '
        "/run contains the container runtime socket /run/docker.sock (access to it is root on "
        "the host, even read-only) (m.yaml:4:30)"
    ]


def test_plain_tmpfs_and_remote_volumes_are_not_host_access() -> None:
    docs = (
        volume("{driverOpts: {type: tmpfs, device: tmpfs, o: size=10m}}", "t"),
        volume("{driverOpts: {type: nfs, o: 'addr=10.0.0.1', device: ':/export'}}", "n"),
        volume("{driverOpts: {type: cifs, device: //server/share}}", "c"),
    )
    assert messages(admit_text(*docs)) == []


def test_restricted_refuses_a_volume_that_is_a_bind() -> None:
    docs = (
        volume("{driverOpts: {o: bind, device: /srv/app}}"),
        container(
            '  image: x\n  user: "1"\n  capabilities: {drop: [ALL]}\n'
            "  securityOpt: [no-new-privileges]\n"
            "  mounts: [{type: volume, source: data, target: /d}]\n"
        ),
    )
    assert messages(admit_text(*docs, policy=policy("profile: restricted\n"))) == [
        '[restricted/bind-mounts] container "web": volume "data" is a bind of /srv/app '
        "(device=/srv/app, o=bind); restricted allows no bind mounts (m.yaml:14:27)"
    ]


def test_volume_drivers_other_than_local_need_the_policy() -> None:
    doc = volume("{driver: local-persist, driverOpts: {mountpoint: /etc}}")
    assert messages(admit_text(doc)) == [
        '[baseline/volume-drivers] volume "data": volume driver local-persist is not allowed '
        "(allowed: local); a driver can mount any host path (m.yaml:4:8)"
    ]
    assert messages(admit_text(doc, policy=policy("volumeDrivers: [local-persist]\n"))) == []
