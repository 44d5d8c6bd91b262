"""A failed step skips the steps that wait for it, and nothing else."""

from __future__ import annotations

from reconciler.controllers.plan import Plan
from reconciler.controllers.planner import plan
from reconciler.converge.applying import ApplyOutcome, Progress
from reconciler.errors import (
    ImageNotFound,
    PermanentBackendError,
    ReconcileError,
    TransientBackendError,
)
from reconciler.values.desired import DesiredState
from reconciler.values.observed import ObservedState
from tests.converge.helpers import IMAGE, IMAGE_REF, applier, container, doc, state
from tests.converge.recording_runtime import RecordingRuntime

SKIPPED = "a step it depends on did not succeed"


def chain() -> DesiredState:
    """db <- web <- edge (dependsOn), and cache on its own; db and web on front."""
    return state(
        doc("Network", "front"),
        doc("Volume", "data"),
        container("db", networks=["front"]),
        container("web", networks=["front"], dependsOn=["db"]),
        container("edge", dependsOn=["web"]),
        container("cache", mounts=[{"type": "volume", "source": "data", "target": "/d"}]),
    )


def cold(desired: DesiredState) -> Plan:
    return plan(desired, ObservedState(images={IMAGE_REF: IMAGE}))


def summary(
    outcome: ApplyOutcome,
) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]]]:
    return (
        sorted(s.key for s in outcome.done),
        sorted((s.key, m) for s, m in outcome.failed),
        sorted((s.key, m) for s, m in outcome.skipped),
    )


def run_failing(method: str, target: str, error: ReconcileError, parallelism: int) -> ApplyOutcome:
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    rt.fail(method, target, error)
    return applier(rt, parallelism=parallelism).run(cold(chain()))


def test_a_failed_container_skips_its_dependents_transitively_only() -> None:
    for parallelism in (1, 8):
        outcome = run_failing(
            "create_container",
            "db",
            PermanentBackendError("port is already allocated"),
            parallelism,
        )
        assert not outcome.ok
        assert summary(outcome) == (
            ["Container/cache", "Network/front", "Volume/data"],
            [("Container/db", "port is already allocated")],
            [("Container/edge", SKIPPED), ("Container/web", SKIPPED)],
        )


def test_a_transient_error_fails_the_step_the_same_way() -> None:
    # No retry inside a pass: the next pass (level-triggered) tries again.
    outcome = run_failing("create_network", "front", TransientBackendError("timed out"), 8)
    assert summary(outcome) == (
        ["Container/cache", "Volume/data"],
        [("Network/front", "timed out")],
        [
            ("Container/db", SKIPPED),
            ("Container/edge", SKIPPED),
            ("Container/web", SKIPPED),
        ],
    )


def test_a_failed_start_fails_the_step_after_the_create() -> None:
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    rt.fail("start_container", "edge", PermanentBackendError("exec format error"))
    outcome = applier(rt).run(cold(chain()))
    assert summary(outcome)[1:] == ([("Container/edge", "exec format error")], [])
    assert rt.containers["edge"].status.state == "created"


def test_an_image_that_cannot_be_pulled_fails_the_container_and_skips_dependents() -> None:
    rt = RecordingRuntime()  # image neither local nor pullable
    outcome = applier(rt).run(cold(state(container("a"), container("b", dependsOn=["a"]))))
    assert summary(outcome) == (
        [],
        [("Container/a", f"pull access denied for {IMAGE_REF}")],
        [("Container/b", SKIPPED)],
    )
    assert rt.calls == [("inspect_image", IMAGE_REF), ("pull_image", IMAGE_REF)]


def test_pull_policy_never_with_the_image_missing_fails_with_image_not_found() -> None:
    rt = RecordingRuntime()
    # Planned while the image was there (else the planner reports a conflict); gone by now.
    outcome = applier(rt).run(cold(state(container("a", pullPolicy="Never"))))
    assert summary(outcome)[1] == [
        ("Container/a", f'image "{IMAGE_REF}" is not present and pullPolicy is Never')
    ]
    assert rt.calls == [("inspect_image", IMAGE_REF)]
    assert issubclass(ImageNotFound, PermanentBackendError)


def test_progress_reports_each_step_once_with_its_outcome() -> None:
    rt = RecordingRuntime(images={IMAGE_REF: IMAGE})
    rt.fail("create_container", "db", PermanentBackendError("boom"))
    seen: list[Progress] = []
    applier(rt, report=seen.append).run(cold(chain()))
    phases = sorted((p.step.key, p.phase, p.message) for p in seen if p.phase != "start")
    assert phases == [
        ("Container/cache", "done", ""),
        ("Container/db", "failed", "boom"),
        ("Container/edge", "skipped", SKIPPED),
        ("Container/web", "skipped", SKIPPED),
        ("Network/front", "done", ""),
        ("Volume/data", "done", ""),
    ]
    started = sorted(p.step.key for p in seen if p.phase == "start")
    assert started == ["Container/cache", "Container/db", "Network/front", "Volume/data"]
