"""Network manifests: macvlan/ipvlan, plugin drivers and bridges on host interfaces need the
policy (red-team issue 13); and ``validate --policy`` explains the refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli.app import cli
from reconciler.errors import ManifestError
from reconciler.policy import Policy, load_policy
from tests.policy.support import admit_text, messages, network, policy

LAN = policy(
    "networks:\n  drivers: [macvlan, ipvlan]\n  parents: [eth0.100]\n  bridges: [br-lan]\n"
)


def judged(spec: str, pol: Policy | None = None) -> list[str]:
    return messages(admit_text(network(spec), policy=pol))


def test_bridge_networks_pass() -> None:
    assert judged("{}") == []
    opts = "{com.docker.network.bridge.enable_icc: 'false', com.docker.network.driver.mtu: '1400'}"
    assert (
        judged(f"{{driver: bridge, internal: false, attachable: true, driverOpts: {opts}}}") == []
    )


def test_a_macvlan_network_on_a_host_interface_is_refused() -> None:
    assert judged("{driver: macvlan, driverOpts: {parent: eth0}}") == [
        '[baseline/network-drivers] network "lan": network driver macvlan is not allowed '
        "(allowed: bridge): it puts containers on a host interface's own network, past the "
        "host's firewall (m.yaml:4:8)",
        '[baseline/host-interfaces] network "lan": parent interface eth0 is not allowed '
        "(allowed: none): the network would use that host interface (m.yaml:4:38)",
    ]


@pytest.mark.parametrize("driver", ["macvlan", "ipvlan"])
def test_the_policy_allows_the_driver_and_each_parent(driver: str) -> None:
    assert judged(f"{{driver: {driver}, driverOpts: {{parent: eth0.100}}}}", LAN) == []
    assert judged(f"{{driver: {driver}}}", LAN) == []  # the Engine's internal dummy parent
    assert judged(f"{{driver: {driver}, driverOpts: {{parent: eth0}}}}", LAN) == [
        f'[baseline/host-interfaces] network "lan": parent interface eth0 is not allowed '
        f"(allowed: eth0.100): the network would use that host interface (m.yaml:4:"
        f"{len(driver) + 31})"
    ]


def test_plugin_drivers_need_the_policy() -> None:
    assert judged("{driver: weaveworks/net-plugin:latest}") == [
        '[baseline/network-drivers] network "lan": network driver weaveworks/net-plugin:latest '
        "is not allowed (allowed: bridge): a network plugin runs as root on the host and "
        "configures what it likes (m.yaml:4:8)"
    ]
    plugin = policy("networks: {drivers: [weaveworks/net-plugin:latest]}\n")
    assert judged("{driver: weaveworks/net-plugin:latest}", plugin) == []


@pytest.mark.parametrize("name", ["docker0", "br0"])
def test_a_bridge_naming_a_host_interface_needs_the_policy(name: str) -> None:
    assert judged(f"{{driverOpts: {{com.docker.network.bridge.name: {name}}}}}") == [
        f'[baseline/host-interfaces] network "lan": bridge name {name} is not allowed (allowed: '
        "none): an existing bridge of that name (the host's br0, docker0) would be joined, and "
        "reconcile cannot tell one the Engine made for this network from the host's own "
        "(m.yaml:4:21)"
    ]
    assert judged("{driverOpts: {com.docker.network.bridge.name: br-lan}}", LAN) == []


def test_the_privileged_profile_judges_no_network() -> None:
    assert (
        judged("{driver: macvlan, driverOpts: {parent: eth0}}", policy("profile: privileged\n"))
        == []
    )


def test_validate_explains_a_network_refusal(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir(mode=0o755)
    (tmp_path / "m" / "lan.yaml").write_text(
        network("{driver: macvlan, driverOpts: {parent: eth0}}")
    )
    (tmp_path / "m" / "lan.yaml").chmod(0o644)
    pol = tmp_path / "policy.yaml"
    pol.write_text("apiVersion: reconcile/v1\nkind: Policy\n")
    pol.chmod(0o644)
    result = CliRunner().invoke(cli, ["validate", "--policy", str(pol), "-f", str(tmp_path / "m")])
    assert result.exit_code == 1
    where = tmp_path / "m" / "lan.yaml"
    assert result.stderr.split("\n\n")[:2] == [
        f'[baseline/network-drivers] network "lan": network driver macvlan is not allowed '
        "(allowed: bridge): it puts containers on a host interface's own network, past the "
        f"host's firewall ({where}:4:8)\n"
        "  outcome: refused (enforce): nothing is created or changed for it\n"
        "  rule:    baseline/network-drivers (baseline profile): networks use the bridge driver "
        "or one the policy lists (macvlan and ipvlan put containers on a host interface's "
        "network; a plugin driver runs as root on the host)\n"
        "  field:   Network spec.driver  ->  Docker network Driver\n"
        "  to allow it, in the policy file (docs/policy.md):\n"
        "    networks:\n"
        "      drivers: [macvlan]",
        f'[baseline/host-interfaces] network "lan": parent interface eth0 is not allowed '
        f"(allowed: none): the network would use that host interface ({where}:4:38)\n"
        "  outcome: refused (enforce): nothing is created or changed for it\n"
        "  rule:    baseline/host-interfaces (baseline profile): the host interfaces a network "
        "names are listed by the policy: a macvlan or ipvlan parent, a bridge network's bridge "
        "name\n"
        "  field:   Network spec.driverOpts.parent, spec.driverOpts.com.docker.network.bridge."
        "name  ->  Docker network Options (parent, com.docker.network.bridge.name)\n"
        "  to allow it, in the policy file (docs/policy.md):\n"
        "    networks:\n"
        "      parents: [eth0.100]\n"
        "      bridges: [br-lan]",
    ]


def test_the_networks_section_of_the_policy_file_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "apiVersion: reconcile/v1\nkind: Policy\n"
        "networks: {parents: [a-very-long-interface0], brdges: [br0]}\n"
    )
    path.chmod(0o644)
    with pytest.raises(ManifestError) as caught:
        load_policy(path, environ={})
    assert [str(p).replace(f"{tmp_path}/", "") for p in caught.value.problems] == [
        "policy.yaml:3:22: networks.parents[0]: 'a-very-long-interface0' is not an interface "
        "name (1 to 15 letters, digits, or _ . : @ -)",
        "policy.yaml:3:47: networks.brdges: unknown field 'brdges'; did you mean bridges?",
    ]
