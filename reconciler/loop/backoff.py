"""Backoff arithmetic, pure and clock-injected: the kubelet's CrashLoopBackOff for containers
that keep exiting or turning unhealthy, and a capped exponential retry for the loop itself."""

from __future__ import annotations

from dataclasses import dataclass, field

CRASH_INITIAL = 10.0
CRASH_CAP = 300.0
CRASH_RESET_AFTER = 600.0


@dataclass
class _Record:
    failures: int = 0
    last_restart: float | None = None
    not_before: float = 0.0


@dataclass
class CrashLoop:
    """When may a failed container be restarted again?

    The first failure restarts at once; each further failure within ``reset_after`` seconds of
    the last restart doubles the wait (10 s, 20 s, ... capped at 5 min). A container that has
    run for ``reset_after`` seconds since its last restart starts afresh.
    """

    initial: float = CRASH_INITIAL
    cap: float = CRASH_CAP
    reset_after: float = CRASH_RESET_AFTER
    _records: dict[str, _Record] = field(default_factory=dict)

    def delay(self, failures: int) -> float:
        """The wait before the restart that follows ``failures`` failures in a row."""
        if failures <= 1:
            return 0.0
        return float(min(self.cap, self.initial * 2.0 ** (failures - 2)))

    def failed(self, name: str, now: float) -> float:
        """Record that ``name`` exited or turned unhealthy; return when it may restart."""
        record = self._records.setdefault(name, _Record())
        if record.last_restart is not None and now - record.last_restart >= self.reset_after:
            record.failures = 0
        record.failures += 1
        base = record.last_restart if record.last_restart is not None else now
        record.not_before = max(now, base + self.delay(record.failures))
        return record.not_before

    def restarted(self, name: str, now: float) -> None:
        """Record that ``name`` was (re)started."""
        self._records.setdefault(name, _Record()).last_restart = now

    def waiting(self, name: str, now: float) -> float:
        """Seconds until ``name`` may restart; 0 when it may restart now."""
        record = self._records.get(name)
        return 0.0 if record is None else max(0.0, record.not_before - now)

    def failures(self, name: str) -> int:
        """Failures in a row recorded for ``name``."""
        record = self._records.get(name)
        return 0 if record is None else record.failures

    def forget(self, name: str) -> None:
        """Drop the history of a container that is gone or was replaced."""
        self._records.pop(name, None)


@dataclass
class Retry:
    """Capped exponential backoff for the loop's own retries (engine or source unavailable)."""

    initial: float = 1.0
    cap: float = 30.0
    attempts: int = 0

    def next_delay(self) -> float:
        """Record a failure and return how long to wait before trying again."""
        self.attempts += 1
        return float(min(self.cap, self.initial * 2.0 ** (self.attempts - 1)))

    def reset(self) -> None:
        """Record a success."""
        self.attempts = 0
