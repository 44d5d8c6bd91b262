"""The Swarm backend against a real single-node swarm: a private dockerd (its own network
namespace, scripts/private-dockerd) made a swarm manager; the machine's main Engine is never
touched. The CLI runs as a subprocess, as users run it; every case is checked with a second
plan that must be empty."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PrivateEngine
from tests.docker.swarm_helpers import Swarm, load_image

WEB = """\
apiVersion: reconcile/v1
kind: Network
metadata: {{name: {p}-net}}
---
apiVersion: reconcile/v1
kind: Volume
metadata: {{name: {p}-data}}
---
apiVersion: reconcile/v1
kind: Container
metadata: {{name: {p}-web}}
spec:
  image: {image}
  command: [httpd, -f, -p, "8080"]
  env: {{GREETING: hello}}
  ports: [{{containerPort: 8080, hostPort: 18090}}]
  networks: [{{name: {p}-net, aliases: [web]}}]
  mounts: [{{type: volume, source: {p}-data, target: /data}}]
  resources: {{memory: 64Mi, cpus: "0.25"}}
  restartPolicy: unless-stopped
  healthcheck: {{test: [CMD, "true"], interval: 1s}}
  swarm: {{replicas: 2, constraints: ["node.role==manager"], update: {{order: start-first}}}}
"""

DEVICE = """\
apiVersion: reconcile/v1
kind: Container
metadata: {{name: {p}-serial}}
spec:
  image: {image}
  args: [sleep, "1000"]
  devices:
    - {{hostPath: /dev/null, permissions: rw}}
"""


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory, test_image: str) -> Iterator[Swarm]:
    """A private dockerd, made a swarm manager, with the test image loaded; destroyed after
    the module whatever happened (the daemon stopped, its directory removed)."""
    engine = PrivateEngine()
    try:
        engine.start()
        found = Swarm(engine, tmp_path_factory.mktemp("swarm-state"))
        found.docker("swarm", "init", "--advertise-addr", "127.0.0.1")
        load_image(test_image, engine)
        yield found
    finally:
        engine.destroy()


def _write(directory: Path, template: str, prefix: str, image: str) -> Path:
    directory.mkdir(exist_ok=True)
    (directory / "set.yaml").write_text(template.format(p=prefix, image=image))
    return directory


def test_apply_runs_tasks_then_drift_is_repaired(
    swarm: Swarm, tmp_path: Path, unique_prefix: str, test_image: str
) -> None:
    manifests = _write(tmp_path / "web", WEB, unique_prefix, test_image)
    web = f"{unique_prefix}-web"

    applied = swarm.reconcile("apply", "-f", str(manifests), "--wait")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "+ create   Container/" + web in applied.stdout
    swarm.wait_tasks(web, 2)
    spec = json.loads(swarm.docker("service", "inspect", web))[0]["Spec"]
    assert spec["Labels"]["io.reconcile.project"] == "web"
    assert spec["TaskTemplate"]["Placement"]["Constraints"] == ["node.role==manager"]
    network = json.loads(swarm.docker("network", "inspect", f"{unique_prefix}-net"))[0]
    assert (network["Driver"], network["Attachable"], network["Scope"]) == (
        "overlay",
        True,
        "swarm",
    )
    again = swarm.reconcile("diff", "-f", str(manifests))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "no changes; 3 in sync" in again.stdout

    # By hand: an env var added, the service scaled to nothing.
    swarm.docker("service", "update", "-d", "--env-add", "EXTRA=1", web)
    swarm.docker("service", "scale", "-d", f"{web}=0")
    drift = swarm.reconcile("diff", "-f", str(manifests))
    assert drift.returncode == 3, drift.stdout + drift.stderr
    assert f"~ update   Container/{web}  (config-changed)" in drift.stdout
    assert "env.EXTRA: 1 -> (none)  [in place]" in drift.stdout
    assert "swarm.replicas: 0 -> 2  [in place]" in drift.stdout
    repaired = swarm.reconcile("apply", "-f", str(manifests))
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    swarm.wait_tasks(web, 2)
    env = json.loads(swarm.docker("service", "inspect", web))[0]["Spec"]["TaskTemplate"][
        "ContainerSpec"
    ]["Env"]
    assert env == ["GREETING=hello"]
    assert swarm.reconcile("diff", "-f", str(manifests)).returncode == 0

    # By hand: the service removed.
    swarm.docker("service", "rm", web)
    gone = swarm.reconcile("diff", "-f", str(manifests))
    assert gone.returncode == 3
    assert f"+ create   Container/{web}  (missing)" in gone.stdout
    assert swarm.reconcile("apply", "-f", str(manifests)).returncode == 0
    swarm.wait_tasks(web, 2)
    assert swarm.reconcile("diff", "-f", str(manifests)).returncode == 0

    deleted = swarm.reconcile("delete", "-f", str(manifests))
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert swarm.docker("service", "ls", "-q", "--filter", f"name={web}").strip() == ""


def test_device_manifest_is_refused_by_name(
    swarm: Swarm, tmp_path: Path, unique_prefix: str, test_image: str
) -> None:
    manifests = _write(tmp_path / "dev", DEVICE, unique_prefix, test_image)
    checked = swarm.reconcile("validate", "-f", str(manifests))
    assert checked.returncode == 1
    assert (
        f'set.yaml:7:3: spec.devices: container "{unique_prefix}-serial" cannot run as a '
        "Swarm service: Swarm services cannot map host devices" in checked.stderr
    )
    applied = swarm.reconcile("apply", "-f", str(manifests))
    assert applied.returncode == 1
    assert "spec.devices" in applied.stderr
    assert swarm.docker("service", "ls", "-q").strip() == ""


def test_host_access_policy_judges_services(
    swarm: Swarm, tmp_path: Path, unique_prefix: str, test_image: str
) -> None:
    bind = (
        "apiVersion: reconcile/v1\nkind: Container\nmetadata: {{name: {p}-root}}\nspec:\n"
        "  image: {image}\n  mounts: [{{type: bind, source: /, target: /host}}]\n"
    )
    manifests = _write(tmp_path / "root", bind, unique_prefix, test_image)
    applied = swarm.reconcile("apply", "-f", str(manifests))
    assert applied.returncode == 1
    assert "[baseline/" in applied.stderr
    assert swarm.docker("service", "ls", "-q").strip() == ""


COMPOSE = """\
services:
  web:
    image: {image}
    command: [httpd, -f, -p, "8080"]
    environment: {{GREETING: hello}}
    ports: ["18091:8080"]
    restart: unless-stopped
  worker:
    image: {image}
    command: [sleep, "100000"]
    restart: unless-stopped
"""


def test_a_compose_project_runs_as_services(
    swarm: Swarm, tmp_path: Path, unique_prefix: str, test_image: str
) -> None:
    """The compose file people have, on the swarm backend: each service a Swarm service,
    the default network an overlay; applied twice, the second changes nothing."""
    directory = tmp_path / "stack"
    directory.mkdir()
    (directory / "compose.yaml").write_text(COMPOSE.format(image=test_image))
    common = ("-f", str(directory / "compose.yaml"), "-p", unique_prefix)
    done = swarm.reconcile("apply", *common)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in (f"{unique_prefix}-web-1", f"{unique_prefix}-worker-1"):
        swarm.wait_tasks(name, 1)
    network = json.loads(swarm.docker("network", "inspect", f"{unique_prefix}_default"))[0]
    assert network["Driver"] == "overlay"
    again = swarm.reconcile("diff", *common)
    assert again.returncode == 0, again.stdout + again.stderr
    swarm.reconcile("delete", *common)
