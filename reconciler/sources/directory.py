"""Manifest sources for the loop: a directory read as one complete snapshot per pass.

Keep-last-good: a file that stops validating contributes its last valid version (its resources
stay exactly as they were) and its problems are reported until it is fixed. A file that is
invalid and was never valid in this process's life contributes nothing, and the snapshot says
so: the loop must not prune while such a file exists, since it may declare anything.

Quiet period (``settle``): a file can be valid yet incomplete, e.g. written slowly and read
while its writer pauses at a ``---``. So while a file was written less than ``settle`` seconds
ago, resources that vanished from its last good version are not taken as deleted: the file
contributes that version (less what another file now declares: a move) and nothing is pruned.
Once the file has been quiet that long, its content is taken as it is (the loop reads it again
then). Like keep-last-good, this compares with what this process has seen: a file first read
half written (the loop started during the write) has nothing to be compared with.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reconciler.errors import Problem, SourceUnavailable
from reconciler.loading import (
    FileLoad,
    LoadedManifest,
    LoadResult,
    combine,
    discover,
    is_compose_file,
    load_file,
)
from reconciler.loading.discovery import display_name
from reconciler.manifests.placement import Host
from reconciler.policy import Admission, Policy, admit
from reconciler.sources import placing


@dataclass(frozen=True)
class Snapshot:
    """The effective manifest set of one pass, and what is wrong with the source."""

    manifests: tuple[LoadedManifest, ...]
    problems: tuple[Problem, ...]
    stale_files: tuple[str, ...] = ()
    unknown_files: tuple[str, ...] = ()
    digest: str = ""
    notes: tuple[str, ...] = ()  # policy warnings and audit records
    # ``manifests`` as the source's policy admitted them (None: no policy was given).
    admission: Admission | None = None
    # Files held at their last good version within their quiet period (see the module), and
    # the wall-clock time the first of those periods ends (0 when there is none).
    settling_files: tuple[str, ...] = ()
    settle_until: float = 0.0
    # In a fleet: this host, and the resources of the set placed on other hosts.
    host: Host | None = None
    elsewhere: tuple[str, ...] = ()

    @property
    def prune_safe(self) -> bool:
        """False while some invalid file's resources are unknown, or a file may be half
        written: pruning could remove what they declare."""
        return not self.unknown_files and not self.settling_files


class ManifestSource(Protocol):
    """Where a loop's manifests come from: a directory, a git branch."""

    @property
    def description(self) -> str:
        """The source as history records it (``dir:/srv/m``, ``git:URL@SHA:path``)."""
        ...

    def read(self, *, force: bool = False) -> Snapshot:
        """The current snapshot (cheap when nothing changed); ``SourceUnavailable`` if none."""
        ...

    def refresh(self) -> None:
        """Look for news upstream (a git fetch); a no-op for a local directory."""
        ...


class DirectorySource:
    """A watched directory of manifests (top level only unless ``recursive``); ``settle`` is
    the quiet period in seconds (0: none), ``wall`` the clock file times compare with."""

    def __init__(
        self,
        directory: Path,
        *,
        recursive: bool = False,
        policy: Policy | None = None,
        settle: float = 0.0,
        wall: Callable[[], float] = time.time,
        host: Callable[[], Host] | None = None,
    ) -> None:
        self.directory = directory
        # This host in a fleet: the set is cut down to what is placed on it before the
        # policy judges it (another host's devices are that host's policy's business).
        self.host = host
        self.recursive = recursive
        self.policy = policy
        self.settle = settle
        self._wall = wall
        self._last_good: dict[Path, FileLoad] = {}
        self._gone: dict[Path, float] = {}  # file -> when it was first seen deleted
        # Per file: (size, mtime, inode), its load, and when that version was written.
        self._cache: dict[Path, tuple[tuple[int, ...], FileLoad, float]] = {}
        self._kinds: dict[Path, tuple[tuple[int, int, int], bool]] = {}
        self._previous: tuple[tuple[str, ...], Snapshot] | None = None

    @property
    def description(self) -> str:
        """``dir:`` and the directory's absolute path."""
        return f"dir:{self.directory.absolute()}"

    def refresh(self) -> None:
        """Nothing to fetch: the directory is read on every pass."""

    def read(self, *, force: bool = False) -> Snapshot:
        """The current snapshot. Raises ``SourceUnavailable`` when the directory is missing or
        unreadable: a missing source is never an empty one.

        Files whose size, mtime and inode are unchanged are not parsed again (``force``
        re-reads everything: the loop does on each resync), and an unchanged directory gives
        back the previous snapshot object.
        """
        if not self.directory.is_dir():
            raise SourceUnavailable(
                f"manifest directory {self.directory} is missing or not a directory"
            )
        stats: dict[Path, os.stat_result] = {}
        try:
            paths = discover([self.directory], recursive=self.recursive, stats=stats)
        except OSError as exc:
            raise SourceUnavailable(f"cannot read {self.directory}: {exc}") from exc
        now = self._wall()
        groups = self._compose_groups(paths, stats)
        members = {p for group in groups.values() for p in group[1:]}
        current = {
            p: self._load(p, force, now, groups.get(p), stats.get(p))
            for p in paths
            if p not in members
        }
        key = tuple(f.digest + str(f.path) for f in current.values())
        previous = self._previous
        # A snapshot with settling files is not reused: their quiet period may have ended.
        if not force and previous and previous[0] == key and not previous[1].settling_files:
            return previous[1]
        effective: dict[Path, FileLoad] = {}
        stale: set[Path] = set()
        unknown: set[Path] = set()
        settling: dict[Path, float] = {}
        for path, loaded in current.items():
            if loaded.problems:
                self._fall_back(path, effective, stale, unknown)
            else:
                effective[path] = self._settled(path, loaded, current, now, settling)
        self._hold_deleted(current, now, effective, settling)
        result, notes, selection = self._judge(list(effective.values()))
        # Cross-file problems (a dangling reference, a name declared twice) make the files they
        # point at fall back too; twice is enough, as a fallback only removes references.
        for _ in range(2):
            bad = {Path(p.location.file) for p in result.problems} & set(effective)
            if not bad:
                break
            for path in bad:
                if effective[path] is current.get(path):
                    del effective[path]
                    self._fall_back(path, effective, stale, unknown)
                else:
                    del effective[path]
                    stale.discard(path)
                    unknown.add(path)
            result, notes, selection = self._judge(list(effective.values()))
        for path, loaded in effective.items():
            if loaded is current.get(path):
                self._last_good[path] = loaded
        for gone in set(self._last_good) - set(current) - set(settling):
            del self._last_good[gone]
        for gone in set(self._cache) - set(current):
            del self._cache[gone]
        problems = {p for f in current.values() for p in f.problems}
        problems |= set(self._judge(list(current.values()))[0].problems)
        manifests = _valid(result)
        admission = None
        if self.policy is not None:
            # What is left after the fallbacks was judged with this policy and refused nothing.
            admission = Admission(manifests, policy=self.policy)
        snapshot = Snapshot(
            manifests=manifests,
            problems=tuple(sorted(problems)),
            stale_files=tuple(sorted(display_name(p) for p in stale)),
            unknown_files=tuple(sorted(display_name(p) for p in unknown)),
            digest=_digest(effective),
            notes=notes,
            admission=admission,
            settling_files=tuple(sorted(display_name(p) for p in settling)),
            settle_until=min(settling.values(), default=0.0),
            host=selection.host if selection else None,
            elsewhere=tuple(
                sorted(f"{p.item.kind}/{p.item.name}" for p in selection.elsewhere)
                if selection
                else ()
            ),
        )
        self._previous = (key, snapshot)
        return snapshot

    def _compose_groups(
        self, paths: list[Path], stats: dict[Path, os.stat_result]
    ) -> dict[Path, list[Path]]:
        """The compose projects among ``paths``, by their first file (docker compose's
        default file and its override are one project)."""
        composed = [p for p in paths if self._is_compose(p, stats.get(p))]
        if not composed:
            return {}
        from reconciler.loading.compose import group_files

        return {group[0]: group for group in group_files(composed, [])}

    def _is_compose(self, path: Path, info: os.stat_result | None) -> bool:
        if info is None:
            return False
        stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        known = self._kinds.get(path)
        if known is None or known[0] != stamp:
            known = (stamp, is_compose_file(path))
            self._kinds[path] = known
        return known[1]

    def _load(
        self,
        path: Path,
        force: bool,
        now: float,
        group: list[Path] | None = None,
        info: os.stat_result | None = None,
    ) -> FileLoad:
        """``path``'s load, parsed again only when its stat (``info``: as the listing
        found it) or a file of its compose project changed."""
        if info is None:
            return load_file(path)  # it could not be examined: reading it reports why
        stamp: tuple[int, ...] = (info.st_mtime_ns, info.st_size, info.st_ino)
        if group is not None:
            # A compose project depends on all its files and the .env beside them.
            for extra in [*group[1:], path.parent / ".env"]:
                try:
                    more = extra.stat()
                    stamp += (more.st_mtime_ns, more.st_size, more.st_ino)
                except OSError:
                    stamp += (0,)
        cached = self._cache.get(path)
        if cached is not None and cached[0] == stamp:
            if not force:
                return cached[1]
            written = cached[2]
        else:
            # An mtime in the future (a skewed clock) counts from now, so the wait is bounded.
            written = min(info.st_mtime_ns / 1e9, now)
        loaded = load_file(path) if group is None else _load_compose(group)
        self._cache[path] = (stamp, loaded, written)
        return loaded

    def _hold_deleted(
        self,
        current: dict[Path, FileLoad],
        now: float,
        effective: dict[Path, FileLoad],
        settling: dict[Path, float],
    ) -> None:
        """A file deleted less than ``settle`` seconds ago keeps its last good version (less
        what other files declare now): a pass that reads a directory while it is being
        deleted (rm -r, a checkout) must not prune what the next read finds gone anyway."""
        for path in set(self._gone) - set(self._last_good):
            del self._gone[path]
        for path in set(self._gone) & set(current):
            del self._gone[path]
        elsewhere = {i for f in current.values() for i in f.identities}
        for path, good in self._last_good.items():
            if path in current or self.settle <= 0:
                continue
            end = self._gone.setdefault(path, now) + self.settle
            kept = [m for m in good.manifests if (m.kind, m.name) not in elsewhere]
            if now >= end or not kept:
                continue
            settling[path] = end
            effective[path] = dataclasses.replace(
                good,
                manifests=tuple(kept),
                identities=tuple(i for i in good.identities if i not in elsewhere),
            )

    def _settled(
        self,
        path: Path,
        loaded: FileLoad,
        current: dict[Path, FileLoad],
        now: float,
        settling: dict[Path, float],
    ) -> FileLoad:
        """``loaded`` (a valid file), unless it is within its quiet period and resources
        vanished from it: then its last good version, less what other files declare now."""
        cached = self._cache.get(path)
        end = (cached[2] if cached is not None else now) + self.settle
        good = self._last_good.get(path)
        if good is None or now >= end:
            return loaded
        elsewhere = {i for p, f in current.items() if p != path for i in f.identities}
        if not set(good.identities) - set(loaded.identities) - elsewhere:
            return loaded
        settling[path] = end
        return dataclasses.replace(
            good,
            manifests=tuple(m for m in good.manifests if (m.kind, m.name) not in elsewhere),
            identities=tuple(i for i in good.identities if i not in elsewhere),
        )

    def _judge(
        self, files: list[FileLoad]
    ) -> tuple[LoadResult, tuple[str, ...], placing.Selection | None]:
        """The files as one set, cut down to this host's selection, admitted by the policy:
        refused manifests and placement mistakes become problems of their files (which then
        keep their last good version), bind sources are resolved."""
        result = combine(files)
        selection = None
        if self.host is not None:
            selection = placing.select(result.manifests, self.host, [self.directory])
            result = dataclasses.replace(
                result,
                manifests=selection.manifests,
                problems=tuple(sorted({*result.problems, *selection.problems})),
            )
        if self.policy is None:
            return result, (), selection
        admission = admit(result.manifests, self.policy)
        notes = tuple(f"policy ({v.mode}): {v}" for v in (*admission.warned, *admission.audited))
        judged = dataclasses.replace(
            result,
            manifests=admission.manifests,
            problems=tuple(sorted({*result.problems, *admission.problems()})),
        )
        return judged, notes, selection

    def _fall_back(
        self, path: Path, effective: dict[Path, FileLoad], stale: set[Path], unknown: set[Path]
    ) -> None:
        good = self._last_good.get(path)
        if good is not None:
            effective[path] = good
            stale.add(path)
        else:
            unknown.add(path)


def _load_compose(group: list[Path]) -> FileLoad:
    from reconciler.loading.compose import load_group

    done = load_group(group)
    return FileLoad(group[0], done.manifests, done.problems, done.identities, done.digest)


def _valid(result: LoadResult) -> tuple[LoadedManifest, ...]:
    bad = {p.location.file for p in result.problems}
    return tuple(m for m in result.manifests if m.location.file not in bad)


def _digest(files: dict[Path, FileLoad]) -> str:
    content = "\n".join(sorted(f.digest for f in files.values()))
    return hashlib.sha256(content.encode()).hexdigest()[:16]
