"""Checks that need the whole set of manifests: unique names, references, dependency cycles.

Pure functions over loaded manifests; every problem points at the reference that is wrong.
Ordering edges come from ``dependsOn`` and from ``networkMode``/``pidMode``/``ipcMode``
``container:NAME`` (a container joining another's namespace needs that one running first), so a
cycle through either cannot be started in any order.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterator, Sequence
from typing import TYPE_CHECKING

from reconciler.errors import Problem
from reconciler.loading.results import format_path
from reconciler.manifests import ContainerManifest

if TYPE_CHECKING:
    from reconciler.loading.results import FieldPath, LoadedManifest

_NAMESPACE_FIELDS = ("networkMode", "pidMode", "ipcMode")


def check(
    manifests: Sequence[LoadedManifest], *, defined: Collection[tuple[str, str]] = ()
) -> list[Problem]:
    """Every cross-document problem of the set, sorted.

    ``defined`` lists ``(kind, name)`` of documents that name a resource but failed validation:
    references to them are not reported again as dangling.
    """
    problems = _duplicates(manifests)
    names: dict[str, set[str]] = {}
    for item in manifests:
        names.setdefault(item.kind, set()).add(item.name)
    for kind, name in defined:
        names.setdefault(kind, set()).add(name)
    containers = [m for m in manifests if isinstance(m.manifest, ContainerManifest)]
    for item in containers:
        for kind, name, path in references(item):
            if kind == "Container" and name == item.name:
                problems.append(_at(item, path, "a container cannot depend on itself"))
            elif name not in names.get(kind, set()) and not _optional(item, path):
                problems.append(_at(item, path, _dangling(kind, name, names.get(kind, set()))))
    problems.extend(_cycles(containers))
    return sorted(problems)


def _optional(item: LoadedManifest, path: FieldPath) -> bool:
    """A dependsOn entry with ``required: false``: it may name a container the set leaves out."""
    if path[:2] != ("spec", "dependsOn"):
        return False
    assert isinstance(item.manifest, ContainerManifest) and isinstance(path[2], int)
    return not item.manifest.spec.depends_on[path[2]].required


def _at(item: LoadedManifest, path: FieldPath, message: str) -> Problem:
    return Problem(item.locate(*path), format_path(path), message)


def _duplicates(manifests: Sequence[LoadedManifest]) -> list[Problem]:
    first: dict[tuple[str, str], LoadedManifest] = {}
    problems = []
    for item in sorted(manifests, key=lambda m: m.location):
        key = (item.kind, item.name)
        if key in first:
            earlier = first[key].locate("metadata", "name")
            problems.append(
                _at(
                    item,
                    ("metadata", "name"),
                    f"{item.kind} {item.name!r} is defined twice: at {earlier} and at "
                    f"{item.locate('metadata', 'name')}; names must be unique per kind",
                )
            )
        else:
            first[key] = item  # located only if a second one comes
    return problems


def references(item: LoadedManifest) -> Iterator[tuple[str, str, FieldPath]]:
    """(kind, name, field path) of every resource a container refers to."""
    spec = item.manifest.spec
    assert isinstance(item.manifest, ContainerManifest)
    for i, mount in enumerate(item.manifest.spec.mounts):
        if mount.type == "volume" and mount.source is not None:
            yield "Volume", mount.source, ("spec", "mounts", i, "source")
    for i, network in enumerate(item.manifest.spec.networks):
        yield "Network", network.name, ("spec", "networks", i)
    for i, dependency in enumerate(item.manifest.spec.depends_on):
        yield "Container", dependency.name, ("spec", "dependsOn", i)
    for field in _NAMESPACE_FIELDS:
        mode = getattr(spec, _snake(field))
        if isinstance(mode, str) and mode.startswith("container:"):
            yield "Container", mode.removeprefix("container:"), ("spec", field)


def _snake(alias: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in alias)


def _dangling(kind: str, name: str, known: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"no {kind} named {name!r} is defined in these manifests{hint}"


def _cycles(containers: Sequence[LoadedManifest]) -> list[Problem]:
    """One problem per dependency cycle, named in order, reported on its first container."""
    by_name = {c.name: c for c in containers}
    edges: dict[str, list[tuple[str, FieldPath]]] = {}
    for item in containers:
        edges[item.name] = sorted(
            (name, path)
            for kind, name, path in references(item)
            if kind == "Container" and name in by_name and name != item.name
        )
    problems: list[Problem] = []
    seen_cycles: set[frozenset[str]] = set()
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    stack: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for target, _ in edges[name]:
            if state.get(target) == 1:
                cycle = stack[stack.index(target) :]
                if frozenset(cycle) not in seen_cycles:
                    seen_cycles.add(frozenset(cycle))
                    problems.append(_cycle_problem(by_name, cycle, edges))
            elif target not in state:
                visit(target)
        stack.pop()
        state[name] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name)
    return problems


def _cycle_problem(
    by_name: dict[str, LoadedManifest],
    cycle: list[str],
    edges: dict[str, list[tuple[str, FieldPath]]],
) -> Problem:
    # Start the cycle at its smallest name so the message does not depend on visiting order.
    start = cycle.index(min(cycle))
    cycle = cycle[start:] + cycle[:start]
    head = by_name[cycle[0]]
    path = next(p for target, p in edges[cycle[0]] if target == cycle[1 % len(cycle)])
    chain = " -> ".join([*cycle, cycle[0]])
    return _at(head, path, f"dependency cycle: {chain}; no start order can satisfy it")
