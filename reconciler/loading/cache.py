"""Validated manifest files kept between commands, so an unchanged file is not validated again.

A command's start-up is mostly library work: building pydantic's validators (~150 ms) and
importing ruamel (~50 ms) cost more than reading, parsing and validating 50 small files. When
a file's bytes are exactly those of a file that loaded cleanly before, under the same code, its
``FileLoad`` is taken from here and neither is needed.

There is one entry per file, keyed by the path as given and its absolute path (relative bind
sources are resolved against it), used only while the file's SHA-256 is the one stored (a
changed file replaces its entry), and the whole cache is keyed by a fingerprint of the
code that validates: every module of this package (name, size, mtime), pydantic's version and
Python's. Only files without problems are kept, so an error message always comes from a real
validation. Everything after loading (cross-file checks, policy admission, planning against
the live Engine) runs every time.

The cache is a pickle, so it is read only when it and its directory belong to this user (or
root) and nobody else may write them; otherwise, and on any error, the load is simply cold.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from reconciler.errors import Location
from reconciler.loading.results import LoadedManifest
from reconciler.state import codeversion, privatefiles

CACHE_NAME = "load-cache.pickle"
FORMAT = 3
MAX_ENTRIES = 4096

# One stored manifest: the model, its location, its field positions, its revision document.
_Stored = tuple[Any, Location, dict[Any, Location], dict[str, Any]]


@dataclass(frozen=True)
class CachedFile:
    """What the cache keeps of a file that loaded without problems."""

    manifests: tuple[LoadedManifest, ...]
    identities: tuple[tuple[str, str], ...]


@dataclass
class LoadCache:
    """The cache file of one state directory (see the module docstring)."""

    path: Path
    fingerprint: str
    trusted: bool
    # One entry per file (path as given + absolute path): its digest, when it was stored, and
    # what it loaded to. A changed file replaces its entry, so the cache never outgrows the set.
    entries: dict[str, tuple[str, float, tuple[_Stored, ...], tuple[tuple[str, str], ...]]] = field(
        default_factory=dict
    )
    hits: int = 0
    misses: int = 0
    _dirty: bool = False

    @classmethod
    def open(cls, directory: Path) -> LoadCache:
        """The cache in ``directory`` (empty if missing, stale, untrusted or unreadable)."""
        path = directory / CACHE_NAME
        fingerprint = f"{FORMAT}:{codeversion.running_code_fingerprint()}"
        trusted, body = privatefiles.read(path)
        cache = cls(path, fingerprint, trusted)
        if (
            isinstance(body, dict)
            and body.get("fingerprint") == cache.fingerprint
            and isinstance(body.get("entries"), dict)
        ):
            cache.entries = body["entries"]
        return cache

    def get(self, path: Path, digest: str) -> CachedFile | None:
        """The cached load of ``path`` if its bytes hash to ``digest``."""
        entry = self.entries.get(_key(path))
        if entry is None or entry[0] != digest:
            self.misses += 1
            return None
        self.hits += 1
        _, _, stored, identities = entry
        return CachedFile(tuple(_revive(item) for item in stored), identities)

    def put(
        self,
        path: Path,
        digest: str,
        manifests: tuple[LoadedManifest, ...],
        identities: tuple[tuple[str, str], ...],
    ) -> None:
        """Remember a file that loaded without problems."""
        stored = tuple((m.manifest, m.location, dict(m.positions), m.document) for m in manifests)
        self.entries[_key(path)] = (digest, time.time(), stored, identities)
        self._dirty = True

    def save(self) -> None:
        """Write the cache if a file was added (atomically). Nothing here may fail a command:
        an error (a full disk, something that does not pickle) leaves the old cache."""
        if not (self._dirty and self.trusted):
            return
        if len(self.entries) > MAX_ENTRIES:
            newest = sorted(self.entries.items(), key=lambda kv: kv[1][1])[-MAX_ENTRIES:]
            self.entries = dict(newest)
        body = {"fingerprint": self.fingerprint, "entries": self.entries}
        if privatefiles.write(self.path, body):
            self._dirty = False


def _key(path: Path) -> str:
    return f"{path}\0{os.path.abspath(path)}"


def _revive(item: _Stored) -> LoadedManifest:
    manifest, location, positions, document = item
    loaded = LoadedManifest(manifest, location, MappingProxyType(positions))
    vars(loaded)["document"] = document  # the cached_property's slot, filled as computed then
    return loaded
