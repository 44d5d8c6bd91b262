"""What a pass writes down: the inventory kept in step with execution, the events journal,
and the revision an applying pass leaves in the history."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from reconciler.controllers.plan import Action, Kind, Plan, Reason
from reconciler.converge.applying import Applier, ApplyOutcome
from reconciler.manifests.constants import REPLACEMENT_SUFFIX
from reconciler.state import history
from reconciler.state.database import State
from reconciler.state.records import Event
from reconciler.values.observed import ObservedState

if TYPE_CHECKING:
    from reconciler.converge.pipeline import PassResult


def execute(
    applier: Applier,
    state: State,
    plan: Plan,
    observed: ObservedState,
    inventory: frozenset[tuple[str, str]] | None,
    stop: threading.Event | None = None,
    *,
    external: frozenset[tuple[str, str]] = frozenset(),
) -> ApplyOutcome:
    """Run ``plan`` and keep the inventory and the events journal in step with it.

    The inventory gains what is about to be created before it is created, and loses what was
    removed after it is gone, so a kill in between never hides anything from a later prune.
    ``external`` (kind, name) are declared external: never in the inventory, even when their
    labels say this project made them (a volume it once created, now declared external), so
    no later prune can take them once their manifest is gone.
    """
    project = plan.project
    if inventory is None:
        owned = owned_entries(project, observed)
        state.adopt_labels(project, [e for e in owned if (e[0], e[1]) not in external])
    elif released := sorted(external & inventory):
        state.forget(project, released)
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


def revision_recorder(
    state: State, source: str, on_unpin: Callable[[], None] | None = None
) -> Callable[[PassResult], None]:
    """The record hook of an explicit apply: the set becomes a revision (or updates the
    newest one's outcome) and a rollback pin is lifted (``on_unpin`` says so)."""

    def record(result: PassResult) -> None:
        project = result.plan.project
        if state.clear_pin(project) and on_unpin is not None:
            on_unpin()
        history.record(
            state,
            project,
            source,
            result.manifests,
            result.images,
            "ok" if result.clean else "failed",
            result.failures(),
            files=result.input_files,
            digests=result.digests,
        )

    return record


def rollback_recorder(
    state: State, target: int, upstream: str, recorded: list[int]
) -> Callable[[PassResult], None]:
    """The record hook of ``rollback``: the re-applied set becomes a new revision, and the
    project is pinned to it while its source still declares ``upstream`` (the digest the
    source had before the first rollback: a rollback of a rollback keeps it). The new
    revision's number is appended to ``recorded``."""

    def record(result: PassResult) -> None:
        project = result.plan.project
        number = history.record(
            state,
            project,
            f"rollback:#{target}",
            result.manifests,
            result.images,
            "ok" if result.outcome is not None and result.outcome.ok else "failed",
            files=result.input_files,
            digests=result.digests,
        )
        previous = state.pin(project)
        state.set_pin(project, number, previous.upstream if previous else upstream)
        recorded.append(number)

    return record


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
