"""The state of the Engine a command works on: one state directory per Engine under the one
the user names (``state.engines``; docs/decisions/remote-engines.md).

A command that acts asks the Engine who it is (``/info``, read by every pass anyway): the
record of an address is never trusted to say whose inventory may be pruned. A loop starting
while the Engine is down, and a command that only reads the state, use the state the address
led to last time instead.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.errors import EngineUnavailable
from reconciler.runtime.base import Runtime
from reconciler.state import engines
from reconciler.state.database import State
from reconciler.state.statedir import default_state_dir


def open_state(state_dir: Path | None, runtime: Runtime) -> State:
    """The state of the Engine ``runtime`` reaches, under ``state_dir`` (else the default)."""
    root = state_dir or default_state_dir()
    return State.open(engines.state_dir_for(root, runtime.identity()), home=root)


def open_state_of_loop(state_dir: Path | None, runtime: Runtime) -> State:
    """As ``open_state``; while the Engine does not answer, the state its address led to
    last (a loop then waits for the Engine as it always did). ``EngineUnavailable`` when
    neither tells."""
    root = state_dir or default_state_dir()
    try:
        return open_state(root, runtime)
    except EngineUnavailable:
        known = engines.known_state_dir(root, *runtime.endpoint())
        if known is None:
            raise
        return State.open(known, home=root)


def open_state_to_read(state_dir: Path | None, runtime: Runtime) -> State:
    """For commands that only read the state (history, status, events): the state the
    Engine's address led to last, without an Engine call; else ask the Engine."""
    root = state_dir or default_state_dir()
    known = engines.known_state_dir(root, *runtime.endpoint())
    if known is not None:
        return State.open(known, home=root)
    return open_state(root, runtime)
