"""The Apprise sink against real local endpoints Apprise speaks plain HTTP to (``json://``,
``ntfy://``, ``gotify://``): what arrives, and a failure reported without the URL's token.
Apprise is imported by these tests only because they configure an Apprise sink."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest

from reconciler.notify.config import Secret, SinkConfig
from reconciler.notify.events import Event, Severity
from reconciler.notify.notifier import Notifier
from reconciler.notify.push import AppriseSink
from tests.notify.receiver import closed_port, receiver

LOG = logging.getLogger("test-notify")


def _config(url: str) -> SinkConfig:
    return SinkConfig(
        name="phone",
        type="apprise",
        target=Secret(url, "test url"),
        key=None,
        events=None,
        min_severity=Severity.INFO,
        resolved=True,
        per_event=600.0,
        burst=10,
        period=60.0,
        timeout=2.0,
        retries=0,
        queue_size=10,
    )


EVENT = Event(
    "crash-loop",
    "shop",
    "Container/web is crash-looping: next retry in 20s (3 failures in a row)",
    "Container/web",
    {"exit": "DB_PASSWORD=hunter2 rejected"},
)


def _send(url: str) -> Notifier:
    config = _config(url)
    notifier = Notifier([(AppriseSink(config), config)], LOG)
    notifier.start()
    notifier.emit(EVENT)
    notifier.close(deadline=10)
    return notifier


def test_json_endpoint_gets_title_body_and_type() -> None:
    with receiver(200) as endpoint:
        notifier = _send(f"json://127.0.0.1:{endpoint.port}/alerts")
        got = endpoint.deliveries()
    assert notifier.counts()["phone"]["sent"] == 1
    assert len(got) == 1
    assert got[0].path == "/alerts"
    assert got[0].json() == {
        "version": "1.0",
        "title": "[error] crash-loop: shop Container/web",
        "message": "Container/web is crash-looping: next retry in 20s (3 failures in a row)\n"
        "exit: DB_PASSWORD=*** rejected",
        "attachments": [],
        "type": "failure",
    }


def test_ntfy_and_gotify_endpoints() -> None:
    with receiver(200) as ntfy:
        _send(f"ntfy://127.0.0.1:{ntfy.port}/oncall")
        got = ntfy.wait_for(lambda d: True, timeout=1)
    assert got is not None
    assert got.json()["topic"] == "oncall"
    assert got.json()["title"] == "[error] crash-loop: shop Container/web"
    with receiver(200) as gotify:
        _send(f"gotify://127.0.0.1:{gotify.port}/AppToken123")
        got = gotify.wait_for(lambda d: True, timeout=1)
    assert got is not None
    assert got.path == "/message"
    assert got.json()["title"] == "[error] crash-loop: shop Container/web"


def test_failure_is_logged_without_the_token(caplog: pytest.LogCaptureFixture) -> None:
    began = time.monotonic()
    notifier = _send(f"gotify://127.0.0.1:{closed_port()}/SecretAppToken")
    assert time.monotonic() - began < 5
    assert notifier.counts()["phone"]["failed"] == 1
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "to sink phone (apprise gotify://127.0.0.1) failed after 1 attempt(s)" in text
    assert "SecretAppToken" not in text


def test_importing_notify_does_not_import_apprise() -> None:
    code = (
        "import sys, reconciler.notify.notifier, reconciler.notify.reading, "
        "reconciler.loop.alerting; print('apprise' in sys.modules, 'requests' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
