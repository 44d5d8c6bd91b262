"""When the loop runs a pass: triggers collapse into one dirty flag with reasons, debounced
pokes fire after a quiet period, wake-ups come back for held-back restarts, and a deferral
(retry backoff) holds every pass back until it expires. Thread-safe, clock-injected."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

IDLE_TICK = 1.0


class Scheduler:
    """Collects reasons for a pass from any thread; ``next_pass`` hands them to the loop."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.stopped = threading.Event()
        self._cond = threading.Condition()
        self._reasons: set[str] = set()
        self._pending: dict[str, float] = {}
        self._wake_at: float | None = None
        self._defer_until = 0.0

    def trigger(self, reason: str) -> None:
        """A pass is wanted as soon as possible (after the current one)."""
        with self._cond:
            self._reasons.add(reason)
            self._cond.notify_all()

    def poke(self, reason: str, quiet: float) -> None:
        """A pass is wanted once ``reason`` has been quiet for ``quiet`` seconds."""
        with self._cond:
            self._pending[reason] = self.clock() + quiet
            self._cond.notify_all()

    def wake(self, at: float) -> None:
        """A pass is wanted at ``at`` (a held-back restart becomes due)."""
        with self._cond:
            self._wake_at = at if self._wake_at is None else min(self._wake_at, at)
            self._cond.notify_all()

    def defer(self, until: float) -> None:
        """No pass before ``until`` (a retry backoff); what is wanted meanwhile waits."""
        with self._cond:
            self._defer_until = until

    def clear_deferral(self) -> None:
        """Passes may run again at once."""
        with self._cond:
            self._defer_until = 0.0

    def stop(self) -> None:
        """Wake ``next_pass`` and make it return None from now on."""
        self.stopped.set()
        with self._cond:
            self._cond.notify_all()

    def next_pass(self, deadline: float) -> list[str] | None:
        """Wait until a pass is due (its reasons, sorted), ``deadline`` or an idle tick has
        passed (an empty list: the caller checks its own timers), or ``stop`` (None)."""
        with self._cond:
            now = self.clock()
            if not self._due(now):
                self._cond.wait(timeout=self._timeout(now, deadline))
            if self.stopped.is_set():
                return None
            now = self.clock()
            for reason, due in list(self._pending.items()):
                if now >= due:
                    del self._pending[reason]
                    self._reasons.add(reason)
            if self._wake_at is not None and now >= self._wake_at:
                self._wake_at = None
                self._reasons.add("backoff")
            if not self._reasons or now < self._defer_until:
                return []
            reasons, self._reasons = sorted(self._reasons), set()
            return reasons

    def _due(self, now: float) -> bool:
        if self.stopped.is_set():
            return True
        if self._reasons and now >= self._defer_until:
            return True
        if any(now >= due for due in self._pending.values()):
            return True
        return self._wake_at is not None and now >= self._wake_at

    def _timeout(self, now: float, deadline: float) -> float:
        deadlines = [deadline, now + IDLE_TICK, *self._pending.values()]
        if self._wake_at is not None:
            deadlines.append(self._wake_at)
        if self._reasons:
            deadlines.append(self._defer_until)
        return max(0.0, min(deadlines) - now)
