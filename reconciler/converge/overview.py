"""What ``reconcile get`` shows: each resource of a set, its run state and its sync state."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from reconciler.controllers import planner
from reconciler.controllers.plan import Action
from reconciler.converge.pipeline import observe
from reconciler.runtime.base import ObserveRequest, Runtime
from reconciler.state.database import State
from reconciler.values.desired import DesiredState


@dataclass(frozen=True, order=True)
class Row:
    """One resource: kind, name, run state, health, and sync (synced, drifted, missing,
    conflict, not-declared, or ``-`` when no manifests were given)."""

    kind: str
    name: str
    state: str
    health: str
    sync: str
    source: str


def rows_for(
    runtime: Runtime, state: State, desired: DesiredState | None, project: str | None
) -> list[Row]:
    """Rows for the project's resources (and, with manifests, for every declared one)."""
    if desired is not None:
        observed = observe(runtime, desired)
        plan = planner.plan(
            desired,
            observed,
            prune=True,
            force_prune=True,
            inventory=state.inventory(desired.project),
        )
        project = desired.project
    else:
        assert project is not None
        observed = runtime.observe(ObserveRequest(project))
        plan = None
    sync: dict[str, str] = {}
    if plan is not None:
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
    rows: dict[str, Row] = {}
    for name, c in observed.containers.items():
        if c.ownership.project != project and (desired is None or name not in desired.containers):
            continue
        key = f"Container/{name}"
        rows[key] = Row(
            "Container",
            name,
            c.status.state,
            c.status.health or "-",
            sync.get(key, "-"),
            c.ownership.source or "-",
        )
    for name, v in observed.volumes.items():
        if v.ownership.project != project and (desired is None or name not in desired.volumes):
            continue
        key = f"Volume/{name}"
        rows[key] = Row(
            "Volume", name, "present", "-", sync.get(key, "-"), v.ownership.source or "-"
        )
    for name, n in observed.networks.items():
        if n.ownership.project != project and (desired is None or name not in desired.networks):
            continue
        key = f"Network/{name}"
        rows[key] = Row(
            "Network", name, "present", "-", sync.get(key, "-"), n.ownership.source or "-"
        )
    if desired is not None:
        for kind, names in (
            ("Container", desired.containers),
            ("Volume", desired.volumes),
            ("Network", desired.networks),
        ):
            for name, want in names.items():
                key = f"{kind}/{name}"
                rows.setdefault(
                    key, Row(kind, name, "missing", "-", sync.get(key, "missing"), want.source)
                )
    return sorted(rows.values())


def render_rows(rows: list[Row], output: str) -> str:
    """Rows as an aligned table or as JSON."""
    if output == "json":
        return json.dumps([asdict(r) for r in rows], indent=2) + "\n"
    header = ("KIND", "NAME", "STATE", "HEALTH", "SYNC", "SOURCE")
    table = [header] + [(r.kind, r.name, r.state, r.health, r.sync, r.source) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n"
        for row in table
    )
