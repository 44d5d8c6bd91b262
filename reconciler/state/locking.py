"""A per-project lock in the state directory, so two reconcilers never act on one set at once."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reconciler.errors import LockHeld, StateError
from reconciler.state.privatedir import DIRECTORY_MODE, FILE_MODE, state_directory
from reconciler.state.statedir import LOCKS_NAME


@contextmanager
def project_lock(state_dir: Path, project: str, purpose: str) -> Iterator[None]:
    """Hold the lock of ``project`` for the block, or raise ``LockHeld`` naming the holder.

    An advisory ``flock``: the kernel releases it when the holder dies, so a killed process
    never leaves a stale lock behind.
    """
    # Its warnings are not repeated here: commands open the state (State.open) first, and it
    # reports them. What is left is making a missing directory private, and refusing one.
    state_directory(state_dir)
    locks = state_dir / LOCKS_NAME
    try:
        locks.mkdir(exist_ok=True, mode=DIRECTORY_MODE)
        os.chmod(locks, DIRECTORY_MODE)  # whatever the umask made it
        fd = _open_private(locks / f"{project}.lock")
    except OSError as exc:
        raise StateError(f"cannot open the lock file in {locks}: {exc}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            raise LockHeld(
                f'project "{project}" is locked by {holder}; wait for it to finish or stop it'
            ) from None
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "purpose": purpose,
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield
    finally:
        os.close(fd)


def _open_private(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # whatever the umask, or an older version, made it
    except OSError:
        os.close(fd)
        raise
    return fd


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {info['pid']} ({info['purpose']}, since {info['since']})"
    except (ValueError, KeyError, OSError):
        return "another process"
