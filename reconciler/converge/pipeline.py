"""One reconcile pass, shared by ``apply``, ``diff``, ``delete`` and the loop: desired state
in, observed snapshot, plan, and (when asked) execution with the inventory kept in step."""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.controllers import planner
from reconciler.controllers.plan import Action, Kind, Plan, Reason
from reconciler.converge.applying import (
    DEFAULT_PARALLELISM,
    Applier,
    ApplyOutcome,
    Progress,
    Reporter,
)
from reconciler.loading import LoadResult
from reconciler.manifests.constants import MAX_NAME_LENGTH, REPLACEMENT_SUFFIX
from reconciler.policy import Admission, Policy, admit, check_created
from reconciler.runtime.base import InspectCache, Listing, ObserveRequest, Runtime
from reconciler.state.database import Event, State
from reconciler.values import desired as desired_mod
from reconciler.values.desired import DesiredContainer, DesiredState
from reconciler.values.observed import ObservedState


def project_name(paths: Sequence[str | Path]) -> str:
    """The default project of a set of paths: the name of the first directory (or of the
    directory holding the first file), made a valid name."""
    first = Path(paths[0]).resolve() if paths else Path.cwd()
    base = first.name if first.is_dir() else first.parent.name
    name = re.sub(r"[^a-z0-9_.-]+", "-", base.lower()).strip("-_.") or "default"
    return name[:MAX_NAME_LENGTH]


def desired_state(project: str, loaded: LoadResult) -> DesiredState:
    """The desired state of a loaded (and valid) set."""
    return desired_mod.build(project, ((m.manifest, str(m.location)) for m in loaded.manifests))


def observe(
    runtime: Runtime,
    desired: DesiredState,
    cache: InspectCache | None = None,
    listing: Listing | None = None,
) -> ObservedState:
    """One snapshot of everything the project owns or wants (``listing``: lists begun ahead
    with ``runtime.start_listing``)."""
    return runtime.observe(
        ObserveRequest(
            project=desired.project,
            container_names=frozenset(desired.containers),
            volume_names=frozenset(desired.volumes),
            network_names=frozenset(desired.networks),
            image_refs=frozenset(c.config.image for c in desired.containers.values()),
        ),
        cache,
        listing,
    )


def owned_entries(project: str, observed: ObservedState) -> list[tuple[str, str, str]]:
    """(kind, name, source) of everything the Engine's labels say ``project`` owns."""
    entries = []
    for kind, objects in (
        (Kind.CONTAINER, observed.containers),
        (Kind.VOLUME, observed.volumes),
        (Kind.NETWORK, observed.networks),
    ):
        for engine_name, obj in objects.items():
            o = obj.ownership
            # A recreated container keeps its io.reconcile.replaces label after the rename;
            # only a leftover replacement (still under its temporary name) is not adopted.
            if o.project == project and not engine_name.endswith(REPLACEMENT_SUFFIX):
                entries.append((kind.value, o.name or engine_name, o.source or ""))
    return entries


@dataclass
class PassResult:
    """A plan, and what applying it did (``outcome`` None for a dry run)."""

    plan: Plan
    outcome: ApplyOutcome | None = None
    warnings: list[str] = field(default_factory=list)
    images: dict[str, str] = field(default_factory=dict)  # image ref -> ID seen in the pass


def converge(
    runtime: Runtime,
    state: State,
    desired: DesiredState,
    *,
    prune: bool = False,
    force_prune: bool = False,
    dry_run: bool = False,
    delete: bool = False,
    parallelism: int = DEFAULT_PARALLELISM,
    health_timeout: float = 120.0,
    report: Reporter | None = None,
    on_plan: Callable[[Plan, list[str]], None] | None = None,
    policy: Policy | None = None,
    listing: Listing | None = None,
) -> PassResult:
    """Observe, plan, and unless ``dry_run`` apply. The caller holds the project lock (and
    began ``listing``, if given, while holding it).

    A dry run makes no Engine call that changes anything (it only lists and inspects).
    """
    project = desired.project
    applier = Applier(
        runtime,
        project,
        state.hash_key,
        parallelism=parallelism,
        health_timeout=health_timeout,
        report=report or _quiet,
        post_create=post_create_check(runtime, project, policy) if policy else None,
    )
    warnings: list[str] = list(state.warnings)
    if not dry_run:
        for container in desired.containers.values():
            if container.pull_policy == "Always":
                applier.ensure_image(container.config.image, "Always")
    observed = observe(runtime, desired, listing=listing)
    inventory = state.inventory(project)
    if inventory is None and prune:
        warnings.append(
            f'no inventory for project "{project}" in {state.path}; it is rebuilt from labels '
            "and nothing is pruned in this pass"
        )
    if delete:
        plan = planner.plan_delete(desired, observed)
    else:
        plan = planner.plan(
            desired, observed, prune=prune, force_prune=force_prune, inventory=inventory
        )
    if on_plan is not None:
        on_plan(plan, warnings)
    if dry_run:
        return PassResult(plan, None, warnings, image_ids(observed))
    outcome = execute(applier, state, plan, observed, inventory)
    return PassResult(plan, outcome, warnings, image_ids(observed))


def post_create_check(
    runtime: Runtime, project: str, policy: Policy
) -> Callable[[str, DesiredContainer], list[str]]:
    """A check of a created container's bind mounts as the Engine reports them (the policy's
    second look, after admission): the enforce-mode violations, as sentences. A container
    without bind mounts costs nothing."""

    def check(name: str, want: DesiredContainer) -> list[str]:
        if not any(m.type == "bind" for m in want.config.mounts):
            return []
        live = runtime.observe(
            ObserveRequest(project, container_names=frozenset({name}))
        ).containers.get(name)
        if live is None or live.config is None:
            return []
        pairs = [(m.source, m.target) for m in live.config.mounts if m.type == "bind"]
        return [str(v) for v in check_created(name, pairs, policy) if v.mode == "enforce"]

    return check


def admit_set(loaded: LoadResult, policy: Policy) -> tuple[LoadResult, Admission]:
    """The loaded set after admission: bind sources resolved, refused manifests as problems."""
    admission = admit(loaded.manifests, policy)
    result = dataclasses.replace(
        loaded,
        manifests=admission.manifests,
        problems=tuple(sorted({*loaded.problems, *admission.problems()})),
    )
    return result, admission


def image_ids(observed: ObservedState) -> dict[str, str]:
    """The image ID each wanted reference resolved to (references not present are left out)."""
    return {ref: info.id for ref, info in sorted(observed.images.items()) if info is not None}


def execute(
    applier: Applier,
    state: State,
    plan: Plan,
    observed: ObservedState,
    inventory: frozenset[tuple[str, str]] | None,
    stop: threading.Event | None = None,
) -> ApplyOutcome:
    """Run ``plan`` and keep the inventory and the events journal in step with it.

    The inventory gains what is about to be created before it is created, and loses what was
    removed after it is gone, so a kill in between never hides anything from a later prune.
    """
    project = plan.project
    if inventory is None:
        state.adopt_labels(project, owned_entries(project, observed))
    declared = [
        (s.kind.value, s.name, s.desired.source)
        for s in plan.steps
        if s.desired is not None and s.action is not Action.REMOVE
    ]
    if declared:
        state.record(project, declared)
    outcome = applier.run(plan, stop)
    gone = [
        (s.kind.value, s.name)
        for s in outcome.done
        if s.action is Action.REMOVE and s.reason in (Reason.NOT_DECLARED, Reason.DELETE_REQUESTED)
    ]
    if gone:
        state.forget(project, gone)
    state.add_events(_events(project, outcome))
    return outcome


def _quiet(_: Progress) -> None:
    return None


def _events(project: str, outcome: ApplyOutcome) -> list[Event]:
    now = time.time()
    events = [
        Event(
            project,
            now,
            s.kind.value,
            s.name,
            s.action.value,
            s.reason.value,
            "done",
            "; ".join(f"{d.path}" for d in s.diffs[:20]),
        )
        for s in outcome.done
    ]
    events += [
        Event(project, now, s.kind.value, s.name, s.action.value, s.reason.value, "failed", msg)
        for s, msg in outcome.failed
    ]
    events += [
        Event(project, now, s.kind.value, s.name, s.action.value, s.reason.value, "skipped", msg)
        for s, msg in outcome.skipped
    ]
    return events
