"""Network manifests: the driver, and the host interfaces a network attaches to.

A bridge network gets a bridge of its own behind the Engine's NAT and firewall rules. Other
drivers do not: macvlan and ipvlan put containers straight on the network of a host interface
(``parent``, which the Engine creates as a VLAN sub-interface when it has a dot and does not
exist), and a plugin driver is a root process on the host that configures what it likes.
A bridge network that names its bridge (``com.docker.network.bridge.name``) joins that bridge
when it exists (a host's ``br0`` bridges its physical network, and the Engine gives it an
address); reconcile cannot tell a bridge the Engine made for this network on an earlier pass
from the host's own, so any bridge name needs the policy.
"""

from __future__ import annotations

from collections.abc import Iterator

from reconciler.manifests.storage import NetworkSpec
from reconciler.policy.model import Policy
from reconciler.policy.rules import Finding

DRIVERS = "baseline/network-drivers"
INTERFACES = "baseline/host-interfaces"

BRIDGE_NAME = "com.docker.network.bridge.name"
_PARENTED = frozenset({"macvlan", "ipvlan"})
_WHY = {
    "macvlan": "it puts containers on a host interface's own network, past the host's firewall",
    "ipvlan": "it puts containers on a host interface's own network, past the host's firewall",
    "overlay": "it is swarm networking across hosts",
    "host": "it is the host's own network stack",
    "null": "it is the Engine's no-network network",
}
_PLUGIN = "a network plugin runs as root on the host and configures what it likes"


def network_findings(spec: NetworkSpec, policy: Policy) -> Iterator[Finding]:
    """The driver, parent interface and bridge name of one network, judged."""
    driver = spec.driver
    if driver not in policy.network_drivers:
        yield Finding(
            DRIVERS,
            ("spec", "driver"),
            f"network driver {driver} is not allowed (allowed: "
            f"{', '.join(sorted(policy.network_drivers))}): {_WHY.get(driver, _PLUGIN)}",
        )
    parent = spec.driver_opts.get("parent")
    if driver in _PARENTED and parent is not None and parent not in policy.network_parents:
        yield Finding(
            INTERFACES,
            ("spec", "driverOpts", "parent"),
            f"parent interface {parent} is not allowed (allowed: "
            f"{_listed(policy.network_parents)}): the network would use that host interface",
        )
    bridge = spec.driver_opts.get(BRIDGE_NAME)
    if driver == "bridge" and bridge is not None and bridge not in policy.bridge_names:
        yield Finding(
            INTERFACES,
            ("spec", "driverOpts", BRIDGE_NAME),
            f"bridge name {bridge} is not allowed (allowed: {_listed(policy.bridge_names)}): "
            "an existing bridge of that name (the host's br0, docker0) would be joined, and "
            "reconcile cannot tell one the Engine made for this network from the host's own",
        )


def _listed(names: frozenset[str]) -> str:
    return ", ".join(sorted(names)) or "none"
