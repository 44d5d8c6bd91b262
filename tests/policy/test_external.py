"""External volumes and networks judged by what the Engine has under their names
(``judge_external``), with the rules admission applies to declared ones: a local volume with
``o=bind`` is a bind of its device, a network is judged by its live driver and options."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from reconciler.policy import Policy, judge_external
from tests.policy.support import (
    admit_text,
    container,
    fake_host,
    manifests,
    messages,
    network,
    volume,
)
from tests.policy.support import policy as policy_from

MOUNTS = "  image: x\n  mounts: [{type: volume, source: data, target: /d}]\n"
MOUNTS_RO = "  image: x\n  mounts: [{type: volume, source: data, target: /d, readOnly: true}]\n"
JOINS = "  image: x\n  networks: [proxy]\n"
ROOT_BIND = {"type": "none", "o": "bind", "device": "/"}
ALLOW = policy_from("binds:\n  - {path: /srv/app}\n  - {path: /srv/data, readWrite: true}\n")

Live = tuple[str, Mapping[str, str]]


def judged(
    *docs: str,
    volumes: Mapping[str, Live] | None = None,
    networks: Mapping[str, Live] | None = None,
    pol: Policy | None = None,
) -> list[tuple[str, str, str, str]]:
    """(kind, name, mode, message) of every violation, for literal documents and live
    objects."""
    found = judge_external(
        manifests(*docs), volumes or {}, networks or {}, pol or Policy(), host=fake_host()
    )
    return [(kind, name, v.mode, str(v)) for kind, name, v in found]


def test_admission_leaves_external_references_alone() -> None:
    docs = (
        volume("{external: true}"),
        network("{external: true}", "proxy"),
        container(MOUNTS + "  networks: [proxy]\n"),
    )
    assert messages(admit_text(*docs)) == []


def test_a_disguised_bind_of_the_root_is_refused_for_the_container_that_mounts_it() -> None:
    found = judged(
        volume("{external: true}"), container(MOUNTS), volumes={"data": ("local", ROOT_BIND)}
    )
    assert found == [
        (
            "Container",
            "web",
            "enforce",
            '[baseline/bind-mounts] container "web": external volume "data" is a bind '
            "(device=/, o=bind, type=none): bind source / is the whole host: always denied "
            "(m.yaml:11:27)",
        )
    ]


@pytest.mark.parametrize(
    ("opts", "spec", "pol"),
    [
        (ROOT_BIND, MOUNTS, None),
        ({"type": "none", "o": "bind", "device": "/etc"}, MOUNTS_RO, None),
        ({"type": "none", "o": "bind", "device": "/srv/app/data"}, MOUNTS, ALLOW),
        ({"type": "none", "o": "bind", "device": "/srv/app/data"}, MOUNTS_RO, ALLOW),
        (
            {"type": "overlay", "device": "overlay", "o": "lowerdir=/etc:/srv/app/conf"},
            MOUNTS,
            None,
        ),
        ({"type": "ext4", "device": "/dev/sda"}, MOUNTS, None),
        ({"type": "tmpfs", "device": "tmpfs", "o": "size=10m"}, MOUNTS, None),
        ({"type": "proc", "device": "proc"}, MOUNTS, None),
    ],
)
def test_an_external_volume_is_judged_exactly_as_the_same_volume_declared(
    opts: dict[str, str], spec: str, pol: Policy | None
) -> None:
    """The same rules and words: only the resource (external volume) and the place differ."""
    inline = ", ".join(f"{k}: '{v}'" for k, v in opts.items())
    declared = admit_text(volume(f"{{driverOpts: {{{inline}}}}}"), container(spec), policy=pol)
    want = sorted(
        (v.rule_id, v.resource, v.message.replace('volume "data"', 'external volume "data"'))
        for v in declared.violations
    )
    found = judge_external(
        manifests(volume("{external: true}"), container(spec)),
        {"data": ("local", opts)},
        {},
        pol or Policy(),
        host=fake_host(),
    )
    got = sorted(
        (v.rule_id, v.resource.replace("external volume", "volume"), v.message) for _, _, v in found
    )
    assert got == want


def test_read_only_mounts_and_the_allowlist_count_as_for_a_declared_volume() -> None:
    live = {"data": ("local", {"type": "none", "o": "bind", "device": "/srv/app/data"})}
    docs = (volume("{external: true}"), container(MOUNTS_RO))
    assert judged(*docs, volumes=live, pol=ALLOW) == []
    assert judged(volume("{external: true}"), container(MOUNTS), volumes=live, pol=ALLOW) == [
        (
            "Container",
            "web",
            "enforce",
            '[baseline/bind-mounts] container "web": external volume "data" is a bind '
            "(device=/srv/app/data, o=bind, type=none): bind source /srv/app/data is allowed "
            "read-only only: set readOnly: true, or give its policy entry readWrite: true "
            "(m.yaml:11:27)",
        )
    ]


def test_an_unmounted_external_volume_is_judged_for_itself_at_its_external_field() -> None:
    live = {"data": ("local", {"type": "none", "o": "bind", "device": "/etc"})}
    assert judged(volume("{external: true}"), volumes=live) == [
        (
            "Volume",
            "data",
            "enforce",
            '[baseline/bind-mounts] external volume "data": it is a bind (device=/etc, o=bind, '
            "type=none): bind source /etc is always denied (a policy bind entry naming a "
            "subdirectory of /etc can re-allow it, read-only) (m.yaml:4:8)",
        )
    ]


def test_a_plugin_driver_or_an_unknown_option_refuses_the_volume_itself() -> None:
    docs = (volume("{external: true}"), container(MOUNTS))
    assert judged(*docs, volumes={"data": ("rexray/ebs", {})}) == [
        (
            "Volume",
            "data",
            "enforce",
            '[baseline/volume-drivers] external volume "data": volume driver rexray/ebs is not '
            "allowed (allowed: local); a driver can mount any host path (m.yaml:4:8)",
        )
    ]
    assert judged(*docs, volumes={"data": ("local", {"mountpoint": "/etc"})}) == [
        (
            "Volume",
            "data",
            "enforce",
            '[baseline/volume-options] external volume "data": driver option mountpoint is not '
            "one the local driver knows (device, o, size, type) (m.yaml:4:8)",
        )
    ]


def test_a_plain_external_volume_and_network_pass() -> None:
    docs = (volume("{external: true}"), network("{external: true}", "proxy"), container(MOUNTS))
    assert judged(*docs, volumes={"data": ("local", {})}, networks={"proxy": ("bridge", {})}) == []


def test_an_external_network_is_judged_by_its_live_driver_and_options() -> None:
    docs = (network("{external: true}", "proxy"), container(JOINS))
    assert judged(*docs, networks={"proxy": ("macvlan", {"parent": "eth0"})}) == [
        (
            "Network",
            "proxy",
            "enforce",
            '[baseline/network-drivers] external network "proxy": network driver macvlan is not '
            "allowed (allowed: bridge): it puts containers on a host interface's own network, "
            "past the host's firewall (m.yaml:4:8)",
        ),
        (
            "Network",
            "proxy",
            "enforce",
            '[baseline/host-interfaces] external network "proxy": parent interface eth0 is not '
            "allowed (allowed: none): the network would use that host interface (m.yaml:4:8)",
        ),
    ]
    bridged = {"proxy": ("bridge", {"com.docker.network.bridge.name": "br0"})}
    assert [m for *_, m in judged(*docs, networks=bridged)] == [
        '[baseline/host-interfaces] external network "proxy": bridge name br0 is not allowed '
        "(allowed: none): an existing bridge of that name (the host's br0, docker0) would be "
        "joined, and reconcile cannot tell one the Engine made for this network from the "
        "host's own (m.yaml:4:8)"
    ]


@pytest.mark.parametrize(
    ("name", "driver", "why"),
    [
        ("host", "host", "it is the host's own network stack"),
        ("none", "null", "it is the Engine's no-network network"),
    ],
)
def test_the_engines_host_and_none_networks_are_refused(name: str, driver: str, why: str) -> None:
    docs = (network("{external: true}", name), container(f"  image: x\n  networks: [{name}]\n"))
    assert [m for *_, m in judged(*docs, networks={name: (driver, {})})] == [
        f'[baseline/network-drivers] external network "{name}": network driver {driver} is not '
        f"allowed (allowed: bridge): {why} (m.yaml:4:8)"
    ]


def test_the_engines_default_bridge_is_allowed_but_not_a_lookalike() -> None:
    default = {
        "com.docker.network.bridge.default_bridge": "true",
        "com.docker.network.bridge.name": "docker0",
    }
    docs = (network("{external: true}", "bridge"),)
    assert judged(*docs, networks={"bridge": ("bridge", default)}) == []
    other = (network("{external: true}", "lan"),)
    assert [rule for *_, rule in judged(*other, networks={"lan": ("bridge", default)})] == [
        '[baseline/host-interfaces] external network "lan": bridge name docker0 is not allowed '
        "(allowed: none): an existing bridge of that name (the host's br0, docker0) would be "
        "joined, and reconcile cannot tell one the Engine made for this network from the "
        "host's own (m.yaml:4:8)"
    ]


def test_modes_exemptions_and_profiles_apply_as_for_declared_ones() -> None:
    docs = (volume("{external: true}"), container(MOUNTS))
    live = {"data": ("local", ROOT_BIND)}
    warn = policy_from("mode: warn\n")
    assert [(k, n, mode) for k, n, mode, _ in judged(*docs, volumes=live, pol=warn)] == [
        ("Container", "web", "warn")
    ]
    exempt = policy_from("rules:\n  baseline/bind-mounts: {exempt: [web]}\n")
    assert judged(*docs, volumes=live, pol=exempt) == []
    assert judged(*docs, volumes=live, pol=Policy(profile="privileged")) == []
    restricted = judged(*docs, volumes=live, pol=Policy(profile="restricted"))
    assert [m.split(": ", 1)[0] for *_, m in restricted] == [
        '[restricted/bind-mounts] container "web"'
    ]


def test_what_the_engine_does_not_have_is_not_judged() -> None:
    docs = (volume("{external: true}"), network("{external: true}", "proxy"), container(MOUNTS))
    assert judged(*docs) == []
