"""What loading produces: manifests with their positions, and every problem found."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from reconciler.errors import Location, ManifestError, Problem
from reconciler.manifests import Manifest

FieldPath = tuple[str | int, ...]


def format_path(path: FieldPath) -> str:
    """A field path as people write it: ``spec.mounts[0].source``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", part) or part.startswith("<"):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


@dataclass(frozen=True)
class LoadedManifest:
    """A valid manifest and where each of its parts was written.

    ``positions`` maps alias field paths such as ``('spec', 'mounts', 0, 'source')`` to the
    location of the key (or of the list item); ``location`` is the document's ``kind`` key.
    """

    manifest: Manifest
    location: Location
    positions: Mapping[FieldPath, Location] = field(default_factory=dict)

    def locate(self, *path: str | int) -> Location:
        """The location of ``path``, else of its nearest ancestor that was written down."""
        for end in range(len(path), 0, -1):
            found = self.positions.get(tuple(path[:end]))
            if found is not None:
                return found
        return self.location

    @cached_property
    def document(self) -> dict[str, Any]:
        """The manifest as the JSON document a revision keeps (aliases, defaults left out),
        computed once: the load cache stores it, so a cached load never serializes."""
        return self.manifest.model_dump(by_alias=True, mode="json", exclude_defaults=True)

    @property
    def kind(self) -> str:
        """The manifest's kind (``Container``, ``Volume``, ``Network``)."""
        return self.manifest.kind

    @property
    def name(self) -> str:
        """The manifest's ``metadata.name``."""
        return self.manifest.metadata.name


@dataclass(frozen=True)
class LoadResult:
    """The outcome of loading a set of files: the valid manifests and every problem, sorted.

    A document with problems is absent from ``manifests``; callers that act on the result
    (apply, the watch loop) must treat any problem in a file as "keep that file's last good
    state", never as "that file's resources are gone".
    """

    files: tuple[Path, ...]
    manifests: tuple[LoadedManifest, ...]
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def problems_by_file(self) -> dict[str, list[Problem]]:
        """Problems grouped by file name, in file order."""
        grouped: dict[str, list[Problem]] = {}
        for problem in self.problems:
            grouped.setdefault(problem.location.file, []).append(problem)
        return grouped

    def raise_for_problems(self) -> None:
        """Raise ``ManifestError`` with every problem, if there is any."""
        if self.problems:
            raise ManifestError(list(self.problems))
