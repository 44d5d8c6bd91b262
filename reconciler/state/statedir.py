"""Where reconcile keeps its state when no ``--state-dir`` is given, and whether a state
directory (or a file in it) is the user's alone (a leaf: the console script reads it before
anything heavy is imported, so it works on strings; pathlib alone costs a few milliseconds
to import)."""

from __future__ import annotations

import os
import stat

# Not typing.TYPE_CHECKING: importing typing costs ~2 ms at every start (mypy treats any
# variable of this name the same way).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

# What reconcile makes in a state directory (a directory holding any of them is reconcile's):
# the database, the warm server's socket, the per-project locks.
DATABASE_NAME = "state.db"
SOCKET_NAME = "server.sock"
LOCKS_NAME = "locks"
MARKERS = frozenset({DATABASE_NAME, SOCKET_NAME, LOCKS_NAME})


def default_state_dir_name(environ: Mapping[str, str] | None = None) -> str:
    """``$RECONCILE_STATE_DIR``, else ``$XDG_STATE_HOME/reconcile``, else
    ``~/.local/state/reconcile``."""
    env = os.environ if environ is None else environ
    if value := env.get("RECONCILE_STATE_DIR"):
        return value
    base = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "reconcile")


def default_state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``default_state_dir_name`` as a path."""
    from pathlib import Path

    return Path(default_state_dir_name(environ))


def not_private(info: os.stat_result, what: str) -> str:
    """Why ``what`` (whose ``stat`` is ``info``) is not this user's alone: another user owns
    it, or others may write it ('' when neither). Root is no exception: a state directory
    of another user could hold anything, that user's own server included."""
    me = os.geteuid()
    if info.st_uid != me:
        return f"{what} belongs to uid {info.st_uid}, not to this user (uid {me})"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{what} may be written by other users (mode {stat.S_IMODE(info.st_mode):04o})"
    return ""
