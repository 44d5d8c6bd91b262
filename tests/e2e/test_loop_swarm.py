"""``reconcile --backend swarm run`` on a single-node swarm (a private dockerd made a swarm
manager; the main Engine is never touched): service drift done by hand is repaired from the
manager's service events within seconds, not at the periodic resync (set far away here)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PrivateEngine
from tests.docker.swarm_helpers import RECONCILE, Swarm, load_image
from tests.e2e.loop_helpers import SOON, LoopProcess, eventually

SERVICE = """\
apiVersion: reconcile/v1
kind: Container
metadata: {{name: {p}-web}}
spec:
  image: {image}
  args: [sleep, "1000"]
  stopGracePeriod: 1s
  swarm: {{replicas: 2}}
"""


@pytest.fixture
def swarm(tmp_path: Path, test_image: str) -> Iterator[Swarm]:
    """A single-node swarm on a private dockerd with the test image; destroyed afterwards
    whatever happened."""
    engine = PrivateEngine()
    try:
        engine.start()
        found = Swarm(engine, tmp_path / "state")
        found.docker("swarm", "init", "--advertise-addr", "127.0.0.1")
        load_image(test_image, engine)
        yield found
    finally:
        engine.destroy()


def _replicas(swarm: Swarm, service: str) -> int | None:
    """The service's replica count, None when there is no such service."""
    try:
        raw = swarm.docker("service", "inspect", service)
    except subprocess.CalledProcessError:
        return None
    return int(json.loads(raw)[0]["Spec"]["Mode"]["Replicated"]["Replicas"])


def test_service_drift_is_repaired_from_service_events(
    swarm: Swarm, tmp_path: Path, unique_prefix: str, test_image: str
) -> None:
    web = f"{unique_prefix}-web"
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "web.yaml").write_text(SERVICE.format(p=unique_prefix, image=test_image))
    log_path, out_path = tmp_path / "run.log", tmp_path / "run.out"
    args = [str(RECONCILE), "--backend", "swarm", "run", "-m", str(manifests)]
    args += ["-p", unique_prefix, "-v", "--log-format", "json", "--resync", "30m"]
    with log_path.open("wb") as err, out_path.open("wb") as out:
        process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=swarm.env, cwd=tmp_path
        )
    loop = LoopProcess(process, log_path, out_path)
    try:

        def alive_and(check: object) -> object:
            if not loop.alive:
                pytest.fail(f"reconcile run exited ({process.returncode})\n{loop.tail()}")
            return check

        eventually(
            lambda: alive_and(_replicas(swarm, web) == 2), "the service exists", context=loop.tail
        )
        swarm.wait_tasks(web, 2)

        # Scaled to nothing by hand: the service's update event triggers a pass.
        swarm.docker("service", "scale", "-d", f"{web}=0")
        eventually(
            lambda: alive_and(loop.passes_for("service update") and _replicas(swarm, web) == 2),
            "the loop scales the service back from its update event",
            timeout=SOON,
            context=loop.tail,
        )
        repairs = [a for a in loop.actions() if a["resource"] == f"Container/{web}"]
        assert [a["action"] for a in repairs] == ["create", "update"], repairs

        # Removed by hand: its remove event triggers a pass that creates it again.
        swarm.docker("service", "rm", web)
        eventually(
            lambda: alive_and(loop.passes_for("service remove") and _replicas(swarm, web) == 2),
            "the loop creates the removed service again from its remove event",
            timeout=SOON,
            context=loop.tail,
        )
        assert not loop.passes_for("resync"), "repaired by events, not by the resync"
    finally:
        loop.terminate()
