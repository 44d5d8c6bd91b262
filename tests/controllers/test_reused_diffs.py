"""A loop's quiet pass reuses its desired state, and the planner then reuses each container's
field diffs (``DesiredContainer.memo``) while the observed container and its image are the very
same objects. A container the inspect store read again (a new object) is compared again."""

from __future__ import annotations

import dataclasses

from reconciler.controllers.container_fields import effective
from reconciler.controllers.plan import Action
from reconciler.controllers.planner import plan as make_plan
from reconciler.values.configs import ContainerConfig
from reconciler.values.observed import ContainerStatus, ObservedContainer, ObservedState, Ownership
from tests.converge.helpers import IMAGE, IMAGE_REF, P, container, state

DESIRED = state(container("web", env={"A": "1"}), container("db"))
RUNNING = ContainerStatus("running", started_at="s")


def live(name: str, config: ContainerConfig | None = None) -> ObservedContainer:
    config = config or effective(DESIRED.containers[name].config, IMAGE)
    return ObservedContainer(f"id-{name}", name, IMAGE.id, Ownership(P, name=name), RUNNING, config)


def observed(*containers: ObservedContainer) -> ObservedState:
    return ObservedState(containers={c.name: c for c in containers}, images={IMAGE_REF: IMAGE})


def test_the_same_observed_container_is_not_compared_again() -> None:
    web, db = live("web"), live("db")
    assert make_plan(DESIRED, observed(web, db)).steps == ()
    held = DESIRED.containers["web"].memo["diffs"]
    assert held[0] is web and held[3] == ()
    # The next pass sees the very same objects: the kept diffs are used as they are.
    assert make_plan(DESIRED, observed(web, db)).steps == ()
    assert DESIRED.containers["web"].memo["diffs"] is held


def test_a_container_read_again_with_drift_is_compared_and_recreated() -> None:
    web, db = live("web"), live("db")
    assert make_plan(DESIRED, observed(web, db)).steps == ()
    assert web.config is not None
    drifted = live("web", dataclasses.replace(web.config, env=(("A", "2"),)))
    steps = make_plan(DESIRED, observed(drifted, db)).steps
    assert [(s.name, s.action) for s in steps] == [("web", Action.RECREATE)]
    assert [(d.path, d.before, d.after) for d in steps[0].diffs] == [("env.A", "2", "1")]
    # And back: the first object again is compared again too (only the last is kept).
    assert make_plan(DESIRED, observed(web, db)).steps == ()


def test_a_copy_of_a_desired_container_keeps_nothing_of_the_original() -> None:
    want = DESIRED.containers["db"]
    make_plan(DESIRED, observed(live("web"), live("db")))
    assert want.memo
    copy = dataclasses.replace(want, one_shot=True)
    assert copy.memo == {} and copy.memo is not want.memo
    assert copy == dataclasses.replace(want, one_shot=True)  # the memo is not compared
