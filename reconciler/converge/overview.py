"""What ``reconcile get`` shows of a pass: each resource, its run state and its sync state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.controllers.plan import Action

if TYPE_CHECKING:
    from reconciler.converge.pipeline import PassResult
    from reconciler.values.desired import DesiredState
    from reconciler.values.observed import ObservedContainer


@dataclass(frozen=True, order=True)
class Row:
    """One resource: kind, name, run state, health, and sync (synced, drifted, missing,
    conflict, not-declared, external, or ``-`` when no manifests were given). A one-shot
    container (``oneShot``, or awaited with ``completed``) that exited with code 0 is in
    state ``completed``. An
    external volume or network that exists is ``external``: it is never compared, so never
    synced or drifted; one that is missing (or refused by the policy) is a conflict."""

    kind: str
    name: str
    state: str
    health: str
    sync: str
    source: str


def _completed(container: ObservedContainer, desired: DesiredState) -> bool:
    want = desired.containers.get(container.name)
    return want is not None and want.one_shot and container.status.succeeded


def rows(result: PassResult, declared: bool) -> list[Row]:
    """Rows for the project's resources and, when manifests were given (``declared``), for
    every declared one, from a dry pass planned as a full prune."""
    desired, observed, plan = result.desired, result.observed, result.plan
    project = desired.project
    sync: dict[str, str] = {}
    if declared:
        for key in plan.in_sync:
            sync[key] = "synced"
        for step in plan.steps:
            if step.action is Action.CREATE:
                sync[step.key] = "missing"
            elif step.action is Action.REMOVE:
                sync[step.key] = "not-declared"
            else:
                sync[step.key] = "drifted"
        for conflict in plan.conflicts:
            sync[f"{conflict.kind}/{conflict.name}"] = "conflict"
        external = [
            *(f"Volume/{n}" for n, v in desired.volumes.items() if v.external),
            *(f"Network/{n}" for n, w in desired.networks.items() if w.external),
        ]
        for key in external:
            if sync.get(key) == "synced":
                sync[key] = "external"
    found: dict[str, Row] = {}
    for name, c in observed.containers.items():
        if c.ownership.project != project and name not in desired.containers:
            continue
        key = f"Container/{name}"
        found[key] = Row(
            "Container",
            name,
            "completed" if _completed(c, desired) else c.status.state,
            c.status.health or "-",
            sync.get(key, "-"),
            c.ownership.source or "-",
        )
    for kind, objects, wanted in (
        ("Volume", observed.volumes, desired.volumes),
        ("Network", observed.networks, desired.networks),
    ):
        for name, obj in objects.items():
            if obj.ownership.project != project and name not in wanted:
                continue
            key = f"{kind}/{name}"
            # An external one's labels are its owner's: its source is the manifest naming it.
            ref = wanted.get(name)
            source = ref.source if ref is not None and ref.external else None
            found[key] = Row(
                kind,
                name,
                "present",
                "-",
                sync.get(key, "-"),
                source or obj.ownership.source or "-",
            )
    for kind, names in (
        ("Container", desired.containers),
        ("Volume", desired.volumes),
        ("Network", desired.networks),
    ):
        for name, want in names.items():
            key = f"{kind}/{name}"
            found.setdefault(
                key, Row(kind, name, "missing", "-", sync.get(key, "missing"), want.source)
            )
    return sorted(found.values())
