"""One-shot containers and dependsOn restart: true in the loop: the crash-loop guard backs off
a failing one-shot, restarts dependents of what it restarts, and ``status`` reports a
completed one-shot as ``completed``."""

from __future__ import annotations

import dataclasses

from reconciler.controllers.container_fields import effective
from reconciler.controllers.plan import Action, FieldDiff, Plan, Reason
from reconciler.controllers.planner import plan as make_plan
from reconciler.converge.applying import ApplyOutcome
from reconciler.loop.backoff import CrashLoop
from reconciler.loop.healing import Healer
from reconciler.loop.report import resource_statuses
from reconciler.sources.directory import Snapshot
from reconciler.values.observed import ContainerStatus, ObservedContainer, ObservedState, Ownership
from tests.converge.helpers import IMAGE, IMAGE_REF, P, container, state

SUCCEEDED = ContainerStatus(
    "exited", exit_code=0, started_at="s", finished_at="2026-01-01T10:00:05Z", restart_policy="no"
)


def failed(at: str) -> ContainerStatus:
    return dataclasses.replace(SUCCEEDED, exit_code=3, finished_at=at)


DESIRED = state(
    container("migrate", restartPolicy="no", oneShot=True),
    container("db", healthcheck={"test": "false"}),
    container("web", dependsOn=[{"name": "db", "restart": True}]),
)


def observed(**statuses: ContainerStatus) -> ObservedState:
    running = ContainerStatus("running", started_at="s")
    found = {name: running for name in DESIRED.containers} | statuses
    return ObservedState(
        containers={
            name: ObservedContainer(
                f"id-{name}",
                name,
                IMAGE.id,
                Ownership(project=P, name=name),
                status,
                effective(DESIRED.containers[name].config, IMAGE),
            )
            for name, status in found.items()
        },
        images={IMAGE_REF: IMAGE},
    )


def planned(now: ObservedState) -> Plan:
    return make_plan(DESIRED, now)


def test_a_failing_one_shot_is_restarted_with_crash_loop_backoff_not_in_a_hot_loop() -> None:
    healer = Healer()
    start = planned(observed(migrate=failed("t1")))
    assert [(s.name, s.action) for s in start.steps] == [("migrate", Action.START)]

    plan, waiting = healer.guard(start, DESIRED, observed(migrate=failed("t1")), 0.0)
    assert [s.name for s in plan.steps] == ["migrate"] and waiting == {}
    healer.started("migrate", 0.5)
    # It fails again at once: the next run waits 10 s, then 20 s.
    plan, waiting = healer.guard(start, DESIRED, observed(migrate=failed("t2")), 1.0)
    assert plan.steps == () and waiting == {"migrate": 9.5}
    plan, _ = healer.guard(start, DESIRED, observed(migrate=failed("t2")), 10.5)
    assert [s.name for s in plan.steps] == ["migrate"]
    healer.started("migrate", 10.5)
    plan, waiting = healer.guard(start, DESIRED, observed(migrate=failed("t3")), 11.0)
    assert plan.steps == () and waiting == {"migrate": 19.5}


def test_a_completed_one_shot_gives_the_guard_nothing_to_do() -> None:
    now = observed(migrate=SUCCEEDED)
    plan, waiting = Healer().guard(planned(now), DESIRED, now, 0.0)
    assert plan.steps == () and waiting == {}
    assert "Container/migrate" in plan.in_sync


def test_an_unhealthy_restart_restarts_the_dependents_that_ask_for_it() -> None:
    sick = ContainerStatus("running", health="unhealthy", started_at="s1")
    now = observed(db=sick)
    plan, _ = Healer().guard(planned(now), DESIRED, now, 0.0)
    assert [(s.name, s.action, s.reason, s.diffs, s.after) for s in plan.steps] == [
        (
            "db",
            Action.RESTART,
            Reason.UNHEALTHY,
            (FieldDiff("health", "unhealthy", "healthy"),),
            (),
        ),
        (
            "web",
            Action.RESTART,
            Reason.DEPENDENCY_RESTARTED,
            (FieldDiff("dependency", "db restarted", "restart"),),
            ("Container/db",),
        ),
    ]
    assert "Container/web" not in plan.in_sync


def test_status_reports_a_completed_one_shot_as_completed() -> None:
    now = observed(migrate=SUCCEEDED)
    plan = planned(now)
    statuses = resource_statuses(
        DESIRED, now, Snapshot(manifests=(), problems=()), plan, ApplyOutcome(), {}, CrashLoop()
    )
    by_name = {s.name: (s.status, s.detail) for s in statuses}
    assert by_name["migrate"] == (
        "completed",
        "exited with code 0 at 2026-01-01T10:00:05Z; not run again",
    )
    assert by_name["db"] == ("synced", "")
