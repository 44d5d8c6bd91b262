"""A swarm of private Engines for the Swarm backend's tests: the CLI pointed at a manager,
images loaded on every node, task placement read back. The machine's main Engine is never
made a swarm member."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import PrivateEngine

RECONCILE = Path(sys.executable).parent / "reconcile"


class Swarm:
    """The CLI and docker pointed at a private Engine that is (or will be) a swarm manager."""

    def __init__(self, engine: PrivateEngine, state: Path) -> None:
        self.engine = engine
        self.env = {
            **os.environ,
            "DOCKER_HOST": engine.host,
            "RECONCILE_STATE_DIR": str(state),
            "RECONCILE_NO_SERVER": "1",
        }
        self.env.pop("DOCKER_CONTEXT", None)

    def docker(self, *args: str) -> str:
        done = subprocess.run(
            ["docker", *args], env=self.env, capture_output=True, text=True, check=True
        )
        return done.stdout

    def reconcile(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(RECONCILE), "--backend", "swarm", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    def running_tasks(self, service: str) -> int:
        out = self.docker(
            "service", "ps", service, "--filter", "desired-state=running", "--format", "{{json .}}"
        )
        return sum(
            1 for line in out.splitlines() if json.loads(line)["CurrentState"].startswith("Running")
        )

    def wait_tasks(self, service: str, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.running_tasks(service) != count:
            assert time.monotonic() < deadline, self.docker("service", "ps", service)
            time.sleep(0.5)

    def task_nodes(self, service: str) -> list[str]:
        """The node IDs of the service's running tasks, sorted (one entry per task)."""
        ids = self.docker(
            "service", "ps", "-q", "--filter", "desired-state=running", service
        ).split()
        if not ids:
            return []
        # A task waiting for a node has no NodeID yet.
        out = self.docker("inspect", "--format", "{{.Status.State}}={{.NodeID}}", *ids)
        pairs = (line.partition("=") for line in out.splitlines())
        return sorted(node for state, _, node in pairs if state == "running")

    def spec_version(self, service: str) -> int:
        """The service's spec version: any update, even one that changes nothing, raises it."""
        return int(json.loads(self.docker("service", "inspect", service))[0]["Version"]["Index"])


def load_image(image: str, *engines: PrivateEngine) -> None:
    """Copy ``image`` from the main Engine into each private Engine (``docker save | load``):
    the private Engines live in network namespaces of their own, out of reach of registries."""
    saved = subprocess.run(["docker", "save", image], capture_output=True, check=True)
    for engine in engines:
        subprocess.run(
            ["docker", "-H", engine.host, "load"],
            input=saved.stdout,
            capture_output=True,
            check=True,
        )
