"""Events: default severities, secret values scrubbed from every text, the JSON the webhook
sends, and what the rate limit and the sinks' filters key on."""

from __future__ import annotations

import pytest

from reconciler.notify.events import Event, Severity, scrub


def test_scrub_masks_secret_assignments_and_url_credentials() -> None:
    text = (
        'start failed: env DB_PASSWORD=hunter2 API_TOKEN="abc" MODE=fast; '
        "fetch https://bot:ghp_x@git.example.com/r.git"
    )
    assert scrub(text) == (
        'start failed: env DB_PASSWORD=*** API_TOKEN="abc" MODE=fast; '
        "fetch https://***@git.example.com/r.git"
    )
    assert scrub("x" * 20, limit=10) == "xxxxxxxxx…"


def test_event_defaults_and_scrubbed_fields() -> None:
    event = Event(
        "apply-failed",
        "shop",
        "start Container/web failed: SECRET_KEY=s3cr3t is invalid",
        "Container/web",
        {"error": "APP_SALT=pepper", "action": "start"},
        time=1700000000.5,
    )
    assert event.level is Severity.ERROR
    assert event.to_json() == {
        "kind": "apply-failed",
        "severity": "error",
        "project": "shop",
        "resource": "Container/web",
        "summary": "start Container/web failed: SECRET_KEY=*** is invalid",
        "details": {"action": "start", "error": "APP_SALT=***"},
        "time": "2023-11-14T22:13:20Z",
        "timestamp": 1700000000.5,
    }
    assert event.title() == "[error] apply-failed: shop Container/web"
    assert event.key == ("apply-failed", "shop", "Container/web")
    assert event.topic == "apply-failed"


def test_resolved_is_keyed_and_filtered_by_what_it_resolves() -> None:
    event = Event("resolved", "shop", "over", "Container/web", {"resolves": "crash-loop"})
    assert event.level is Severity.INFO
    assert event.key == ("resolved:crash-loop", "shop", "Container/web")
    assert event.topic == "crash-loop"


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown notification kind 'updated'"):
        Event("updated", "shop", "x")
