"""Drift done by hand with the docker SDK, then one reconcile pass in-process.

Each case applies the base set, checks it is in sync, injects one kind of drift, checks the
plan names exactly the expected steps, applies, checks the Engine, and plans again: empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from reconciler.controllers.plan import Action, Reason
from reconciler.manifests.constants import REPLACEMENT_SUFFIX
from tests.docker.scenario import LOOP, Scenario

BASE = """\
    apiVersion: reconcile/v1
    kind: Network
    metadata: {name: $p-net}
    ---
    apiVersion: reconcile/v1
    kind: Container
    metadata: {name: $p-web}
    spec:
      image: $image
      command: [sh, -c, '$loop']
      stopGracePeriod: 1s
      restartPolicy: unless-stopped
      resources: {memory: 64Mi}
      networks: [{name: $p-net, aliases: [web-alias]}]
    """

MEMORY = 64 * 1024 * 1024

# (kind, Engine name suffix after "<prefix>-", action, reason)
Expected = set[tuple[str, str, Action, Reason]]


@dataclass(frozen=True)
class Drift:
    """One kind of out-of-band change and what reconcile must do about it."""

    inject: Callable[[Scenario], None]
    expected: Expected
    same_container: bool  # fixed in place (same container ID) rather than by a new container


def _stop(sc: Scenario) -> None:
    sc.container("web").stop(timeout=1)


def _kill(sc: Scenario) -> None:
    sc.container("web").kill()
    sc.container("web").wait()


def _pause(sc: Scenario) -> None:
    sc.container("web").pause()


def _remove(sc: Scenario) -> None:
    sc.container("web").remove(force=True)


def _rename(sc: Scenario) -> None:
    sc.container("web").rename(f"{sc.project}-web-old")


def _rename_to_replacement(sc: Scenario) -> None:
    # What a recreate killed between "remove the old one" and "rename" leaves behind.
    sc.container("web").rename(f"{sc.project}-web{REPLACEMENT_SUFFIX}")


def _update(sc: Scenario) -> None:
    sc.container("web").update(
        mem_limit="128m", memswap_limit="256m", restart_policy={"Name": "always"}
    )


def _disconnect(sc: Scenario) -> None:
    sc.client.networks.get(f"{sc.project}-net").disconnect(f"{sc.project}-web", force=True)


def _remove_network(sc: Scenario) -> None:
    _disconnect(sc)
    sc.client.networks.get(f"{sc.project}-net").remove()


WEB = ("Container", "web")
DRIFTS = {
    "stopped": Drift(_stop, {(*WEB, Action.START, Reason.NOT_RUNNING)}, True),
    "killed": Drift(_kill, {(*WEB, Action.START, Reason.NOT_RUNNING)}, True),
    "paused": Drift(_pause, {(*WEB, Action.START, Reason.NOT_RUNNING)}, True),
    "removed": Drift(_remove, {(*WEB, Action.CREATE, Reason.MISSING)}, False),
    "renamed": Drift(
        _rename,
        {
            (*WEB, Action.CREATE, Reason.MISSING),
            ("Container", "web-old", Action.REMOVE, Reason.DUPLICATE),
        },
        False,
    ),
    "renamed-to-replacement-name": Drift(
        _rename_to_replacement,
        {
            (*WEB, Action.CREATE, Reason.MISSING),
            ("Container", f"web{REPLACEMENT_SUFFIX}", Action.REMOVE, Reason.INTERRUPTED_RECREATE),
        },
        False,
    ),
    "updated": Drift(_update, {(*WEB, Action.UPDATE, Reason.CONFIG_CHANGED)}, True),
    "network-disconnected": Drift(
        _disconnect, {(*WEB, Action.UPDATE, Reason.CONFIG_CHANGED)}, True
    ),
    "network-removed": Drift(
        _remove_network,
        {
            ("Network", "net", Action.CREATE, Reason.MISSING),
            (*WEB, Action.UPDATE, Reason.CONFIG_CHANGED),
        },
        True,
    ),
}


@pytest.fixture
def sc(sc: Scenario) -> Scenario:
    """The shared scenario with the base set applied and in sync."""
    sc.write(BASE, loop=LOOP)
    sc.apply()
    sc.assert_in_sync()
    return sc


def _assert_base_state(sc: Scenario) -> None:
    assert sc.container_names() == [f"{sc.project}-web"]
    web = sc.container("web")
    assert web.status == "running"
    host = web.attrs["HostConfig"]
    assert host["Memory"] == MEMORY
    assert host["RestartPolicy"]["Name"] == "unless-stopped"
    networks = web.attrs["NetworkSettings"]["Networks"]
    assert set(networks) == {f"{sc.project}-net"}
    assert "web-alias" in networks[f"{sc.project}-net"]["Aliases"]


@pytest.mark.parametrize("drift", list(DRIFTS))
def test_drift_is_repaired_and_the_next_plan_is_empty(sc: Scenario, drift: str) -> None:
    case = DRIFTS[drift]
    before = sc.container("web").id
    case.inject(sc)

    plan = sc.plan()
    expected = {(kind, f"{sc.project}-{name}", a, r) for kind, name, a, r in case.expected}
    assert {(s.kind.value, s.engine_name, s.action, s.reason) for s in plan.steps} == expected
    assert not plan.conflicts

    sc.apply()
    _assert_base_state(sc)
    assert (sc.container("web").id == before) is case.same_container
    sc.assert_in_sync()


def test_update_drift_is_repaired_in_place(sc: Scenario) -> None:
    _update(sc)
    [step] = sc.plan().steps
    assert {d.path for d in step.diffs} >= {"resources.memory", "restartPolicy"}
    assert all(d.in_place for d in step.diffs), step.diffs
    sc.runtime.calls.clear()
    sc.apply()
    assert sc.runtime.calls["container.update"] == 1
    assert sc.runtime.calls["container.create"] == 0


def test_foreign_container_with_the_same_name_is_a_conflict_and_left_alone(
    sc: Scenario,
) -> None:
    _remove(sc)
    foreign = sc.client.containers.run(
        sc.image, ["sleep", "300"], name=f"{sc.project}-web", detach=True
    )

    for _ in range(2):
        result = sc.apply(expect_ok=False)
        assert not result.plan.steps
        [conflict] = result.plan.conflicts
        assert (conflict.kind, conflict.name) == ("Container", f"{sc.project}-web")
        assert "not managed by reconcile" in conflict.message
        assert result.outcome is not None and result.outcome.ok

    live = sc.container("web")
    assert live.id == foreign.id and live.status == "running"
    assert live.labels == sc.client.images.get(sc.image).labels, "no label was added"
    assert f"Network/{sc.project}-net" in result.plan.in_sync
