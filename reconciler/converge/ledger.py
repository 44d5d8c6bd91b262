"""Proof that reconcile created a container: labels can be copied (a container started from
a `docker commit` of a managed one inherits them all), so a removal of a leftover, a
duplicate or a pruned container needs more. Before each create the state records a random
nonce, which the container carries as a label; after it, the Engine id. A container is
proven when its id is recorded, or when it carries a nonce whose create never reported back
(a kill in between): the first such container is then recorded as that create's."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from reconciler.manifests.constants import LABEL_CREATION, REPLACEMENT_SUFFIX
from reconciler.state.database import State
from reconciler.values.observed import ObservedState


class Ledger:
    """The creations of one project, read once per pass and written through."""

    def __init__(self, state: State, project: str) -> None:
        self.state = state
        self.project = project
        self._creations = state.creations(project)
        self._lock = threading.Lock()

    # Steps run on several threads and the state is one connection: every use of it here
    # holds the lock.

    def labels_for(self, name: str) -> dict[str, str]:
        """The creation label of a container about to be created as ``name`` (recorded)."""
        with self._lock:
            nonce = self.state.expect_creation(self.project, name)
            self._creations[nonce] = None
        return {LABEL_CREATION: nonce}

    def created(self, labels: Mapping[str, str], engine_id: str) -> None:
        """Record the id of the container created with ``labels``."""
        nonce = labels.get(LABEL_CREATION)
        if nonce is None:
            return
        with self._lock:
            self._record(nonce, engine_id)

    def proves(self, engine_id: str, labels: Mapping[str, str]) -> bool:
        """Whether reconcile created the container ``engine_id`` (carrying ``labels``)."""
        with self._lock:
            if engine_id in self._creations.values():
                return True
            nonce = labels.get(LABEL_CREATION)
            if nonce is None or nonce not in self._creations or self._creations[nonce]:
                return False
            self._record(nonce, engine_id)  # a create a kill cut short: this is its container
            return True

    def _record(self, nonce: str, engine_id: str) -> None:
        self.state.created(self.project, nonce, engine_id)
        self._creations[nonce] = engine_id

    def proven(self, observed: ObservedState) -> frozenset[str]:
        """The ids of the observed containers of the project that reconcile created; on the
        first pass over a state an older version left, its primary containers are adopted."""
        mine = [c for c in observed.containers.values() if c.ownership.project == self.project]
        if self.project in self.state.legacy_projects():
            inventory = self.state.inventory(self.project) or frozenset()
            adopted = [
                (c.name, c.id)
                for c in mine
                if c.name == c.ownership.name
                and not c.name.endswith(REPLACEMENT_SUFFIX)
                and ("Container", c.name) in inventory
            ]
            with self._lock:
                self.state.adopt_creations(self.project, adopted)
                self._creations.update({f"adopted:{i}": i for _, i in adopted})
        return frozenset(c.id for c in mine if self.proves(c.id, c.labels))
