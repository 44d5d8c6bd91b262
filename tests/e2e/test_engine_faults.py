"""Commands against an Engine that hangs or goes away: a private dockerd (scripts/
private-dockerd) is paused with SIGSTOP or stopped for real; the main Engine is never touched."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.conftest import PrivateEngine
from tests.e2e.conftest import RunReconcile

MANIFEST = """\
apiVersion: reconcile/v1
kind: Container
metadata: {name: rt-hung-web}
spec:
  image: reconcile.local/busybox:latest
"""


def test_a_hung_engine_fails_a_command_within_its_timeout(
    private_engine: PrivateEngine, run_reconcile: RunReconcile, tmp_path: Path
) -> None:
    manifests = tmp_path / "hung"
    manifests.mkdir()
    (manifests / "web.yaml").write_text(MANIFEST)
    env = {
        "DOCKER_HOST": private_engine.host,
        "RECONCILE_ENGINE_TIMEOUT": "3",
        "RECONCILE_NO_SERVER": "1",
    }
    os.kill(private_engine.pid, signal.SIGSTOP)  # accepts connections, answers nothing
    try:
        for command in ("diff", "apply", "get"):
            started = time.monotonic()
            done = run_reconcile(
                command, "-f", manifests, "--state-dir", tmp_path / "state", env=env, timeout=60
            )
            seconds = time.monotonic() - started
            assert done.returncode == 1, (command, done.stdout, done.stderr)
            assert "timed out" in done.stderr or "cannot reach" in done.stderr, done.stderr
            # Threads queued behind one negotiation, and each call was retried, so a hung
            # Engine wedged a command for four timeouts and more; one is the bound now.
            assert seconds < 3 * 3, (command, seconds, done.stderr)
    finally:
        os.kill(private_engine.pid, signal.SIGCONT)
    done = run_reconcile("diff", "-f", manifests, "--state-dir", tmp_path / "state", env=env)
    assert done.returncode == 3, done.stderr  # awake again: the plan shows the create
