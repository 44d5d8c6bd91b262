"""Pickled files a command keeps in the state directory between runs (the load cache, the
inspect cache): read only when they and their directory belong to this user (or root) and
nobody else may write them, written atomically and 0600, and never a reason to fail.

A pickle runs code when it is read, so a file anyone else could have written is ignored.
They are sealed with the state directory's key (``sealing``, as the revision history's env
values are): the inspect cache holds containers' environments, secrets from encrypted env
files included, which must never sit on disk in clear.

A warm server (``cli/server.py``) ``hold``s these files: it reads each once per change of the
file, and the commands it forks find the body in memory. A held body is given only while the
file on disk is the very one it was read from (device, inode, size, modification and change
times, owner and mode, taken from the open file that was read) and still trusted; files are
replaced by rename, so any write makes a new inode. The process that holds never reads its
own held bodies: its forked children do, each on its own copy-on-write pages.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import stat
from pathlib import Path

from reconciler.state.sealing import Sealer


def trusted_directory(directory: Path) -> bool:
    """Whether files in ``directory`` may be trusted (see the module docstring)."""
    try:
        return _safe(directory.stat())
    except OSError:
        return False


# path -> (the identity of the file read, its body): see ``hold``.
_HELD: dict[Path, tuple[tuple[int, ...], object]] = {}


def read(path: Path) -> tuple[bool, object | None]:
    """(trusted, body): whether ``path`` may be read and written by this user alone (see the
    module docstring), and what it holds (None when missing, untrusted, torn or foreign)."""
    if not trusted_directory(path.parent):
        return False, None
    held = _HELD.get(path)
    if held is not None:
        try:
            info = os.stat(path)
        except OSError:
            info = None
        if info is not None and _safe(info) and _identity(info) == held[0]:
            return True, held[1]
    trusted, body, _ = _read(path)
    return trusted, body


def hold(paths: list[Path]) -> None:
    """Keep the bodies of ``paths`` in memory for the commands this process forks (see the
    module docstring): a file changed since it was held is read again, one gone or no longer
    trusted (it or its directory) is let go. Two stats per file when nothing changed."""
    for path in paths:
        held = _HELD.pop(path, None)
        try:
            info = os.stat(path)
        except OSError:
            continue
        if not trusted_directory(path.parent):
            continue
        if held is not None and _identity(info) == held[0]:
            _HELD[path] = held
            continue
        trusted, body, identity = _read(path)
        if trusted and body is not None and identity is not None:
            _HELD[path] = (identity, body)


def held() -> list[Path]:
    """The paths whose bodies this process holds."""
    return list(_HELD)


def _read(path: Path) -> tuple[bool, object | None, tuple[int, ...] | None]:
    """``read`` from the disk, with the identity of the file it read (None when none)."""
    try:
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            if not _safe(info):
                return False, None, None
            token = handle.read()
        body: object = pickle.loads(Sealer(path.parent).open_bytes(token))
    except Exception:  # missing, torn or foreign: as if there were none
        return True, None, None
    return True, body, _identity(info)


def _identity(info: os.stat_result) -> tuple[int, ...]:
    return (
        info.st_dev,
        info.st_ino,
        info.st_size,
        info.st_mtime_ns,
        info.st_ctime_ns,
        info.st_mode,
        info.st_uid,
    )


def write(path: Path, body: object) -> bool:
    """Replace ``path`` with ``body`` atomically (0600); False when that failed (a full disk,
    something that does not pickle, an untrusted directory), leaving the old file."""
    if not trusted_directory(path.parent):
        return False
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        data = Sealer(path.parent).seal_bytes(pickle.dumps(body, pickle.HIGHEST_PROTOCOL))
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(fd, 0o600)  # whatever the umask took from it
            handle.write(data)
        os.replace(tmp, path)
    except Exception:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return False
    return True


def _safe(info: os.stat_result) -> bool:
    return info.st_uid in (os.geteuid(), 0) and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
