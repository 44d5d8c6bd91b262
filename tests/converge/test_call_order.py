"""The Applier's Engine calls, in order, for each kind of step (on a recording fake)."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from reconciler.controllers.plan import Action, FieldDiff, Kind, Plan, Reason, Step
from reconciler.controllers.planner import plan
from reconciler.manifests import constants
from reconciler.runtime.base import Runtime
from reconciler.values.configs import NetworkAttachmentConfig, ResourceConfig
from reconciler.values.desired import DesiredContainer, DesiredState
from reconciler.values.observed import ObservedState
from tests.converge.helpers import (
    IMAGE,
    IMAGE_REF,
    applier,
    container,
    doc,
    one_step_plan,
    state,
    step,
)
from tests.converge.recording_runtime import Call, RecordingRuntime

TEMP = "web" + constants.REPLACEMENT_SUFFIX


def shop() -> DesiredState:
    """front and data; db on both; web on front after db is healthy; cache on its own."""
    return state(
        doc("Network", "front"),
        doc("Volume", "data"),
        container(
            "db",
            mounts=[{"type": "volume", "source": "data", "target": "/data"}],
            networks=["front"],
            healthcheck={"test": "true"},
        ),
        container(
            "web",
            networks=[{"name": "front", "aliases": ["www"]}],
            dependsOn=[{"name": "db", "condition": "healthy"}],
        ),
        container("cache"),
    )


def cold_plan() -> Plan:
    return plan(shop(), ObservedState(images={IMAGE_REF: IMAGE}))


def test_the_fake_satisfies_the_runtime_protocol() -> None:
    runtime: Runtime = RecordingRuntime()  # checked by mypy --strict
    assert runtime.ping() == "fake"


def test_cold_plan_with_one_worker_runs_in_plan_order() -> None:
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    outcome = applier(rt, parallelism=1).run(cold_plan())
    assert outcome.ok
    assert rt.calls == [
        ("create_network", "front"),
        ("create_volume", "data"),
        ("inspect_image", IMAGE_REF),  # once: the image is remembered for the run
        ("create_container", "cache"),
        ("start_container", "cache"),
        ("create_container", "db"),
        ("start_container", "db"),
        ("container_status", "db"),  # web's dependsOn db healthy
        ("create_container", "web"),
        ("start_container", "web"),
    ]
    # ``done`` is in completion order, and steps finishing together come out of the executor's
    # wait() as a set: compare contents only.
    assert sorted(s.key for s in outcome.done) == sorted(s.key for s in cold_plan().steps)


def test_cold_plan_in_parallel_keeps_dependencies_and_not_more() -> None:
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    cache_created = threading.Event()
    waited: list[bool] = []

    def on_create(call: Call) -> None:
        if call[1] == "cache":
            cache_created.set()

    # Creating the network finishes only once cache (which needs nothing) has been created: so
    # cache did not wait for the network step, and the two ran side by side.
    rt.on_call("create_container", on_create)
    rt.on_call("create_network", lambda _: waited.append(cache_created.wait(5)))
    outcome = applier(rt, parallelism=8).run(cold_plan())
    assert outcome.ok
    assert waited == [True]
    before = [
        ("create_network front", "create_container db"),
        ("create_volume data", "create_container db"),
        ("create_network front", "create_container web"),
        ("start_container db", "container_status db"),
        ("container_status db", "create_container web"),
        ("create_container web", "start_container web"),
    ]
    names = rt.names()
    for first, then in before:
        assert names.index(first) < names.index(then), (first, then, names)
    assert sorted(names) == sorted(
        [
            "create_network front",
            "create_volume data",
            "inspect_image busybox:test",
            "create_container cache",
            "start_container cache",
            "create_container db",
            "start_container db",
            "container_status db",
            "create_container web",
            "start_container web",
        ]
    )


def web(**spec: object) -> DesiredContainer:
    return state(container("web", **spec)).containers["web"]


def test_recreate_starts_the_replacement_before_the_old_container_goes() -> None:
    want = web(networks=["front"])
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    rt.add_container("web", dataclasses.replace(want.config, env=(("OLD", "1"),)))
    outcome = applier(rt).run(one_step_plan(step(want, Action.RECREATE)))
    assert outcome.ok, outcome.failed
    assert rt.calls[0] == ("inspect_image", IMAGE_REF)
    # Is the old one running? Asked while the replacement is created (no volumes to keep).
    assert set(rt.calls[1:3]) == {("container_status", "web"), ("create_container", TEMP)}
    assert rt.calls[3:] == [
        ("stop_container", "web"),
        ("start_container", TEMP),
        ("remove_container", "web"),
        ("rename_container", TEMP, "web"),
    ]
    assert rt.containers["web"].config == want.config
    assert rt.containers["web"].labels[constants.LABEL_REPLACES] == "web"


def test_a_leftover_replacement_in_the_way_is_removed_and_the_create_repeated() -> None:
    """The plan removes a leftover of an interrupted recreate first; one that appeared since
    shows as a name conflict of the create, and is cleared then."""
    want = web()
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    rt.add_container("web", dataclasses.replace(want.config, env=(("OLD", "1"),)))
    rt.add_container(TEMP, want.config, state="exited")
    assert applier(rt).run(one_step_plan(step(want, Action.RECREATE))).ok
    creates = [i for i, c in enumerate(rt.calls) if c == ("create_container", TEMP)]
    assert len(creates) == 2
    assert ("remove_container", TEMP) in rt.calls[creates[0] : creates[1]]
    assert set(rt.containers) == {"web"} and rt.containers["web"].config == want.config


def test_the_old_container_is_read_before_a_replacement_that_keeps_its_volumes() -> None:
    want = web(mounts=[{"type": "volume", "target": "/data"}])
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    rt.add_container("web", dataclasses.replace(want.config, env=(("OLD", "1"),)))
    assert applier(rt).run(one_step_plan(step(want, Action.RECREATE))).ok
    assert rt.names()[1:3] == ["container_status web", "create_container " + TEMP]


def test_recreate_of_a_stopped_container_does_not_stop_it() -> None:
    want = web()
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    rt.add_container("web", want.config, state="exited")
    assert applier(rt).run(one_step_plan(step(want, Action.RECREATE))).ok
    assert ("stop_container", "web") not in rt.calls
    assert sorted(rt.names()[1:3]) == ["container_status web", "create_container " + TEMP]
    assert rt.names()[3:6] == [
        "start_container " + TEMP,
        "remove_container web",
        "rename_container " + TEMP,
    ]


@pytest.mark.parametrize("state", ["running", "exited"])
def test_a_replacement_that_cannot_start_gives_the_old_container_back(state: str) -> None:
    from reconciler.errors import PermanentBackendError

    want = web()
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    rt.add_container("web", dataclasses.replace(want.config, env=(("OLD", "1"),)), state=state)
    rt.fail("start_container", TEMP, PermanentBackendError("port is already allocated"))
    outcome = applier(rt).run(one_step_plan(step(want, Action.RECREATE)))
    [(_, message)] = outcome.failed
    assert "the replacement did not start: port is already allocated" in message
    assert "previous container was kept" in message
    assert set(rt.containers) == {"web"}, "the failed replacement is removed"
    assert rt.containers["web"].config.env == (("OLD", "1"),)
    assert rt.containers["web"].status.state == state
    assert ("rename_container", TEMP, "web") not in rt.calls


def test_recreate_that_cannot_create_the_replacement_leaves_the_old_container_alone() -> None:
    from reconciler.errors import PermanentBackendError

    want = web()
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    rt.add_container("web", want.config)
    rt.fail("create_container", TEMP, PermanentBackendError("invalid mount"))
    outcome = applier(rt).run(one_step_plan(step(want, Action.RECREATE)))
    assert [message for _, message in outcome.failed] == ["invalid mount"]
    assert rt.calls[-1] == ("create_container", TEMP)
    assert rt.containers["web"].status.state == "running"


def test_update_changes_only_the_networks_that_differ() -> None:
    want = web(networks=[{"name": "front", "aliases": ["www"]}, "back", "same"])
    live = dataclasses.replace(
        want.config,
        networks=(
            NetworkAttachmentConfig("front"),  # aliases differ
            NetworkAttachmentConfig("old"),  # not wanted any more
            NetworkAttachmentConfig("same"),  # equal: left alone
        ),
    )
    rt = RecordingRuntime()
    rt.add_container("web", live)
    assert applier(rt).run(one_step_plan(step(want, Action.UPDATE))).ok
    assert rt.calls == [
        ("observe", "shop"),
        ("disconnect_network", "web", "front"),
        ("disconnect_network", "web", "old"),
        ("connect_network", "web", "back"),
        ("connect_network", "web", "front"),
        ("start_container", "web"),
    ]
    assert rt.containers["web"].config.networks == want.config.networks


def test_update_calls_docker_update_only_when_limits_or_restart_differ() -> None:
    want = web(resources={"memory": "64Mi"}, restartPolicy="always")
    limits = dataclasses.replace(want.config, resources=ResourceConfig(memory=1))
    restart = dataclasses.replace(want.config, restart_policy="no")
    for live in (limits, restart):
        rt = RecordingRuntime()
        rt.add_container("web", live)
        assert applier(rt).run(one_step_plan(step(want, Action.UPDATE))).ok
        assert rt.calls == [
            ("observe", "shop"),
            ("update_container", "web"),
            ("start_container", "web"),
        ]
        assert rt.updates == [("web", want.config.resources, "always")]
    rt = RecordingRuntime()
    rt.add_container("web", want.config)
    assert applier(rt).run(one_step_plan(step(want, Action.UPDATE))).ok
    assert rt.names() == ["observe shop", "start_container web"]


def test_update_reconnects_a_replaced_network_even_when_the_attachment_is_equal() -> None:
    want = web(networks=["front"])
    rt = RecordingRuntime()
    rt.add_container("web", want.config)
    replaced = (FieldDiff("networks", "front", "front", in_place=True),)
    s = step(want, Action.UPDATE, Reason.NETWORK_REPLACED, diffs=replaced)
    assert applier(rt).run(one_step_plan(s)).ok
    assert rt.calls == [
        ("observe", "shop"),
        ("disconnect_network", "web", "front"),
        ("connect_network", "web", "front"),
        ("start_container", "web"),
    ]


def test_update_of_a_container_that_disappeared_fails_the_step() -> None:
    outcome = applier(RecordingRuntime()).run(one_step_plan(step(web(), Action.UPDATE)))
    assert [m for _, m in outcome.failed] == ["container web disappeared during the update"]


def test_start_only_starts() -> None:
    want = web()
    rt = RecordingRuntime()
    rt.add_container("web", want.config, state="exited")
    assert applier(rt).run(one_step_plan(step(want, Action.START, Reason.NOT_RUNNING))).ok
    assert rt.calls == [("start_container", "web")]


def test_remove_acts_on_the_engine_name_and_stops_only_a_running_container() -> None:
    rt = RecordingRuntime()
    rt.add_container(TEMP, web().config)
    rt.add_container("old", web().config, state="exited")
    steps = (
        Step(Kind.CONTAINER, "web", Action.REMOVE, Reason.INTERRUPTED_RECREATE, target=TEMP),
        Step(Kind.CONTAINER, "old", Action.REMOVE, Reason.NOT_DECLARED),
        Step(Kind.CONTAINER, "gone", Action.REMOVE, Reason.NOT_DECLARED),
        Step(Kind.VOLUME, "data", Action.REMOVE, Reason.NOT_DECLARED),
    )
    assert applier(rt).run(Plan("shop", steps)).ok
    assert rt.calls == [
        ("container_status", TEMP),
        ("stop_container", TEMP),
        ("remove_container", TEMP),
        ("container_status", "old"),
        ("remove_container", "old"),
        ("container_status", "gone"),
        ("remove_volume", "data"),
    ]


def test_network_recreate_disconnects_its_containers_then_replaces_it() -> None:
    s = state(doc("Network", "front"), container("db", networks=["front"]))
    rt = RecordingRuntime()
    rt.create_network("front", s.networks["front"].config, {})
    rt.add_container("db", s.containers["db"].config)
    rt.add_container("web", s.containers["db"].config)
    rt.calls.clear()
    net = Step(
        Kind.NETWORK, "front", Action.RECREATE, Reason.CONFIG_CHANGED, desired=s.networks["front"]
    )
    gone = Step(Kind.NETWORK, "back", Action.REMOVE, Reason.NOT_DECLARED)
    assert applier(rt).run(Plan("shop", (net, gone))).ok
    assert rt.calls == [
        ("observe", "shop"),
        ("disconnect_network", "db", "front"),
        ("disconnect_network", "web", "front"),
        ("remove_network", "front"),
        ("create_network", "front"),
        ("observe", "shop"),
        ("remove_network", "back"),
    ]
