"""The SQLite file of the state: telling corruption, the one reason to move a database aside,
from everything else that can go wrong with it, and saying what to do about the rest.

A database another process holds, on a full disk, read-only, or failing to read is not
damaged: moving it aside would throw away every project's inventory, history, pins, events
and the key of the config-hash labels for a failure that goes away. Those are StateErrors
that leave the files as they are. What SQLite itself calls corruption ("file is not a
database", "database disk image is malformed") and what its quick check finds is moved
aside, together with the -wal and -shm that belong to it: a WAL left next to a new, empty
database would be read into it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reconciler.errors import StateError

# How long a command waits for another process's write transaction before giving up.
BUSY_TIMEOUT = 30.0
COMPANIONS = ("-wal", "-shm")

_CORRUPT = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
# Failures of the file, the disk or the system rather than of our SQL: they are reported as
# StateErrors wherever they happen; any other error of a statement is a bug, and stays one.
_ENVIRONMENT = (
    _CORRUPT
    | _BUSY
    | {
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PERM,
        sqlite3.SQLITE_NOLFS,
        sqlite3.SQLITE_PROTOCOL,
    }
)


class Corrupt(StateError):
    """SQLite found the database damaged (see the module docstring)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.reason = "; ".join(reason.splitlines())
        self.moved: list[str] = []  # where its files went, once moved aside
        super().__init__(f"state database {path} is damaged ({self.reason})")


def _code(exc: sqlite3.Error) -> int | None:
    # Errors the sqlite3 module raises itself (a value it cannot bind) carry no SQLite code.
    code: int | None = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF  # the primary code of an extended one


def state_error(exc: sqlite3.Error, path: Path, timeout: float) -> StateError:
    """What ``exc`` means for the user of the database at ``path``."""
    code = _code(exc)
    if code in _CORRUPT:
        return Corrupt(path, str(exc))
    if code in _BUSY:
        tail = (
            f"is locked: another process has held it for more than {timeout:g}s; try again "
            "when it is done"
        )
    elif code == sqlite3.SQLITE_FULL or (code == sqlite3.SQLITE_IOERR and _disk_full(path)):
        tail = f"cannot be written: the disk is full ({exc}); free some space and try again"
    elif code == sqlite3.SQLITE_READONLY:
        tail = f"cannot be written: it is read-only ({exc})"
    elif code == sqlite3.SQLITE_IOERR:
        tail = f"cannot be read or written ({exc}): is the disk full or failing?"
    else:
        tail = f"cannot be used ({exc})"
    return StateError(f"state database {path} {tail}")


def _disk_full(path: Path) -> bool:
    # SQLite reports some writes that found no space (the -shm file's) as I/O errors.
    try:
        info = os.statvfs(path.parent)
    except OSError:
        return False
    return (info.f_bfree if os.geteuid() == 0 else info.f_bavail) == 0


@contextmanager
def reported(path: Path, timeout: float) -> Iterator[None]:
    """SQLite's failures of the file, the disk or the system as StateErrors (see
    ``state_error``); any other error as it is."""
    try:
        yield
    except sqlite3.Error as exc:
        if _code(exc) in _ENVIRONMENT:
            raise state_error(exc, path, timeout) from exc
        raise


@contextmanager
def opening(path: Path, timeout: float) -> Iterator[None]:
    """Every SQLite error while a database is opened as a StateError: whatever it is, the
    file is left as it is (``Corrupt`` is the one its caller moves aside)."""
    try:
        yield
    except sqlite3.Error as exc:
        raise state_error(exc, path, timeout) from exc


@contextmanager
def transaction(conn: sqlite3.Connection, path: Path, timeout: float) -> Iterator[None]:
    """One write transaction, rolled back on any error; failures reported as ``reported``
    does."""
    with reported(path, timeout):
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            # SQLite rolls back by itself on some failures (a full disk), and a rollback can
            # fail for the reason the statement did: the first error is the one to report.
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise


def move_aside(path: Path) -> list[str]:
    """Rename the corrupt database at ``path`` and whichever of its -wal and -shm exist to
    ``state.db.corrupt-<time>`` (plus the same suffixes), kept for whoever wants to look;
    the new names."""
    stamp = f"{path.name}.corrupt-{int(time.time())}"
    aside, number = stamp, 1
    while any(path.with_name(aside + suffix).exists() for suffix in ("", *COMPANIONS)):
        number += 1  # never over an earlier one
        aside = f"{stamp}.{number}"
    moved = []
    try:
        for suffix in ("", *COMPANIONS):
            source = path.with_name(path.name + suffix)
            if suffix and not source.exists():
                continue
            source.rename(path.with_name(aside + suffix))
            moved.append(aside + suffix)
    except OSError as exc:
        raise StateError(
            f"state database {path} is damaged, and cannot be moved aside: {exc}"
        ) from exc
    return moved
