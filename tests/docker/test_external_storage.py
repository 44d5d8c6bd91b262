"""External volumes and networks against the real Engine: a network and a volume made with
the docker SDK outside reconcile, referenced by a set with ``spec: {external: true}``, joined
and mounted by a container of the set. reconcile never creates, changes, labels or removes
them; a missing one is a conflict that names it; a volume that is a host bind in disguise is
refused by the default policy, judged by what the Engine has."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass

import docker.errors
import pytest
from docker import DockerClient

from reconciler.controllers.plan import Action
from reconciler.policy import Policy
from tests.docker.scenario import LOOP, Scenario, changing_calls, read_volume_file

BASELINE = Policy()  # the built-in default: profile baseline, mode enforce

SET = """\
    apiVersion: reconcile/v1
    kind: Network
    metadata: {name: $network}
    spec: {external: true}
    ---
    apiVersion: reconcile/v1
    kind: Volume
    metadata: {name: $volume}
    spec: {external: true}
    ---
    apiVersion: reconcile/v1
    kind: Container
    metadata: {name: $p-web}
    spec:
      image: $image
      command: [sh, -c, '$loop']
      stopGracePeriod: 1s
      networks: [{name: $network, aliases: [web]}]
      mounts: [{type: volume, source: $volume, target: /shared}]
    """

OTHER = """\
    apiVersion: reconcile/v1
    kind: Container
    metadata: {name: $p-other}
    spec:
      image: $image
      command: [sh, -c, '$loop']
      stopGracePeriod: 1s
    """

# What the owner put on them: reconcile must leave these exactly as they are.
OWNER_LABELS = {"owner": "ops", "com.example.shared": "yes"}


@dataclass
class Outside:
    """The network and volume made outside reconcile for one test."""

    network: str
    volume: str


@pytest.fixture
def outside(docker_client: DockerClient, unique_prefix: str) -> Iterator[Outside]:
    """A bridge network and a local volume made with the SDK (named with the test's prefix,
    so the prefix's cleanup would also find them), removed afterwards."""
    made = Outside(f"{unique_prefix}-proxy", f"{unique_prefix}-shared")
    docker_client.networks.create(made.network, driver="bridge", labels=OWNER_LABELS)
    docker_client.volumes.create(made.volume, driver="local", labels=OWNER_LABELS)
    try:
        yield made
    finally:
        _remove_outside(docker_client, unique_prefix, made.network, made.volume)


def _remove_outside(client: DockerClient, prefix: str, network: str, volume: str) -> None:
    for c in client.containers.list(all=True, filters={"name": prefix}, ignore_removed=True):
        c.remove(force=True)
    with suppress(docker.errors.NotFound):
        client.networks.get(network).remove()
    with suppress(docker.errors.NotFound):
        client.volumes.get(volume).remove(force=True)


def _labels(client: DockerClient, made: Outside) -> tuple[dict[str, str], dict[str, str]]:
    network = client.networks.get(made.network).attrs["Labels"] or {}
    volume = client.volumes.get(made.volume).attrs["Labels"] or {}
    return dict(network), dict(volume)


def test_a_set_joins_and_mounts_external_resources_and_never_touches_them(
    sc: Scenario, outside: Outside, docker_client: DockerClient
) -> None:
    sc.write(SET, loop=LOOP, network=outside.network, volume=outside.volume)
    sc.runtime.calls.clear()
    result = sc.apply(policy=BASELINE)
    # Only the container is created: no create or update of the external ones.
    assert [(s.key, s.action) for s in result.plan.steps] == [
        (f"Container/{sc.project}-web", Action.CREATE)
    ]
    assert not [
        k for k in changing_calls(sc.runtime.calls) if k.startswith(("volume.", "network."))
    ]
    assert set(result.plan.in_sync) == {
        f"Network/{outside.network}",
        f"Volume/{outside.volume}",
    }

    web = sc.container("web")
    assert web.status == "running"
    networks = web.attrs["NetworkSettings"]["Networks"]
    assert set(networks) == {outside.network}
    assert "web" in (networks[outside.network]["Aliases"] or [])
    mounts = {m["Destination"]: m for m in web.attrs["Mounts"]}
    assert mounts["/shared"]["Type"] == "volume"
    assert mounts["/shared"]["Name"] == outside.volume
    code, _ = sc.exec("web", "sh", "-c", "echo written-by-web > /shared/file")
    assert code == 0
    assert read_volume_file(sc, outside.volume) == "written-by-web\n"

    # Their labels are the owner's: reconcile wrote none.
    assert _labels(docker_client, outside) == (OWNER_LABELS, OWNER_LABELS)
    # Diff is clean, under the policy that applied it too; the external ones are found by
    # name in the one volume list and one network list of the pass (no look-up each).
    sc.runtime.calls.clear()
    sc.assert_in_sync(policy=BASELINE)
    storage_calls = {
        k: n for k, n in sc.runtime.calls.items() if k.startswith(("volume.", "network."))
    }
    assert storage_calls == {"volume.list": 1, "network.list": 1}

    # Deleting the set removes the container, never the external network or volume.
    deleted = sc.apply(delete=True, policy=BASELINE)
    assert [s.key for s in deleted.plan.steps] == [f"Container/{sc.project}-web"]
    assert sc.container_names() == []
    assert docker_client.networks.get(outside.network).name == outside.network
    assert docker_client.volumes.get(outside.volume).name == outside.volume
    assert read_volume_file(sc, outside.volume) == "written-by-web\n"
    assert _labels(docker_client, outside) == (OWNER_LABELS, OWNER_LABELS)


def test_removing_the_manifests_and_pruning_leaves_the_external_resources(
    sc: Scenario, outside: Outside, docker_client: DockerClient
) -> None:
    sc.write(SET, loop=LOOP, network=outside.network, volume=outside.volume)
    sc.apply(policy=BASELINE)
    assert sc.container_names() == [f"{sc.project}-web"]

    # The set now declares only another container: web is pruned; the external network and
    # volume are not the project's and stay (web was all of the set: --force-prune).
    sc.write(OTHER, loop=LOOP)
    result = sc.apply(prune=True, force_prune=True, policy=BASELINE)
    removed = [s.key for s in result.plan.steps if s.action is Action.REMOVE]
    assert removed == [f"Container/{sc.project}-web"]
    assert sc.container_names() == [f"{sc.project}-other"]
    assert docker_client.networks.get(outside.network).name == outside.network
    assert docker_client.volumes.get(outside.volume).name == outside.volume
    assert _labels(docker_client, outside) == (OWNER_LABELS, OWNER_LABELS)
    sc.assert_in_sync(prune=True, policy=BASELINE)


def test_a_volume_reconcile_made_then_declared_external_is_not_pruned(
    sc: Scenario, docker_client: DockerClient
) -> None:
    # reconcile creates the volume (deletionPolicy Delete); the set then declares it
    # external; then its manifest goes: a prune must not remove it, though it carries this
    # project's labels (a volume made elsewhere must never be reconcile's to delete).
    volume = f"{sc.project}-data"
    owned = """\
        apiVersion: reconcile/v1
        kind: Volume
        metadata: {name: $p-data}
        spec: {deletionPolicy: Delete}
        """
    sc.write(owned)
    sc.write(OTHER, "other.yaml", loop=LOOP)
    sc.apply()
    assert docker_client.volumes.get(volume).attrs["Labels"]["io.reconcile.project"] == sc.project
    sc.write(
        """\
        apiVersion: reconcile/v1
        kind: Volume
        metadata: {name: $p-data}
        spec: {external: true}
        """
    )
    sc.apply()
    sc.assert_in_sync()
    (sc.directory / "set.yaml").unlink()
    result = sc.apply(prune=True)
    assert not [s.key for s in result.plan.steps if s.action is Action.REMOVE]
    assert docker_client.volumes.get(volume).name == volume


def test_a_missing_external_network_is_a_conflict_naming_it_and_nothing_is_created(
    sc: Scenario, unique_prefix: str, docker_client: DockerClient
) -> None:
    network, volume = f"{unique_prefix}-proxy", f"{unique_prefix}-shared"
    docker_client.volumes.create(volume, labels=OWNER_LABELS)
    try:
        sc.write(SET, loop=LOOP, network=network, volume=volume)
        sc.runtime.calls.clear()
        result = sc.apply(expect_ok=False, policy=BASELINE)
        assert not result.plan.steps
        messages = {f"{c.kind}/{c.name}": c.message for c in result.plan.conflicts}
        assert messages == {
            f"Network/{network}": (
                f'external network "{network}" does not exist: it is declared external, so '
                "reconcile never creates it; whoever owns it must create it (docker network "
                f"create {network})"
            ),
            f"Container/{sc.project}-web": (
                f"not acted on: it needs Network/{network}, which is in conflict (see that "
                "conflict)"
            ),
        }
        assert changing_calls(sc.runtime.calls) == {}
        assert sc.container_names() == []
        assert docker_client.networks.list(names=[network]) == []

        # Once its owner creates it, the next apply converges.
        docker_client.networks.create(network, driver="bridge")
        sc.apply(policy=BASELINE)
        assert sc.container("web").status == "running"
        sc.assert_in_sync(policy=BASELINE)
    finally:
        _remove_outside(docker_client, unique_prefix, network, volume)


def test_an_external_volume_that_is_a_disguised_host_bind_is_refused_by_default(
    sc: Scenario, unique_prefix: str, docker_client: DockerClient
) -> None:
    # Made elsewhere: a local volume whose options bind the host's root. Creating it mounts
    # nothing (the local driver mounts on first use); only a container using it would.
    network, volume = f"{unique_prefix}-proxy", f"{unique_prefix}-rootfs"
    docker_client.networks.create(network, driver="bridge")
    docker_client.volumes.create(
        volume, driver="local", driver_opts={"type": "none", "o": "bind", "device": "/"}
    )
    try:
        path = sc.write(SET, loop=LOOP, network=network, volume=volume)
        sc.runtime.calls.clear()
        result = sc.apply(expect_ok=False, policy=BASELINE)
        assert not result.plan.steps
        assert [(c.kind, c.name, c.message) for c in result.plan.conflicts] == [
            (
                "Container",
                f"{sc.project}-web",
                "refused by the host-access policy (an external resource, judged by what the "
                f'Engine has under its name): [baseline/bind-mounts] container "{sc.project}-web"'
                f': external volume "{volume}" is a bind (device=/, o=bind, type=none): bind '
                f"source / is the whole host: always denied ({path}:19:27)",
            )
        ]
        assert changing_calls(sc.runtime.calls) == {}
        assert sc.container_names() == []
        # Left exactly as its owner made it.
        assert docker_client.volumes.get(volume).attrs["Options"] == {
            "type": "none",
            "o": "bind",
            "device": "/",
        }
    finally:
        _remove_outside(docker_client, unique_prefix, network, volume)
