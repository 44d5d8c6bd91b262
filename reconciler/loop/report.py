"""What the loop reports about itself: per-resource status and the document that
``reconcile status`` reads from the state database while ``reconcile run`` is running."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.controllers.plan import Action, Plan
from reconciler.converge.applying import ApplyOutcome
from reconciler.loop.backoff import CrashLoop
from reconciler.sources.directory import Snapshot
from reconciler.values.desired import DesiredState
from reconciler.values.observed import ObservedState


@dataclass(frozen=True)
class PassReport:
    """How one pass went."""

    started_wall: float
    seconds: float
    reasons: tuple[str, ...] = ()
    outcome: str = "ok"  # ok | degraded | source-unavailable | engine-unavailable | engine-error
    error: str = ""
    retry_in: float = 0.0


@dataclass(frozen=True, order=True)
class ResourceStatus:
    """One resource: synced, completed (a one-shot container that exited with code 0: in
    sync), drifted, progressing, crash-loop, invalid-manifest, failed, conflict, missing or
    external (an external volume or network that exists: never compared), with a sentence
    of detail."""

    kind: str
    name: str
    status: str
    detail: str = ""


def resource_statuses(
    desired: DesiredState,
    observed: ObservedState,
    snapshot: Snapshot,
    plan: Plan,
    outcome: ApplyOutcome,
    waiting: dict[str, float],
    crash: CrashLoop,
) -> list[ResourceStatus]:
    """The status of every declared resource after a pass."""
    failed = {s.key: msg for s, msg in outcome.failed}
    skipped = {s.key: msg for s, msg in outcome.skipped}
    done = {s.key for s in outcome.done}
    conflicts = {f"{c.kind}/{c.name}": c.message for c in plan.conflicts}
    stale = set(snapshot.stale_files)
    problems: dict[str, str] = {}
    for problem in snapshot.problems:
        problems.setdefault(problem.location.file, str(problem))
    result = []
    for kind, items in (
        ("Container", desired.containers),
        ("Volume", desired.volumes),
        ("Network", desired.networks),
    ):
        for name, want in items.items():
            key = f"{kind}/{name}"
            file = want.source.split(":", 1)[0]
            have = observed.containers.get(name) if kind == "Container" else None
            if file in stale:
                status, detail = "invalid-manifest", f"{problems.get(file, file)} (last good kept)"
            elif key in failed:
                status, detail = "failed", failed[key]
            elif key in conflicts:
                status, detail = "conflict", conflicts[key]
            elif name in waiting and kind == "Container":
                status = "crash-loop"
                detail = (
                    f"next retry in {waiting[name]:.0f}s ({crash.failures(name)} failures in a row)"
                )
            elif key in skipped:
                status, detail = "progressing", skipped[key]
            elif have is not None and have.status.state == "restarting":
                status = "crash-loop"
                detail = f"the Engine is restarting it ({have.status.restart_count} restarts)"
            elif key in done or (have is not None and have.status.health == "starting"):
                status, detail = (
                    "progressing",
                    "just applied" if key in done else "health: starting",
                )
            elif key in plan.in_sync and getattr(want, "external", False):
                status, detail = "external", "made elsewhere; reconcile never changes it"
            elif (
                key in plan.in_sync
                and have is not None
                and getattr(want, "one_shot", False)
                and have.status.succeeded
            ):
                status = "completed"
                detail = f"exited with code 0 at {have.status.finished_at}; not run again"
            elif key in plan.in_sync:
                status, detail = "synced", ""
            else:
                pending = [s for s in plan.steps if s.key == key]
                status = "missing" if pending and pending[0].action is Action.CREATE else "drifted"
                detail = ""
            result.append(ResourceStatus(kind, name, status, detail))
    return sorted(result)


def status_document(
    project: str,
    directory: Path,
    report: PassReport,
    snapshot: Snapshot | None,
    statuses: list[ResourceStatus] | None,
    plan: Plan | None,
) -> dict[str, Any]:
    """The JSON document saved after a pass (keys are API for ``reconcile status -o json``)."""
    import os

    document: dict[str, Any] = {
        "project": project,
        "directory": str(directory),
        "pid": os.getpid(),
        "lastPass": {
            "startedAt": report.started_wall,
            "seconds": round(report.seconds, 4),
            "reasons": list(report.reasons),
            "outcome": report.outcome,
            "error": report.error,
            "retryIn": round(report.retry_in, 1),
        },
    }
    if report.outcome in ("ok", "degraded"):
        document["lastSuccessAt"] = report.started_wall
    if snapshot is not None:
        document["source"] = {
            "problems": [str(p) for p in snapshot.problems],
            "staleFiles": list(snapshot.stale_files),
            "unknownFiles": list(snapshot.unknown_files),
            "settlingFiles": list(snapshot.settling_files),
            "pruneSafe": snapshot.prune_safe,
        }
    if statuses is not None:
        # Not ``asdict``, which deep-copies every value: this runs on every pass.
        document["resources"] = [
            {"kind": s.kind, "name": s.name, "status": s.status, "detail": s.detail}
            for s in statuses
        ]
    if plan is not None:
        document["conflicts"] = [f"{c.kind}/{c.name}: {c.message}" for c in plan.conflicts]
        document["warnings"] = list(plan.warnings)
        # The planner's prune guard reports a refused mass prune as a conflict of the project.
        refused = [c.message for c in plan.conflicts if c.kind == "Project"]
        document["pruneRefused"] = refused[0] if refused else None
    return document
