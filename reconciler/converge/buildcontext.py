"""A build context as the builder gets it: the files of the context directory that
``.dockerignore`` leaves in (its rules read by the docker SDK, as ``docker build`` reads them),
hashed and packed the same way, so that what is hashed is exactly what is built.

The digest covers each file's path, executable bit and bytes (a symlink's target as written),
plus the Dockerfile's name, the build args, target and labels: any change rebuilds, and
nothing else does (an mtime, a file ``.dockerignore`` leaves out). File hashes are kept
between passes by (device, inode, size, mtime), so a watched context costs a stat per file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
import threading

from reconciler.values.configs import ImageBuild

MAX_CONTEXT_BYTES = 2 * 1024 * 1024 * 1024
MAX_CONTEXT_FILES = 100_000

_cache: dict[str, tuple[tuple[int, int, int, int], str]] = {}
_lock = threading.Lock()


class ContextError(Exception):
    """The context cannot be read, or is over the bounds."""


def files(context: str, dockerfile: str) -> list[str]:
    """The context's paths (relative, sorted) the builder is sent: ``.dockerignore``'s rules
    applied; the Dockerfile and ``.dockerignore`` always included, as the builder needs them."""
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


def digest(build: ImageBuild) -> str:
    """The digest of ``build``'s settings and its context's files (see the module doc)."""
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
    for rel in files(build.context, build.dockerfile):
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
            h.update(f"F {rel} {executable} {_file_digest(full, info)}\0".encode())
    return h.hexdigest()[:32]


def _file_digest(path: str, info: os.stat_result) -> str:
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
