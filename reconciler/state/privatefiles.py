"""Pickled files a command keeps in the state directory between runs (the load cache, the
inspect cache): read only when they and their directory belong to this user (or root) and
nobody else may write them, written atomically and 0600, and never a reason to fail.

A pickle runs code when it is read, so a file anyone else could have written is ignored.
They are sealed with the state directory's key (``sealing``, as the revision history's env
values are): the inspect cache holds containers' environments, secrets from encrypted env
files included, which must never sit on disk in clear.
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


def read(path: Path) -> tuple[bool, object | None]:
    """(trusted, body): whether ``path`` may be read and written by this user alone (see the
    module docstring), and what it holds (None when missing, untrusted, torn or foreign)."""
    if not trusted_directory(path.parent):
        return False, None
    try:
        with path.open("rb") as handle:
            if not _safe(os.fstat(handle.fileno())):
                return False, None
            token = handle.read()
        body: object = pickle.loads(Sealer(path.parent).open_bytes(token))
    except Exception:  # missing, torn or foreign: as if there were none
        return True, None
    return True, body


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
