"""The control loop behind ``reconcile run`` and ``sync``: level-triggered convergence.

File events (debounced), Engine events and a periodic resync only mark the set dirty; each pass
is the one pipeline (``converge.pipeline``) with the loop's guards: it reloads the source and
re-observes the Engine, then plans and applies. Triggers arriving
during a pass collapse into one follow-up pass; there is never more than one pass at a time.
Crash loops are restarted with the kubelet's backoff; an unavailable source or Engine is
retried with a capped backoff and never reads as "nothing is declared" (``outage``). A file
written moments ago may be half written: the source holds what vanished from it for a quiet
period (``LoopSettings.settle``) and the loop comes back when that period ends.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path

from reconciler.controllers.plan import Plan
from reconciler.converge import pipeline
from reconciler.converge.applying import ApplyOutcome
from reconciler.converge.carry import Carry
from reconciler.errors import BackendError, EngineUnavailable, PolicyRefusal, SourceUnavailable
from reconciler.loop.alerting import Alerts
from reconciler.loop.engine_events import meaning
from reconciler.loop.following import Follower
from reconciler.loop.healing import Healer, policy_removals
from reconciler.loop.logs import LOGGER_NAME, log_progress
from reconciler.loop.metrics import Metrics
from reconciler.loop.notices import Notices
from reconciler.loop.outage import Outage
from reconciler.loop.report import PassReport, resource_statuses, status_document
from reconciler.loop.revisions import Effective, RevisionKeeper
from reconciler.loop.scheduling import Scheduler
from reconciler.loop.settings import LoopSettings
from reconciler.loop.updates import ImageUpdates, image_event
from reconciler.loop.watching import DirectoryWatcher, InputWatcher
from reconciler.notify.notifier import Notifier
from reconciler.runtime.base import EngineEvent, InspectCache, Runtime
from reconciler.sources.directory import DirectorySource, ManifestSource, Snapshot
from reconciler.state.database import State
from reconciler.values.desired import DesiredState
from reconciler.values.observed import ObservedState

# Engine events come in bursts (kill, die, stop, destroy within milliseconds): settle briefly.
ENGINE_SETTLE = 0.05
# The passes that ask a registry about pullPolicy: Always images (not every Engine event).
PULL_REASONS = frozenset({"start", "once", "resync", "refresh", "directory"})
# The pass after a quiet period comes this much after it ends, so that it has surely ended.
SETTLE_MARGIN = 0.05


def _identity(directory: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(directory)
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


class Loop:
    """One project's control loop. ``run`` blocks until ``stop`` is set."""

    def __init__(
        self,
        settings: LoopSettings,
        runtime: Runtime,
        state: State,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
        healer: Healer | None = None,
        source: ManifestSource | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.settings = settings
        self.runtime = runtime
        self.state = state
        self.clock = clock
        self.wall = wall
        self.metrics = metrics
        self.healer = healer or Healer()
        self.cache = InspectCache()
        self.carry = Carry()  # the desired state (and diffs) of the last pass
        self.source: ManifestSource = source or DirectorySource(
            settings.directory,
            recursive=settings.recursive,
            policy=settings.policy,
            settle=settings.settle,
            wall=wall,
            host=settings.host,
        )
        # Only a local directory is watched; a git source is refreshed on resync and webhooks.
        self.watcher = (
            DirectoryWatcher(settings.directory, self._on_file_event, recursive=settings.recursive)
            if isinstance(self.source, DirectorySource)
            else None
        )
        # Env files, secret files and configuration binds, wherever they are on the host.
        self.inputs = InputWatcher(self._on_file_event)
        self.keeper = RevisionKeeper(
            state,
            settings.project,
            rollback_on_failure=settings.rollback_on_failure,
            window=settings.rollback_window,
            clock=clock,
        )
        self._refresh_wanted = True
        self.log = logging.getLogger(LOGGER_NAME)
        self.notices = Notices(self.log, settings.settle)
        self.passes = 0
        self.scheduler = Scheduler(clock)
        self.scheduler.trigger("start")
        # Events for a person on call; the caller starts and closes the notifier.
        self.notifier = notifier or Notifier.disabled()
        self.alerts = Alerts(self.notifier.emit, settings.project)
        # Tags of containers with an updatePolicy, followed by a thread of their own.
        self.updates = ImageUpdates(
            runtime,
            state,
            settings.project,
            self.trigger,
            notify=partial(image_event, self.notifier, settings.project),
            clock=clock,
        )
        self.outage = Outage(
            settings.project, settings.directory, state, self.scheduler, self.log, wall, metrics
        )
        self.outage.alerts = self.alerts
        self._names_lock = threading.Lock()
        self._directory_identity = _identity(settings.directory)
        self._names: frozenset[str] = frozenset()
        self._stop = self.scheduler.stopped

    # -- triggers (any thread) ------------------------------------------------------------

    def trigger(self, reason: str) -> None:
        """Mark the set dirty: a pass follows as soon as the current one (if any) ends."""
        self.scheduler.trigger(reason)

    def _on_file_event(self, kind: str) -> None:
        self.scheduler.poke("files", self.settings.debounce)

    def on_engine_event(self, event: EngineEvent) -> None:
        """Invalidate what an Engine event may have changed and trigger a pass if it is ours."""
        with self._names_lock:
            names = self._names
        found = meaning(event, self.settings.project, names)
        for stale in found.stale:
            self.cache.invalidate(stale)
        if found.stale_images:
            self.cache.invalidate_images()
        if found.trigger is not None:
            self.scheduler.poke(found.trigger, ENGINE_SETTLE)

    def request_refresh(self) -> None:
        """Ask for a fetch of the source before the next pass (a webhook), and that pass."""
        self._refresh_wanted = True
        self.trigger("refresh")

    def stop(self) -> None:
        """Ask ``run`` to return after the current step (safe from a signal handler)."""
        self.scheduler.stop()

    # -- the loop -------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> None:
        """Converge until ``stop`` (or ``self.stop()``) is set."""
        if stop is not None:
            threading.Thread(target=self._forward_stop, args=(stop,), daemon=True).start()
        if self.watcher is not None:
            self.watcher.start()
        follower = Follower(
            self.runtime,
            self._stop,
            self.on_engine_event,
            self._events_lost,
            self._engine_back,
            self.log,
        )
        events = threading.Thread(target=follower.run, name="engine-events", daemon=True)
        events.start()
        updates = threading.Thread(
            target=self.updates.run, args=(self._stop,), name="image-updates", daemon=True
        )
        updates.start()
        next_resync = self.clock() + self.settings.resync
        try:
            while (reasons := self.scheduler.next_pass(next_resync)) is not None:
                now = self.clock()
                if now >= next_resync:
                    next_resync = now + self.settings.resync
                    self.cache.clear()
                    self._refresh_wanted = True
                    self.scheduler.trigger("resync")
                if self.watcher is not None:
                    identity = _identity(self.settings.directory)
                    if identity != self._directory_identity:
                        # The directory appeared, vanished or was replaced: watch it anew.
                        self._directory_identity = identity
                        self.watcher.stop()
                        self.scheduler.trigger("directory")
                if reasons:
                    self.run_pass(reasons)
        finally:
            if self.watcher is not None:
                self.watcher.stop()
            self.inputs.stop()
            self.scheduler.stop()
            events.join(timeout=5)
            updates.join(timeout=5)

    def _forward_stop(self, stop: threading.Event) -> None:
        stop.wait()
        self.stop()

    def _events_lost(self) -> None:
        # Nothing seen meanwhile can be trusted: re-read everything, and report the outage.
        self.cache.clear()
        self.trigger("engine-events-lost")

    def _engine_back(self) -> None:
        self.scheduler.clear_deferral()
        self.trigger("engine-back")

    # -- one pass -------------------------------------------------------------------------

    def run_pass(self, reasons: list[str] | None = None) -> PassReport:
        """One pass of the pipeline with the loop's guards; then status, events, metrics."""
        started, wall_start = self.clock(), self.wall()
        self.passes += 1
        refresh, self._refresh_wanted = self._refresh_wanted, False
        read: list[tuple[Snapshot, Effective]] = []

        def source() -> pipeline.Declared:
            if refresh:
                self.source.refresh()
            snapshot = self.source.read(force=refresh)
            self.notices.source(snapshot)
            if snapshot.settling_files:
                # Come back when the first quiet period ends: what is still gone is pruned then.
                wait = snapshot.settle_until - self.wall() + SETTLE_MARGIN
                self.scheduler.poke("settle", max(wait, SETTLE_MARGIN))
            if self.watcher is not None and not self.watcher.watching:
                self.watcher.start()
                self.cache.clear()
            effective = self.keeper.effective(snapshot.manifests, self.source.description)
            read.append((snapshot, effective))
            # The source admitted its own manifests with this policy (a refused file keeps
            # its last good version); a pinned revision's are judged again by the pass.
            if effective.pinned is None and snapshot.admission is not None:
                return pipeline.Declared(snapshot.admission, snapshot.prune_safe)
            kept = None
            if effective.pinned is not None:
                kept = self.state.revision_files(self.settings.project, effective.pinned)
            return pipeline.Declared(effective.manifests, snapshot.prune_safe, kept)

        waiting: dict[str, float] = {}
        request = pipeline.Request(
            self.settings.project,
            self.settings.policy,
            prune=self.settings.prune,
            force_prune=self.settings.force_prune,
            # A registry is asked about pullPolicy: Always images on the passes that start,
            # resync or refresh the loop, not on every Engine event.
            pull_always=bool(PULL_REASONS.intersection(reasons or ())),
            parallelism=self.settings.parallelism,
            health_timeout=self.settings.health_timeout,
        )
        hooks = pipeline.Hooks(
            report=partial(log_progress, self.log),
            on_desired=self._watch,
            guards=(partial(self._heal, waiting), self._refuse_live_mounts),
            stop=self._stop,
        )
        try:
            result = pipeline.run_pass(
                self.runtime, self.state, request, source, hooks, self.cache, self.carry
            )
        except SourceUnavailable as exc:
            return self.outage.give_up("source-unavailable", exc, started, wall_start, reasons)
        except PolicyRefusal as exc:
            # Only a pinned revision gets here: the source's own refusals keep the last good.
            return self.outage.give_up("policy-refused", exc, started, wall_start, reasons)
        except EngineUnavailable as exc:
            return self.outage.give_up("engine-unavailable", exc, started, wall_start, reasons)
        except BackendError as exc:
            return self.outage.give_up("engine-error", exc, started, wall_start, reasons)
        self.outage.recovered()
        self.inputs.watch(result.watched)
        self.notices.conflicts(result.plan)
        snapshot, effective = read[-1]
        return self._account(result, snapshot, effective, waiting, started, wall_start, reasons)

    # -- the loop's part in a pass ----------------------------------------------------------

    def _watch(self, desired: DesiredState) -> None:
        """Remember the declared names: Engine events about them trigger a pass."""
        with self._names_lock:
            self._names = frozenset([*desired.containers, *desired.volumes, *desired.networks])
        self.updates.want(desired)

    def _heal(
        self, waiting: dict[str, float], plan: Plan, desired: DesiredState, observed: ObservedState
    ) -> Plan:
        """The crash-loop guard: restarts held back (``waiting`` gets how long each waits)."""
        now = self.clock()
        plan, held = self.healer.guard(plan, desired, observed, now)
        waiting.update(held)
        if held:
            self.scheduler.wake(now + min(held.values()))
        return plan

    def _refuse_live_mounts(
        self, plan: Plan, desired: DesiredState, observed: ObservedState
    ) -> Plan:
        """Remove running containers whose live bind mounts the policy now refuses."""
        refused = policy_removals(desired, observed, self.settings.policy)
        for step, why in refused:
            self.log.error(f"removing {step.key}: {why}")
            # Re-read and re-admit next pass, so the refused manifest is not recreated.
            self._refresh_wanted = True
        names = {r.name for r, _ in refused}
        steps = [s for s in plan.steps if s.name not in names]
        return dataclasses.replace(plan, steps=(*(r for r, _ in refused), *steps))

    def _account(
        self,
        result: pipeline.PassResult,
        snapshot: Snapshot,
        effective: Effective,
        waiting: dict[str, float],
        started: float,
        wall_start: float,
        reasons: list[str] | None,
    ) -> PassReport:
        """After a pass: healing and retry timing, the revision, status and metrics."""
        plan = result.plan
        outcome = result.outcome or ApplyOutcome()
        finished = self.clock()
        for step in outcome.done:
            self.cache.invalidate(step.engine_name)
        if outcome.failed:
            self._refresh_wanted = True  # re-read (and re-admit) everything next pass
        if (retry := self.healer.applied(outcome, finished)) is not None:
            self.scheduler.wake(retry)
        if outcome.done:
            # What we just did shows up as Engine events too; a follow-up pass confirms it.
            self.trigger("after-apply")
        report = PassReport(
            started_wall=wall_start,
            seconds=finished - started,
            reasons=tuple(reasons or ()),
            outcome="ok" if result.clean else "degraded",
        )
        statuses = resource_statuses(
            result.desired, result.observed, snapshot, plan, outcome, waiting, self.healer.crash
        )
        revision = self.keeper.applied(
            effective,
            result.images,
            "ok" if result.clean else "failed",
            result.failures(),
            result.digests,
        )
        rolled_back = self.keeper.judge(statuses, effective.digest)
        self.alerts.passed(effective.digest, outcome, statuses, self.healer.crash)
        if rolled_back:
            self.alerts.rollback(rolled_back)
            self.trigger("rollback")
        update_rollbacks = self.updates.judge(statuses, result.observed)
        extra = {
            "origin": self.source.description,
            "revision": revision,
            "pinnedTo": effective.pinned,
            "rollback": rolled_back or "; ".join(update_rollbacks) or None,
            "imageUpdates": self.updates.document(),
        }
        document = status_document(
            self.settings.project, self.settings.directory, report, snapshot, statuses, plan
        )
        self.state.save_status(self.settings.project, {**document, **extra})
        if self.metrics is not None:
            counts = dict(Counter(item.status for item in statuses))
            failed = [s for s, _ in outcome.failed]
            self.metrics.record_pass(
                report.seconds, report.outcome, self.wall(), outcome.done, failed, counts
            )
            self.metrics.record_updates(self.updates.statuses())
        self.log.debug(
            "pass",
            extra={
                "seconds": round(report.seconds, 4),
                "reasons": ",".join(report.reasons),
                "steps": len(plan.steps),
            },
        )
        return report
