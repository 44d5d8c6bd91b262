"""Planning: a pure function from (desired, observed) to an ordered ``Plan``.

No I/O, no clock, no docker import. The controllers decide per resource; this module orders
the steps (networks and volumes first, containers in dependsOn order, removals last), links
each step to those it must wait for, and guards prunes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from reconciler.controllers.common import ControllerResult, Inventory
from reconciler.controllers.containers import plan_container_deletion, plan_containers
from reconciler.controllers.plan import Action, Conflict, FieldDiff, Kind, Plan, Reason, Step
from reconciler.controllers.storage import (
    plan_networks,
    plan_storage_deletion,
    plan_volumes,
)
from reconciler.values.desired import DesiredContainer, DesiredState
from reconciler.values.observed import ObservedState


def _container_order(containers: dict[str, DesiredContainer]) -> list[str]:
    """Names in dependsOn order (dependencies first), ties broken by name. Cycles are refused
    by the loader; anything left is appended so planning never loops."""
    order: list[str] = []
    done: set[str] = set()
    pending = sorted(containers)
    while pending:
        ready = [
            n
            for n in pending
            if all(d in done or d not in containers for d, _ in containers[n].depends_on)
        ]
        if not ready:
            ready = pending[:1]
        for name in ready:
            order.append(name)
            done.add(name)
        pending = [n for n in pending if n not in done]
    return order


def _link(desired: DesiredState, steps: list[Step]) -> tuple[Step, ...]:
    """Order steps and fill in ``after`` so independent steps may run in parallel."""
    by_key = {s.key: s for s in steps}
    container_removals = [
        s for s in steps if s.kind is Kind.CONTAINER and s.action is Action.REMOVE
    ]
    removal_keys = tuple(s.key for s in container_removals)
    network_steps = [s for s in steps if s.kind is Kind.NETWORK and s.action is not Action.REMOVE]
    volume_steps = [s for s in steps if s.kind is Kind.VOLUME and s.action is not Action.REMOVE]
    ordered: list[Step] = list(container_removals)
    for s in network_steps:
        after: tuple[str, ...] = removal_keys if s.action is Action.RECREATE else ()
        ordered.append(dataclasses.replace(s, after=after))
    ordered += volume_steps
    container_keys: list[str] = []
    for name in _container_order(dict(desired.containers)):
        key = f"{Kind.CONTAINER}/{name}"
        step = by_key.get(key)
        if step is None or step.action is Action.REMOVE:
            continue
        want = desired.containers[name]
        needs = [f"{Kind.NETWORK}/{n}" for n in want.networks]
        needs += [f"{Kind.VOLUME}/{v}" for v in want.volumes]
        needs += [f"{Kind.CONTAINER}/{d}" for d, _ in want.depends_on]
        waits = [k for k in needs if k in by_key and by_key[k].action is not Action.REMOVE]
        waits += removal_keys
        ordered.append(dataclasses.replace(step, after=tuple(dict.fromkeys(waits))))
        container_keys.append(key)
    everything_before = removal_keys + tuple(container_keys)
    for s in steps:
        if s.kind is not Kind.CONTAINER and s.action is Action.REMOVE:
            ordered.append(dataclasses.replace(s, after=everything_before))
    return tuple(ordered)


def _guard_prune(
    project: str, steps: list[Step], owned: int, force: bool
) -> tuple[list[Step], list[Conflict]]:
    pruned = [s for s in steps if s.reason is Reason.NOT_DECLARED]
    if force or not pruned:
        return steps, []
    if len(pruned) < owned and len(pruned) * 2 <= owned:
        return steps, []
    what = "every resource" if len(pruned) >= owned else "more than half of the resources"
    conflict = Conflict(
        "Project",
        project,
        f"prune refused: it would remove {what} of the set ({len(pruned)} of {owned}); "
        "check the manifest source; to prune that much on purpose, apply once with --prune "
        "--force-prune",
    )
    return [s for s in steps if s.reason is not Reason.NOT_DECLARED], [conflict]


def _owned_count(
    desired: DesiredState, observed: ObservedState, inventory: Inventory | None
) -> int:
    if inventory is not None:
        return len(inventory)
    groups: Iterable[tuple[str, object]] = (
        *((Kind.CONTAINER.value, c.ownership) for c in observed.containers.values()),
        *((Kind.VOLUME.value, v.ownership) for v in observed.volumes.values()),
        *((Kind.NETWORK.value, n.ownership) for n in observed.networks.values()),
    )
    return sum(1 for _, o in groups if getattr(o, "project", None) == desired.project)


def _assemble(
    desired: DesiredState,
    results: Iterable[ControllerResult],
    warnings: list[str],
    extra_conflicts: list[Conflict],
    steps_override: list[Step] | None = None,
) -> Plan:
    results = list(results)
    steps = steps_override if steps_override is not None else [s for r in results for s in r.steps]
    conflicts = [c for r in results for c in r.conflicts] + extra_conflicts
    in_sync = sorted(k for r in results for k in r.in_sync)
    warnings = [*warnings, *(w for r in results for w in r.warnings)]
    return Plan(
        project=desired.project,
        steps=_link(desired, steps),
        conflicts=tuple(sorted(conflicts)),
        in_sync=tuple(in_sync),
        warnings=tuple(warnings),
    )


def plan(
    desired: DesiredState,
    observed: ObservedState,
    *,
    prune: bool = False,
    force_prune: bool = False,
    inventory: Inventory | None = None,
    proven: frozenset[str] = frozenset(),
    refused: Mapping[tuple[str, str], str] | None = None,
) -> Plan:
    """The steps that make ``observed`` match ``desired``.

    ``inventory`` is what the state says this project created; prune removes only members of
    it and refuses to remove all of the set, or more than half of it, unless ``force_prune``.
    A container not wanted under its name is removed only when ``proven`` holds its id.
    ``refused`` maps (kind, name) to the host-access policy's refusal of what could only be
    judged once observed (external volumes and networks, and the containers that use them):
    each is a conflict, and what needs it is not acted on.
    """
    policy_refused = refused or {}

    def of(kind: Kind) -> dict[str, str]:
        return {n: m for (k, n), m in policy_refused.items() if k == kind.value}

    networks = plan_networks(
        desired, observed, prune=prune, inventory=inventory, refused=of(Kind.NETWORK)
    )
    replaced = frozenset(s.name for s in networks.steps if s.action is Action.RECREATE)
    volumes, warnings = plan_volumes(
        desired, observed, prune=prune, inventory=inventory, refused=of(Kind.VOLUME)
    )
    containers = plan_containers(
        desired,
        observed,
        prune=prune,
        inventory=inventory,
        replaced_networks=replaced,
        proven=proven,
    )
    _refuse_containers(of(Kind.CONTAINER), containers)
    _hold_dependents(desired, networks, volumes, containers)
    restarts = restart_dependents(desired, containers.steps, containers.in_sync)
    containers.steps += restarts
    containers.in_sync = [k for k in containers.in_sync if k not in {s.key for s in restarts}]
    results = [networks, volumes, containers]
    steps = [s for r in results for s in r.steps]
    steps, prune_refused = _guard_prune(
        desired.project, steps, _owned_count(desired, observed, inventory), force_prune
    )
    return _assemble(desired, results, warnings, prune_refused, steps)


_RESTARTING = {Action.RECREATE: "recreated", Action.RESTART: "restarted"}


def restart_dependents(
    desired: DesiredState, steps: Iterable[Step], in_sync: Iterable[str]
) -> list[Step]:
    """Restart steps for the containers that ask to be restarted with a dependency
    (``dependsOn`` with ``restart: true``) that ``steps`` recreate or restart. Only a
    container in sync gets one (one with a step of its own is (re)started by it anyway; one in
    conflict is left alone); it runs after the dependency's step. Chains follow: a container
    restarted this way restarts those that ask to be restarted with it."""
    acting = {
        s.name: s for s in steps if s.kind is Kind.CONTAINER and s.action is not Action.REMOVE
    }
    synced = set(in_sync)
    added: list[Step] = []
    for name in _container_order(dict(desired.containers)):
        want = desired.containers[name]
        if f"{Kind.CONTAINER}/{name}" not in synced or name in acting:
            continue
        triggers = [
            acting[d] for d in want.restarts_with if d in acting and acting[d].action in _RESTARTING
        ]
        if not triggers:
            continue
        step = Step(
            Kind.CONTAINER,
            name,
            Action.RESTART,
            Reason.DEPENDENCY_RESTARTED,
            tuple(
                FieldDiff("dependency", f"{t.name} {_RESTARTING[t.action]}", "restart")
                for t in triggers
            ),
            after=tuple(t.key for t in triggers),
            desired=want,
        )
        acting[name] = step
        added.append(step)
    return added


def _refuse_containers(refused: Mapping[str, str], containers: ControllerResult) -> None:
    """Declared containers the policy refused once it saw what they use: no step (a removal
    of a leftover excepted), a conflict with the refusal instead."""
    if not refused:
        return
    containers.steps = [
        s for s in containers.steps if s.action is Action.REMOVE or s.name not in refused
    ]
    containers.in_sync = [k for k in containers.in_sync if k.split("/", 1)[1] not in refused]
    taken = {c.name for c in containers.conflicts}
    containers.conflicts += [
        Conflict(Kind.CONTAINER.value, name, message)
        for name, message in sorted(refused.items())
        if name not in taken
    ]


def _hold_dependents(
    desired: DesiredState,
    networks: ControllerResult,
    volumes: ControllerResult,
    containers: ControllerResult,
) -> None:
    """A container that mounts a volume, joins a network or depends on a container that is
    in conflict (someone else's, under a declared name) is not acted on: creating it would
    write into a stranger's volume or join a stranger's network. It becomes a conflict that
    names the resource it waits for."""
    held: dict[str, str] = {}
    clashing = {(c.kind, c.name) for r in (networks, volumes, containers) for c in r.conflicts}
    if not clashing:
        return  # nothing in conflict: nothing waits for it
    changed = True
    while changed:  # until no more dependents are found (dependsOn chains)
        changed = False
        for name, want in sorted(desired.containers.items()):
            if name in held:
                continue
            needs = [
                *((Kind.VOLUME.value, v) for v in want.volumes),
                *((Kind.NETWORK.value, n) for n in want.networks),
                # A dependency with required: false holds nothing back.
                *((Kind.CONTAINER.value, d) for d, _ in want.depends_on if d not in want.optional),
            ]
            for kind, other in needs:
                if (kind, other) in clashing or (kind == Kind.CONTAINER.value and other in held):
                    held[name] = f"{kind}/{other}"
                    changed = True
                    break
    if not held:
        return
    containers.steps = [
        s for s in containers.steps if s.action is Action.REMOVE or s.name not in held
    ]
    containers.in_sync = [k for k in containers.in_sync if k.split("/", 1)[1] not in held]
    containers.conflicts += [
        Conflict(
            Kind.CONTAINER.value,
            name,
            f"not acted on: it needs {other}, which is in conflict (see that conflict)",
        )
        for name, other in sorted(held.items())
        if (Kind.CONTAINER.value, name) not in clashing
    ]


def plan_delete(
    desired: DesiredState, observed: ObservedState, proven: frozenset[str] = frozenset()
) -> Plan:
    """The steps that remove what ``desired`` declares (volumes only with deletionPolicy Delete)."""
    containers = plan_container_deletion(desired, observed, proven)
    storage, warnings = plan_storage_deletion(desired, observed)
    return _assemble(desired, [containers, storage], warnings, [])
