"""CrashLoop (the kubelet's CrashLoopBackOff) and Retry, driven by literal clock values."""

from __future__ import annotations

import pytest

from reconciler.loop.backoff import CRASH_CAP, CRASH_INITIAL, CRASH_RESET_AFTER, CrashLoop, Retry


@pytest.mark.parametrize(
    ("failures", "delay"),
    [
        (0, 0.0),
        (1, 0.0),
        (2, 10.0),
        (3, 20.0),
        (4, 40.0),
        (5, 80.0),
        (6, 160.0),
        (7, 300.0),
        (8, 300.0),
        (50, 300.0),
    ],
)
def test_crash_delay_table(failures: int, delay: float) -> None:
    assert CrashLoop().delay(failures) == delay


def test_constants_are_the_kubelets() -> None:
    assert (CRASH_INITIAL, CRASH_CAP, CRASH_RESET_AFTER) == (10.0, 300.0, 600.0)


def test_first_failure_restarts_at_once_then_the_wait_doubles_from_the_last_restart() -> None:
    crash = CrashLoop()
    assert crash.waiting("a", 0.0) == 0.0
    crash.restarted("a", 100.0)
    assert crash.failed("a", 101.0) == 101.0  # the first failure: at once
    assert crash.waiting("a", 101.0) == 0.0
    crash.restarted("a", 101.5)
    assert crash.failed("a", 102.0) == 111.5  # 10 s after the last restart
    assert crash.waiting("a", 102.0) == 9.5
    assert crash.waiting("a", 111.5) == 0.0
    assert crash.failures("a") == 2
    crash.restarted("a", 111.5)
    assert crash.failed("a", 112.0) == 131.5  # 20 s
    crash.restarted("a", 131.5)
    assert crash.failed("a", 200.0) == 200.0  # failing after the wait: no extra delay
    assert crash.failures("a") == 4


def test_a_failure_long_after_the_last_restart_starts_afresh() -> None:
    crash = CrashLoop()
    crash.restarted("a", 0.0)
    for at in (1.0, 2.0, 3.0):
        crash.failed("a", at)
    assert crash.failures("a") == 3
    crash.restarted("a", 30.0)
    assert crash.failed("a", 30.0 + 600.0) == 630.0
    assert crash.failures("a") == 1


def test_a_failure_before_any_restart_counts_from_now() -> None:
    crash = CrashLoop()
    assert crash.failed("a", 5.0) == 5.0
    assert crash.failed("a", 6.0) == 16.0


def test_containers_are_independent_and_forget_drops_the_history() -> None:
    crash = CrashLoop(initial=1.0, cap=4.0, reset_after=60.0)
    crash.restarted("a", 0.0)
    crash.failed("a", 0.1)
    crash.failed("a", 0.2)
    assert crash.waiting("a", 0.2) == pytest.approx(0.8)
    assert crash.waiting("b", 0.2) == 0.0
    assert crash.failures("b") == 0
    crash.forget("a")
    assert crash.failures("a") == 0
    assert crash.waiting("a", 0.2) == 0.0


def test_retry_doubles_to_the_cap_and_resets() -> None:
    retry = Retry()
    assert [retry.next_delay() for _ in range(7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert retry.attempts == 7
    retry.reset()
    assert retry.next_delay() == 1.0
    fast = Retry(initial=0.5, cap=2.0)
    assert [fast.next_delay() for _ in range(4)] == [0.5, 1.0, 2.0, 2.0]
