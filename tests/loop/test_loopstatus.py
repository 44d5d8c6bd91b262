"""resource_statuses: literal pass results in, one status per declared resource out."""

from __future__ import annotations

from reconciler.controllers.plan import Action, Conflict, Plan, Reason
from reconciler.converge.applying import ApplyOutcome
from reconciler.errors import Location, Problem
from reconciler.loop.backoff import CrashLoop
from reconciler.loop.report import ResourceStatus, resource_statuses
from reconciler.sources.directory import Snapshot
from reconciler.values.observed import ContainerStatus, ObservedContainer, ObservedState, Ownership
from tests.converge.helpers import P, container, doc, state, step

DESIRED = state(
    container("synced"),
    container("failed"),
    container("clash"),
    container("waiting"),
    container("skipped"),
    container("restarting"),
    container("done"),
    container("starting"),
    container("missing"),
    container("drifted"),
    doc("Volume", "data"),
)


def have(name: str, status: ContainerStatus) -> ObservedContainer:
    return ObservedContainer(f"id-{name}", name, "sha256:x", Ownership(project=P), status)


def test_every_status_with_its_detail() -> None:
    want = DESIRED.containers
    observed = ObservedState(
        containers={
            "restarting": have("restarting", ContainerStatus("restarting", restart_count=4)),
            "starting": have("starting", ContainerStatus("running", health="starting")),
            "synced": have("synced", ContainerStatus("running")),
            "drifted": have("drifted", ContainerStatus("running")),
        }
    )
    plan = Plan(
        P,
        (
            step(want["missing"], Action.CREATE, Reason.MISSING),
            step(want["drifted"], Action.RECREATE),
        ),
        conflicts=(Conflict("Container", "clash", "a container named clash exists"),),
        in_sync=("Container/synced", "Volume/data"),
    )
    outcome = ApplyOutcome(
        done=[step(want["done"], Action.CREATE, Reason.MISSING)],
        failed=[(step(want["failed"], Action.CREATE, Reason.MISSING), "boom (HTTP 500)")],
        skipped=[(step(want["skipped"], Action.CREATE, Reason.MISSING), "waits for db")],
    )
    # A problem in a file that is not stale (it never was valid) marks nothing invalid.
    problem = Problem(Location("other.yaml", 3, 5), "spec", "unknown field")
    snapshot = Snapshot(manifests=(), problems=(problem,), unknown_files=("other.yaml",))
    crash = CrashLoop()
    crash.failed("waiting", 0.0)
    crash.failed("waiting", 1.0)

    statuses = resource_statuses(
        DESIRED, observed, snapshot, plan, outcome, {"waiting": 7.6}, crash
    )
    by_name = {s.name: (s.status, s.detail) for s in statuses}
    assert by_name == {
        "synced": ("synced", ""),
        "failed": ("failed", "boom (HTTP 500)"),
        "clash": ("conflict", "a container named clash exists"),
        "waiting": ("crash-loop", "next retry in 8s (2 failures in a row)"),
        "skipped": ("progressing", "waits for db"),
        "restarting": ("crash-loop", "the Engine is restarting it (4 restarts)"),
        "done": ("progressing", "just applied"),
        "starting": ("progressing", "health: starting"),
        "missing": ("missing", ""),
        "drifted": ("drifted", ""),
        "data": ("synced", ""),
    }
    assert statuses == sorted(statuses)
    assert ResourceStatus("Volume", "data", "synced") in statuses


def test_a_stale_file_marks_its_resources_invalid_with_the_problem() -> None:
    desired = state(container("a"), container("b"))  # sources shop.yaml:1 and shop.yaml:2
    problem = Problem(Location("shop.yaml", 7, 3), "spec.restartPolcy", "unknown field")
    snapshot = Snapshot(manifests=(), problems=(problem,), stale_files=("shop.yaml",))
    plan = Plan(P, in_sync=("Container/a", "Container/b"))
    statuses = resource_statuses(
        desired, ObservedState(), snapshot, plan, ApplyOutcome(), {}, CrashLoop()
    )
    assert [(s.name, s.status, s.detail) for s in statuses] == [
        (n, "invalid-manifest", f"{problem} (last good kept)") for n in ("a", "b")
    ]
