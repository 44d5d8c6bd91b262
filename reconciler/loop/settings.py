"""How ``reconcile run`` and ``sync`` behave: the loop's settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reconciler.converge.applying import DEFAULT_PARALLELISM
from reconciler.manifests.placement import Host
from reconciler.policy import Policy

# The least quiet period before resources that vanished from a just-written file are pruned:
# longer than a writer's pause between two documents is likely to be (see ``settle``).
PRUNE_QUIET = 3.0


@dataclass(frozen=True)
class LoopSettings:
    """How ``reconcile run`` behaves."""

    directory: Path
    project: str
    policy: Policy  # the host-access policy every pass is judged by
    prune: bool = False
    recursive: bool = False
    resync: float = 300.0
    debounce: float = 0.5
    parallelism: int = DEFAULT_PARALLELISM
    health_timeout: float = 120.0
    rollback_on_failure: bool = False
    rollback_window: float = 120.0
    force_prune: bool = False
    # This host in a fleet (read once): only what is placed on it is declared here.
    host: Callable[[], Host] | None = None

    @property
    def settle(self) -> float:
        """The quiet period of a file (seconds): ``PRUNE_QUIET`` or twice the debounce."""
        return max(PRUNE_QUIET, 2 * self.debounce)
