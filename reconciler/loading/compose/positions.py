"""Where each key of a compose file was written, for messages with file:line:col.

Compose files use anchors, aliases and merge keys, which the manifest parser refuses, so they
are read here with ruamel's round-trip loader, for positions only (compose's own loader reads
the values). The walk stops at a fixed depth and node count: aliases make the document a graph,
and walking a "billion laughs" one path by path would never end.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reconciler.errors import Location

Path_ = tuple[str | int, ...]
MAX_DEPTH = 6
MAX_NODES = 20_000


def read_positions(files: Sequence[Path]) -> dict[Path_, Location]:
    """Key path -> where it was written, over ``files`` (a later file's position wins, as
    its value does when compose merges)."""
    found: dict[Path_, Location] = {}
    for path in files:
        found.update(_positions(path))
    return found


def _positions(path: Path) -> dict[Path_, Location]:
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    try:
        yaml = YAML(typ="rt")
        data = yaml.load(path.read_text(encoding="utf-8"))
    except Exception:  # compose reports what is wrong with the file; positions are a bonus
        return {}
    name = str(path)
    found: dict[Path_, Location] = {}
    budget = [MAX_NODES]

    def walk(node: Any, at: Path_) -> None:
        if len(at) >= MAX_DEPTH or budget[0] <= 0:
            return
        budget[0] -= 1
        if isinstance(node, CommentedMap):
            for key in node:
                try:
                    line, col = node.lc.key(key)
                except (KeyError, TypeError, AttributeError):
                    continue
                here = (*at, str(key))
                found.setdefault(here, Location(name, line + 1, col + 1))
                walk(node[key], here)
        elif isinstance(node, CommentedSeq):
            for index, item in enumerate(node):
                try:
                    line, col = node.lc.item(index)
                except (KeyError, TypeError, AttributeError):
                    continue
                here = (*at, index)
                found.setdefault(here, Location(name, line + 1, col + 1))
                walk(item, here)

    walk(data, ())
    return found


def locate(positions: dict[Path_, Location], path: Path_, fallback: Location) -> Location:
    """The location of ``path``, else of its nearest written ancestor, else ``fallback``."""
    for end in range(len(path), 0, -1):
        found = positions.get(tuple(path[:end]))
        if found is not None:
            return found
    return fallback
