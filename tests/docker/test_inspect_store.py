"""The inspect cache kept between commands, against the real Engine: a command after an
unchanged one reads no container in full, and still sees every drift made in between that
the container list does not show (``docker update``, a network disconnect), because the
Engine's event log says what changed; when that log may have dropped events since the last
command, everything is read again."""

from __future__ import annotations

import dataclasses
from collections import Counter

from reconciler.controllers.plan import Action, Plan
from reconciler.runtime.docker import DockerRuntime
from tests.docker.scenario import LOOP, Scenario

SET = """\
    apiVersion: reconcile/v1
    kind: Network
    metadata: {name: $p-net}
    ---
    apiVersion: reconcile/v1
    kind: Container
    metadata: {name: $p-a}
    spec:
      image: $image
      command: [sh, -c, '$loop']
      stopGracePeriod: 1s
      resources: {memory: 64Mi}
      networks: [$p-net]
    ---
    apiVersion: reconcile/v1
    kind: Container
    metadata: {name: $p-b}
    spec:
      image: $image
      command: [sh, -c, '$loop']
      stopGracePeriod: 1s
      networks: [$p-net]
    """


def command(sc: Scenario) -> tuple[Plan, Counter[str]]:
    """A dry-run pass as one ``reconcile diff`` process makes it: a runtime of its own, the
    lists begun ahead, the inspects kept in the state directory afterwards."""
    runtime = DockerRuntime.from_env()
    try:
        with sc.state() as state:
            own = dataclasses.replace(sc, runtime=runtime)
            plan = own.run(state, dry_run=True, keep_dir=sc.state_dir).plan
        return plan, runtime.calls
    finally:
        runtime.close()


def changes(plan: Plan) -> dict[str, tuple[Action, list[str]]]:
    return {s.key: (s.action, sorted(d.path for d in s.diffs)) for s in plan.steps}


def test_an_unchanged_set_is_not_read_again_and_drift_in_between_is_seen(sc: Scenario) -> None:
    sc.write(SET, loop=LOOP)
    sc.apply()
    plan, calls = command(sc)
    assert not plan.has_changes
    assert calls["container.inspect"] == 2, calls
    plan, calls = command(sc)
    assert not plan.has_changes and calls["container.inspect"] == 0, calls
    assert calls["events.replay"] == 1

    a = sc.container("a")
    a.update(mem_limit="96m", memswap_limit="96m")
    plan, calls = command(sc)
    assert changes(plan) == {
        f"Container/{sc.project}-a": (
            Action.UPDATE,
            ["resources.memory", "resources.memorySwap"],
        )
    }
    assert calls["container.inspect"] == 1, "only the updated container is read again"

    sc.client.networks.get(f"{sc.project}-net").disconnect(sc.container("b"))
    plan, calls = command(sc)
    assert set(changes(plan)) == {f"Container/{sc.project}-a", f"Container/{sc.project}-b"}
    assert changes(plan)[f"Container/{sc.project}-b"] == (Action.UPDATE, ["networks"])

    sc.apply()
    command(sc)  # reads what the apply changed
    plan, calls = command(sc)
    assert not plan.has_changes and calls["container.inspect"] == 0


def test_when_the_event_log_may_have_lost_events_everything_is_read_again(
    sc: Scenario,
) -> None:
    sc.write(SET, loop=LOOP)
    sc.apply()
    command(sc)
    assert command(sc)[1]["container.inspect"] == 0
    # The Engine keeps its newest 256 events: 130 create + destroy pairs push out every one
    # from before the last command.
    for i in range(130):
        sc.client.api.remove_container(
            sc.client.api.create_container(sc.image, ["true"], name=f"{sc.project}-x{i}")["Id"]
        )
    plan, calls = command(sc)
    assert not plan.has_changes
    assert calls["container.inspect"] == 2, calls
