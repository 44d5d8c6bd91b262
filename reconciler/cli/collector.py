"""The cyclic garbage collector, held off while a one-shot command runs.

A command imports pydantic, click and the models: hundreds of thousands of objects that live
until it exits. Python's collector walks all of them at each full collection, and a no-op
apply of 100 containers set one off about once, after a dozen middle ones: 60-90 ms of a
~600 ms command, measured with ``gc.callbacks``; a no-op apply through the warm server pays
less (its warm pages are frozen) but still tens of milliseconds. Reference counting frees
nearly everything a command makes; what only the collector frees (a few cycles) is bounded
by the command's length.

So a one-shot command, run in this process or in the server's forked child, starts with
the collector off, and a daemon timer turns it back on after ``PAUSE_SECONDS``: a command
that runs longer (``apply --wait``, ``events --follow``, a first apply of hundreds of
containers) collects as usual from then on. The long-lived commands (``run``, ``sync``,
``server``) never pause it. Decision note: docs/decisions/pass-fixed-costs.md.
"""

from __future__ import annotations

import gc
import threading

PAUSE_SECONDS = 10.0


def pause(seconds: float = PAUSE_SECONDS) -> None:
    """Turn the collector off now and back on after ``seconds`` (or at exit, which skips
    the interpreter's teardown anyway)."""
    if not gc.isenabled():
        return  # someone else (a test harness, a caller) decided: leave it to them
    gc.disable()
    timer = threading.Timer(seconds, gc.enable)
    timer.daemon = True
    timer.name = "gc-resume"
    timer.start()
