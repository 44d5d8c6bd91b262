"""One sink's sender: a bounded queue and a thread that sends, retries and rate-limits.

``offer`` never blocks: a full queue drops its oldest event (counted, and logged at most once
a minute). The thread takes events in order, asks the rate limiter, and sends each with a
timeout, retrying with exponential backoff and jitter while the error is worth a retry. Each
sink has its own, so a dead receiver delays neither the pass nor the other sinks.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlsplit

from reconciler.notify.config import SinkConfig
from reconciler.notify.events import Event
from reconciler.notify.ratelimit import RateLimiter

BACKOFF_INITIAL = 1.0
BACKOFF_CAP = 30.0
DROP_LOG_EVERY = 60.0

Outcome = Callable[[str, str], None]  # (sink name, "sent" | "failed" | "dropped" | "held")


class SendError(Exception):
    """A delivery failed; ``retry`` says whether trying again may help. The message holds
    no URL or secret."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


class Sink(Protocol):
    """Somewhere events go: ``send`` delivers one, once, or raises ``SendError``."""

    name: str
    shown: str  # how logs name it: the type, scheme and host, never a token

    def send(self, event: Event, delivery: str, timeout: float) -> None: ...


def shown_url(url: str) -> str:
    """``scheme://host`` of ``url``, for logs. A host that does not look like a host name (in
    many Apprise URLs it is a token: ``tgram://TOKEN/CHAT``) is shown as ``***``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "***"
    looks_like_host = host == "localhost" or ("." in host and len(host) <= 64) or ":" in host
    return f"{parts.scheme}://{host if looks_like_host else '***'}"


def backoff(attempt: int, rand: Callable[[], float] = random.random) -> float:
    """The wait before retry number ``attempt`` (0-based): 1 s doubling to 30 s, each
    between half and all of that ("equal jitter"), so senders that failed together spread."""
    ceiling = min(BACKOFF_CAP, BACKOFF_INITIAL * 2.0**attempt)
    return ceiling / 2 + rand() * ceiling / 2


class SinkWorker:
    """The queue and thread of one sink. ``start``, ``offer`` any number of times, ``close``."""

    def __init__(
        self,
        sink: Sink,
        config: SinkConfig,
        log: logging.Logger,
        on_outcome: Outcome | None = None,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.sink = sink
        self.config = config
        self.log = log
        self.on_outcome = on_outcome or (lambda _sink, _outcome: None)
        self.clock = clock
        self.rand = rand
        self.limiter = RateLimiter(config.per_event, config.burst, config.period)
        self.counts = {"sent": 0, "failed": 0, "dropped": 0, "held": 0}
        self._queue: deque[Event] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._deadline = float("inf")
        self._drop_logged = -DROP_LOG_EVERY
        self._thread = threading.Thread(target=self._run, name=f"notify-{sink.name}", daemon=True)

    def start(self) -> None:
        """Start the sender thread."""
        self._thread.start()

    def offer(self, event: Event) -> None:
        """Queue ``event`` without blocking; a full queue drops its oldest."""
        with self._cond:
            dropped = len(self._queue) >= self.config.queue_size
            if dropped:
                self._queue.popleft()
            self._queue.append(event)
            self._cond.notify()
        if dropped:
            self._count("dropped")
            now = self.clock()
            if now - self._drop_logged >= DROP_LOG_EVERY:
                self._drop_logged = now
                self.log.warning(
                    f"notifications to sink {self.sink.name} ({self.sink.shown}) are not "
                    f"keeping up: queue full ({self.config.queue_size}), oldest dropped",
                    extra={"dropped": self.counts["dropped"]},
                )

    def close(self, deadline: float) -> None:
        """Send what is queued and held until ``deadline`` (the clock's time), then stop."""
        with self._cond:
            self._closing = True
            self._deadline = deadline
            self._cond.notify_all()

    def join(self, timeout: float) -> bool:
        """Wait for the thread; False if it is still sending."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def pending(self) -> int:
        """Events queued and not yet taken."""
        with self._cond:
            return len(self._queue)

    def _count(self, outcome: str) -> None:
        self.counts[outcome] += 1
        self.on_outcome(self.sink.name, outcome)

    def _run(self) -> None:
        while True:
            event, due = self._next()
            if event is None and not due:
                break
            if event is not None:
                if self.limiter.admit(event, self.clock()):
                    self._deliver(event)
                else:
                    self._count("held")
            held = self.limiter.due(self.clock())
            if held is not None:
                self._deliver(held)
        # Closing: what the rate limit held goes out as one last summary, if time is left.
        last = self.limiter.flush()
        if last is not None and self.clock() < self._deadline:
            self._deliver(last)
        left = self.pending
        if left:
            self.log.warning(
                f"{left} notifications to sink {self.sink.name} not sent before shutdown"
            )

    def _next(self) -> tuple[Event | None, bool]:
        """The next queued event, or (None, True) when held events are due, or
        (None, False) when closing and everything is done or the deadline passed."""
        with self._cond:
            while True:
                now = self.clock()
                if self._closing and now >= self._deadline:
                    return None, False
                if self._queue:
                    return self._queue.popleft(), False
                due_at = self.limiter.next_due(now)
                if due_at is not None and due_at <= now:
                    return None, True
                if self._closing:
                    return None, False
                wait = None if due_at is None else due_at - now
                self._cond.wait(wait)

    def _deliver(self, event: Event) -> None:
        """Send with retries; count and log the outcome."""
        delivery = uuid.uuid4().hex
        attempts = self.config.retries + 1
        error = SendError("not sent", retry=False)
        for attempt in range(attempts):
            timeout = min(self.config.timeout, max(0.1, self._deadline - self.clock()))
            try:
                self.sink.send(event, delivery, timeout)
            except SendError as exc:
                error = exc
            else:
                self._count("sent")
                return
            if not error.retry or attempt + 1 == attempts or not self._pause(backoff(attempt)):
                break
        self._count("failed")
        self.log.warning(
            f"notification {event.kind} to sink {self.sink.name} ({self.sink.shown}) failed "
            f"after {attempt + 1} attempt(s): {error}",
            extra={"resource": event.resource},
        )

    def _pause(self, delay: float) -> bool:
        """Wait ``delay`` before a retry; False when closing leaves no time for it."""
        end = self.clock() + delay
        with self._cond:
            while (left := end - self.clock()) > 0:
                if self._closing and end >= self._deadline:
                    return False
                self._cond.wait(left)
        return True
