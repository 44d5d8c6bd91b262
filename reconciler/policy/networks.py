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

from collections.abc import Iterator, Mapping

from reconciler.manifests.storage import NetworkSpec
from reconciler.policy.model import Policy
from reconciler.policy.rules import Finding

DRIVERS = "baseline/network-drivers"
INTERFACES = "baseline/host-interfaces"

BRIDGE_NAME = "com.docker.network.bridge.name"
DEFAULT_BRIDGE = "com.docker.network.bridge.default_bridge"
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
    """The driver, parent interface and bridge name of one declared network, judged."""
    return driver_findings(spec.driver, spec.driver_opts, policy)


def driver_findings(
    driver: str,
    driver_opts: Mapping[str, str],
    policy: Policy,
    *,
    at: tuple[str | int, ...] | None = None,
    engine_default: bool = False,
) -> Iterator[Finding]:
    """The driver, parent interface and bridge name of a network, judged; located at the field
    each comes from, or all at ``at`` (an external network, judged by what the Engine has).
    ``engine_default``: it is the Engine's own default ``bridge`` network (docker0), which
    every container without networks joins: its bridge name is not held against it."""
    if driver not in policy.network_drivers:
        yield Finding(
            DRIVERS,
            at or ("spec", "driver"),
            f"network driver {driver} is not allowed (allowed: "
            f"{', '.join(sorted(policy.network_drivers))}): {_WHY.get(driver, _PLUGIN)}",
        )
    parent = driver_opts.get("parent")
    if driver in _PARENTED and parent is not None and parent not in policy.network_parents:
        yield Finding(
            INTERFACES,
            at or ("spec", "driverOpts", "parent"),
            f"parent interface {parent} is not allowed (allowed: "
            f"{_listed(policy.network_parents)}): the network would use that host interface",
        )
    bridge = driver_opts.get(BRIDGE_NAME)
    if (
        driver == "bridge"
        and bridge is not None
        and bridge not in policy.bridge_names
        and not engine_default
    ):
        yield Finding(
            INTERFACES,
            at or ("spec", "driverOpts", BRIDGE_NAME),
            f"bridge name {bridge} is not allowed (allowed: {_listed(policy.bridge_names)}): "
            "an existing bridge of that name (the host's br0, docker0) would be joined, and "
            "reconcile cannot tell one the Engine made for this network from the host's own",
        )


def engine_default_bridge(name: str, driver_opts: Mapping[str, str]) -> bool:
    """Whether a live network is the Engine's default ``bridge``: the predefined name (no one
    can create another network called so) with the Engine's default-bridge option."""
    return name == "bridge" and driver_opts.get(DEFAULT_BRIDGE) == "true"


def _listed(names: frozenset[str]) -> str:
    return ", ".join(sorted(names)) or "none"
