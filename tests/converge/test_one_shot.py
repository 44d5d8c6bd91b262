"""One-shot containers and the dependsOn conditions completed, restart: true and required:
false in the Applier (on the recording fake and a fake clock), and ``apply --wait``."""

from __future__ import annotations

import dataclasses

from reconciler.controllers.plan import Action, Plan
from reconciler.controllers.planner import plan
from reconciler.converge import overview
from reconciler.converge.applying import Progress
from reconciler.converge.pipeline import PassResult
from reconciler.errors import PermanentBackendError
from reconciler.values.desired import DesiredState
from reconciler.values.observed import (
    ContainerStatus,
    ObservedContainer,
    ObservedState,
    Ownership,
)
from tests.converge.helpers import (
    IMAGE,
    IMAGE_REF,
    applier,
    container,
    one_step_plan,
    state,
    step,
)
from tests.converge.recording_runtime import FakeClock, RecordingRuntime

RUNNING = ContainerStatus("running", restart_policy="no")
SUCCEEDED = ContainerStatus(
    "exited",
    exit_code=0,
    started_at="2026-01-01T10:00:00Z",
    finished_at="2026-01-01T10:00:05Z",
    restart_policy="no",
)
FAILED = dataclasses.replace(SUCCEEDED, exit_code=3)


def app_after(condition: str = "completed", **dependency: object) -> DesiredState:
    return state(
        container("migrate", restartPolicy="no"),
        container("app", dependsOn=[{"name": "migrate", "condition": condition, **dependency}]),
    )


def create_app(
    rt: RecordingRuntime, desired: DesiredState, timeout: float = 1.0
) -> tuple[list[str], FakeClock, list[Progress]]:
    """Create app on its own (migrate has no step); its failures, the clock, the progress."""
    clock = FakeClock()
    seen: list[Progress] = []
    outcome = applier(rt, clock=clock, health_timeout=timeout, report=seen.append).run(
        one_step_plan(step(desired.containers["app"], Action.CREATE))
    )
    return [m for _, m in outcome.failed], clock, seen


def warnings(seen: list[Progress]) -> list[tuple[str, str]]:
    return [(p.step.key, p.message) for p in seen if p.phase == "warning"]


# -- condition: completed --------------------------------------------------------------------


def test_completed_waits_while_the_dependency_runs_then_goes_on_at_exit_zero() -> None:
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    rt.script_status("migrate", RUNNING, RUNNING, SUCCEEDED)
    failed, clock, _ = create_app(rt, app_after())
    assert failed == []
    assert clock.sleeps == [0.25, 0.25]
    assert rt.names()[-2:] == ["create_container app", "start_container app"]


def test_completed_fails_at_once_naming_the_dependency_and_its_exit_code() -> None:
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    rt.script_status("migrate", FAILED)
    failed, clock, _ = create_app(rt, app_after())
    assert failed == [
        'app depends on "migrate" completing successfully, but migrate exited with code 3'
    ]
    assert clock.sleeps == []
    assert "create_container app" not in rt.names()


def test_completed_times_out_on_a_dependency_still_running() -> None:
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    rt.script_status("migrate", RUNNING)
    failed, clock, _ = create_app(rt, app_after(), timeout=1.0)
    assert failed == ['app waited 1s for "migrate" to be completed; it is running']
    assert clock.sleeps == [0.25] * 4


def test_completed_waits_for_a_dependency_created_but_not_yet_started() -> None:
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    rt.script_status("migrate", ContainerStatus("created", restart_policy="no"), SUCCEEDED)
    failed, clock, _ = create_app(rt, app_after())
    assert (failed, clock.sleeps) == ([], [0.25])


def test_started_is_met_by_a_one_shot_that_ran_to_completion() -> None:
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    rt.script_status("migrate", SUCCEEDED)
    failed, clock, _ = create_app(rt, app_after("started"))
    assert (failed, clock.sleeps) == ([], [])


def test_started_still_waits_for_a_stopped_container_that_is_not_one_shot() -> None:
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    rt.script_status("migrate", dataclasses.replace(SUCCEEDED, restart_policy="unless-stopped"))
    failed, _, _ = create_app(rt, app_after("started"), timeout=0.5)
    assert failed == ['app waited 0.5s for "migrate" to be started; it is exited']


def test_a_cold_apply_runs_the_migration_before_creating_the_app() -> None:
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    desired = app_after()

    def finish(call: tuple[str, ...]) -> None:
        # The migration's container exits 0 as soon as it is started.
        if call[1] == "migrate":
            rt.script_status("migrate", SUCCEEDED)

    rt.on_call("start_container", finish)
    outcome = applier(rt).run(plan(desired, ObservedState(images={IMAGE_REF: IMAGE})))
    assert outcome.ok
    assert rt.names() == [
        "inspect_image busybox:test",
        "create_container migrate",
        "start_container migrate",
        "container_status migrate",
        "create_container app",
        "start_container app",
    ]


# -- restart: true ------------------------------------------------------------------------------


def test_a_dependent_is_restarted_after_its_dependency_is_recreated() -> None:
    desired = state(
        container("db", env={"GENERATION": "2"}),
        container("web", dependsOn=[{"name": "db", "restart": True}]),
    )
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    old = dataclasses.replace(desired.containers["db"].config, env=(("GENERATION", "1"),))
    rt.add_container("db", old)
    rt.add_container("web", desired.containers["web"].config)
    the_plan = Plan(
        "shop",
        (
            step(desired.containers["db"], Action.RECREATE),
            step(desired.containers["web"], Action.RESTART, after=("Container/db",)),
        ),
    )
    outcome = applier(rt, parallelism=4).run(the_plan)
    assert outcome.ok
    names = rt.names()
    # db's status is read while its replacement is created: either may come first.
    assert sorted(names[1:3]) == ["container_status db", "create_container db-reconcile-next"]
    assert [names[0], *names[3:]] == [
        "inspect_image busybox:test",
        "stop_container db",
        "start_container db-reconcile-next",
        "remove_container db",
        "rename_container db-reconcile-next",
        # web waits for db to be started, then restarts
        "container_status db",
        "stop_container web",
        "start_container web",
    ]


# -- required: false ------------------------------------------------------------------------


def test_an_optional_dependency_that_never_comes_up_is_a_warning() -> None:
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    rt.script_status("migrate", None)
    failed, clock, seen = create_app(rt, app_after("started", required=False), timeout=0.5)
    assert failed == []
    assert clock.sleeps == [0.25, 0.25]
    assert warnings(seen) == [
        (
            "Container/app",
            'app waited 0.5s for "migrate" to be started; it is missing; app goes on without '
            "it (required: false)",
        )
    ]
    assert rt.names()[-2:] == ["create_container app", "start_container app"]


def test_an_optional_dependency_that_failed_is_a_warning() -> None:
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    rt.script_status("migrate", FAILED)
    failed, _, seen = create_app(rt, app_after(required=False))
    assert failed == []
    assert warnings(seen) == [
        (
            "Container/app",
            'app depends on "migrate" completing successfully, but migrate exited with code 3; '
            "app goes on without it (required: false)",
        )
    ]


def test_a_failed_step_of_an_optional_dependency_does_not_skip_or_hold_the_dependent() -> None:
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    rt.fail("create_container", "migrate", PermanentBackendError("no space left"))
    seen: list[Progress] = []
    clock = FakeClock()
    desired = app_after(required=False)
    the_plan = plan(desired, ObservedState(images={IMAGE_REF: IMAGE}))
    assert [s.after for s in the_plan.steps] == [(), ("Container/migrate",)]
    outcome = applier(rt, clock=clock, report=seen.append).run(the_plan)
    assert [s.key for s, _ in outcome.failed] == ["Container/migrate"]
    assert [s.key for s in outcome.done] == ["Container/app"]
    assert outcome.skipped == []
    assert clock.sleeps == []  # no wait for a dependency whose step failed
    assert (
        [(s.key, m) for s, m in outcome.warnings]
        == warnings(seen)
        == [
            (
                "Container/app",
                'app goes on without "migrate" (required: false): the step of migrate failed',
            )
        ]
    )


def test_a_failed_step_of_a_required_dependency_still_skips_the_dependent() -> None:
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    rt.fail("create_container", "migrate", PermanentBackendError("no space left"))
    outcome = applier(rt).run(plan(app_after(), ObservedState(images={IMAGE_REF: IMAGE})))
    assert [s.key for s, _ in outcome.skipped] == ["Container/app"]


# -- apply --wait ----------------------------------------------------------------------------


def test_wait_ready_takes_a_completed_one_shot_as_done_and_a_failed_one_as_failed() -> None:
    rt = RecordingRuntime()
    rt.script_status("migrate", SUCCEEDED)
    rt.script_status("seed", FAILED)
    rt.script_status("server", RUNNING)  # restartPolicy no, still running: ready as before
    rt.script_status("web", dataclasses.replace(SUCCEEDED, restart_policy="unless-stopped"))
    clock = FakeClock()
    problems = applier(rt, clock=clock).wait_ready(
        ["migrate", "seed", "server", "web"], 1.0, frozenset({"migrate", "seed"})
    )
    assert problems == [
        "seed: exited with code 3 (a one-shot)",
        "web: not ready after 1s (exited)",
    ]
    assert clock.sleeps == [0.5, 0.5]


def test_wait_ready_fails_a_one_shot_at_once_when_everything_else_is_ready() -> None:
    rt = RecordingRuntime()
    rt.script_status("seed", FAILED)
    clock = FakeClock()
    assert applier(rt, clock=clock).wait_ready(["seed"], 30, frozenset({"seed"})) == [
        "seed: exited with code 3 (a one-shot)"
    ]
    assert clock.sleeps == []


# -- reconcile get ------------------------------------------------------------------------------


def test_get_shows_a_completed_one_shot_as_completed_and_synced() -> None:
    desired = app_after()
    migrate = ObservedContainer("id-m", "migrate", IMAGE.id, Ownership(project="shop"), SUCCEEDED)
    failed = ObservedContainer("id-a", "app", IMAGE.id, Ownership(project="shop"), FAILED)
    observed = ObservedState(containers={"migrate": migrate, "app": failed})
    the_plan = Plan(
        "shop",
        (step(desired.containers["app"], Action.START),),
        in_sync=("Container/migrate",),
    )
    rows = overview.rows(PassResult(desired, observed, the_plan, ()), declared=True)
    assert [(r.name, r.state, r.sync) for r in rows] == [
        ("app", "exited", "drifted"),
        ("migrate", "completed", "synced"),
    ]
