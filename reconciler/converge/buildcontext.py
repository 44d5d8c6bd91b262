"""A build context as the builder gets it: the files of the context directory that
``.dockerignore`` leaves in (its rules read by the docker SDK, as ``docker build`` reads them),
hashed and packed the same way, so that what is hashed is exactly what is built.

The digest covers each file's path, executable bit and bytes (a symlink's target as written),
plus the Dockerfile's name, the build args, target and labels: any change rebuilds, and
nothing else does (an mtime, a file ``.dockerignore`` leaves out). File hashes are kept
between passes by (device, inode, size, mtime), so a watched context costs a stat per file.

A ``Remembered`` cache (in the state directory) keeps, across commands, each context's file
list by the shape of its tree (every entry's path and type, ``.dockerignore``'s text and the
Dockerfile's name) and each file's hash: a command whose contexts did not change neither
reads their files nor imports the docker SDK (~0.1 s of a fresh process).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
import threading
from pathlib import Path

from reconciler.state import privatefiles
from reconciler.values.configs import ImageBuild

MAX_CONTEXT_BYTES = 2 * 1024 * 1024 * 1024
MAX_CONTEXT_FILES = 100_000

StatKey = tuple[int, int, int, int]
_cache: dict[str, tuple[StatKey, str]] = {}
_lists: dict[str, tuple[str, list[str]]] = {}  # context -> (tree shape, files sent)
_lock = threading.Lock()
_REMEMBERED_VERSION = 1


class Remembered:
    """File lists and hashes of build contexts kept in a private file between commands."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._loaded = False
        self._changed = False

    def load(self) -> None:
        """Merge what the file holds into the process's caches (once)."""
        if self._loaded or self.path is None:
            return
        self._loaded = True
        _, body = privatefiles.read(self.path)
        if not isinstance(body, dict) or body.get("version") != _REMEMBERED_VERSION:
            return
        with _lock:
            for key, value in body.get("lists", {}).items():
                _lists.setdefault(key, value)
            for key, value in body.get("files", {}).items():
                _cache.setdefault(key, value)

    def changed(self) -> None:
        self._changed = True

    def save(self, contexts: list[str]) -> None:
        """Keep what belongs to ``contexts`` (what this pass used), when anything changed."""
        if self.path is None or not self._changed:
            return
        with _lock:
            lists = {c: _lists[c] for c in contexts if c in _lists}
            names = {os.path.join(c, rel) for c, (_, rels) in lists.items() for rel in rels}
            files = {p: v for p, v in _cache.items() if p in names}
        privatefiles.write(
            self.path, {"version": _REMEMBERED_VERSION, "lists": lists, "files": files}
        )
        self._changed = False


class ContextError(Exception):
    """The context cannot be read, or is over the bounds."""


def files(context: str, dockerfile: str, remembered: Remembered | None = None) -> list[str]:
    """The context's paths (relative, sorted) the builder is sent: ``.dockerignore``'s rules
    applied; the Dockerfile and ``.dockerignore`` always included, as the builder needs them.
    Taken from the caches while the tree's shape is unchanged."""
    shape = _shape(context, dockerfile)
    with _lock:
        known = _lists.get(context)
    if known is not None and known[0] == shape:
        return list(known[1])
    found = _files(context, dockerfile)
    with _lock:
        _lists[context] = (shape, found)
    if remembered is not None:
        remembered.changed()
    return found


def _shape(context: str, dockerfile: str) -> str:
    """A digest of what decides the file list: every entry's path and type, the
    ``.dockerignore`` text, the Dockerfile's name."""
    h = hashlib.sha256(f"{dockerfile}\0".encode())
    try:
        with open(os.path.join(context, ".dockerignore"), "rb") as handle:
            h.update(handle.read(1 << 20))
    except OSError:
        h.update(b"\0no-ignore")
    count = 0
    for root, dirs, names in os.walk(context, followlinks=False):
        dirs.sort()
        rel = os.path.relpath(root, context)
        h.update(f"D {rel}\0".encode())
        for name in sorted(names):
            h.update(f"F {rel}/{name}\0".encode())
        count += len(names) + len(dirs)
        if count > MAX_CONTEXT_FILES:
            raise ContextError(
                f"the build context {context} holds more than {MAX_CONTEXT_FILES} files"
            )
    return h.hexdigest()


def _files(context: str, dockerfile: str) -> list[str]:
    if not os.path.isdir(context):
        raise ContextError(f"the build context {context} is not a directory")
    dockerfile_path = os.path.join(context, dockerfile)
    if not os.path.isfile(dockerfile_path):
        raise ContextError(f"the build context {context} has no {dockerfile}")
    patterns: list[str] = []
    ignore = os.path.join(context, ".dockerignore")
    if os.path.isfile(ignore):
        with open(ignore, encoding="utf-8", errors="replace") as handle:
            patterns = [
                line.strip()
                for line in handle.read().splitlines()
                if line.strip() and not line.strip().startswith("#")
            ]
    try:
        from docker.utils.build import exclude_paths

        kept = set(exclude_paths(context, patterns, dockerfile=dockerfile))
    except OSError as exc:
        raise ContextError(f"cannot read the build context {context}: {exc}") from None
    kept.add(dockerfile)
    if os.path.isfile(ignore):
        kept.add(".dockerignore")
    if len(kept) > MAX_CONTEXT_FILES:
        raise ContextError(f"the build context {context} holds more than {MAX_CONTEXT_FILES} files")
    return sorted(kept)


def digest(build: ImageBuild, remembered: Remembered | None = None) -> str:
    """The digest of ``build``'s settings and its context's files (see the module doc)."""
    if not os.path.isdir(build.context):
        raise ContextError(f"the build context {build.context} is not a directory")
    if not os.path.isfile(os.path.join(build.context, build.dockerfile)):
        raise ContextError(f"the build context {build.context} has no {build.dockerfile}")
    if remembered is not None:
        remembered.load()
    h = hashlib.sha256()
    settings = {
        "dockerfile": build.dockerfile,
        "args": sorted(build.args),
        "target": build.target,
        "labels": sorted(build.labels),
        "platform": build.platform,
    }
    h.update(json.dumps(settings, sort_keys=True).encode() + b"\0")
    total = 0
    for rel in files(build.context, build.dockerfile, remembered):
        full = os.path.join(build.context, rel)
        try:
            info = os.lstat(full)
        except OSError as exc:
            raise ContextError(f"cannot read {full}: {exc.strerror or exc}") from None
        if stat.S_ISLNK(info.st_mode):
            h.update(f"L {rel}\0{os.readlink(full)}\0".encode())
        elif stat.S_ISDIR(info.st_mode):
            h.update(f"D {rel}\0".encode())
        elif stat.S_ISREG(info.st_mode):
            total += info.st_size
            if total > MAX_CONTEXT_BYTES:
                raise ContextError(
                    f"the build context {build.context} holds more than {MAX_CONTEXT_BYTES} bytes"
                )
            executable = "x" if info.st_mode & 0o111 else "-"
            h.update(f"F {rel} {executable} {_file_digest(full, info, remembered)}\0".encode())
    return h.hexdigest()[:32]


def _file_digest(path: str, info: os.stat_result, remembered: Remembered | None) -> str:
    key = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
    with _lock:
        known = _cache.get(path)
    if known is not None and known[0] == key:
        return known[1]
    h = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise ContextError(f"cannot read {path}: {exc.strerror or exc}") from None
    found = h.hexdigest()
    with _lock:
        _cache[path] = (key, found)
    if remembered is not None:
        remembered.changed()
    return found


def archive(build: ImageBuild) -> bytes:
    """The context as the tar the Engine's ``/build`` takes (owners and times left out)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for rel in files(build.context, build.dockerfile):
            full = os.path.join(build.context, rel)
            entry = tar.gettarinfo(full, arcname=rel)
            entry.uid = entry.gid = 0
            entry.uname = entry.gname = ""
            entry.mtime = 0
            if entry.isreg():
                with open(full, "rb") as handle:
                    tar.addfile(entry, handle)
            else:
                tar.addfile(entry)
    return out.getvalue()
