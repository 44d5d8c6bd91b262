"""Self-healing policy of the loop, pure and clock-free: which restarts to hold back in
CrashLoopBackOff, and which unhealthy containers to restart (plain Docker never does)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from reconciler.controllers.plan import Action, FieldDiff, Kind, Plan, Reason, Step
from reconciler.controllers.planner import restart_dependents
from reconciler.converge.applying import ApplyOutcome
from reconciler.loop.backoff import CrashLoop
from reconciler.policy import Policy, check_created
from reconciler.values.desired import DesiredState
from reconciler.values.observed import ObservedState

RECREATE_AFTER_FAILED_STARTS = 2
# The least wait before retrying a step that failed (the crash-loop backoff may add more).
FAILED_STEP_RETRY = 2.0


@dataclass
class Healer:
    """Remembers exits and unhealthy episodes it has counted, so one exit counts once."""

    crash: CrashLoop = field(default_factory=CrashLoop)
    _seen_exit: dict[str, str] = field(default_factory=dict)
    _seen_unhealthy: dict[str, str] = field(default_factory=dict)
    _failed_starts: dict[str, int] = field(default_factory=dict)

    def guard(
        self, plan: Plan, desired: DesiredState, observed: ObservedState, now: float
    ) -> tuple[Plan, dict[str, float]]:
        """The plan with restarts of crash-looping containers held back (and restarts of
        unhealthy ones added), and the seconds each held-back container still waits."""
        keep: list[Step] = []
        waiting: dict[str, float] = {}
        for planned in plan.steps:
            step = self._escalate(planned)
            restarting = planned.action is Action.START  # escalated or not: a restart
            if step.kind is Kind.CONTAINER and restarting:
                have = observed.containers.get(step.name)
                finished_at = have.status.finished_at if have is not None else ""
                if finished_at and finished_at != self._seen_exit.get(step.name):
                    self._seen_exit[step.name] = finished_at
                    self.crash.failed(step.name, now)
                if (wait := self.crash.waiting(step.name, now)) > 0:
                    waiting[step.name] = wait
                    continue
            keep.append(step)
        acted = {s.name for s in keep if s.kind is Kind.CONTAINER}
        for name, want in sorted(desired.containers.items()):
            have = observed.containers.get(name)
            if (
                have is None
                or name in acted
                or not want.restart_on_unhealthy
                or have.status.health != "unhealthy"
                or not have.status.running
            ):
                continue
            if self._seen_unhealthy.get(name) != have.status.started_at:
                self._seen_unhealthy[name] = have.status.started_at
                self.crash.failed(name, now)
            if (wait := self.crash.waiting(name, now)) > 0:
                waiting[name] = wait
                continue
            keep.append(
                Step(
                    Kind.CONTAINER,
                    name,
                    Action.RESTART,
                    Reason.UNHEALTHY,
                    (FieldDiff("health", "unhealthy", "healthy"),),
                    desired=want,
                )
            )
        # What the guard made a restart or a recreate restarts the containers that ask for it
        # (dependsOn restart: true), as the planner does for its own steps.
        followers = restart_dependents(desired, keep, plan.in_sync)
        in_sync = tuple(k for k in plan.in_sync if k not in {s.key for s in followers})
        return dataclasses.replace(plan, steps=(*keep, *followers), in_sync=in_sync), waiting

    def _escalate(self, step: Step) -> Step:
        """A start the Engine keeps refusing (a task left behind by a dockerd restart, say)
        becomes a recreate: a fresh container is the way out."""
        failed = self._failed_starts.get(step.name, 0)
        if step.action is not Action.START or failed < RECREATE_AFTER_FAILED_STARTS:
            return step
        return dataclasses.replace(
            step,
            action=Action.RECREATE,
            diffs=(*step.diffs, FieldDiff("start", f"failed {failed} times", "recreate")),
        )

    def started(self, name: str, now: float) -> None:
        """Record that the loop (re)started or created ``name``."""
        self.crash.restarted(name, now)
        self._failed_starts.pop(name, None)

    def start_failed(self, name: str) -> None:
        """Record that starting ``name`` failed (after a few, it is recreated instead)."""
        self._failed_starts[name] = self._failed_starts.get(name, 0) + 1

    def applied(self, outcome: ApplyOutcome, now: float) -> float | None:
        """Record what a pass did to containers; returns when to retry its failed steps
        (None when none failed)."""
        for step in outcome.done:
            if step.kind is Kind.CONTAINER and step.action is not Action.REMOVE:
                self.started(step.name, now)
        retry: float | None = None
        for step, _ in outcome.failed:
            if step.kind is not Kind.CONTAINER:
                continue
            if step.action in (Action.START, Action.RESTART):
                self.start_failed(step.name)
            # A failing step backs off like a crash loop instead of being retried at once.
            at = max(self.crash.failed(step.name, now), now + FAILED_STEP_RETRY)
            retry = at if retry is None else min(retry, at)
        return retry


def policy_removals(
    desired: DesiredState, observed: ObservedState, policy: Policy
) -> list[tuple[Step, str]]:
    """Remove steps for running containers whose bind mounts the policy now refuses: a path
    component swapped for a symlink after admission takes effect at the next (re)start, so
    the loop judges the live mounts on every pass. Each step comes with the reason."""
    removals = []
    for name, have in sorted(observed.containers.items()):
        if name not in desired.containers or have.config is None:
            continue
        pairs = [(m.source, m.target) for m in have.config.mounts if m.type == "bind"]
        if not pairs:
            continue
        refused = [str(v) for v in check_created(name, pairs, policy) if v.mode == "enforce"]
        if refused:
            step = Step(Kind.CONTAINER, name, Action.REMOVE, Reason.POLICY_VIOLATION)
            removals.append((step, "; ".join(refused)))
    return removals
