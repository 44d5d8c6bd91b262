"""What the Swarm backend cannot hold is refused with the field and its manifest line."""

from __future__ import annotations

from pathlib import Path

from reconciler.loading import load, swarmcheck


def _problems(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "set.yaml").write_text(text)
    result = load([str(tmp_path)])
    assert result.ok, result.problems
    return [
        f"{p.location.line}:{p.field}: {p.message}" for p in swarmcheck.problems(result.manifests)
    ]


HEAD = "apiVersion: reconcile/v1\nkind: Container\nmetadata: {name: c}\nspec:\n  image: busybox\n"


def test_container_only_fields_are_refused_by_name(tmp_path: Path) -> None:
    found = _problems(
        tmp_path,
        HEAD
        + "  privileged: true\n"
        + "  pidMode: host\n"
        + "  deviceCgroupRules: ['c 188:* rw']\n"
        + "  ports: [{containerPort: 80, hostPort: 8080, hostIP: 127.0.0.1}, {containerPort: 81}]\n"
        + "  networks: [{name: n, ipv4Address: 10.0.0.2}]\n"
        + "  shmSize: 64Mi\n"
        + "---\napiVersion: reconcile/v1\nkind: Network\nmetadata: {name: n}\n",
    )
    assert found == [
        '6:spec.privileged: container "c" cannot run as a Swarm service: a Swarm service '
        "cannot run privileged",
        '7:spec.pidMode: container "c" cannot run as a Swarm service: a Swarm task\'s '
        "namespaces are set up by Swarm; a service cannot share the host's",
        '8:spec.deviceCgroupRules: container "c" cannot run as a Swarm service: Swarm '
        "services cannot set device cgroup rules",
        '9:spec.ports[0].hostIP: container "c" cannot run as a Swarm service: the routing '
        "mesh publishes a port on every address of every node; it cannot bind one address",
        '9:spec.ports[1]: container "c" cannot run as a Swarm service: a port without '
        "hostPort would be published on a random port",
        '10:spec.networks[0].ipv4Address: container "c" cannot run as a Swarm service: a '
        "service's tasks get their addresses from Swarm",
        '11:spec.shmSize: container "c" cannot run as a Swarm service: has no Swarm service '
        "mapping in this backend yet",
    ]


def test_what_a_service_holds_passes(tmp_path: Path) -> None:
    found = _problems(
        tmp_path,
        HEAD
        + "  env: {A: '1'}\n  ports: [{containerPort: 80, hostPort: 8080}]\n"
        + "  mounts: [{type: tmpfs, target: /tmp, sizeBytes: 1024}]\n"
        + "  capabilities: {drop: [ALL]}\n  resources: {memory: 64Mi, cpus: '0.5'}\n"
        + "  swarm: {replicas: 3, constraints: [node.role==worker]}\n"
        + "---\napiVersion: reconcile/v1\nkind: Network\nmetadata: {name: n}\n",
    )
    assert found == []


def test_a_network_of_another_driver_is_refused(tmp_path: Path) -> None:
    found = _problems(
        tmp_path,
        "apiVersion: reconcile/v1\nkind: Network\nmetadata: {name: n}\nspec: {driver: macvlan}\n",
    )
    assert [f.split(": ", 1)[0] for f in found] == ["4:spec.driver"]
