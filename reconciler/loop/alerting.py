"""What the loop tells a person on call, once per change (as ``notices`` does for the log):
drift repaired, a step that fails, a crash loop, a rollback, the source or Engine unavailable;
and ``resolved`` when a lasting one ends. The events go to the ``Notifier``, which sends them
off the pass's path. Kinds and their meaning: docs/notifications.md.

Drift is a repair the loop made while the declared manifests stayed the same as in the pass
before (a change of the manifests, the first pass and a rollback's pass are deliberate, not
drift), excluding restarts that a crash loop explains and retries of a step that failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from reconciler.controllers.plan import Action, Reason, Step
from reconciler.converge.applying import ApplyOutcome
from reconciler.loop.backoff import CrashLoop
from reconciler.loop.metrics import Metrics
from reconciler.loop.report import ResourceStatus
from reconciler.notify import reading
from reconciler.notify.events import Event
from reconciler.notify.notifier import Notifier

DRIFT = {
    Reason.NOT_RUNNING: "was not running",
    Reason.MISSING: "was missing",
    Reason.CONFIG_CHANGED: "differed from its manifest",
    Reason.DUPLICATE: "had a duplicate",
    Reason.NETWORK_REPLACED: "was attached to a network that was replaced",
    Reason.INTERRUPTED_RECREATE: "was left half recreated",
}
DONE = {
    Action.CREATE: "created",
    Action.RECREATE: "recreated",
    Action.UPDATE: "updated in place",
    Action.START: "started",
    Action.RESTART: "restarted",
    Action.STOP: "stopped",
    Action.REMOVE: "removed",
}
# Statuses in which a failing step or a crash loop is over.
STEADY = frozenset({"synced", "completed", "external"})
# Outcomes of a pass that could not run, and the kind of event each is.
OUTAGES = {
    "source-unavailable": "source-unavailable",
    "engine-unavailable": "engine-unavailable",
    "engine-error": "pass-failed",
    "policy-refused": "pass-failed",
}
MAX_CHANGES = 5


def open_notifier(
    path: Path | None, state_dir: Path, log: logging.Logger, metrics: Metrics | None
) -> Notifier:
    """The started notifier of ``run``/``sync``: from ``--notify-config`` (``path``), else
    ``$RECONCILE_NOTIFY_CONFIG``, else ``STATE_DIR/notifications.yaml``; a disabled one when
    there is none. A bad file raises ``ManifestError``: the loop does not start without the
    notifications it was told to send."""
    chosen = reading.config_path(path, state_dir)
    if chosen is None:
        return Notifier.disabled()
    config = reading.load_config(chosen)
    notifier = Notifier.from_config(config, log, metrics.notification if metrics else None)
    shown = ", ".join(f"{w.sink.name} ({w.sink.shown})" for w in notifier.workers)
    log.info(f"notifications from {chosen}: {shown}")
    notifier.start()
    return notifier


class Alerts:
    """Remembers what was last announced for one project's loop."""

    def __init__(self, emit: Callable[[Event], None], project: str) -> None:
        self.emit = emit  # Notifier.emit: never blocks
        self.project = project
        self._digest: str | None = None
        self._failing: dict[str, str] = {}  # resource -> the lasting kind announced for it
        self._outage: str | None = None

    def passed(
        self,
        digest: str,
        outcome: ApplyOutcome,
        statuses: Sequence[ResourceStatus],
        crash: CrashLoop,
    ) -> None:
        """After a pass that ran: drift repaired, failures and crash loops begun or ended."""
        same, self._digest = self._digest == digest, digest
        if same:
            for step in outcome.done:
                if self._is_drift(step, crash):
                    self._emit_drift(step)
        failed = {s.key: (s, message) for s, message in outcome.failed}
        for key, (step, message) in sorted(failed.items()):
            if self._failing.get(key) != "apply-failed":
                self._failing[key] = "apply-failed"
                summary = f"{step.action.value} {key} failed: {message}"
                details = {"action": step.action.value, "reason": step.reason.value}
                self._emit("apply-failed", summary, key, {**details, "error": message})
        present = set()
        for item in statuses:
            key = f"{item.kind}/{item.name}"
            present.add(key)
            announced = self._failing.get(key)
            if item.status == "crash-loop" and announced != "crash-loop":
                self._failing[key] = "crash-loop"
                self._emit("crash-loop", f"{key} is crash-looping: {item.detail}", key)
            elif announced is not None and item.status in STEADY:
                del self._failing[key]
                self._resolve(announced, f"{key} is {item.status} again", key)
        for key in set(self._failing) - present - set(failed):
            del self._failing[key]  # no longer declared: nothing left to resolve

    def rollback(self, message: str) -> None:
        """The probation judged a revision failing (``RevisionKeeper.judge``'s message)."""
        self._emit("rollback", message)

    def unavailable(self, what: str, error: str) -> None:
        """A pass could not run (``what`` as ``Outage.give_up`` names it)."""
        kind = OUTAGES.get(what, "pass-failed")
        if self._outage == kind:
            return
        if self._outage is not None:
            self._resolve(self._outage, f"{self._outage} over", "")
        self._outage = kind
        summary = f"{what}: {error}; nothing is changed or pruned until it is back"
        self._emit(kind, summary, "", {"error": error})

    def available(self) -> None:
        """A pass ran again: the outage, if any, is over."""
        if self._outage is not None:
            self._resolve(self._outage, f"{self._outage} over; converging again", "")
            self._outage = None

    def _is_drift(self, step: Step, crash: CrashLoop) -> bool:
        if step.reason not in DRIFT or step.key in self._failing:
            return False
        # A container that exited twice in a row is a crash loop, announced as such.
        return not (step.reason is Reason.NOT_RUNNING and crash.failures(step.name) > 1)

    def _emit_drift(self, step: Step) -> None:
        changes = [f"{d.path}: {d.before} -> {d.after}" for d in step.diffs[:MAX_CHANGES]]
        fields = ", ".join(sorted({d.path for d in step.diffs}))
        summary = f"{step.key} {DRIFT[step.reason]}"
        summary += f" ({fields})" if fields else ""
        summary += f"; {DONE.get(step.action, step.action.value)}"
        details = {"action": step.action.value, "reason": step.reason.value}
        if changes:
            details["changes"] = "; ".join(changes)
        self._emit("drift-repaired", summary, step.key, details)

    def _resolve(self, kind: str, summary: str, resource: str) -> None:
        self._emit("resolved", summary, resource, {"resolves": kind})

    def _emit(
        self, kind: str, summary: str, resource: str = "", details: dict[str, str] | None = None
    ) -> None:
        self.emit(Event(kind, self.project, summary, resource, details or {}))
