"""How the loop uses the revision history: rollback pins, recording what it applied, and the
optional automatic rollback after a revision that fails its healthchecks or crash-loops."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from reconciler.loading import LoadedManifest
from reconciler.loop.logs import LOGGER_NAME
from reconciler.loop.report import ResourceStatus
from reconciler.sources import revision as revision_source
from reconciler.state import history
from reconciler.state.database import State
from reconciler.state.records import Event

FAILING = ("crash-loop", "failed")


@dataclass(frozen=True)
class Effective:
    """What a pass applies: the source's manifests, or a pinned revision's."""

    manifests: tuple[LoadedManifest, ...]
    source: str
    digest: str
    pinned: int | None = None


class RevisionKeeper:
    """Pins, revision records and automatic rollback for one project's loop."""

    def __init__(
        self,
        state: State,
        project: str,
        *,
        rollback_on_failure: bool = False,
        window: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state = state
        self.project = project
        self.rollback_on_failure = rollback_on_failure
        self.window = window
        self.clock = clock
        self.log = logging.getLogger(LOGGER_NAME)
        self._last: tuple[LoadedManifest, ...] = ()
        self._last_digest = history.digest_of([])
        self._probation: tuple[int, float] | None = None
        self._recorded: tuple[str, str, tuple[tuple[str, str], ...], int] | None = None

    def effective(self, manifests: Sequence[LoadedManifest], source: str) -> Effective:
        """The manifests to apply: a pinned revision's while the source has not moved since
        the rollback, else the source's own (lifting a stale pin)."""
        digest = self._digest(manifests)
        pin = self.state.pin(self.project)
        if pin is not None:
            if pin.upstream == digest:
                revision = self.state.revision(self.project, pin.revision)
                if revision is not None:
                    return Effective(
                        tuple(revision_source.manifests_of(revision)),
                        revision.source,
                        revision.digest,
                        pin.revision,
                    )
            self.state.clear_pin(self.project)
            self.log.info(f"source changed since the rollback to #{pin.revision}; pin lifted")
        return Effective(tuple(manifests), source, digest)

    def applied(
        self,
        effective: Effective,
        images: Mapping[str, str],
        outcome: str,
        message: str = "",
        digests: Mapping[str, str] | None = None,
    ) -> int:
        """Record what a pass applied; a new revision starts its probation window."""
        key = (effective.digest, outcome, tuple(sorted(images.items())))
        if self._recorded is not None and self._recorded[:3] == key:
            return self._recorded[3]
        newest = history.latest(self.state, self.project)
        source = effective.source
        if effective.pinned is not None:
            source = f"rollback:#{effective.pinned}"
        number = history.record(
            self.state,
            self.project,
            source,
            effective.manifests,
            images,
            outcome,
            message,
            digests=digests,
        )
        self._recorded = (*key, number)
        is_new = newest is None or newest.number != number
        if is_new and effective.pinned is None and self.rollback_on_failure:
            self._probation = (number, self.clock() + self.window)
        return number

    def judge(self, statuses: Sequence[ResourceStatus], digest: str) -> str | None:
        """During a new revision's probation, roll back to the last good revision when any
        container fails or crash-loops; returns what was done, for the log and status."""
        if self._probation is None:
            return None
        number, until = self._probation
        if self.clock() > until:
            self._probation = None
            return None
        bad = [s for s in statuses if s.kind == "Container" and s.status in FAILING]
        if not bad:
            return None
        self._probation = None
        target = history.last_good(self.state, self.project, before=number)
        why = ", ".join(f"{s.name} {s.status}" for s in bad)
        self.state.set_outcome(self.project, number, "failed", why)
        if target is None:
            message = f"revision #{number} is failing ({why}) and no earlier good revision exists"
            self.log.error(message)
            return message
        self.state.set_pin(self.project, target.number, digest)
        message = f"revision #{number} is failing ({why}); rolled back to #{target.number}"
        self.log.error(message)
        self.state.add_events(
            [
                Event(
                    self.project,
                    time.time(),
                    "Project",
                    self.project,
                    "rollback",
                    "failing-revision",
                    "done",
                    message,
                )
            ]
        )
        return message

    def _digest(self, manifests: Sequence[LoadedManifest]) -> str:
        # The source hands back the same objects while files are unchanged: dump only on change.
        same = len(manifests) == len(self._last) and all(
            a is b for a, b in zip(manifests, self._last, strict=True)
        )
        if not same:
            self._last = tuple(manifests)
            self._last_digest = history.digest_of(history.documents_of(manifests))
        return self._last_digest
