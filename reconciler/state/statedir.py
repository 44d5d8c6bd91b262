"""Where reconcile keeps its state when no ``--state-dir`` is given (a leaf: the console
script reads it before anything heavy is imported, so it works on strings; pathlib alone
costs a few milliseconds to import)."""

from __future__ import annotations

import os

# Not typing.TYPE_CHECKING: importing typing costs ~2 ms at every start (mypy treats any
# variable of this name the same way).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path


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
