"""The Swarm backend on a two-node swarm: two private dockerds, each in a network namespace
of its own, joined by a veth pair (scripts/private-dockerd link); one the manager, the other a
worker labelled ``rt.zone=edge``. The test image is loaded on both. The CLI talks to the
manager only, as users do."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PrivateEngine
from tests.docker.swarm_helpers import Swarm, load_image

PRIVATE_DOCKERD = Path(__file__).parents[2] / "scripts" / "private-dockerd"
MANAGER_ADDR = "10.213.0.1"
WORKER_ADDR = "10.213.0.2"

# busybox's sleep ignores SIGTERM as PID 1: a short grace period keeps drains quick.
MANIFESTS = """\
apiVersion: reconcile/v1
kind: Network
metadata: {{name: {p}-net}}
---
apiVersion: reconcile/v1
kind: Container
metadata: {{name: {p}-spread}}
spec:
  image: {image}
  args: [sleep, "1000"]
  stopGracePeriod: 1s
  networks: [{{name: {p}-net}}]
  swarm: {{replicas: 4}}
---
apiVersion: reconcile/v1
kind: Container
metadata: {{name: {p}-edge}}
spec:
  image: {image}
  args: [sleep, "1000"]
  stopGracePeriod: 1s
  swarm: {{replicas: 2, constraints: ["node.labels.rt.zone==edge"]}}
"""


@dataclass
class Cluster:
    """The CLI's view (through the manager) and the two node IDs."""

    swarm: Swarm
    manager: str
    worker: str


def _wait(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, test_image: str) -> Iterator[Cluster]:
    """A manager and a worker; afterwards, whatever happened, the services removed and both
    daemons stopped and removed (their namespaces, and the veth pair with them)."""
    manager, worker = PrivateEngine(), PrivateEngine()
    found: Swarm | None = None
    try:
        manager.start()
        worker.start()
        subprocess.run(
            [
                str(PRIVATE_DOCKERD),
                "link",
                str(manager.root),
                f"{MANAGER_ADDR}/24",
                str(worker.root),
                f"{WORKER_ADDR}/24",
            ],
            check=True,
            capture_output=True,
        )
        found = Swarm(manager, tmp_path_factory.mktemp("swarm-nodes-state"))
        found.docker("swarm", "init", "--advertise-addr", MANAGER_ADDR)
        token = found.docker("swarm", "join-token", "-q", "worker").strip()
        subprocess.run(
            [
                "docker",
                "-H",
                worker.host,
                "swarm",
                "join",
                "--token",
                token,
                "--advertise-addr",
                WORKER_ADDR,
                f"{MANAGER_ADDR}:2377",
            ],
            check=True,
            capture_output=True,
        )
        load_image(test_image, manager, worker)
        manager_id = found.docker("info", "--format", "{{.Swarm.NodeID}}").strip()
        worker_id = next(n for n in found.docker("node", "ls", "-q").split() if n != manager_id)
        found.docker("node", "update", "--label-add", "rt.zone=edge", worker_id)
        swarm = found

        def ready() -> bool:
            state = swarm.docker("node", "inspect", "--format", "{{.Status.State}}", worker_id)
            return state.strip() == "ready"

        _wait("the worker to be ready", ready, 30)
        yield Cluster(found, manager_id, worker_id)
    finally:
        if found is not None:
            with contextlib.suppress(subprocess.CalledProcessError):
                services = found.docker("service", "ls", "-q").split()
                if services:
                    found.docker("service", "rm", *services)
        worker.destroy()
        manager.destroy()


def test_tasks_spread_then_drain_is_not_drift(
    cluster: Cluster, tmp_path: Path, unique_prefix: str, test_image: str
) -> None:
    swarm = cluster.swarm
    spread, edge = f"{unique_prefix}-spread", f"{unique_prefix}-edge"
    manifests = tmp_path / "nodes"
    manifests.mkdir()
    (manifests / "set.yaml").write_text(MANIFESTS.format(p=unique_prefix, image=test_image))

    applied = swarm.reconcile("apply", "-f", str(manifests), "--wait")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    _wait("4 + 2 running tasks", lambda: len(swarm.task_nodes(spread)) == 4)
    _wait("the edge tasks", lambda: len(swarm.task_nodes(edge)) == 2)
    # Spread over both nodes; the constraint keeps the edge service on the labelled worker.
    assert set(swarm.task_nodes(spread)) == {cluster.manager, cluster.worker}
    assert swarm.task_nodes(edge) == [cluster.worker, cluster.worker]
    in_sync = swarm.reconcile("diff", "-f", str(manifests))
    assert in_sync.returncode == 0, in_sync.stdout + in_sync.stderr
    assert "no changes; 3 in sync" in in_sync.stdout

    swarm.docker("node", "update", "--availability", "drain", cluster.worker)
    _wait(
        "the spread tasks to move to the manager",
        lambda: swarm.task_nodes(spread) == [cluster.manager] * 4,
    )
    # The edge service has nowhere to run now: its tasks wait for a node, and that is Swarm's
    # business (its spec is as declared), not drift.
    _wait("the edge tasks to stop", lambda: swarm.task_nodes(edge) == [])
    versions = {name: swarm.spec_version(name) for name in (spread, edge)}
    drained = swarm.reconcile("diff", "-f", str(manifests))
    assert drained.returncode == 0, drained.stdout + drained.stderr
    assert "no changes; 3 in sync" in drained.stdout
    again = swarm.reconcile("apply", "-f", str(manifests))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "no changes" in again.stdout, again.stdout
    assert {name: swarm.spec_version(name) for name in (spread, edge)} == versions

    # The node back: Swarm puts the edge tasks back on it by itself.
    swarm.docker("node", "update", "--availability", "active", cluster.worker)
    _wait("the edge tasks back", lambda: swarm.task_nodes(edge) == [cluster.worker] * 2)
    # The network goes too (Swarm removes it once the tasks that used it are gone).
    deleted = swarm.reconcile("delete", "-f", str(manifests))
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert swarm.docker("service", "ls", "-q").strip() == ""

    def gone() -> bool:
        listed = swarm.docker("network", "ls", "--format", "{{.Name}} {{.ID}}")
        return f"{unique_prefix}-net " not in listed

    _wait("the network gone", gone, 30)
