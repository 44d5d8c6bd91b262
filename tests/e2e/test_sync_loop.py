"""``reconcile sync`` as a long-running loop: a signed push webhook fetches at once (a wrong
signature gets 401), and ``--rollback-on-failure`` rolls a crash-looping commit back to the
last good revision, pinned until the next commit."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import socket
import subprocess
import time

import pytest

from tests.docker.scenario import host_port
from tests.e2e.git_helpers import CRASH, SyncRig

SECRET = "e2e-webhook-secret"


def post(port: int, body: bytes, secret: str) -> int:
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/", body=body, headers={"X-Hub-Signature-256": signature})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_a_signed_webhook_applies_a_new_commit_at_once(sync: SyncRig) -> None:
    port = host_port(sync.project, 7)
    sync.env["HOOK_SECRET"] = SECRET
    sync.push("generation 1", a=1)
    loop = sync.start(
        "--interval",
        "10m",
        "--webhook-addr",
        f"127.0.0.1:{port}",
        "--webhook-secret-env",
        "HOOK_SECRET",
    )
    sync.rig.eventually(lambda: sync.rig.running("a", gen=1), "the first commit runs")
    sync.rig.eventually(lambda: listening(port), "the webhook listens")
    new = sync.push("generation 2", a=2)
    body = b'{"ref": "refs/heads/main", "after": "%s"}' % new.encode()

    assert post(port, body, "not-the-secret") == 401
    time.sleep(2)  # long enough for a pass the request might wrongly have triggered
    assert loop.passes_for("refresh") == []
    assert sync.rig.running("a", gen=1)

    started = time.monotonic()
    assert post(port, body, SECRET) == 202
    sync.rig.eventually(lambda: sync.rig.running("a", gen=2), "the pushed commit runs")
    assert time.monotonic() - started < 15, "applied at once, not at the 10 minute interval"
    sync.rig.eventually(lambda: loop.passes_for("refresh"), "the pass logs its trigger")
    newest = sync.history()[0]
    assert (newest["number"], newest["source"]) == (2, sync.source_of(new))
    assert loop.terminate() == 0
    assert SECRET not in loop.log_path.read_text()


@pytest.mark.parametrize(
    ("extra", "env", "message"),
    [
        (("--webhook-addr", "127.0.0.1:1"), {}, "--webhook-addr needs --webhook-secret-env"),
        (
            ("--webhook-addr", "127.0.0.1:1", "--webhook-secret-env", "HOOK_SECRET"),
            {"HOOK_SECRET": ""},
            "environment variable HOOK_SECRET is empty or unset",
        ),
    ],
)
def test_a_webhook_without_a_secret_is_a_usage_error(
    sync: SyncRig, extra: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    sync.env.update(env)
    done = subprocess.run(
        sync.sync_args(*extra),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
        env={**sync.env, "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr


def test_a_crash_looping_commit_is_rolled_back_to_the_last_good(sync: SyncRig) -> None:
    p = sync.project
    first = sync.push("generation 1", a=1)
    loop = sync.start("--interval", "2s", "--rollback-on-failure", "--rollback-window", "90s")
    sync.rig.eventually(lambda: sync.rig.running("a", gen=1), "the first commit runs")

    crashing = sync.remote.commit(
        {"deploy/a.yaml": sync.container_yaml("a", 2, CRASH)}, "a command that exits 1"
    )
    sync.rig.eventually(
        lambda: any(r["source"] == "rollback:#1" for r in sync.history()),
        "the crash-looping commit is rolled back",
        timeout=60,
    )
    sync.rig.eventually(lambda: sync.rig.running("a", gen=1), "generation 1 runs again")

    revisions = sync.history()
    assert [(r["number"], r["source"], r["outcome"]) for r in revisions] == [
        (3, "rollback:#1", "ok"),
        (2, sync.source_of(crashing), "failed"),
        (1, sync.source_of(first), "ok"),
    ]
    assert revisions[1]["message"] == f"{p}-a crash-loop"
    message = f"revision #2 is failing ({p}-a crash-loop); rolled back to #1"
    rollbacks = [e for e in sync.rig.events() if e["action"] == "rollback"]
    assert [(e["kind"], e["name"], e["reason"], e["message"]) for e in rollbacks] == [
        ("Project", p, "failing-revision", message)
    ]
    assert any(line.get("msg") == message for line in loop.log())
    assert sync.status()["pinnedTo"] == 1

    # Pinned: resyncs of the same head (every 2 s) keep generation 1, untouched.
    kept = sync.rig.started_at("a")
    resyncs = len(loop.passes_for("resync"))
    sync.rig.eventually(lambda: len(loop.passes_for("resync")) >= resyncs + 2, "two resyncs")
    assert sync.rig.started_at("a") == kept
    assert len(sync.history()) == 3

    # A new commit lifts the pin.
    fixed = sync.push("generation 3", a=3)
    sync.rig.eventually(lambda: sync.rig.running("a", gen=3), "the next commit runs")
    sync.rig.eventually(lambda: sync.status().get("pinnedTo") is None, "the pin is lifted")
    newest = sync.history()[0]
    assert (newest["number"], newest["source"], newest["pinned"]) == (
        4,
        sync.source_of(fixed),
        False,
    )
    assert loop.terminate() == 0


def test_a_refused_commit_is_logged_and_in_status_while_the_last_good_runs(sync: SyncRig) -> None:
    first = sync.push("generation 1", a=1)
    loop = sync.start("--interval", "1s")
    sync.rig.eventually(lambda: sync.rig.running("a", gen=1), "the first commit runs")
    kept = sync.rig.started_at("a")

    bad = sync.remote.commit(
        {"deploy/a.yaml": sync.container_yaml("a", 2).replace("image:", "imagee:")}, "a typo"
    )
    refused = f"commit {bad[:12]}: its manifests do not validate"
    sync.rig.eventually(
        lambda: any(refused in p for p in sync.status().get("source", {}).get("problems", [])),
        "status reports the refused commit",
    )
    assert sync.status()["origin"] == sync.source_of(first)
    shown = sync.cli("status")
    assert shown.returncode == 0, shown.stderr
    assert refused in shown.stdout
    sync.rig.eventually(
        lambda: any(refused in str(line.get("msg")) for line in loop.log()),
        "the loop logs the refused commit",
    )
    assert sync.rig.started_at("a") == kept
