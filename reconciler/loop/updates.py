"""Image updates: the loop follows the tags of containers with an ``updatePolicy``.

A thread of its own asks each tag's registry for its digest every ``interval`` (one manifest
HEAD: no pull, nothing changed), off the passes' path, so a slow or dead registry delays no
pass. What it finds goes to the status document, the journal, the metrics and the
notifications:

- the local image has that digest: current;
- another digest, ``notify``: "update available" (once per digest), nothing changes;
- another digest, ``apply``: once it has been seen for ``minAge`` (kept in the state, so a
  restart does not reset the clock), that exact digest is pulled and tagged, and a pass
  recreates the containers through the plan. The update is then on probation: a container of
  it failing or crash-looping (or unhealthy) within the window puts the tag back on the
  previous image, rejects the digest (never applied again automatically; a newer one is) and
  recreates the containers on the old image;
- the registry cannot be asked (unreachable, refused credentials, the tag gone): the error is
  reported and the next check backs off, doubling from ``RETRY_INITIAL`` up to the interval;
  running containers are never touched.

A tag is shared by every container that names it: applying an update moves them all, as a
``docker pull`` would.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

from reconciler.errors import BackendError
from reconciler.loop.logs import LOGGER_NAME
from reconciler.loop.report import ResourceStatus
from reconciler.notify.events import Event as Notification
from reconciler.notify.notifier import Notifier
from reconciler.runtime.base import Runtime
from reconciler.state.database import State
from reconciler.state.records import Event
from reconciler.values.desired import DesiredState
from reconciler.values.observed import ObservedState

RETRY_INITIAL = 30.0
NOT_PULLED_RETRY = 5.0
PROBATION = 120.0
FAILING = ("crash-loop", "failed")

Notify = Callable[[str, str, Mapping[str, str]], None]  # (kind, summary, details)


@dataclass(frozen=True)
class Followed:
    """A tag followed for the containers naming it."""

    mode: str  # notify | apply (the strongest of its containers')
    interval: float
    min_age: float
    containers: tuple[str, ...]


@dataclass(frozen=True)
class UpdateStatus:
    """What the last check of a tag found (keys are API for ``status -o json``)."""

    ref: str
    state: str  # current | available | waiting | applied | rejected | error | unknown
    current: str = ""  # the local image's digest in that repository ("" if it has none)
    latest: str = ""  # the registry's digest of the tag
    checkedAt: float = 0.0
    detail: str = ""


@dataclass
class _Probation:
    digest: str
    previous: str  # the image ID the tag pointed at before
    containers: tuple[str, ...]
    until: float


class ImageUpdates:
    """One project's image updates; ``run`` is its thread, ``judge`` runs after each pass."""

    def __init__(
        self,
        runtime: Runtime,
        state: State,
        project: str,
        trigger: Callable[[str], None],
        *,
        notify: Notify | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        probation: float = PROBATION,
    ) -> None:
        self.runtime = runtime
        self.state = state
        self.project = project
        self.trigger = trigger
        self.notify = notify
        self.clock = clock
        self.wall = wall
        self.probation_window = probation
        self.log = logging.getLogger(LOGGER_NAME)
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._followed: dict[str, Followed] = {}
        self._next: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._status: dict[str, UpdateStatus] = {}
        self._announced: set[tuple[str, str]] = set()
        self._probation: dict[str, _Probation] = {}

    # -- what to follow (after each pass's desired state) ---------------------------------

    def want(self, desired: DesiredState) -> None:
        """Follow the tags of the containers whose ``updatePolicy`` is not ``off``."""
        found: dict[str, list[tuple[str, float, float, str]]] = {}
        for name, container in desired.containers.items():
            settings = container.update
            if settings.mode == "off":
                continue
            found.setdefault(container.config.image, []).append(
                (settings.mode, settings.interval, settings.min_age, name)
            )
        followed = {
            ref: Followed(
                "apply" if any(m == "apply" for m, *_ in entries) else "notify",
                min(i for _, i, _, _ in entries),
                max(a for _, _, a, _ in entries),
                tuple(sorted(n for *_, n in entries)),
            )
            for ref, entries in found.items()
        }
        with self._lock:
            if followed == self._followed:
                return
            now = self.clock()
            for ref in followed:
                if ref not in self._followed:
                    self._next[ref] = now  # a newly followed tag is checked at once
            for gone in set(self._followed) - set(followed):
                self._next.pop(gone, None)
                self._status.pop(gone, None)
            self._followed = followed
            self._wake.notify_all()

    def statuses(self) -> list[UpdateStatus]:
        """The last finding of each followed tag."""
        with self._lock:
            return [
                self._status.get(ref, UpdateStatus(ref, "unknown"))
                for ref in sorted(self._followed)
            ]

    def document(self) -> list[dict[str, object]]:
        """The findings as the status document carries them."""
        return [asdict(s) for s in self.statuses()]

    # -- the thread -----------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Check each followed tag when it is due, until ``stop`` is set."""
        while not stop.is_set():
            with self._lock:
                now = self.clock()
                due = [ref for ref, at in self._next.items() if at <= now]
                if not due:
                    upcoming = min(self._next.values(), default=now + 60.0)
                    self._wake.wait(timeout=max(0.05, min(upcoming - now, 1.0)))
                    continue
            for ref in sorted(due):
                if stop.is_set():
                    return
                self.check(ref)

    def check(self, ref: str) -> UpdateStatus:
        """Ask the registry about ``ref`` now and act as its policy says."""
        with self._lock:
            followed = self._followed.get(ref)
        if followed is None:
            return UpdateStatus(ref, "unknown")
        now = self.clock()
        try:
            status, again = self._check(ref, followed)
        except Exception as exc:  # a registry or Engine problem never stops the thread
            status = self._failed(ref, followed, exc)
        else:
            with self._lock:
                self._failures.pop(ref, None)
                if ref in self._next:
                    self._next[ref] = now + again
        with self._lock:
            if ref not in self._followed:
                return status
            before = self._status.get(ref)
            self._status[ref] = status
        if before is None or (before.state, before.latest) != (status.state, status.latest):
            # The status document is written after a pass: one (a no-op) carries the news.
            self.trigger("image-check")
        return status

    def _failed(self, ref: str, followed: Followed, exc: Exception) -> UpdateStatus:
        with self._lock:
            failures = self._failures.get(ref, 0) + 1
            self._failures[ref] = failures
            retry = min(followed.interval, RETRY_INITIAL * 2 ** (failures - 1))
            if ref in self._next:
                self._next[ref] = self.clock() + retry
        reason = getattr(exc, "reason", "error")
        message = f"cannot check {ref} for updates ({reason}): {exc}; next try in {retry:.0f}s"
        if failures == 1:
            self.log.warning(message)
        status = UpdateStatus(ref, "error", checkedAt=self.wall(), detail=message)
        return status

    def _check(self, ref: str, followed: Followed) -> tuple[UpdateStatus, float]:
        """What the registry says of ``ref``, and in how many seconds to ask again (the
        interval, or sooner when a waiting digest comes of age)."""
        interval = followed.interval
        latest = self.runtime.registry_digest(ref)
        local = self.runtime.inspect_image(ref)
        checked = self.wall()
        if local is None:
            # Not pulled yet (the first pass is pulling it): nothing to compare with.
            status = UpdateStatus(ref, "unknown", "", latest, checked, "not pulled yet")
            return status, min(interval, NOT_PULLED_RETRY)
        current = local.digest_in(ref)
        if current == latest:
            return UpdateStatus(ref, "current", current, latest, checked), interval
        first_seen, outcome = self.state.image_digest_seen(self.project, ref, latest)
        if outcome == "rejected":
            return UpdateStatus(
                ref,
                "rejected",
                current,
                latest,
                checked,
                "this digest failed its probation and was rolled back; a newer one is applied",
            ), interval
        if followed.mode == "notify":
            self._announce(ref, latest, current, followed)
            status = UpdateStatus(ref, "available", current, latest, checked, "update available")
            return status, interval
        age = checked - first_seen
        if age < followed.min_age:
            self._announce(ref, latest, current, followed)
            left = followed.min_age - age
            status = UpdateStatus(
                ref, "waiting", current, latest, checked, f"applied after minAge, in {left:.0f}s"
            )
            return status, max(1.0, min(interval, left))
        self._apply(ref, latest, local.id, followed)
        status = UpdateStatus(ref, "applied", current, latest, checked, "pulled; containers follow")
        return status, interval

    # -- acting ---------------------------------------------------------------------------

    def _announce(self, ref: str, digest: str, current: str, followed: Followed) -> None:
        if (ref, digest) in self._announced:
            return
        self._announced.add((ref, digest))
        message = (
            f"update available for {ref}: {digest} (running {current or 'an image of no digest'}"
            f"; containers {', '.join(followed.containers)})"
        )
        self.log.warning(message)
        self._journal(ref, "update-available", "notify", message)
        self._send("update-available", message, {"image": ref, "digest": digest})

    def _apply(self, ref: str, digest: str, previous: str, followed: Followed) -> None:
        self.log.info(f"applying update of {ref}: pulling {digest}")
        info = self.runtime.pull_digest(ref, digest)
        self.state.record_fetched(self.project, [(info.id, ref, "pulled")])
        self.state.image_digest_outcome(self.project, ref, digest, "applied")
        with self._lock:
            self._probation[ref] = _Probation(
                digest, previous, followed.containers, self.clock() + self.probation_window
            )
        message = f"update of {ref} applied: {digest}; containers {', '.join(followed.containers)}"
        self._journal(ref, "update-applied", "done", message)
        self._send("update-applied", message, {"image": ref, "digest": digest})
        self.trigger("image-update")

    def judge(self, statuses: Sequence[ResourceStatus], observed: ObservedState) -> list[str]:
        """After a pass: roll back an update on probation whose containers fail, crash-loop
        or turn unhealthy; end the probation of one that held for the window."""
        with self._lock:
            probations = dict(self._probation)
        if not probations:
            return []
        now = self.clock()
        bad_status = {s.name: s.status for s in statuses if s.kind == "Container"}
        done = []
        for ref, probation in probations.items():
            bad = [
                f"{name} {bad_status[name]}"
                for name in probation.containers
                if bad_status.get(name) in FAILING
            ]
            bad += [
                f"{name} unhealthy"
                for name in probation.containers
                if (have := observed.containers.get(name)) is not None
                and have.status.health == "unhealthy"
            ]
            if bad:
                done.append(self._roll_back(ref, probation, ", ".join(bad)))
            elif now > probation.until:
                with self._lock:
                    self._probation.pop(ref, None)
        return done

    def _roll_back(self, ref: str, probation: _Probation, why: str) -> str:
        with self._lock:
            self._probation.pop(ref, None)
        try:
            self.runtime.tag_image(probation.previous, ref)
        except BackendError as exc:
            message = (
                f"update of {ref} to {probation.digest} is failing ({why}); cannot roll back: {exc}"
            )
            self.log.error(message)
            return message
        self.state.image_digest_outcome(self.project, ref, probation.digest, "rejected", why)
        message = (
            f"update of {ref} to {probation.digest} is failing ({why}); rolled back to image "
            f"{probation.previous[:19]}, and that digest is not applied again"
        )
        self.log.error(message)
        self._journal(ref, "update-rollback", "done", message)
        self._send("rollback", message, {"image": ref, "digest": probation.digest})
        with self._lock:
            self._status[ref] = UpdateStatus(
                ref, "rejected", "", probation.digest, self.wall(), message
            )
        self.trigger("update-rollback")
        return message

    def _journal(self, ref: str, reason: str, outcome: str, message: str) -> None:
        try:
            self.state.add_events(
                [Event(self.project, self.wall(), "Image", ref, "update", reason, outcome, message)]
            )
        except Exception as exc:  # the journal is a record, not a reason to stop
            self.log.warning(f"cannot journal {reason} of {ref}: {exc}")

    def _send(self, kind: str, summary: str, details: Mapping[str, str]) -> None:
        if self.notify is not None:
            self.notify(kind, summary, details)


def image_event(
    notifier: Notifier, project: str, kind: str, summary: str, details: Mapping[str, str]
) -> None:
    """Send an image update's news (``update-available``, ``update-applied``, ``rollback``)
    to the people on call; never blocks the caller."""
    notifier.emit(
        Notification(
            kind=kind,
            project=project,
            summary=summary,
            resource=f"Image/{details.get('image', '')}",
            details=details,
        )
    )
