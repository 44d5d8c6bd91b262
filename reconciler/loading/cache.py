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

import contextlib
import functools
import hashlib
import os
import pickle
import stat
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from reconciler.errors import Location
from reconciler.loading.results import LoadedManifest

CACHE_NAME = "load-cache.pickle"
FORMAT = 2
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
        cache = cls(path, running_code_fingerprint(), _trusted(directory))
        if not cache.trusted:
            return cache
        try:
            with path.open("rb") as handle:
                if not _safe_file(os.fstat(handle.fileno())):
                    cache.trusted = False
                    return cache
                body = pickle.load(handle)
        except Exception:  # missing, torn or foreign: a cold load, never a failure
            return cache
        if (
            isinstance(body, dict)
            and body.get("format") == FORMAT
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
        body = {"format": FORMAT, "fingerprint": self.fingerprint, "entries": self.entries}
        tmp = self.path.with_name(f".{CACHE_NAME}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                pickle.dump(body, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.path)
            self._dirty = False
        except Exception:
            with contextlib.suppress(OSError):
                tmp.unlink()


@functools.cache
def running_code_fingerprint() -> str:
    """The fingerprint of the code this process runs: taken once, when first asked (before
    any file changed, for a process that imported everything at start, like the server)."""
    return code_fingerprint()


def code_fingerprint() -> str:
    """A digest of the code whose output is cached: this package's modules, pydantic, Python
    (as they are on disk now)."""
    import pydantic.version

    package = Path(__file__).resolve().parent.parent
    parts = [f"format={FORMAT}", sys.version, pydantic.version.VERSION]
    for module in sorted(package.rglob("*.py")):
        info = module.stat()
        parts.append(f"{module.relative_to(package)}:{info.st_size}:{info.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _key(path: Path) -> str:
    return f"{path}\0{os.path.abspath(path)}"


def _revive(item: _Stored) -> LoadedManifest:
    manifest, location, positions, document = item
    loaded = LoadedManifest(manifest, location, MappingProxyType(positions))
    vars(loaded)["document"] = document  # the cached_property's slot, filled as computed then
    return loaded


def _safe_file(info: os.stat_result) -> bool:
    return info.st_uid in (os.geteuid(), 0) and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _trusted(directory: Path) -> bool:
    try:
        return _safe_file(directory.stat())
    except OSError:
        return False
