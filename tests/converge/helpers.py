"""Literal desired states and steps for the applying tests."""

from __future__ import annotations

from typing import Any

from reconciler.controllers.plan import Action, Kind, Plan, Reason, Step
from reconciler.converge.applying import Applier, Reporter
from reconciler.manifests import Manifest, any_manifest
from reconciler.values import desired as desired_mod
from reconciler.values.observed import ImageInfo
from tests.converge.recording_runtime import FakeClock, RecordingRuntime

P = "shop"
KEY = b"k" * 32
IMAGE_REF = "busybox:test"
IMAGE = ImageInfo(id="sha256:" + "a" * 64, cmd=("sh",))


def doc(kind: str, name: str, spec: dict[str, Any] | None = None) -> Manifest:
    """A validated manifest from a literal document."""
    body: dict[str, Any] = {"apiVersion": "reconcile/v1", "kind": kind, "metadata": {"name": name}}
    if spec is not None:
        body["spec"] = spec
    return any_manifest().validate_python(body)


def container(name: str, **spec: Any) -> Manifest:
    """A Container manifest on the test image, with ``spec`` keys in manifest spelling."""
    return doc("Container", name, {"image": IMAGE_REF, **spec})


def state(*docs: Manifest) -> desired_mod.DesiredState:
    """The desired state of project ``shop``; sources are ``shop.yaml:<n>``."""
    return desired_mod.build(P, ((d, f"shop.yaml:{i + 1}") for i, d in enumerate(docs)))


def step(
    want: desired_mod.DesiredContainer,
    action: Action,
    reason: Reason = Reason.CONFIG_CHANGED,
    **kw: Any,
) -> Step:
    """A container step for ``want``."""
    return Step(Kind.CONTAINER, want.name, action, reason, desired=want, **kw)


def applier(
    runtime: RecordingRuntime,
    *,
    clock: FakeClock | None = None,
    parallelism: int = 1,
    health_timeout: float = 10.0,
    report: Reporter | None = None,
) -> Applier:
    """An Applier for ``shop`` on the fake, sleeping on the fake clock."""
    clock = clock or FakeClock()
    return Applier(
        runtime,
        P,
        KEY,
        parallelism=parallelism,
        health_timeout=health_timeout,
        sleep=clock.sleep,
        clock=clock,
        report=report or (lambda _: None),
    )


def one_step_plan(s: Step) -> Plan:
    """A plan of one step."""
    return Plan(P, (s,))
