"""``reconcile run --notify-config``: a real loop against the real Engine sends signed events
to a real receiver on 127.0.0.1; dead receivers (a closed port, one that never answers) slow
neither the repair nor the live sink nor the shutdown; a bad file stops the loop starting."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from reconciler.notify import signing
from tests.e2e.conftest import RunReconcile
from tests.e2e.loop_helpers import LoopRig
from tests.notify.receiver import Delivery, closed_port, receiver, silent

KEY = "e2e-hmac-key-0123456789"

CONFIG = """\
sinks:
  - name: oncall
    webhook: {{url: "{url}/hook", secretFile: {key}}}
{extra}"""

DEAD = """\
  - name: refused
    webhook: {{url: "http://127.0.0.1:{closed}/", secretFile: {key}}}
    timeout: 2s
    retries: 2
  - name: hung
    webhook: {{url: "http://127.0.0.1:{hung}/", secretFile: {key}}}
    timeout: 2s
    retries: 2
"""


def _config(rig: LoopRig, url: str, extra: str = "") -> Path:
    key = rig.work / "hook.key"
    key.write_text(KEY + "\n")
    key.chmod(0o600)
    path = rig.work / "notifications.yaml"
    path.write_text(CONFIG.format(url=url, key=key, extra=extra.format(key=key)))
    return path


def _drift_of(rig: LoopRig, name: str) -> Callable[[Delivery], bool]:
    resource = f"Container/{rig.project}-{name}"
    return lambda d: d.json()["kind"] == "drift-repaired" and d.json()["resource"] == resource


def test_drift_repaired_arrives_signed(rig: LoopRig) -> None:
    rig.declare("web")
    with receiver() as hook:
        loop = rig.start("--notify-config", str(_config(rig, hook.url)))
        rig.eventually(lambda: rig.resource("web").get("status") == "synced", "web is synced")
        assert hook.deliveries() == [], "creating what is declared at start is not drift"
        web = rig.container("web")
        assert web is not None
        web.stop(timeout=1)
        found = hook.wait_for(_drift_of(rig, "web"))
        assert found is not None, f"no drift-repaired event\n{loop.tail()}"
        assert rig.running("web")

        reason = signing.verify(
            KEY.encode(),
            found.headers[signing.TIMESTAMP_HEADER],
            found.headers[signing.SIGNATURE_HEADER],
            found.body,
            time.time(),
        )
        assert reason is None, reason
        assert (
            signing.verify(
                b"another key",
                found.headers[signing.TIMESTAMP_HEADER],
                found.headers[signing.SIGNATURE_HEADER],
                found.body,
                time.time(),
            )
            == "signature does not match"
        )
        payload = found.json()
        assert found.path == "/hook"
        assert found.headers["X-Reconcile-Event"] == "drift-repaired"
        assert found.headers["X-Reconcile-Delivery"] == payload["id"]
        assert payload["project"] == rig.project
        assert payload["severity"] == "warning"
        assert payload["details"]["reason"] == "not-running"
        assert payload["summary"] == (
            f"Container/{rig.project}-web was not running (state); started"
        )
        assert payload["details"]["changes"] == "state: exited -> running"
        assert KEY not in loop.log_path.read_text()
        assert loop.terminate() == 0


def test_dead_receivers_slow_nothing(rig: LoopRig) -> None:
    names = ("web1", "web2", "web3")
    for name in names:
        rig.declare(name)
    with receiver() as hook, silent() as hung:
        dead = DEAD.replace("{closed}", str(closed_port())).replace("{hung}", str(hung.port))
        loop = rig.start("--notify-config", str(_config(rig, hook.url, dead)))
        rig.eventually(
            lambda: all(rig.resource(n).get("status") == "synced" for n in names), "all synced"
        )
        for name in names:  # one stop each: a second within 10 min would be a crash loop
            web = rig.container(name)
            assert web is not None
            stopped = time.monotonic()
            web.stop(timeout=1)
            rig.eventually(partial(rig.running, name), f"{name} runs again")
            repaired = time.monotonic() - stopped
            # The dead sinks each spend up to 3 x 2 s per event plus backoff: none of it
            # may reach the repair or the live sink.
            assert repaired < 6.0, f"repair of {name} took {repaired:.1f}s"
            found = hook.wait_for(_drift_of(rig, name), timeout=5)
            assert found is not None, f"the live sink waited on the dead ones\n{loop.tail()}"
        slowest = max(p["seconds"] for p in loop.passes())
        assert slowest < 5.0, f"a pass took {slowest:.1f}s with dead receivers"
        assert len(hung.accepted) >= 1, "the hung receiver was reached"

        began = time.monotonic()
        assert loop.terminate() == 0
        # Shutdown gives the senders 5 s to finish, then leaves them.
        assert time.monotonic() - began < 12.0
        log = loop.log_path.read_text()
        assert "to sink refused (webhook http://127.0.0.1) failed after 3 attempt(s)" in log


def test_bad_config_refuses_to_start(run_reconcile: RunReconcile, tmp_path: Path) -> None:
    manifests = tmp_path / "m"
    manifests.mkdir()
    config = tmp_path / "notifications.yaml"
    config.write_text(
        "sinks:\n"
        "  - name: oncall\n"
        "    webhook: {url: 'http://127.0.0.1:9/', secretEnv: RT_NOTIFY_UNSET_KEY}\n"
        "    events: [drift-repaired, crashloop]\n"
    )
    result = run_reconcile(
        "run",
        "-m",
        manifests,
        "--state-dir",
        tmp_path / "state",
        "--notify-config",
        config,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert f"{config}:4:30: sinks[0].events[1]: 'crashloop' is not an event kind" in result.stderr
