"""Sending, against real HTTP receivers on 127.0.0.1: retries with backoff (one delivery id
across attempts), no retry where it cannot help, the queue dropping its oldest, a deadline at
shutdown that a hung receiver cannot stretch, and ``emit`` that never waits."""

from __future__ import annotations

import logging
import time

import pytest

from reconciler.notify.config import Secret, SinkConfig
from reconciler.notify.events import Event, Severity
from reconciler.notify.notifier import Notifier
from reconciler.notify.sending import SinkWorker, backoff, shown_url
from reconciler.notify.webhook import WebhookSink
from tests.notify.receiver import closed_port, receiver, silent

LOG = logging.getLogger("test-notify")


def _config(url: str, **changes: object) -> SinkConfig:
    values: dict[str, object] = {
        "name": "hook",
        "type": "webhook",
        "target": Secret(url, "test url"),
        "key": Secret("k", "test key"),
        "events": None,
        "min_severity": Severity.INFO,
        "resolved": True,
        "per_event": 600.0,
        "burst": 10,
        "period": 60.0,
        "timeout": 2.0,
        "retries": 2,
        "queue_size": 100,
        **changes,
    }
    return SinkConfig(**values)  # type: ignore[arg-type]


def _worker(url: str, **changes: object) -> SinkWorker:
    config = _config(url, **changes)
    return SinkWorker(WebhookSink(config), config, LOG, rand=lambda: 0.0)


def _event(name: str = "web") -> Event:
    return Event("drift-repaired", "shop", f"{name} repaired", f"Container/{name}")


def test_backoff_doubles_to_a_cap_with_equal_jitter() -> None:
    assert [backoff(n, lambda: 0.0) for n in range(7)] == [0.5, 1, 2, 4, 8, 15, 15]
    assert [backoff(n, lambda: 1.0) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]


def test_shown_url_keeps_scheme_and_host_only() -> None:
    assert shown_url("https://user:pw@hooks.example.com:8443/x?token=1") == (
        "https://hooks.example.com"
    )
    assert shown_url("tgram://123456:AAbot-token/987") == "tgram://***"
    assert shown_url("ntfy://127.0.0.1:8080/topic") == "ntfy://127.0.0.1"


def test_retries_until_it_is_accepted_with_one_delivery_id() -> None:
    with receiver(503, 502, 204) as hook:
        worker = _worker(hook.url)
        worker.start()
        worker.offer(_event())
        worker.close(time.monotonic() + 10)
        assert worker.join(10)
        got = hook.deliveries()
    assert len(got) == 3
    assert len({d.headers["X-Reconcile-Delivery"] for d in got}) == 1
    assert worker.counts == {"sent": 1, "failed": 0, "dropped": 0, "held": 0}
    # 0.5 s then 1 s of backoff (jitter pinned to its least).
    assert 1.4 < got[2].at - got[0].at < 3.0


def test_a_refusal_is_not_retried_and_failures_are_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with receiver(400) as hook:
        worker = _worker(hook.url)
        worker.start()
        worker.offer(_event())
        worker.close(time.monotonic() + 10)
        assert worker.join(10)
        assert len(hook.deliveries()) == 1
    refused = _worker(f"http://127.0.0.1:{closed_port()}/", retries=1)
    refused.start()
    refused.offer(_event())
    refused.close(time.monotonic() + 10)
    assert refused.join(10)
    assert worker.counts["failed"] == refused.counts["failed"] == 1
    messages = [r.getMessage() for r in caplog.records]
    assert (
        "notification drift-repaired to sink hook (webhook http://127.0.0.1) failed after "
        "1 attempt(s): HTTP 400" in messages
    )
    assert (
        "notification drift-repaired to sink hook (webhook http://127.0.0.1) failed after "
        "2 attempt(s): connection refused" in messages
    )


def test_a_full_queue_drops_the_oldest(caplog: pytest.LogCaptureFixture) -> None:
    with receiver() as hook:
        worker = _worker(hook.url, queue_size=2)
        for name in ("a", "b", "c", "d", "e"):
            worker.offer(_event(name))  # not started yet: nothing is taken
        assert (worker.pending, worker.counts["dropped"]) == (2, 3)
        worker.start()
        worker.close(time.monotonic() + 10)
        assert worker.join(10)
        sent = [d.json()["resource"] for d in hook.deliveries()]
    assert sent == ["Container/d", "Container/e"]
    drops = [r for r in caplog.records if "queue full" in r.getMessage()]
    assert len(drops) == 1, "logged once, not once per event"


def test_a_hung_receiver_cannot_stretch_the_shutdown(caplog: pytest.LogCaptureFixture) -> None:
    with silent() as hung:
        config = _config(f"http://127.0.0.1:{hung.port}/", timeout=30.0, retries=5)
        notifier = Notifier([(WebhookSink(config), config)], LOG)
        notifier.start()
        notifier.emit(_event())
        time.sleep(0.2)  # the send is under way, waiting for an answer that never comes
        began = time.monotonic()
        notifier.close(deadline=1.0)
        took = time.monotonic() - began
    # The deadline plus the one second of grace close gives a thread to notice it.
    assert took < 2.5, f"close took {took:.1f}s"
    assert (
        "notification sink hook (webhook http://127.0.0.1) still sending at shutdown; "
        "left behind" in [r.getMessage() for r in caplog.records]
    )


def test_emit_never_waits_for_a_hung_receiver() -> None:
    with silent() as hung:
        config = _config(f"http://127.0.0.1:{hung.port}/", timeout=5.0, queue_size=100)
        notifier = Notifier([(WebhookSink(config), config)], LOG)
        notifier.start()
        began = time.perf_counter()
        for i in range(2000):
            notifier.emit(_event(f"c{i}"))
        elapsed = time.perf_counter() - began
        notifier.close(deadline=0.5)
    assert elapsed < 0.5, f"2000 emits took {elapsed:.3f}s"
    assert notifier.counts()["hook"]["dropped"] >= 1800


def test_a_burst_reaches_the_receiver_as_messages_then_one_summary() -> None:
    with receiver() as hook:
        config = _config(hook.url, burst=2, period=1.0)
        notifier = Notifier([(WebhookSink(config), config)], LOG)
        notifier.start()
        for name in ("a", "b", "c", "d", "e"):
            notifier.emit(_event(name))
        summary = hook.wait_for(lambda d: d.json()["kind"] == "summary", timeout=5)
        notifier.close()
    assert summary is not None
    kinds = [d.json()["kind"] for d in hook.deliveries()]
    assert kinds == ["drift-repaired", "drift-repaired", "summary"]
    assert summary.json()["summary"] == (
        "3 notifications held back by the rate limit: 3 drift-repaired"
    )
