"""What every controller returns, and the ownership checks they share."""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.controllers.plan import Conflict, Step
from reconciler.values.observed import Ownership

Inventory = frozenset[tuple[str, str]]
"""(kind, name) pairs the state says this project created."""


@dataclass
class ControllerResult:
    """Steps, conflicts and in-sync resource keys of one kind."""

    steps: list[Step] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    in_sync: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def clash(kind: str, name: str, ownership: Ownership, project: str) -> Conflict | None:
    """A conflict when an Engine object with a wanted name is not this project's, else None."""
    if ownership.project == project:
        return None
    if ownership.project is None and ownership.compose_project is not None:
        return Conflict(
            kind,
            name,
            f'a {kind.lower()} named "{name}" already exists: docker compose made it for its '
            f'project "{ownership.compose_project}"; `reconcile apply --adopt` takes over '
            "what compose made for the project of these compose files (volumes with their "
            "data), or remove it by hand",
        )
    if ownership.project is None:
        owner = "is not managed by reconcile"
    else:
        owner = f'belongs to project "{ownership.project}"'
    return Conflict(
        kind,
        name,
        f'a {kind.lower()} named "{name}" already exists and {owner}; rename one of them '
        "or remove it by hand (reconcile never adopts or deletes it)",
    )


def prunable(
    kind: str, name: str, ownership: Ownership, project: str, inventory: Inventory | None
) -> bool:
    """True when a resource no longer declared may be pruned: labelled as this project's AND
    recorded in its inventory (copied labels alone are not enough). Without an inventory (a new
    or lost state) nothing is prunable: losing the state must never cause a prune."""
    if ownership.project != project or inventory is None:
        return False
    return (kind, name) in inventory
