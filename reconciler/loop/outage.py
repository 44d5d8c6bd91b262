"""An unavailable source or Engine, as the loop lives through it: retry after a capped backoff
with every pass held back meanwhile, say so once (a warning and one journal event per outage,
not one per retry), and keep the last good pass's status with the error added."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.loop.backoff import Retry
from reconciler.loop.metrics import Metrics
from reconciler.loop.report import PassReport, status_document
from reconciler.loop.scheduling import Scheduler
from reconciler.state.database import State
from reconciler.state.records import Event

if TYPE_CHECKING:
    from reconciler.loop.alerting import Alerts


class Outage:
    """Tracks the current outage (if any) of one project's loop."""

    def __init__(
        self,
        project: str,
        directory: Path,
        state: State,
        scheduler: Scheduler,
        log: logging.Logger,
        wall: Callable[[], float],
        metrics: Metrics | None = None,
    ) -> None:
        self.project = project
        self.directory = directory
        self.state = state
        self.scheduler = scheduler
        self.log = log
        self.wall = wall
        self.metrics = metrics
        self._retry = Retry()
        self._current: tuple[str, str] | None = None
        self.alerts: Alerts | None = None  # notifications, once per kind of outage

    def give_up(
        self,
        what: str,
        failure: Exception,
        started: float,
        wall_start: float,
        reasons: list[str] | None,
    ) -> PassReport:
        """A pass begun at ``started`` (the scheduler's clock) could not run (``what``:
        source-unavailable, engine-unavailable...): schedule the retry, report it, and return
        the pass's report."""
        error = str(failure)
        delay = self._retry.next_delay()
        self.scheduler.defer(self.scheduler.clock() + delay)
        self.scheduler.trigger("retry")
        if self._current != (what, error):
            self.log.warning(
                f"{what}: {error}; nothing is changed or pruned; retrying",
                extra={"retry_in": round(delay, 1)},
            )
            event = Event(
                self.project, self.wall(), "Project", self.project, "wait", what, "failed", error
            )
            self.state.add_events([event])
        if self.alerts is not None:
            self.alerts.unavailable(what, error)
        self._current = (what, error)
        report = PassReport(
            started_wall=wall_start,
            seconds=self.scheduler.clock() - started,
            reasons=tuple(reasons or ()),
            outcome=what,
            error=error,
            retry_in=delay,
        )
        previous = self.state.load_status(self.project)
        document = dict(previous[1]) if previous else {}
        document.update(status_document(self.project, self.directory, report, None, None, None))
        self.state.save_status(self.project, document)
        if self.metrics is not None:
            self.metrics.record_pass(report.seconds, what, self.wall(), (), (), {})
        return report

    def recovered(self) -> None:
        """A pass ran: end the outage (logged once) and let passes run at once again."""
        if self._current is not None:
            self.log.info(f"{self._current[0]} resolved; converging")
            self._current = None
            if self.alerts is not None:
                self.alerts.available()
        self._retry.reset()
        self.scheduler.clear_deferral()
