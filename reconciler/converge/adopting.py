"""Taking over what docker compose made (``reconcile adopt``): its named volumes and networks
with their data, in place, and its containers, which are recreated only where their config
differs from the manifests'.

Only what carries compose's own project label is taken, and only under the name the
manifests give it (compose names: ``PROJECT-SERVICE-N``, ``PROJECT_KEY``): a volume of the
same name that compose did not make for that project stays a conflict. What was adopted is
recorded in the state (kind, name, Engine id) and read as the project's own on every pass.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from reconciler.values.desired import DesiredState
from reconciler.values.observed import ObservedState, Ownership


@dataclass(frozen=True)
class Adoption:
    """One resource compose made that the manifests declare under the same name."""

    kind: str
    name: str
    engine_id: str
    compose_project: str

    @property
    def key(self) -> str:
        """``Kind/name``, as plans name resources."""
        return f"{self.kind}/{self.name}"


def candidates(
    desired: DesiredState, observed: ObservedState, compose_project: str
) -> list[Adoption]:
    """What compose made for ``compose_project`` that the manifests declare: not reconcile's,
    carrying that project's label, under the declared name. A volume has no id: its name is
    its identity."""
    found = []
    for name in sorted(desired.containers):
        have = observed.containers.get(name)
        if have is not None and _theirs(have.ownership, compose_project):
            found.append(Adoption("Container", name, have.id, compose_project))
    for name, volume in sorted(desired.volumes.items()):
        seen = observed.volumes.get(name)
        if seen is not None and not volume.external and _theirs(seen.ownership, compose_project):
            found.append(Adoption("Volume", name, name, compose_project))
    for name, network in sorted(desired.networks.items()):
        net = observed.networks.get(name)
        if net is not None and not network.external and _theirs(net.ownership, compose_project):
            found.append(Adoption("Network", name, net.id, compose_project))
    return found


def _theirs(ownership: Ownership, compose_project: str) -> bool:
    return not ownership.managed and ownership.compose_project == compose_project


def owned(
    observed: ObservedState, project: str, adopted: frozenset[tuple[str, str, str]]
) -> ObservedState:
    """``observed`` with what was adopted for ``project`` read as the project's own (the same
    Engine object only: a namesake made later is not)."""
    if not adopted:
        return observed

    def mine(kind: str, name: str, ident: str, ownership: Ownership) -> Ownership:
        if (kind, name, ident) in adopted and not ownership.managed:
            return Ownership(project=project, name=name)
        return ownership

    containers = {
        n: dataclasses.replace(c, ownership=mine("Container", n, c.id, c.ownership))
        for n, c in observed.containers.items()
    }
    volumes = {
        n: dataclasses.replace(v, ownership=mine("Volume", n, n, v.ownership))
        for n, v in observed.volumes.items()
    }
    networks = {
        n: dataclasses.replace(w, ownership=mine("Network", n, w.id, w.ownership))
        for n, w in observed.networks.items()
    }
    return dataclasses.replace(observed, containers=containers, volumes=volumes, networks=networks)
