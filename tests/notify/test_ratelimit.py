"""The rate limiter on literal timelines: the same event once per window with the repeats
summed up afterwards, bursts beyond the bucket collapsed into one summary, nothing lost."""

from __future__ import annotations

from reconciler.notify.events import Event
from reconciler.notify.ratelimit import RateLimiter


def _event(kind: str, name: str, at: float = 0.0) -> Event:
    return Event(kind, "shop", f"{name} {kind}", f"Container/{name}", time=1000 + at)


def test_same_event_once_per_window_then_one_repeat_summary() -> None:
    limiter = RateLimiter(per_event=600, burst=10, period=60)
    assert limiter.admit(_event("crash-loop", "web"), now=0) is True
    assert limiter.admit(_event("crash-loop", "web", 60), now=60) is False
    assert limiter.admit(_event("crash-loop", "web", 120), now=120) is False
    # Another resource is another key: not held.
    assert limiter.admit(_event("crash-loop", "db", 130), now=130) is True
    assert limiter.held == 2
    assert limiter.next_due(130) == 600
    assert limiter.due(599) is None
    summary = limiter.due(600)
    assert summary is not None
    assert summary.kind == "summary"
    assert summary.level.label == "error"
    assert summary.summary == "2 notifications held back by the rate limit: 2 crash-loop"
    assert dict(summary.details) == {"crash-loop Container/web": "web crash-loop (2 times)"}
    assert limiter.held == 0
    # The summary counts as the key's message: the next repeat waits a window again.
    assert limiter.admit(_event("crash-loop", "web", 700), now=700) is False
    assert limiter.next_due(700) == 1200


def test_a_burst_beyond_the_bucket_becomes_one_summary() -> None:
    limiter = RateLimiter(per_event=600, burst=3, period=60)
    sent = [limiter.admit(_event("drift-repaired", f"c{i}"), now=0) for i in range(8)]
    assert sent == [True, True, True, False, False, False, False, False]
    # One token comes back every 20 s.
    assert limiter.next_due(0) is not None
    assert limiter.due(19) is None
    summary = limiter.due(20.001)
    assert summary is not None
    assert summary.summary == "5 notifications held back by the rate limit: 5 drift-repaired"
    assert sorted(summary.details) == [f"drift-repaired Container/c{i}" for i in range(3, 8)]
    assert limiter.due(100) is None


def test_one_held_event_goes_out_as_itself() -> None:
    limiter = RateLimiter(per_event=600, burst=1, period=60)
    first, second = _event("rollback", "a"), _event("drift-repaired", "b")
    assert limiter.admit(first, now=0)
    assert not limiter.admit(second, now=1)
    assert limiter.due(61) is second


def test_flush_at_shutdown_sends_what_is_held_regardless_of_limits() -> None:
    limiter = RateLimiter(per_event=600, burst=1, period=3600)
    assert limiter.admit(_event("crash-loop", "a"), now=0)
    assert not limiter.admit(_event("crash-loop", "b"), now=1)
    assert not limiter.admit(_event("drift-repaired", "c"), now=2)
    flushed = limiter.flush()
    assert flushed is not None
    assert flushed.summary == (
        "2 notifications held back by the rate limit: 1 crash-loop, 1 drift-repaired"
    )
    assert limiter.flush() is None
