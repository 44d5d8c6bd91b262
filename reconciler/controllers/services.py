"""The service planner (pure): a container of a set on the Swarm backend is a service, and
every difference is an in-place service update (Swarm rolls the tasks by its update config).

Compared: the desired container as a service holds it (``values.swarm.service_view``) with
the service spec read back, field by field with the container comparison, plus ``swarm.*``.
There is no recreate (a service cannot be renamed; the rolling update replaces tasks safely)
and no start (Swarm restarts tasks itself). See docs/decisions/swarm-backend.md.
"""

from __future__ import annotations

import dataclasses

from reconciler.controllers.common import ControllerResult
from reconciler.controllers.container_fields import compare
from reconciler.controllers.plan import Action, FieldDiff, Kind, Reason, Step
from reconciler.values.configs import RolloutConfig, ServiceConfig
from reconciler.values.desired import DesiredContainer
from reconciler.values.observed import ObservedContainer
from reconciler.values.swarm import service_view

ORCHESTRATOR = "swarm"


def _rollout_diffs(path: str, have: RolloutConfig, want: RolloutConfig) -> list[FieldDiff]:
    return [
        FieldDiff(f"{path}.{f.name}", str(getattr(have, f.name)), str(getattr(want, f.name)))
        for f in dataclasses.fields(RolloutConfig)
        if getattr(have, f.name) != getattr(want, f.name)
    ]


def _settings_diffs(have: ServiceConfig, want: ServiceConfig) -> list[FieldDiff]:
    diffs = []
    if have.replicas != want.replicas:
        diffs.append(FieldDiff("swarm.replicas", str(have.replicas), str(want.replicas)))
    for gone in sorted(set(have.constraints) - set(want.constraints)):
        diffs.append(FieldDiff("swarm.constraints", gone, None))
    for added in sorted(set(want.constraints) - set(have.constraints)):
        diffs.append(FieldDiff("swarm.constraints", None, added))
    diffs += _rollout_diffs("swarm.update", have.update, want.update)
    diffs += _rollout_diffs("swarm.rollback", have.rollback, want.rollback)
    return diffs


def service_diffs(want: DesiredContainer, have: ObservedContainer) -> tuple[FieldDiff, ...]:
    """Every difference between a desired container and the live service, all in place."""
    assert have.config is not None, "observe reads every service it lists in full"
    target = service_view(want.config)
    live = have.config
    # What the manifest leaves unset and `docker service create` fills in (a grace period,
    # init) is compared only when written.
    live = dataclasses.replace(
        live,
        stop_timeout=live.stop_timeout if target.stop_timeout is not None else None,
        init=live.init if target.init is not None else None,
        stop_signal=live.stop_signal if target.stop_signal is not None else None,
    )
    diffs = list(compare(target, live, want.secret_env))
    diffs += _settings_diffs(live.service or ServiceConfig(), target.service or ServiceConfig())
    diffs = [dataclasses.replace(d, in_place=True) for d in diffs]
    return tuple(
        sorted(diffs, key=lambda d: (d.path, d.before is None, d.before or "", d.after or ""))
    )


def plan_service(
    want: DesiredContainer, have: ObservedContainer | None, result: ControllerResult
) -> None:
    """The step (or none) that brings the service of ``want`` in line."""
    name = want.name
    if have is None:
        result.steps.append(Step(Kind.CONTAINER, name, Action.CREATE, Reason.MISSING, desired=want))
        return
    diffs = service_diffs(want, have)
    if diffs:
        result.steps.append(
            Step(Kind.CONTAINER, name, Action.UPDATE, Reason.CONFIG_CHANGED, diffs, desired=want)
        )
    else:
        result.in_sync.append(f"{Kind.CONTAINER}/{name}")
