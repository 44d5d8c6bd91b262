"""``Notifier``: the one object the loop (and the image-update code) hands events to.

``emit`` returns at once: it only puts the event on the queue of each sink that wants it
(``sending``). ``close`` lets the senders finish within a deadline when the loop stops. A
notifier without sinks (``Notifier.disabled()``) accepts events and does nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from reconciler.notify.config import NotifyConfig, SinkConfig
from reconciler.notify.events import Event
from reconciler.notify.sending import Outcome, Sink, SinkWorker

LOGGER_NAME = "reconcile"
# How long a stopping loop waits for its notifications to go out.
CLOSE_DEADLINE = 5.0


class Notifier:
    """Fans events out to sinks, each with its own queue and sender thread."""

    def __init__(
        self,
        sinks: Sequence[tuple[Sink, SinkConfig]],
        log: logging.Logger | None = None,
        on_outcome: Outcome | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = log or logging.getLogger(LOGGER_NAME)
        self.clock = clock
        self.workers = [
            SinkWorker(sink, config, self.log, on_outcome, clock) for sink, config in sinks
        ]
        self._started = False
        self._closed = False

    @classmethod
    def disabled(cls) -> Notifier:
        """A notifier with no sinks: ``emit`` does nothing."""
        return cls(())

    @classmethod
    def from_config(
        cls,
        config: NotifyConfig,
        log: logging.Logger | None = None,
        on_outcome: Outcome | None = None,
    ) -> Notifier:
        """The sinks ``config`` names (Apprise is imported only if one of them uses it)."""
        sinks: list[tuple[Sink, SinkConfig]] = []
        for sink in config.sinks:
            if sink.type == "webhook":
                from reconciler.notify.webhook import WebhookSink

                sinks.append((WebhookSink(sink), sink))
            else:
                from reconciler.notify.push import AppriseSink

                sinks.append((AppriseSink(sink), sink))
        return cls(sinks, log, on_outcome)

    @property
    def enabled(self) -> bool:
        """True when there is a sink to send to."""
        return bool(self.workers)

    def start(self) -> None:
        """Start the sender threads (events emitted before are kept and sent then)."""
        if not self._started:
            self._started = True
            for worker in self.workers:
                worker.start()

    def emit(self, event: Event) -> None:
        """Hand ``event`` to every sink that wants it; never blocks, never raises for a sink."""
        if self._closed:
            return
        for worker in self.workers:
            if worker.config.wants(event):
                worker.offer(event)

    def close(self, deadline: float = CLOSE_DEADLINE) -> None:
        """Send what is queued for up to ``deadline`` seconds, then stop."""
        if self._closed:
            return
        self._closed = True
        if not self._started:
            return
        end = self.clock() + deadline
        for worker in self.workers:
            worker.close(end)
        for worker in self.workers:
            if not worker.join(max(0.0, end - self.clock()) + 1.0):
                self.log.warning(
                    f"notification sink {worker.sink.name} ({worker.sink.shown}) still "
                    "sending at shutdown; left behind"
                )

    def counts(self) -> dict[str, dict[str, int]]:
        """Per sink: how many events were sent, failed, dropped, held by the rate limit."""
        return {w.sink.name: dict(w.counts) for w in self.workers}
