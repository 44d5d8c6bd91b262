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


@contextmanager
def project_lock(state_dir: Path, project: str, purpose: str) -> Iterator[None]:
    """Hold the lock of ``project`` for the block, or raise ``LockHeld`` naming the holder.

    An advisory ``flock``: the kernel releases it when the holder dies, so a killed process
    never leaves a stale lock behind.
    """
    locks = state_dir / "locks"
    try:
        locks.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(locks / f"{project}.lock", os.O_RDWR | os.O_CREAT, 0o600)
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


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {info['pid']} ({info['purpose']}, since {info['since']})"
    except (ValueError, KeyError, OSError):
        return "another process"
