"""The loop and a half-written file, on injected clocks: a resource that vanished from a file
written moments ago is not given up in that pass (nor may it be pruned); the loop comes back by
itself when the file's quiet period ends ("settle") and hands the pass the file as it is then.

The loop runs in a thread against the in-memory RecordingRuntime (which observes only declared
names, so what a prune would remove is checked on the snapshots the passes get; the real prune
is in tests/e2e/test_loop_partial_writes.py), without its directory watcher (file events are
injected). File times are set with os.utime: only the injected clocks decide when the quiet
period ends."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from reconciler.loop.runner import Loop
from reconciler.loop.settings import PRUNE_QUIET, LoopSettings
from reconciler.policy import Policy
from reconciler.sources.directory import DirectorySource, Snapshot
from reconciler.state.database import State
from tests.converge.recording_runtime import RecordingRuntime

WALL = 1_800_000_000.0
# Real time given to the loop thread to act on what is due.
GRACE = 0.3


def network(name: str) -> str:
    return f"apiVersion: reconcile/v1\nkind: Network\nmetadata: {{name: {name}}}\n"


@dataclass
class Clocks:
    """The loop's monotonic clock and the wall clock, moved together."""

    now: float = 100.0
    wall: float = WALL

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.wall += seconds


@dataclass
class Reads:
    """The directory source, keeping every snapshot it hands a pass."""

    inner: DirectorySource
    snapshots: list[Snapshot] = field(default_factory=list)

    @property
    def description(self) -> str:
        return self.inner.description

    def refresh(self) -> None:
        self.inner.refresh()

    def read(self, *, force: bool = False) -> Snapshot:
        snapshot = self.inner.read(force=force)
        self.snapshots.append(snapshot)
        return snapshot


def declared(snapshot: Snapshot) -> set[str]:
    return {m.name for m in snapshot.manifests}


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.01)


@dataclass
class Running:
    loop: Loop
    reads: Reads
    state: State
    clocks: Clocks
    shop: Path

    def reasons(self) -> list[str]:
        found = self.state.load_status("shop")
        return [] if found is None else list(found[1]["lastPass"]["reasons"])

    def quiet(self) -> None:
        """Wait until the loop has run every pass that is due now."""
        count = -1
        while count != self.loop.passes:
            count = self.loop.passes
            time.sleep(GRACE)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    directory = tmp_path / "m"
    directory.mkdir()
    shop = directory / "shop.yaml"
    shop.write_text(network("x") + "---\n" + network("y"))
    os.utime(shop, (WALL - 60, WALL - 60))
    state = State.open(tmp_path / "state")
    clocks = Clocks()
    settings = LoopSettings(
        directory=directory, project="shop", policy=Policy(), prune=True, resync=3600.0
    )
    source = DirectorySource(directory, settle=settings.settle, wall=lambda: clocks.wall)
    reads = Reads(source)
    loop = Loop(
        settings,
        RecordingRuntime(),
        state,
        clock=lambda: clocks.now,
        wall=lambda: clocks.wall,
        source=reads,
    )
    loop.watcher = None
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        result = Running(loop, reads, state, clocks, shop)
        _wait(lambda: bool(reads.snapshots), "the first pass read the directory")
        result.quiet()
        yield result
    finally:
        loop.stop()
        thread.join(timeout=10)
        state.close()
    assert not thread.is_alive()


def test_a_resource_gone_from_a_just_written_file_is_given_up_only_after_its_quiet_period(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="reconcile")
    loop, clocks, shop, reads = running.loop, running.clocks, running.shop, running.reads
    assert loop.settings.settle == PRUNE_QUIET
    assert declared(reads.snapshots[-1]) == {"x", "y"}
    clocks.advance(10)
    shop.write_text(network("x") + "---\n")  # the writer pauses at the `---`
    os.utime(shop, (clocks.wall, clocks.wall))
    loop._on_file_event("modified")
    clocks.advance(loop.settings.debounce)
    _wait(lambda: running.reasons() == ["files"], "a files pass ran")
    held = reads.snapshots[-1]
    assert declared(held) == {"x", "y"}, "y is still declared: it cannot be pruned"
    assert held.settling_files == (str(shop),)
    assert not held.prune_safe
    assert any("possibly half written" in r.getMessage() for r in caplog.records)

    # Just before the quiet period ends: no pass gets a set without y.
    clocks.advance(PRUNE_QUIET - loop.settings.debounce - 0.1)
    running.quiet()
    assert all(declared(s) == {"x", "y"} for s in reads.snapshots)

    # Quiet for the whole period: the loop comes back by itself with the file as it is.
    clocks.advance(0.2)
    _wait(lambda: running.reasons() == ["settle"], "the settle pass ran")
    after = reads.snapshots[-1]
    assert declared(after) == {"x"}
    assert after.prune_safe and after.settling_files == ()
