"""Per-phase wall times of one command, for ``--timings`` or ``RECONCILE_TIMINGS=1``.

Off by default and then free: ``phase()`` hands back one shared object that does nothing, and
this module imports only ``os``, ``sys`` and ``time`` (the console script and the server's
forked children import it before anything heavy). When on, the command prints to stderr, at
its end, how long each phase took on the main thread and the Engine calls it made; the
phases' own work overlaps the Engine's lists (which start before the manifests are read),
so ``observe`` is what was still waited for. Only the benchmarks judge the numbers.
"""

from __future__ import annotations

import os
import sys
import time

# Not typing.TYPE_CHECKING: typing costs ~2 ms at every start of the console script.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import TextIO

ENV = "RECONCILE_TIMINGS"
FLAG = "--timings"
# Set by the console script when timings are on: when its process started and when its
# ``main`` ran (epoch seconds), so that a command run by the warm server counts from there.
START_ENV = "_RECONCILE_TIMINGS_START"
# The phases in the order they are printed (any other name follows, in order of first use).
ORDER = (
    "startup",
    "handoff",
    "imports",
    "state",
    "load",
    "admit",
    "inputs",
    "pull",
    "observe",
    "plan",
    "execute",
    "record",
)


class _Recorder:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.on = False
        self.began = 0.0  # perf_counter when the command's ``main`` began
        self.phases: dict[str, float] = {}
        self.calls: list[Mapping[str, int]] = []


_now = _Recorder()


class _Phase:
    """Adds the wall time of its ``with`` block to a phase."""

    __slots__ = ("name", "started")

    def __init__(self, name: str) -> None:
        self.name = name
        self.started = 0.0

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *_: object) -> None:
        add(self.name, time.perf_counter() - self.started)


class _Off:
    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


_OFF = _Off()


def wanted(argv: list[str], environ: Mapping[str, str] = os.environ) -> bool:
    """Whether a command line (or the environment) asks for timings."""
    if environ.get(ENV, "") not in ("", "0"):
        return True
    return FLAG in argv[: argv.index("--")] if "--" in argv else FLAG in argv


def hoisted(argv: list[str]) -> list[str]:
    """``argv`` with ``--timings`` moved before the command (the group's option), so that it
    may be written anywhere before ``--``."""
    end = argv.index("--") if "--" in argv else len(argv)
    if FLAG not in argv[:end]:
        return argv
    return [FLAG, *(a for a in argv[:end] if a != FLAG), *argv[end:]]


def process_started() -> float:
    """When this process started (epoch seconds; the kernel counts in clock ticks, 10 ms)."""
    try:
        with open("/proc/self/stat", "rb") as stat:
            # The fields after the command name, which is in parentheses and may hold spaces.
            fields = stat.read().rsplit(b")", 1)[1].split()
        ticks = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return time.time() - (time.clock_gettime(time.CLOCK_BOOTTIME) - ticks)
    except (OSError, ValueError, IndexError):
        return time.time()


def begin(argv: list[str]) -> None:
    """Start recording a command (``main`` of the CLI) if it asks for timings; the time until
    here is ``startup`` (the interpreter) and ``imports`` or, through the warm server,
    ``handoff`` (the console script's start to the forked child's command)."""
    _now.reset()
    if not wanted(argv):
        return
    _now.on = True
    _now.began = time.perf_counter()
    wall = time.time()
    given = os.environ.pop(START_ENV, "").split()
    if len(given) == 3:
        started, launched, pid = float(given[0]), float(given[1]), int(given[2])
        add("startup", max(0.0, launched - started))
        add("imports" if pid == os.getpid() else "handoff", max(0.0, wall - launched))
    else:
        add("startup", max(0.0, wall - process_started()))


def launched() -> None:
    """Called by the console script: remember, for the command, when this process started
    and when its ``main`` ran (the command may run in the warm server's child)."""
    os.environ[START_ENV] = f"{process_started():.6f} {time.time():.6f} {os.getpid()}"


def enabled() -> bool:
    """Whether this command records timings."""
    return _now.on


def enable() -> None:
    """Turn timings on for this command (the ``--timings`` option)."""
    if not _now.on:
        _now.on = True
        _now.began = time.perf_counter()


def phase(name: str) -> _Phase | _Off:
    """A context manager adding its block's wall time to ``name`` (nothing when off)."""
    return _Phase(name) if _now.on else _OFF


def add(name: str, seconds: float) -> None:
    """Add ``seconds`` to phase ``name``."""
    if _now.on:
        _now.phases[name] = _now.phases.get(name, 0.0) + seconds


def mark(name: str) -> None:
    """End phase ``name`` now: it lasted from the command's start to here, minus every
    phase recorded since the command began (for what runs before any ``phase`` block)."""
    if _now.on:
        inside = sum(v for k, v in _now.phases.items() if k not in ("startup", "handoff"))
        add(name, max(0.0, time.perf_counter() - _now.began - inside))


def count_calls(calls: Mapping[str, int] | None) -> None:
    """Report the Engine calls counted in ``calls`` (a runtime's live counter) at the end."""
    if _now.on and calls is not None:
        _now.calls.append(calls)


def render() -> str:
    """The report: one line per phase (milliseconds), the rest of the command as ``other``,
    the total from the process's start, and the Engine calls by kind."""
    phases = dict(_now.phases)
    elapsed = time.perf_counter() - _now.began
    measured = sum(v for k, v in phases.items() if k not in ("startup", "handoff"))
    phases["other"] = max(0.0, elapsed - measured)
    before = phases.get("startup", 0.0) + phases.get("handoff", 0.0)
    names = [n for n in ORDER if n in phases]
    names += [n for n in phases if n not in names]
    lines = ["timings:"]
    lines += [f"  {name:<10} {phases[name] * 1000:9.1f} ms" for name in names]
    lines.append(f"  {'total':<10} {(before + elapsed) * 1000:9.1f} ms")
    counted: dict[str, int] = {}
    for calls in _now.calls:
        for kind, count in calls.items():
            counted[kind] = counted.get(kind, 0) + count
    detail = ", ".join(f"{k}={v}" for k, v in sorted(counted.items()) if v)
    lines.append(f"engine calls: {sum(counted.values())}" + (f" ({detail})" if detail else ""))
    return "\n".join(lines) + "\n"


def report(stream: TextIO | None = None) -> None:
    """Print the report to stderr if this command records timings."""
    if not _now.on:
        return
    out = stream or sys.stderr
    try:
        out.write(render())
        out.flush()
    except (OSError, ValueError):  # a closed stream must not turn into the command's error
        pass
