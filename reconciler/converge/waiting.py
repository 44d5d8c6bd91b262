"""Waiting for containers to run and pass their healthchecks (``apply --wait``), and for a
container's dependencies to meet their ``dependsOn`` conditions before it starts."""

from __future__ import annotations

from collections.abc import Callable

from reconciler.errors import ReconcileError
from reconciler.runtime.base import Runtime
from reconciler.values.observed import ContainerStatus


class DependencyNotMet(ReconcileError):
    """A dependency did not meet its condition in time, or never will."""


def wait_for(
    runtime: Runtime,
    name: str,
    dep: str,
    condition: str,
    timeout: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> None:
    """Wait until ``dep`` meets ``condition`` (``started``, ``healthy``, ``completed``) for
    ``name``; raises ``DependencyNotMet`` when ``timeout`` runs out or it never will."""
    deadline = clock() + timeout
    while True:
        status = runtime.container_status(dep)
        if status is not None and _satisfied(name, dep, condition, status):
            return
        if clock() >= deadline:
            state = "missing" if status is None else (status.health or status.state)
            raise DependencyNotMet(
                f'{name} waited {timeout:g}s for "{dep}" to be {condition}; it is {state}'
            )
        sleep(0.25)


def wait_ready(
    runtime: Runtime,
    names: list[str],
    timeout: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    one_shots: frozenset[str] = frozenset(),
) -> list[str]:
    """Wait until each container runs (and is healthy when it has a healthcheck); return a
    sentence per container that did not get there within ``timeout`` seconds.

    A one-shot (``one_shots``) is done once it has exited with code 0 (completed);
    one that exited with another code fails at once, with that code: it is not restarted."""
    deadline = clock() + timeout
    pending = set(names)
    last: dict[str, str] = {}
    failed: dict[str, str] = {}
    while pending:
        for name in sorted(pending):
            status = runtime.container_status(name)
            if status is None:
                last[name] = "missing"
            elif name in one_shots and status.succeeded:
                pending.discard(name)
            elif name in one_shots and status.state in ("exited", "dead"):
                failed[name] = f"{name}: exited with code {status.exit_code} (a one-shot)"
                pending.discard(name)
            elif status.state == "running" and status.health in (None, "healthy"):
                pending.discard(name)
            else:
                last[name] = status.health or status.state
        if not pending or clock() >= deadline:
            break
        sleep(0.5)
    late = [f"{n}: not ready after {timeout:g}s ({last.get(n, 'unknown')})" for n in pending]
    return sorted([*late, *failed.values()])


def _satisfied(name: str, dep: str, condition: str, status: ContainerStatus) -> bool:
    """Whether dependency ``dep`` meets ``condition``; raises ``DependencyNotMet`` when it never
    will: ``completed`` and it exited with another code, ``healthy`` and it has no
    healthcheck."""
    if condition == "completed":
        if status.succeeded:
            return True
        if status.state in ("exited", "dead"):
            dead = " (the Engine marks it dead)" if status.state == "dead" else ""
            raise DependencyNotMet(
                f'{name} depends on "{dep}" completing successfully, but {dep} exited with '
                f"code {status.exit_code}{dead}"
            )
        return False
    if condition == "started" and status.completed:
        return True  # a one-shot that ran to completion was started
    if status.running and (condition == "started" or status.health in (None, "healthy")):
        if condition == "healthy" and status.health is None:
            raise DependencyNotMet(
                f'{name} depends on "{dep}" being healthy, but {dep} has no healthcheck'
            )
        return True
    return False
