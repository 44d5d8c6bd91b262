"""External volumes and networks through whole passes on the recording fake: never created or
removed, kept out of the inventory even when reconcile once made them (so no later prune can
take them), judged by the policy by what the runtime has, and shown as external by ``get``
and ``status``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from reconciler.converge import overview, pipeline
from reconciler.converge.applying import ApplyOutcome
from reconciler.loading import LoadedManifest, load_text
from reconciler.loop.backoff import CrashLoop
from reconciler.loop.report import resource_statuses
from reconciler.manifests import constants
from reconciler.policy import Policy
from reconciler.sources.directory import Snapshot
from reconciler.state.database import State
from reconciler.values.configs import NetworkConfig, VolumeConfig
from tests.converge.recording_runtime import RecordingRuntime

P = "shop"
EXTERNALS = """\
apiVersion: reconcile/v1
kind: Volume
metadata: {name: shared}
spec: {external: true}
---
apiVersion: reconcile/v1
kind: Network
metadata: {name: proxy}
spec: {external: true}
"""
OWN = """\
apiVersion: reconcile/v1
kind: Network
metadata: {name: own}
"""
# Labels reconcile put on a volume it created for this project (deletionPolicy Delete).
ONCE_OURS = {
    constants.LABEL_MANAGED_BY: constants.MANAGED_BY_VALUE,
    constants.LABEL_PROJECT: P,
    constants.LABEL_KIND: "Volume",
    constants.LABEL_NAME: "shared",
    constants.LABEL_DELETION_POLICY: "Delete",
}


def loaded(text: str) -> tuple[LoadedManifest, ...]:
    result = load_text(text, "shop.yaml")
    assert result.problems == (), result.problems
    return result.manifests


@pytest.fixture
def state(tmp_path: Path) -> Iterator[State]:
    opened = State.open(tmp_path / "state")
    yield opened
    opened.close()


def run(
    runtime: RecordingRuntime,
    state: State,
    manifests: Sequence[LoadedManifest],
    policy: Policy | None = None,
    **options: Any,
) -> pipeline.PassResult:
    request = pipeline.Request(P, policy or Policy(), **options)
    return pipeline.run_pass(runtime, state, request, lambda: pipeline.Declared(manifests))


def changes(runtime: RecordingRuntime) -> list[str]:
    return [n for n in runtime.names() if n.startswith(("create", "remove"))]


def test_external_resources_are_neither_created_nor_removed(state: State) -> None:
    runtime = RecordingRuntime()
    runtime.volumes["shared"] = (VolumeConfig("local", (("type", "tmpfs"),)), {"team": "ops"})
    runtime.networks["proxy"] = (NetworkConfig(attachable=True), {})
    result = run(runtime, state, loaded(EXTERNALS + "---\n" + OWN))
    assert result.clean
    assert changes(runtime) == ["create_network own"]
    assert result.plan.in_sync == ("Network/proxy", "Volume/shared")
    assert state.inventory(P) == frozenset({("Network", "own")})
    # Deleting the set removes what reconcile made, never the external ones.
    run(runtime, state, loaded(EXTERNALS + "---\n" + OWN), delete=True)
    assert changes(runtime) == ["create_network own", "remove_network own"]
    assert set(runtime.volumes) == {"shared"} and set(runtime.networks) == {"proxy"}


def test_a_missing_external_network_is_a_conflict_and_nothing_is_created(state: State) -> None:
    runtime = RecordingRuntime()
    runtime.volumes["shared"] = (VolumeConfig(), {})
    result = run(runtime, state, loaded(EXTERNALS))
    assert not result.clean
    assert [(c.kind, c.name) for c in result.plan.conflicts] == [("Network", "proxy")]
    assert "docker network create proxy" in result.plan.conflicts[0].message
    assert changes(runtime) == []


def test_a_volume_once_ours_declared_external_is_never_pruned_later(state: State) -> None:
    # reconcile created "shared" for this project (its labels, its inventory entry) before
    # the set declared it external. Once declared external it leaves the inventory, so when
    # its manifest is gone a prune finds nothing of it to remove.
    runtime = RecordingRuntime()
    runtime.volumes["shared"] = (VolumeConfig(), dict(ONCE_OURS))
    runtime.networks["proxy"] = (NetworkConfig(), {})
    state.record(P, [("Volume", "shared", "shop.yaml:1"), ("Network", "own", "shop.yaml:2")])
    run(runtime, state, loaded(EXTERNALS + "---\n" + OWN))
    assert state.inventory(P) == frozenset({("Network", "own")})
    assert changes(runtime) == ["create_network own"]
    result = run(runtime, state, loaded(OWN), prune=True, force_prune=True)
    assert result.clean
    assert "shared" in runtime.volumes
    assert changes(runtime) == ["create_network own"]


def test_a_lost_inventory_is_not_rebuilt_with_external_resources(state: State) -> None:
    runtime = RecordingRuntime()
    runtime.volumes["shared"] = (VolumeConfig(), dict(ONCE_OURS))
    runtime.networks["proxy"] = (NetworkConfig(), {})
    assert state.inventory(P) is None
    run(runtime, state, loaded(EXTERNALS + "---\n" + OWN))
    assert state.inventory(P) == frozenset({("Network", "own")})


def test_the_policy_judges_what_the_runtime_has_and_holds_the_containers(state: State) -> None:
    runtime = RecordingRuntime()
    bind = (("device", "/"), ("o", "bind"), ("type", "none"))
    runtime.volumes["shared"] = (VolumeConfig("local", bind), {})
    runtime.networks["proxy"] = (NetworkConfig(), {})
    web = (
        "apiVersion: reconcile/v1\nkind: Container\nmetadata: {name: web}\nspec:\n"
        "  image: busybox:test\n"
        "  mounts: [{type: volume, source: shared, target: /srv}]\n"
    )
    result = run(runtime, state, loaded(EXTERNALS + "---\n" + web))
    assert [(c.kind, c.name, c.message) for c in result.plan.conflicts] == [
        (
            "Container",
            "web",
            "refused by the host-access policy (an external resource, judged by what the "
            'Engine has under its name): [baseline/bind-mounts] container "web": external '
            'volume "shared" is a bind (device=/, o=bind, type=none): bind source / is the '
            "whole host: always denied (shop.yaml:16:27)",
        )
    ]
    assert changes(runtime) == []
    # In warn mode it is applied, with the violation as a warning.
    warned = run(
        runtime, state, loaded(EXTERNALS + "---\n" + web), Policy(mode="warn"), dry_run=True
    )
    assert not warned.plan.conflicts
    assert [w.split(": ", 1)[0] for w in warned.warnings if w.startswith("policy")] == [
        "policy (warn)"
    ]


def test_get_and_status_show_external_resources_as_external(state: State) -> None:
    runtime = RecordingRuntime()
    runtime.volumes["shared"] = (VolumeConfig(), {"team": "ops"})
    result = run(runtime, state, loaded(EXTERNALS), dry_run=True, prune=True, force_prune=True)
    rows = {(r.kind, r.name): r for r in overview.rows(result, declared=True)}
    assert rows["Volume", "shared"] == overview.Row(
        "Volume", "shared", "present", "-", "external", "shop.yaml:2:1"
    )
    assert rows["Network", "proxy"] == overview.Row(
        "Network", "proxy", "missing", "-", "conflict", "shop.yaml:7:1"
    )
    statuses = resource_statuses(
        result.desired,
        result.observed,
        Snapshot((), ()),
        result.plan,
        ApplyOutcome(),
        {},
        CrashLoop(),
    )
    assert [(s.kind, s.name, s.status) for s in statuses] == [
        ("Network", "proxy", "conflict"),
        ("Volume", "shared", "external"),
    ]
