"""A container and a network as a Swarm service and an overlay network can hold them.

The Swarm backend writes this view (``runtime/swarm/translate``) and the service planner
compares it with what it reads back, so both sides speak the same values: restart policies
in Swarm's three conditions, only published ports, replicas defaulted to one, bridge networks
as attachable overlays. Pure. See docs/decisions/swarm-backend.md.
"""

from __future__ import annotations

import dataclasses

from reconciler.values.configs import ContainerConfig, NetworkConfig, ServiceConfig

# Network drivers a Network manifest may name on Swarm: both become an attachable overlay.
OVERLAY_DRIVERS = frozenset({"bridge", "overlay"})


def restart_condition(policy: str) -> tuple[str, int]:
    """Swarm's restart condition and max attempts for a container restart policy."""
    name, _, count = policy.partition(":")
    if name == "no":
        return "none", 0
    if name == "on-failure":
        return "on-failure", int(count) if count.isdigit() else 0
    return "any", 0  # always, unless-stopped: Swarm restarts the task whatever ended it


def restart_policy(condition: str, attempts: int) -> str:
    """The restart policy a Swarm restart condition reads back as."""
    if condition == "none":
        return "no"
    if condition == "on-failure":
        return f"on-failure:{attempts}" if attempts else "on-failure"
    return "always"


def service_view(config: ContainerConfig) -> ContainerConfig:
    """``config`` as a service holds it: what reconcile writes, and compares."""
    condition, attempts = restart_condition(config.restart_policy)
    return dataclasses.replace(
        config,
        ports=tuple(p for p in config.ports if p.host_port is not None),
        restart_policy=restart_policy(condition, attempts),
        # Swarm has no swap setting: the docker backend's swap rule does not apply.
        resources=dataclasses.replace(config.resources, memory_swap=0),
        service=config.service or ServiceConfig(),
    )


def network_view(config: NetworkConfig) -> NetworkConfig:
    """A network as Swarm makes it: bridge (the default) means an attachable overlay."""
    if config.driver not in OVERLAY_DRIVERS:
        return config
    return dataclasses.replace(config, driver="overlay", attachable=True)
