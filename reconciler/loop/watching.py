"""File-system watching of a manifest directory: the only module that imports watchdog.

A file event is only a hint that the directory may have changed: the loop reloads the whole
directory after a quiet period (debounce), so half-written saves, editor swap files and atomic
rename saves collapse into one pass. Events about files the loader ignores are dropped here.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from reconciler.loading.discovery import SUFFIXES, is_ignored


def relevant(path: str) -> bool:
    """True for paths whose change can change the manifest set (a compose project's ``.env``
    included)."""
    name = os.path.basename(path)
    return name == ".env" or (name.endswith(SUFFIXES) and not is_ignored(name))


class _Handler(FileSystemEventHandler):
    def __init__(self, directory: str, poke: Callable[[str], None]) -> None:
        self._directory = directory
        self._poke = poke

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        paths = [str(event.src_path), str(getattr(event, "dest_path", "") or "")]
        if event.is_directory:
            # The watched directory itself moving or vanishing makes the source unavailable.
            if any(p.rstrip("/") == self._directory for p in paths if p):
                self._poke(event.event_type)
            return
        if any(relevant(p) for p in paths if p):
            self._poke(event.event_type)


class DirectoryWatcher:
    """Calls ``poke`` (from a watchdog thread) whenever a manifest file may have changed."""

    def __init__(
        self, directory: Path, poke: Callable[[str], None], *, recursive: bool = False
    ) -> None:
        self.directory = directory
        self._poke = poke
        self._recursive = recursive
        self._observer: Observer | None = None  # type: ignore[valid-type]
        self._lock = threading.Lock()

    @property
    def watching(self) -> bool:
        """True while a watch is active."""
        return self._observer is not None

    def start(self) -> bool:
        """Start watching; False when the directory cannot be watched (it is missing)."""
        with self._lock:
            if self._observer is not None:
                return True
            if not self.directory.is_dir():
                return False
            observer = Observer()
            handler = _Handler(str(self.directory).rstrip("/"), self._poke)
            try:
                observer.schedule(handler, str(self.directory), recursive=self._recursive)
                observer.start()
            except OSError:
                return False
            self._observer = observer
            return True

    def stop(self) -> None:
        """Stop watching (idempotent)."""
        with self._lock:
            observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)


class _PathsHandler(FileSystemEventHandler):
    def __init__(self, paths: frozenset[str], poke: Callable[[str], None]) -> None:
        self._paths = paths
        self._poke = poke

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        for path in (str(event.src_path), str(getattr(event, "dest_path", "") or "")):
            if path and any(path == p or path.startswith(p.rstrip("/") + "/") for p in self._paths):
                self._poke("input")
                return


class InputWatcher:
    """Watches the host files containers take their inputs from (env files, secret files,
    configuration binds, anywhere on the host): a change pokes the loop like a manifest file
    does. Each path is watched through its parent directory, so a file replaced by an
    editor's rename is seen too; a directory is watched recursively."""

    def __init__(self, poke: Callable[[str], None]) -> None:
        self._poke = poke
        self._paths: frozenset[str] = frozenset()
        self._observer: Observer | None = None  # type: ignore[valid-type]
        self._lock = threading.Lock()

    def watch(self, paths: frozenset[str]) -> None:
        """Watch exactly ``paths`` from now on (a no-op when they did not change)."""
        with self._lock:
            if paths == self._paths and (self._observer is not None or not paths):
                return
            self._stop_locked()
            self._paths = paths
            if not paths:
                return
            observer = Observer()
            handler = _PathsHandler(paths, self._poke)
            roots = {os.path.dirname(p.rstrip("/")) or "/" for p in paths}
            roots |= {p for p in paths if os.path.isdir(p)}
            for root in sorted(roots):
                try:
                    observer.schedule(
                        handler, root, recursive=os.path.isdir(root) and root in paths
                    )
                except OSError:
                    continue  # a missing directory: the next pass reports the missing file
            try:
                observer.start()
            except OSError:
                return
            self._observer = observer

    def stop(self) -> None:
        """Stop watching (idempotent)."""
        with self._lock:
            self._stop_locked()
            self._paths = frozenset()

    def _stop_locked(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)
