"""Rate limits of one sink, pure and clock-injected: the same event (kind and resource) at most
once per ``per_event`` seconds, and at most ``burst`` messages per ``period`` (a token bucket).

Nothing is dropped silently. An event held back by either limit waits in ``held``; when it is
due (its key's window has ended, or at once for a burst) and the bucket has a token, everything
due goes out as one message: the event itself if it is alone, else a ``summary`` event that
counts them. So a burst of fifty becomes ``burst`` messages and then one summary, and a crash
loop that flaps every minute is one message per ``per_event`` with "3 more times".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from reconciler.notify.events import Event, Severity

Key = tuple[str, str, str]
# How many held events a summary names one by one (the rest are counted).
SUMMARY_LINES = 10


@dataclass
class _Held:
    latest: Event
    count: int
    due: float


@dataclass
class RateLimiter:
    """Decides, for one sink, whether an event goes out now or is held for a summary."""

    per_event: float = 600.0
    burst: int = 10
    period: float = 60.0
    _tokens: float = -1.0
    _refilled: float = 0.0
    _sent: dict[Key, float] = field(default_factory=dict)
    _held: dict[Key, _Held] = field(default_factory=dict)

    def admit(self, event: Event, now: float) -> bool:
        """True: send ``event`` now (a token is taken). False: it is held for a summary."""
        self._refill(now)
        key = event.key
        last = self._sent.get(key)
        if last is not None and now - last < self.per_event:
            self._hold(event, last + self.per_event)
            return False
        if key in self._held or self._tokens < 1:
            self._hold(event, now)
            return False
        self._tokens -= 1
        self._sent[key] = now
        return True

    def due(self, now: float) -> Event | None:
        """What is held and due, as one event (a token is taken), or None."""
        self._refill(now)
        ready = sorted(
            (k for k, h in self._held.items() if h.due <= now), key=lambda k: self._held[k].due
        )
        if not ready or self._tokens < 1:
            return None
        self._tokens -= 1
        items = [self._held.pop(k) for k in ready]
        for key in ready:
            self._sent[key] = now
        if len(items) == 1 and items[0].count == 1:
            return items[0].latest
        return summarize(items)

    def flush(self) -> Event | None:
        """Everything held, due or not, as one event (at shutdown); None when nothing is."""
        items = list(self._held.values())
        self._held.clear()
        if not items:
            return None
        if len(items) == 1 and items[0].count == 1:
            return items[0].latest
        return summarize(items)

    def next_due(self, now: float) -> float | None:
        """When ``due`` may next return an event (None: nothing is held)."""
        if not self._held:
            return None
        self._refill(now)
        earliest = min(h.due for h in self._held.values())
        token_at = now if self._tokens >= 1 else now + (1 - self._tokens) / self._rate + 1e-6
        return max(earliest, token_at)

    @property
    def held(self) -> int:
        """How many events are held (repeats counted)."""
        return sum(h.count for h in self._held.values())

    @property
    def _rate(self) -> float:
        return self.burst / self.period

    def _refill(self, now: float) -> None:
        if self._tokens < 0:  # first use: a full bucket
            self._tokens, self._refilled = float(self.burst), now
            return
        gained = max(0.0, now - self._refilled) * self._rate
        self._tokens = min(float(self.burst), self._tokens + gained)
        self._refilled = now

    def _hold(self, event: Event, due: float) -> None:
        held = self._held.get(event.key)
        if held is None:
            self._held[event.key] = _Held(event, 1, due)
        else:
            held.latest, held.count = event, held.count + 1
            held.due = min(held.due, due)


def summarize(items: list[_Held]) -> Event:
    """One ``summary`` event standing for everything in ``items``."""
    total = sum(h.count for h in items)
    severity = max((h.latest.level for h in items), default=Severity.INFO)
    kinds = Counter[str]()
    for held in items:
        kinds[held.latest.kind] += held.count
    projects = sorted({h.latest.project for h in items})
    lines = {}
    for held in sorted(items, key=lambda h: (-h.latest.level, h.latest.key))[:SUMMARY_LINES]:
        what = f"{held.latest.kind} {held.latest.resource or held.latest.project}"
        times = f" ({held.count} times)" if held.count > 1 else ""
        lines[what] = f"{held.latest.summary}{times}"
    by_kind = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    return Event(
        kind="summary",
        project=projects[0] if len(projects) == 1 else ",".join(projects),
        summary=f"{total} notifications held back by the rate limit: {by_kind}",
        details=lines,
        time=max(h.latest.time for h in items),
        severity=severity,
    )
