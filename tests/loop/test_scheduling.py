"""The pass scheduler on a fake clock: triggers collapse, pokes debounce, deferrals hold."""

from __future__ import annotations

from reconciler.loop.scheduling import Scheduler


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_triggers_collapse_into_one_pass_with_every_reason() -> None:
    clock = Clock()
    s = Scheduler(clock)
    s.trigger("container die")
    s.trigger("container die")
    s.trigger("resync")
    assert s.next_pass(deadline=clock.now) == ["container die", "resync"]
    assert s.next_pass(deadline=clock.now) == []


def test_a_poke_fires_only_after_its_quiet_period() -> None:
    clock = Clock()
    s = Scheduler(clock)
    s.poke("files", 0.5)
    assert s.next_pass(deadline=clock.now) == []
    clock.now += 0.4
    s.poke("files", 0.5)  # another event restarts the quiet period
    clock.now += 0.4
    assert s.next_pass(deadline=clock.now) == []
    clock.now += 0.2
    assert s.next_pass(deadline=clock.now) == ["files"]


def test_a_deferral_holds_passes_back_but_keeps_their_reasons() -> None:
    clock = Clock()
    s = Scheduler(clock)
    s.defer(clock.now + 5)
    s.trigger("retry")
    s.trigger("container stop")
    assert s.next_pass(deadline=clock.now) == []
    clock.now += 5
    assert s.next_pass(deadline=clock.now) == ["container stop", "retry"]


def test_a_wake_up_comes_back_as_backoff() -> None:
    clock = Clock()
    s = Scheduler(clock)
    s.wake(clock.now + 10)
    s.wake(clock.now + 20)  # the earliest wins
    clock.now += 10
    assert s.next_pass(deadline=clock.now) == ["backoff"]


def test_stop_ends_the_wait() -> None:
    clock = Clock()
    s = Scheduler(clock)
    s.trigger("start")
    s.stop()
    assert s.next_pass(deadline=clock.now + 60) is None
