"""What the loop tells its log once per change, not on every pass: the source's problems and
policy notes, the files it waits on to be quiet, and the plan's conflicts (a prune refused by
the guard, a name clash). The status document carries the same for as long as it lasts."""

from __future__ import annotations

import logging

from reconciler.controllers.plan import Plan
from reconciler.errors import Problem
from reconciler.sources.directory import Snapshot


class Notices:
    """Remembers what was last logged; ``settle`` is the source's quiet period (seconds)."""

    def __init__(self, log: logging.Logger, settle: float) -> None:
        self.log = log
        self.settle = settle
        self._source: tuple[tuple[Problem, ...], tuple[str, ...]] = ((), ())
        self._settling: tuple[str, ...] = ()
        self._conflicts: frozenset[str] = frozenset()

    def source(self, snapshot: Snapshot) -> None:
        """Log the source's problems and policy notes, and files newly waited on."""
        current = (snapshot.problems, snapshot.notes)
        if current != self._source:
            self._source = current
            for problem in snapshot.problems:
                self.log.error(f"manifest source: {problem}", extra={"kept": "last good"})
            for note in snapshot.notes:
                self.log.warning(note)
        new = [f for f in snapshot.settling_files if f not in self._settling]
        self._settling = snapshot.settling_files
        if new:
            self.log.info(
                f"{', '.join(new)}: written less than {self.settle:g}s ago and possibly half "
                "written; nothing is pruned, nor resources missing from it, until it has been "
                "quiet that long",
                extra={"settling": len(snapshot.settling_files)},
            )

    def conflicts(self, plan: Plan) -> None:
        """Log each conflict when it appears (error: a refused prune needs a person) and when
        it is gone; a conflict that lasts is not logged again on every pass."""
        current = frozenset(f"{c.kind}/{c.name}: {c.message}" for c in plan.conflicts)
        for line in sorted(current - self._conflicts):
            self.log.error(f"conflict: {line}")
        for line in sorted(self._conflicts - current):
            self.log.info(f"conflict resolved: {line}")
        self._conflicts = current
