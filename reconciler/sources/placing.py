"""Which manifests of a set this host runs: each resource's placement (its own
``metadata.placement``, else the nearest ``placement.yaml`` of its directory, else every host)
judged against the host's identity.

What is not selected is "not declared here", so a host prunes (with ``--prune``) what moved
away from it, and never what it never ran: a prune removes only what this host's inventory
recorded creating. Decision: docs/decisions/fleet.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import Location, Problem
from reconciler.loading import LoadedManifest
from reconciler.loading.crossrefs import references
from reconciler.loading.results import format_path
from reconciler.manifests.constants import PLACEMENT_FILES
from reconciler.manifests.placement import Host, Placement


@dataclass(frozen=True)
class Placed:
    """A manifest, its placement in force (None: every host) and where that was written."""

    item: LoadedManifest
    placement: Placement | None
    origin: str

    def where(self) -> str:
        """``hosts a or labels site=x (from deploy/placement.yaml)``."""
        where = str(self.placement) if self.placement is not None else "every host"
        origin = f" (from {self.origin})" if self.origin else ""
        return where + origin

    def describe(self) -> str:
        """``Container/web: `` and where it runs."""
        return f"{self.item.kind}/{self.item.name}: {self.where()}"


@dataclass(frozen=True)
class Selection:
    """The manifests this host runs, those it leaves to other hosts, and what is wrong.

    ``host`` is None when nothing in the set has a placement (every host runs everything, and
    no host identity was needed)."""

    host: Host | None
    here: tuple[Placed, ...]
    elsewhere: tuple[Placed, ...]
    problems: tuple[Problem, ...]

    @property
    def manifests(self) -> tuple[LoadedManifest, ...]:
        """The manifests this host runs."""
        return tuple(p.item for p in self.here)

    @property
    def placed(self) -> bool:
        """Whether anything in the set has a placement."""
        return self.host is not None


def select(
    manifests: Sequence[LoadedManifest],
    host: Callable[[], Host],
    roots: Sequence[Path],
) -> Selection:
    """The selection of ``manifests`` for the host ``host()`` returns (asked only when some
    placement exists). ``roots``: the directories the set was read from; a ``placement.yaml``
    in one of them or in a directory between it and a manifest's file applies to that file.

    A selected container that refers to a resource of the set placed elsewhere (a network, a
    volume, a container it depends on) is a problem: it could not run here."""
    found: dict[Path, tuple[Placement | None, str]] = {}
    problems: list[Problem] = []
    placed = []
    for item in manifests:
        one = _placed(item, roots, found, problems)
        if one is None:
            # Its directory's placement file is invalid: it runs nowhere until that is fixed
            # (a directory source keeps its last good version meanwhile).
            problems.append(
                Problem(item.location, "", "the placement.yaml of its directory is invalid")
            )
        else:
            placed.append(one)
    if all(p.placement is None for p in placed) and len(placed) == len(manifests):
        return Selection(None, tuple(placed), (), ())
    me = host()
    chosen = [p.placement is None or p.placement.selects(me) for p in placed]
    here = tuple(p for p, yes in zip(placed, chosen, strict=True) if yes)
    elsewhere = tuple(p for p, yes in zip(placed, chosen, strict=True) if not yes)
    away = {(p.item.kind, p.item.name): p for p in elsewhere}
    for p in here:
        for kind, name, path in references(p.item) if p.item.kind == "Container" else ():
            other = away.get((kind, name))
            if other is not None:
                problems.append(
                    Problem(
                        p.item.locate(*path),
                        format_path(path),
                        f"{kind} {name!r} is not placed on host {me.name} (it runs on "
                        f"{other.where()}), but {p.item.kind} {p.item.name!r} is and needs "
                        "it; place both alike",
                    )
                )
    return Selection(me, here, elsewhere, tuple(sorted(problems)))


def _placed(
    item: LoadedManifest,
    roots: Sequence[Path],
    found: dict[Path, tuple[Placement | None, str]],
    problems: list[Problem],
) -> Placed | None:
    own = item.manifest.metadata.placement
    if own is not None:
        return Placed(item, own, "metadata.placement")
    file = Path(item.location.file)
    placement, origin = _of_directory(file.parent, _root_of(file, roots), found, problems)
    if origin and placement is None:
        return None
    return Placed(item, placement, origin)


def _root_of(file: Path, roots: Sequence[Path]) -> Path:
    """The given directory ``file`` was found under (its own directory if it was named)."""
    for root in roots:
        if root in file.parents:
            return root
    return file.parent


def _of_directory(
    directory: Path,
    root: Path,
    found: dict[Path, tuple[Placement | None, str]],
    problems: list[Problem],
) -> tuple[Placement | None, str]:
    """The placement of the nearest ``placement.yaml`` from ``directory`` up to ``root``."""
    if directory in found:
        return found[directory]
    files = [directory / n for n in PLACEMENT_FILES if (directory / n).is_file()]
    result: tuple[Placement | None, str] = (None, "")
    if len(files) > 1:
        problems.append(
            Problem(Location(str(files[1])), "", f"{files[0].name} is beside it: keep one")
        )
    elif files:
        result = (_read(files[0], problems), str(files[0]))
    elif directory != root and root in directory.parents:
        result = _of_directory(directory.parent, root, found, problems)
    found[directory] = result
    return result


def _read(path: Path, problems: list[Problem]) -> Placement | None:
    from reconciler.loading.yamldoc import read_yaml, validate_yaml

    model, found = validate_yaml(Placement, read_yaml(path))
    problems.extend(found)
    return model
