"""The state directory and the files reconcile keeps in it are the user's alone.

The database holds the key of the config-hash labels, the journal and every applied
manifest; next to it are the load and inspect caches (pickles, which run code when read),
the lock files, git checkouts and the warm server's socket. So the directory is 0700 and the
database's files 0600, whatever the umask. A looser directory or file of this user's (made
by ``mkdir``, or by an older version under the umask) is tightened, with a warning. Anything
another user owns is refused (root included: that user could have put anything there), and
so is a directory others may write that cannot be tightened, and a loose directory that holds
files but none of reconcile's (``statedir.MARKERS``): ``--state-dir /tmp`` must not chmod /tmp.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from reconciler.errors import StateError
from reconciler.state.statedir import MARKERS, not_private

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
_OTHERS = stat.S_IRWXG | stat.S_IRWXO
_WRITABLE = stat.S_IWGRP | stat.S_IWOTH
_ELSEWHERE = "use a state directory of your own (--state-dir or RECONCILE_STATE_DIR)"


def state_directory(path: Path) -> list[str]:
    """Create the state directory ``path`` 0700, or make sure the existing one is private
    (see the module docstring); the warnings to show."""
    what = f"the state directory {path}"
    try:
        path.mkdir(parents=True, mode=DIRECTORY_MODE)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StateError(f"cannot create {what}: {exc.strerror}") from exc
    else:
        try:
            os.chmod(path, DIRECTORY_MODE)  # the umask may have taken bits from it
        except OSError as exc:
            raise StateError(f"cannot make {what} private: {exc.strerror}") from exc
        return []
    try:
        info = os.stat(path)
        entries = os.listdir(path) if stat.S_ISDIR(info.st_mode) and info.st_mode & _OTHERS else []
    except OSError as exc:
        raise StateError(f"cannot use {what}: {exc.strerror}") from exc
    if not stat.S_ISDIR(info.st_mode):
        raise StateError(f"cannot use {what}: it is not a directory")
    _refuse_foreign(info, what)
    mode = stat.S_IMODE(info.st_mode)
    if not mode & _OTHERS:
        return []
    loose = f"{what} {_exposed(mode)} (mode {mode:04o})"
    if entries and MARKERS.isdisjoint(entries):
        raise StateError(
            f"{loose} and holds files that are not reconcile's state; make it private "
            "(chmod 700) or use a directory of its own"
        )
    try:
        os.chmod(path, DIRECTORY_MODE)
    except OSError as exc:
        if mode & _WRITABLE:
            raise StateError(
                f"{loose} and cannot be made private ({exc.strerror}): {_ELSEWHERE}"
            ) from exc
        return [f"{loose} and cannot be made private ({exc.strerror})"]
    return [f"{loose}; made it 0700"]


def private_file(path: Path, *, create: bool) -> list[str]:
    """Make sure the file at ``path`` is this user's alone and 0600: created so (whatever the
    umask) when ``create`` and missing, tightened when looser, refused when another user's
    or not a regular file. The warnings to show."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags | (os.O_CREAT if create else 0), FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ENOENT and not create:
            return []
        why = "it is a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
        raise StateError(f"cannot open {path}: {why}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StateError(f"cannot use {path}: it is not a regular file")
        _refuse_foreign(info, str(path))
        mode = stat.S_IMODE(info.st_mode)
        if mode != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    except OSError as exc:
        raise StateError(f"cannot make {path} private: {exc.strerror}") from exc
    finally:
        os.close(fd)
    return [f"{path} {_exposed(mode)} (mode {mode:04o}); made it 0600"] if mode & _OTHERS else []


def _refuse_foreign(info: os.stat_result, what: str) -> None:
    if info.st_uid != os.geteuid():
        raise StateError(
            f"{not_private(info, what)}: run reconcile as uid {info.st_uid}, or {_ELSEWHERE}"
        )


def _exposed(mode: int) -> str:
    return "may be written by other users" if mode & _WRITABLE else "could be read by other users"
