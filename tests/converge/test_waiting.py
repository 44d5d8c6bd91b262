"""dependsOn waits and wait_ready, on a fake clock that moves only when the Applier sleeps."""

from __future__ import annotations

from reconciler.controllers.plan import Action
from reconciler.values.desired import DesiredContainer
from reconciler.values.observed import ContainerStatus
from tests.converge.helpers import IMAGE, IMAGE_REF, applier, container, one_step_plan, state, step
from tests.converge.recording_runtime import FakeClock, RecordingRuntime

STARTING = ContainerStatus("running", "starting")
HEALTHY = ContainerStatus("running", "healthy")
UNHEALTHY = ContainerStatus("running", "unhealthy")
EXITED = ContainerStatus("exited")


def web_after_db(condition: str) -> DesiredContainer:
    desired = state(
        container("db", healthcheck={"test": "true"}),
        container("web", dependsOn=[{"name": "db", "condition": condition}]),
    )
    return desired.containers["web"]


def run_web(
    rt: RecordingRuntime, condition: str, timeout: float = 1.0
) -> tuple[list[str], FakeClock]:
    """Create web on its own (db is in sync, so has no step); return failures and the clock."""
    clock = FakeClock()
    outcome = applier(rt, clock=clock, health_timeout=timeout).run(
        one_step_plan(step(web_after_db(condition), Action.CREATE))
    )
    return [m for _, m in outcome.failed], clock


def test_healthy_dependency_is_polled_until_healthy() -> None:
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    rt.script_status("db", STARTING, STARTING, HEALTHY)
    failed, clock = run_web(rt, "healthy")
    assert failed == []
    assert clock.sleeps == [0.25, 0.25]
    assert rt.calls == [
        ("inspect_image", IMAGE_REF),
        ("container_status", "db"),
        ("container_status", "db"),
        ("container_status", "db"),
        ("create_container", "web"),
        ("start_container", "web"),
    ]


def test_healthy_wait_times_out_naming_the_dependency_and_its_state() -> None:
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    rt.script_status("db", UNHEALTHY)
    failed, clock = run_web(rt, "healthy", timeout=1.0)
    assert failed == ['web waited 1s for "db" to be healthy; it is unhealthy']
    assert clock.sleeps == [0.25] * 4
    assert ("create_container", "web") not in rt.calls


def test_wait_for_a_missing_or_stopped_dependency_says_so() -> None:
    for status, condition, said in (
        (None, "started", "missing"),
        (EXITED, "started", "exited"),
        (None, "healthy", "missing"),
        (ContainerStatus("restarting", "starting"), "healthy", "starting"),
    ):
        rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
        rt.script_status("db", status)
        failed, _ = run_web(rt, condition, timeout=0.5)
        assert failed == [f'web waited 0.5s for "db" to be {condition}; it is {said}']


def test_started_does_not_wait_for_health() -> None:
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    rt.script_status("db", UNHEALTHY)
    failed, clock = run_web(rt, "started")
    assert (failed, clock.sleeps) == ([], [])


def test_healthy_on_a_dependency_without_healthcheck_fails_at_once() -> None:
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    rt.script_status("db", ContainerStatus("running"))
    failed, clock = run_web(rt, "healthy")
    assert failed == ['web depends on "db" being healthy, but db has no healthcheck']
    assert clock.sleeps == []


def test_wait_ready_names_each_container_not_ready_in_time() -> None:
    rt = RecordingRuntime()
    rt.script_status("ok", HEALTHY)
    rt.script_status("late", STARTING, HEALTHY)  # ready at the second poll
    rt.script_status("sick", UNHEALTHY)
    rt.script_status("down", EXITED)
    clock = FakeClock()
    problems = applier(rt, clock=clock).wait_ready(["sick", "ok", "late", "down", "gone"], 2.0)
    assert problems == [
        "down: not ready after 2s (exited)",
        "gone: not ready after 2s (missing)",
        "sick: not ready after 2s (unhealthy)",
    ]
    assert clock.sleeps == [0.5] * 4


def test_wait_ready_returns_at_once_when_everything_is_ready() -> None:
    rt = RecordingRuntime()
    rt.script_status("a", HEALTHY)
    rt.script_status("b", ContainerStatus("running"))
    clock = FakeClock()
    assert applier(rt, clock=clock).wait_ready(["a", "b"], 30) == []
    assert clock.sleeps == []
    assert rt.calls == [("container_status", "a"), ("container_status", "b")]
