"""Healer.guard: literal plans, desired and observed states in; the plan it lets through and
the waits it reports out. The clock is a number passed in."""

from __future__ import annotations

from reconciler.controllers.plan import Action, FieldDiff, Kind, Plan, Reason, Step
from reconciler.loop.healing import Healer
from reconciler.values.desired import DesiredState
from reconciler.values.observed import ContainerStatus, ObservedContainer, ObservedState, Ownership
from tests.converge.helpers import P, container, state, step

DESIRED = state(
    container("web", healthcheck={"test": "false"}),
    container("off", healthcheck={"test": "false"}, restartOnUnhealthy=False),
    container("job"),
)


def observed(**statuses: ContainerStatus) -> ObservedState:
    return ObservedState(
        containers={
            name: ObservedContainer(f"id-{name}", name, "sha256:x", Ownership(project=P), s)
            for name, s in statuses.items()
        }
    )


def exited(at: str) -> ContainerStatus:
    return ContainerStatus("exited", exit_code=1, started_at="s", finished_at=at)


def start(name: str, desired: DesiredState = DESIRED) -> Plan:
    return Plan(P, (step(desired.containers[name], Action.START, Reason.NOT_RUNNING),))


def test_the_first_exit_restarts_at_once_the_next_waits_ten_seconds() -> None:
    healer = Healer()
    healer.started("job", 0.0)
    plan, waiting = healer.guard(start("job"), DESIRED, observed(job=exited("t1")), 1.0)
    assert [s.key for s in plan.steps] == ["Container/job"]
    assert waiting == {}
    healer.started("job", 1.5)

    plan, waiting = healer.guard(start("job"), DESIRED, observed(job=exited("t2")), 2.0)
    assert plan.steps == ()
    assert waiting == {"job": 9.5}
    # The same exit seen again (another pass during the wait) counts once.
    plan, waiting = healer.guard(start("job"), DESIRED, observed(job=exited("t2")), 6.0)
    assert plan.steps == () and waiting == {"job": 5.5}
    assert healer.crash.failures("job") == 2

    plan, waiting = healer.guard(start("job"), DESIRED, observed(job=exited("t2")), 11.5)
    assert [s.action for s in plan.steps] == [Action.START] and waiting == {}


def test_other_steps_pass_untouched() -> None:
    healer = Healer()
    want = DESIRED.containers["job"]
    steps = (
        step(want, Action.RECREATE, Reason.CONFIG_CHANGED),
        Step(Kind.VOLUME, "data", Action.CREATE, Reason.MISSING),
    )
    plan, waiting = healer.guard(Plan(P, steps), DESIRED, observed(), 0.0)
    assert plan.steps == steps and waiting == {}


def test_an_unhealthy_running_container_gets_a_restart_step() -> None:
    healer = Healer()
    sick = ContainerStatus("running", health="unhealthy", started_at="s1")
    plan, waiting = healer.guard(Plan(P), DESIRED, observed(web=sick, off=sick), 0.0)
    assert plan.steps == (
        Step(
            Kind.CONTAINER,
            "web",
            Action.RESTART,
            Reason.UNHEALTHY,
            (FieldDiff("health", "unhealthy", "healthy"),),
        ),
    ), "restartOnUnhealthy: false is left alone"
    assert waiting == {}
    healer.started("web", 1.0)

    # Unhealthy again after the restart: a second failure, held back 10 s.
    sick_again = ContainerStatus("running", health="unhealthy", started_at="s2")
    plan, waiting = healer.guard(Plan(P), DESIRED, observed(web=sick_again), 2.0)
    assert plan.steps == () and waiting == {"web": 9.0}


def test_healthy_starting_or_stopped_containers_are_not_restarted() -> None:
    healer = Healer()
    for status in (
        ContainerStatus("running", health="healthy", started_at="s"),
        ContainerStatus("running", health="starting", started_at="s"),
        ContainerStatus("exited", health="unhealthy", started_at="s", finished_at="f"),
    ):
        plan, waiting = healer.guard(Plan(P), DESIRED, observed(web=status), 0.0)
        assert plan.steps == () and waiting == {}, status


def test_a_container_with_a_planned_step_gets_no_extra_restart() -> None:
    healer = Healer()
    sick = ContainerStatus("running", health="unhealthy", started_at="s1")
    recreate = Plan(P, (step(DESIRED.containers["web"], Action.RECREATE),))
    plan, _ = healer.guard(recreate, DESIRED, observed(web=sick), 0.0)
    assert [s.action for s in plan.steps] == [Action.RECREATE]
