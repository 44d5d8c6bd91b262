"""The loop's debounce on an injected clock: a burst of file events is one pass, due only once
the directory has been quiet for the debounce; Engine events settle briefly the same way.

The loop runs in a thread against the in-memory RecordingRuntime; only the injected clock
decides when a trigger is due, so "not yet" holds however long the thread is left to run."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.loop.runner import ENGINE_SETTLE, Loop
from reconciler.loop.settings import LoopSettings
from reconciler.policy import Policy
from reconciler.runtime.base import EngineEvent
from reconciler.state.database import State
from tests.converge.recording_runtime import RecordingRuntime

# Real time given to the loop thread to act on what is due (it re-checks at least every
# second, and at once when poked).
GRACE = 0.3


@dataclass
class Clock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Running:
    loop: Loop
    clock: Clock
    state: State

    def reasons(self) -> list[str]:
        """The triggers of the last pass that has finished ([] before the first)."""
        found = self.state.load_status(self.loop.settings.project)
        return [] if found is None else list(found[1]["lastPass"]["reasons"])

    def finished(self, passes: int, reasons: list[str]) -> None:
        """Wait until pass number ``passes`` has run and saved its status with ``reasons``
        (``passes`` counts from the start of a pass; the status is saved at its end)."""
        _wait(
            lambda: self.loop.passes == passes and self.reasons() == reasons,
            f"pass {passes} ran for {reasons} (passes: {self.loop.passes}, "
            f"last reasons: {self.reasons()})",
        )


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.01)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    directory = tmp_path / "m"
    directory.mkdir()
    state = State.open(tmp_path / "state")
    clock = Clock()
    settings = LoopSettings(
        directory=directory, project="shop", policy=Policy(), debounce=0.5, resync=3600.0
    )
    loop = Loop(settings, RecordingRuntime(), state, clock=clock, wall=lambda: 1.8e9)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        result = Running(loop, clock, state)
        result.finished(1, ["start"])
        yield result
    finally:
        loop.stop()
        thread.join(timeout=10)
        state.close()
    assert not thread.is_alive()


def test_a_burst_of_file_events_is_one_pass_after_the_quiet_period(running: Running) -> None:
    loop, clock = running.loop, running.clock
    for kind, at in (("created", 110.0), ("modified", 110.2), ("moved", 110.4)):
        clock.now = at
        loop._on_file_event(kind)
    clock.now = 110.85  # 0.45 s after the last event: still inside the debounce
    time.sleep(GRACE)
    assert loop.passes == 1

    clock.now = 110.9  # quiet for the whole debounce
    running.finished(2, ["files"])
    time.sleep(GRACE)
    assert loop.passes == 2, "the burst was one pass"


def test_engine_events_settle_briefly_and_collapse(running: Running) -> None:
    loop, clock = running.loop, running.clock
    clock.now = 200.0
    for action in ("kill", "die", "stop"):
        loop.on_engine_event(EngineEvent("container", action, "shop-web", project="shop"))
    time.sleep(GRACE)
    assert loop.passes == 1, "not before the events settle"
    clock.now = 200.0 + ENGINE_SETTLE
    running.finished(2, ["container die", "container kill", "container stop"])


def test_events_of_other_projects_and_quiet_actions_trigger_nothing(running: Running) -> None:
    loop, clock = running.loop, running.clock
    clock.now = 300.0
    loop.on_engine_event(EngineEvent("container", "die", "other-web", project="other"))
    loop.on_engine_event(EngineEvent("container", "exec_start: sh", "shop-web", project="shop"))
    loop.on_engine_event(EngineEvent("volume", "mount", "other-data", project="other"))
    clock.now = 400.0
    time.sleep(GRACE)
    assert loop.passes == 1


def test_a_trigger_during_the_debounce_does_not_wait_for_it(running: Running) -> None:
    loop, clock = running.loop, running.clock
    clock.now = 500.0
    loop._on_file_event("modified")
    loop.trigger("manual")  # level-triggered: a pass now, which reads the files too
    running.finished(2, ["manual"])
    clock.now = 500.5
    running.finished(3, ["files"])
