"""Following the Engine's events for the loop, and noticing when the stream is lost.

A lost stream means anything may have happened meanwhile without an event the loop saw: a
dockerd killed and restarted stops every container as it comes back. So losing the stream
drops what the loop knows (the inspect cache) and triggers a pass at once, which reports the
outage while the Engine is gone; and the Engine answering again triggers one more, without
waiting for the outage's backoff or the periodic resync.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from reconciler.errors import BackendError
from reconciler.loop.backoff import Retry
from reconciler.runtime.base import EngineEvent, Runtime


class Follower:
    """Runs on a thread of its own until ``stop`` is set (``run``)."""

    def __init__(
        self,
        runtime: Runtime,
        stop: threading.Event,
        on_event: Callable[[EngineEvent], None],
        on_lost: Callable[[], None],
        on_back: Callable[[], None],
        log: logging.Logger,
    ) -> None:
        self.runtime = runtime
        self.stop = stop
        self.on_event = on_event
        self.on_lost = on_lost
        self.on_back = on_back
        self.log = log

    def run(self) -> None:
        """Follow the events; after each loss, wait until the Engine answers, then again."""
        retry = Retry(initial=0.5, cap=30.0)
        while not self.stop.is_set():
            try:
                for event in self.runtime.events(self.stop):
                    retry.reset()
                    self.on_event(event)
            except BackendError as exc:
                self.log.debug("engine events unavailable", extra={"error": str(exc)})
            if self.stop.is_set():
                return
            self.on_lost()
            if self._wait_for_engine(retry):
                self.on_back()

    def _wait_for_engine(self, retry: Retry) -> bool:
        """Ping with a capped backoff until the Engine answers (True) or ``stop`` (False)."""
        while not self.stop.wait(retry.next_delay()):
            try:
                self.runtime.ping()
            except BackendError:
                continue
            return True
        return False
