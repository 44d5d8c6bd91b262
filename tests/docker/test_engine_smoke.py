"""Proves the test plumbing against the real Engine: image, unique prefix, cleanup."""

from __future__ import annotations

from docker import DockerClient

from reconciler.manifests.constants import LABEL_PROJECT
from tests.conftest import TEST_IMAGE, remove_prefixed_resources


def _leftovers(client: DockerClient, prefix: str) -> list[str]:
    names = [c.name or "" for c in client.containers.list(all=True)]
    names += [n.name or "" for n in client.networks.list()]
    names += [v.name or "" for v in client.volumes.list()]
    return [n for n in names if n.startswith(prefix)]


def test_container_runs_echo_and_cleanup_removes_everything(
    docker_client: DockerClient, test_image: str, unique_prefix: str
) -> None:
    assert test_image == TEST_IMAGE
    name = f"{unique_prefix}-echo"
    network = docker_client.networks.create(f"{unique_prefix}-net")
    volume = docker_client.volumes.create(f"{unique_prefix}-data")

    output = docker_client.containers.run(
        test_image,
        ["sh", "-c", "echo hello from $HOSTNAME > /data/f && cat /data/f"],
        name=name,
        hostname="smoke",
        network=network.name,
        volumes={volume.name: {"bind": "/data", "mode": "rw"}},
    )
    assert output == b"hello from smoke\n"
    # A resource found only through its project label, not its name.
    labelled = docker_client.containers.create(
        test_image, ["true"], labels={LABEL_PROJECT: f"{unique_prefix}-shop"}
    )

    assert remove_prefixed_resources(docker_client, unique_prefix) == []
    assert _leftovers(docker_client, unique_prefix) == []
    assert not docker_client.containers.list(all=True, filters={"id": labelled.id or "?"})
