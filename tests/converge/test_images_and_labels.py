"""Image pulls by pull policy (once per run, even in parallel) and the labels put on resources."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from reconciler.controllers.plan import Action
from reconciler.controllers.planner import plan
from reconciler.converge.applying import Progress
from reconciler.errors import ImageNotFound
from reconciler.manifests import constants
from reconciler.values.desired import config_hash
from reconciler.values.observed import ImageInfo, ObservedState
from tests.converge.helpers import (
    IMAGE,
    IMAGE_REF,
    KEY,
    applier,
    container,
    doc,
    one_step_plan,
    state,
    step,
)
from tests.converge.recording_runtime import Call, RecordingRuntime

PULLED = dataclasses.replace(IMAGE, id="sha256:" + "f" * 64)


@pytest.mark.parametrize(
    ("policy", "local", "calls", "result"),
    [
        ("IfNotPresent", IMAGE, ["inspect_image"], IMAGE),
        ("IfNotPresent", None, ["inspect_image", "pull_image"], PULLED),
        ("Never", IMAGE, ["inspect_image"], IMAGE),
        ("Always", IMAGE, ["pull_image"], PULLED),
        ("Always", None, ["pull_image"], PULLED),
    ],
)
def test_ensure_image_by_policy(
    policy: str, local: ImageInfo | None, calls: list[str], result: ImageInfo
) -> None:
    rt = RecordingRuntime(images={IMAGE_REF: local} if local else {}, registry={IMAGE_REF: PULLED})
    a = applier(rt)
    assert a.ensure_image(IMAGE_REF, policy) == result
    assert a.ensure_image(IMAGE_REF, policy) == result  # remembered for the run
    assert [c[0] for c in rt.calls] == calls


def test_never_with_the_image_missing_raises_image_not_found_without_pulling() -> None:
    rt = RecordingRuntime(registry={IMAGE_REF: PULLED})
    with pytest.raises(ImageNotFound) as caught:
        applier(rt).ensure_image(IMAGE_REF, "Never")
    assert str(caught.value) == 'image "busybox:test" is not present and pullPolicy is Never'
    assert rt.calls == [("inspect_image", IMAGE_REF)]


def test_a_failed_pull_is_not_remembered() -> None:
    rt = RecordingRuntime()
    a = applier(rt)
    for _ in range(2):
        with pytest.raises(ImageNotFound, match="pull access denied"):
            a.ensure_image(IMAGE_REF, "IfNotPresent")
    assert [c[0] for c in rt.calls] == ["inspect_image", "pull_image"] * 2


def test_two_containers_on_one_missing_image_pull_it_once_while_running_side_by_side() -> None:
    rt = RecordingRuntime(registry={IMAGE_REF: PULLED})
    both_started = threading.Event()
    seen: list[Progress] = []

    def report(progress: Progress) -> None:
        seen.append(progress)
        if sum(p.phase == "start" for p in seen) == 2:
            both_started.set()

    waited: list[bool] = []

    def on_pull(_: Call) -> None:
        # Hold the pull until the other step is running too: it must then wait, not pull.
        waited.append(both_started.wait(5))

    rt.on_call("pull_image", on_pull)
    desired = state(container("a"), container("b"))
    outcome = applier(rt, parallelism=2, report=report).run(
        plan(desired, ObservedState(images={IMAGE_REF: None}))
    )
    assert outcome.ok
    assert waited == [True]
    assert [c for c in rt.calls if c[0] in ("inspect_image", "pull_image")] == [
        ("inspect_image", IMAGE_REF),
        ("pull_image", IMAGE_REF),
    ]


def ownership(kind: str, name: str, source: str, digest: str) -> dict[str, str]:
    return {
        "io.reconcile.managed-by": "reconcile",
        "io.reconcile.project": "shop",
        "io.reconcile.kind": kind,
        "io.reconcile.name": name,
        "io.reconcile.source": source,
        "io.reconcile.config-hash": digest,
    }


def test_created_resources_carry_ownership_labels_and_the_keyed_config_hash() -> None:
    desired = state(
        doc("Network", "front"),
        doc("Volume", "data", {"deletionPolicy": "Delete"}),
        doc("Volume", "keep"),
        container("web", env={"DB_PASSWORD": "hunter2"}),
    )
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    assert applier(rt).run(plan(desired, ObservedState(images={IMAGE_REF: IMAGE}))).ok
    web = desired.containers["web"]
    digest = config_hash(web.config, KEY)
    assert digest.startswith("v1:") and len(digest) == 3 + 32
    assert rt.containers["web"].labels == ownership("Container", "web", "shop.yaml:4", digest)
    assert "hunter2" not in repr(rt.containers["web"].labels)
    front = desired.networks["front"].config
    assert rt.networks["front"][1] == ownership(
        "Network", "front", "shop.yaml:1", config_hash(front, KEY)
    )
    for name, source, policy in (
        ("data", "shop.yaml:2", "Delete"),
        ("keep", "shop.yaml:3", "Retain"),
    ):
        digest = config_hash(desired.volumes[name].config, KEY)
        assert rt.volumes[name][1] == ownership("Volume", name, source, digest) | {
            "io.reconcile.deletion-policy": policy
        }


def test_the_replacement_of_a_recreate_says_what_it_replaces() -> None:
    want = state(container("web")).containers["web"]
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    rt.add_container("web", want.config)
    assert applier(rt).run(one_step_plan(step(want, Action.RECREATE))).ok
    digest = config_hash(want.config, KEY)
    assert rt.containers["web"].labels == ownership("Container", "web", "shop.yaml:1", digest) | {
        constants.LABEL_REPLACES: "web"
    }


def test_a_recreated_container_is_still_adopted_from_its_labels() -> None:
    from reconciler.converge.records import owned_entries
    from reconciler.runtime.base import ObserveRequest

    want = state(container("web")).containers["web"]
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    rt.add_container("web", want.config, labels={})
    assert applier(rt).run(one_step_plan(step(want, Action.RECREATE))).ok
    observed = rt.observe(ObserveRequest("shop", container_names=frozenset({"web"})))
    assert owned_entries("shop", observed) == [("Container", "web", "shop.yaml:1")]
