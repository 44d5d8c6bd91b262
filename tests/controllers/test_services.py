"""The service planner on literal states: a fresh service is in sync, drift is an in-place
update with field diffs, a missing service is created; the docker backend refuses replicas."""

from __future__ import annotations

import dataclasses

from reconciler.controllers import planner
from reconciler.controllers.plan import Action, Reason
from reconciler.values.configs import ContainerConfig, ServiceConfig
from reconciler.values.desired import DesiredContainer, DesiredState
from reconciler.values.observed import (
    ContainerStatus,
    EngineFacts,
    ObservedContainer,
    ObservedState,
    Ownership,
)
from reconciler.values.swarm import service_view

WANT = ContainerConfig(
    image="busybox:1",
    env=(("A", "1"),),
    restart_policy="unless-stopped",
    service=ServiceConfig(replicas=2),
)
SWARM = EngineFacts(api_version="1.41", orchestrator="swarm")


def _desired(config: ContainerConfig = WANT) -> DesiredState:
    return DesiredState(
        project="shop", containers={"web": DesiredContainer("web", "web.yaml:1:1", config)}
    )


def _observed(config: ContainerConfig | None, engine: EngineFacts = SWARM) -> ObservedState:
    services = {}
    if config is not None:
        services["web"] = ObservedContainer(
            "svc1",
            "web",
            "",
            Ownership(project="shop", name="web"),
            ContainerStatus("running"),
            config,
        )
    return ObservedState(containers=services, engine=engine)


def test_a_service_as_written_is_in_sync() -> None:
    plan = planner.plan(_desired(), _observed(service_view(WANT)), prune=False, inventory=None)
    assert plan.steps == () and plan.in_sync == ("Container/web",)


def test_drift_is_an_update_in_place_never_a_recreate() -> None:
    live = dataclasses.replace(
        service_view(WANT),
        env=(("A", "1"), ("X", "2")),
        service=ServiceConfig(replicas=0),
        init=False,
        stop_timeout=10,  # filled by `docker service create`: not written, not drift
    )
    (step,) = planner.plan(_desired(), _observed(live), prune=False, inventory=None).steps
    assert (step.action, step.reason) == (Action.UPDATE, Reason.CONFIG_CHANGED)
    assert [(d.path, d.before, d.after, d.in_place) for d in step.diffs] == [
        ("env.X", "2", None, True),
        ("swarm.replicas", "0", "2", True),
    ]


def test_a_removed_service_is_created() -> None:
    (step,) = planner.plan(_desired(), _observed(None), prune=False, inventory=None).steps
    assert (step.action, step.reason) == (Action.CREATE, Reason.MISSING)


def test_the_docker_backend_refuses_replicas_by_name() -> None:
    plan = planner.plan(
        _desired(), _observed(None, EngineFacts(api_version="1.41")), prune=False, inventory=None
    )
    assert plan.steps == ()
    assert [c.message for c in plan.conflicts] == [
        "swarm.replicas is 2: the docker backend runs one container (use --backend swarm for "
        "a service with replicas)"
    ]
