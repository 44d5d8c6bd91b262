"""Waiting for containers to run and pass their healthchecks (``apply --wait``)."""

from __future__ import annotations

from collections.abc import Callable

from reconciler.runtime.base import Runtime


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
