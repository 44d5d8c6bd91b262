"""The loop's use of history, with an injected clock: a rollback pin holds until the source
moves, each new revision is recorded once, and a revision that crash-loops or fails within its
probation window is rolled back to the last good one (pinned, with an event)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.loading import LoadedManifest, load_text
from reconciler.loop.report import ResourceStatus
from reconciler.loop.revisions import RevisionKeeper
from reconciler.sources import revision as revision_source
from reconciler.state import history
from reconciler.state.database import State

PROJECT = "shop"
WINDOW = 60.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def state(tmp_path: Path) -> Iterator[State]:
    db = State.open(tmp_path / "state")
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def keeper(state: State, clock: Clock, rollback: bool = True) -> RevisionKeeper:
    return RevisionKeeper(state, PROJECT, rollback_on_failure=rollback, window=WINDOW, clock=clock)


def commit(gen: int) -> tuple[LoadedManifest, ...]:
    text = textwrap.dedent(
        f"""\
        apiVersion: reconcile/v1
        kind: Container
        metadata: {{name: web}}
        spec:
          image: reconcile.local/busybox:latest
          env: {{GENERATION: "{gen}"}}
        """
    )
    result = load_text(text, f"/trees/{gen}/deploy/web.yaml")
    assert not result.problems
    return result.manifests


def statuses(status: str) -> list[ResourceStatus]:
    return [
        ResourceStatus("Network", "net", "failed", "a network failure is not judged"),
        ResourceStatus("Container", "web", status, ""),
    ]


def apply(k: RevisionKeeper, gen: int, outcome: str = "ok") -> tuple[int, str]:
    """One pass of the loop over commit ``gen``: what it records and the digest it applied."""
    effective = k.effective(commit(gen), f"git:u@{gen}:deploy")
    return k.applied(effective, {}, outcome), effective.digest


def test_a_crash_loop_within_the_window_rolls_back_and_pins(state: State, clock: Clock) -> None:
    k = keeper(state, clock)
    _, first = apply(k, 1)
    clock.now += WINDOW + 1
    assert k.judge(statuses("synced"), first) is None  # #1 survived its window
    second, digest = apply(k, 2)
    assert second == 2
    clock.now += WINDOW - 1

    message = k.judge(statuses("crash-loop"), digest)

    assert message == "revision #2 is failing (web crash-loop); rolled back to #1"
    newest = history.latest(state, PROJECT)
    assert newest is not None
    assert (newest.number, newest.outcome, newest.message) == (2, "failed", "web crash-loop")
    pin = state.pin(PROJECT)
    assert pin is not None
    assert (pin.revision, pin.upstream) == (1, digest)
    events = state.events(PROJECT)
    assert [(e.kind, e.action, e.reason, e.outcome) for e in events] == [
        ("Project", "rollback", "failing-revision", "done")
    ]
    assert events[0].message == message

    # The next pass applies #1's manifests while the source still says commit 2 ...
    effective = k.effective(commit(2), "git:u@2:deploy")
    assert effective.pinned == 1
    assert [m.manifest for m in effective.manifests] == [m.manifest for m in commit(1)]
    number = k.applied(effective, {}, "ok")
    assert number == 3
    rollback = state.revision(PROJECT, 3)
    assert rollback is not None
    assert rollback.source == "rollback:#1"
    # ... and a rolled-back-to set is not on probation: nothing more is judged.
    assert k.judge(statuses("crash-loop"), effective.digest) is None

    # A new commit lifts the pin and starts a new probation.
    moved = k.effective(commit(4), "git:u@4:deploy")
    assert moved.pinned is None
    assert state.pin(PROJECT) is None
    assert k.applied(moved, {}, "ok") == 4


def test_the_judge_waits_for_a_failing_status_and_ends_with_the_window(
    state: State, clock: Clock
) -> None:
    k = keeper(state, clock)
    apply(k, 1)
    clock.now += WINDOW + 1  # #1 survived its window
    assert k.judge(statuses("crash-loop"), "d1") is None
    _, digest = apply(k, 2)
    for status in ("progressing", "synced", "missing", "drifted", "conflict"):
        assert k.judge(statuses(status), digest) is None
    clock.now += WINDOW + 0.5
    assert k.judge(statuses("crash-loop"), digest) is None
    assert state.pin(PROJECT) is None
    assert [r.outcome for r in state.revisions(PROJECT)] == ["ok", "ok"]


def test_a_failed_apply_is_judged_like_a_crash_loop(state: State, clock: Clock) -> None:
    k = keeper(state, clock)
    apply(k, 1)
    clock.now += WINDOW + 1
    k.judge(statuses("synced"), "d1")
    second, digest = apply(k, 2, outcome="failed")
    message = k.judge(statuses("failed"), digest)
    assert message == f"revision #{second} is failing (web failed); rolled back to #1"
    pin = state.pin(PROJECT)
    assert pin is not None and pin.revision == 1


def test_without_an_earlier_good_revision_nothing_is_pinned(state: State, clock: Clock) -> None:
    k = keeper(state, clock)
    _, digest = apply(k, 1)
    message = k.judge(statuses("crash-loop"), digest)
    assert message == (
        "revision #1 is failing (web crash-loop) and no earlier good revision exists"
    )
    assert state.pin(PROJECT) is None
    assert state.events(PROJECT) == []
    revision = state.revision(PROJECT, 1)
    assert revision is not None and revision.outcome == "failed"


def test_without_rollback_on_failure_nothing_is_judged(state: State, clock: Clock) -> None:
    k = keeper(state, clock, rollback=False)
    apply(k, 1)
    _, digest = apply(k, 2)
    assert k.judge(statuses("crash-loop"), digest) is None
    assert state.pin(PROJECT) is None


def test_the_same_pass_result_is_recorded_once(state: State, clock: Clock) -> None:
    k = keeper(state, clock, rollback=False)
    assert apply(k, 1)[0] == 1
    assert apply(k, 1)[0] == 1
    assert apply(k, 1, outcome="failed")[0] == 1
    revision = state.revision(PROJECT, 1)
    assert revision is not None and revision.outcome == "failed"
    assert apply(k, 1)[0] == 1
    assert [r.outcome for r in state.revisions(PROJECT)] == ["ok"]


def test_a_manual_rollback_pin_holds_until_the_source_moves(state: State, clock: Clock) -> None:
    k = keeper(state, clock, rollback=False)
    apply(k, 1)
    _, digest2 = apply(k, 2)
    # What `reconcile rollback` does: record #1's set as a new revision and pin to it with
    # the source's current digest as the upstream.
    target = state.revision(PROJECT, 1)
    assert target is not None
    recorded = history.record(
        state, PROJECT, "rollback:#1", revision_source.manifests_of(target), {}, "ok"
    )
    state.set_pin(PROJECT, recorded, digest2)

    for _ in range(2):  # restarts and resyncs keep it
        effective = k.effective(commit(2), "git:u@2:deploy")
        assert effective.pinned == recorded
        assert effective.digest == target.digest
        assert k.applied(effective, {}, "ok") == recorded
    assert len(state.revisions(PROJECT)) == 3

    fresh = keeper(state, clock, rollback=False)  # a restarted loop sees the pin too
    assert fresh.effective(commit(2), "git:u@2:deploy").pinned == recorded

    assert fresh.effective(commit(3), "git:u@3:deploy").pinned is None
    assert state.pin(PROJECT) is None
    assert fresh.effective(commit(2), "git:u@2:deploy").pinned is None, "a lifted pin stays off"


def test_a_pin_to_a_revision_dropped_by_retention_is_lifted(state: State, clock: Clock) -> None:
    k = keeper(state, clock, rollback=False)
    _, digest = apply(k, 1)
    state.set_pin(PROJECT, 99, digest)
    effective = k.effective(commit(1), "git:u@1:deploy")
    assert effective.pinned is None
    assert state.pin(PROJECT) is None
