"""What the loop announces, from literal pass results: once when something begins, a
``resolved`` when it ends, drift only while the manifests stayed the same."""

from __future__ import annotations

from reconciler.controllers.plan import Action, FieldDiff, Kind, Reason, Step
from reconciler.converge.applying import ApplyOutcome
from reconciler.loop.alerting import Alerts
from reconciler.loop.backoff import CrashLoop
from reconciler.loop.report import ResourceStatus
from reconciler.notify.events import Event

STOPPED = Step(
    Kind.CONTAINER,
    "web",
    Action.START,
    Reason.NOT_RUNNING,
    (FieldDiff("state", "exited", "running"),),
)
UPDATED = Step(
    Kind.CONTAINER,
    "db",
    Action.UPDATE,
    Reason.CONFIG_CHANGED,
    (FieldDiff("resources.memory", "96Mi", "64Mi", True),),
)


def _alerts() -> tuple[Alerts, list[Event]]:
    sent: list[Event] = []
    return Alerts(sent.append, "shop"), sent


def _lines(events: list[Event]) -> list[str]:
    return [f"{e.kind} {e.resource or '-'}: {e.summary}" for e in events]


def _synced(*names: str) -> list[ResourceStatus]:
    return [ResourceStatus("Container", n, "synced") for n in names]


def test_drift_is_a_repair_under_unchanged_manifests() -> None:
    alerts, sent = _alerts()
    crash = CrashLoop()
    # The first pass creates and corrects what it finds: deliberate, not drift.
    alerts.passed("d1", ApplyOutcome(done=[STOPPED]), _synced("web", "db"), crash)
    assert sent == []
    alerts.passed("d1", ApplyOutcome(done=[STOPPED, UPDATED]), _synced("web", "db"), crash)
    # A change of the manifests is not drift either.
    alerts.passed("d2", ApplyOutcome(done=[UPDATED]), _synced("web", "db"), crash)
    assert _lines(sent) == [
        "drift-repaired Container/web: Container/web was not running (state); started",
        "drift-repaired Container/db: Container/db differed from its manifest "
        "(resources.memory); updated in place",
    ]
    assert dict(sent[1].details) == {
        "action": "update",
        "reason": "config-changed",
        "changes": "resources.memory: 96Mi -> 64Mi",
    }


def test_a_crash_loop_is_announced_once_and_resolved_once() -> None:
    alerts, sent = _alerts()
    crash = CrashLoop()
    looping = [ResourceStatus("Container", "web", "crash-loop", "next retry in 20s (3 failures)")]
    alerts.passed("d", ApplyOutcome(), _synced("web"), crash)
    for _ in range(3):
        alerts.passed("d", ApplyOutcome(), looping, crash)
    # Its restarts are the crash loop's, not drift.
    crash.failed("web", 0.0)
    crash.failed("web", 1.0)
    alerts.passed("d", ApplyOutcome(done=[STOPPED]), looping, crash)
    alerts.passed("d", ApplyOutcome(), [ResourceStatus("Container", "web", "progressing")], crash)
    alerts.passed("d", ApplyOutcome(), _synced("web"), crash)
    alerts.passed("d", ApplyOutcome(), _synced("web"), crash)
    assert _lines(sent) == [
        "crash-loop Container/web: Container/web is crash-looping: next retry in 20s (3 failures)",
        "resolved Container/web: Container/web is synced again",
    ]
    assert sent[1].details["resolves"] == "crash-loop"


def test_a_failing_step_once_then_resolved() -> None:
    alerts, sent = _alerts()
    failing = ApplyOutcome(failed=[(STOPPED, "port 8080 is already allocated")])
    status = [ResourceStatus("Container", "web", "failed", "port 8080 is already allocated")]
    alerts.passed("d", failing, status, CrashLoop())
    alerts.passed("d", failing, status, CrashLoop())
    # The retry that finally works is not drift: it repairs what failed.
    alerts.passed("d", ApplyOutcome(done=[STOPPED]), _synced("web"), CrashLoop())
    assert _lines(sent) == [
        "apply-failed Container/web: start Container/web failed: port 8080 is already allocated",
        "resolved Container/web: Container/web is synced again",
    ]


def test_outages_once_per_kind_with_their_end() -> None:
    alerts, sent = _alerts()
    for _ in range(3):
        alerts.unavailable("engine-unavailable", "cannot connect to the Docker Engine")
    alerts.unavailable("source-unavailable", "/srv/m does not exist")
    alerts.available()
    alerts.available()
    alerts.unavailable("engine-error", "HTTP 500")
    assert _lines(sent) == [
        "engine-unavailable -: engine-unavailable: cannot connect to the Docker Engine; "
        "nothing is changed or pruned until it is back",
        "resolved -: engine-unavailable over",
        "source-unavailable -: source-unavailable: /srv/m does not exist; nothing is changed "
        "or pruned until it is back",
        "resolved -: source-unavailable over; converging again",
        "pass-failed -: engine-error: HTTP 500; nothing is changed or pruned until it is back",
    ]


def test_rollback() -> None:
    alerts, sent = _alerts()
    alerts.rollback("revision #4 is failing (web crash-loop); rolled back to #3")
    assert _lines(sent) == [
        "rollback -: revision #4 is failing (web crash-loop); rolled back to #3"
    ]
    assert sent[0].level.label == "error"
