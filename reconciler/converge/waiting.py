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
) -> list[str]:
    """Wait until each container runs (and is healthy when it has a healthcheck); return a
    sentence per container that did not get there within ``timeout`` seconds."""
    deadline = clock() + timeout
    pending = set(names)
    last: dict[str, str] = {}
    while pending:
        for name in sorted(pending):
            status = runtime.container_status(name)
            if status is None:
                last[name] = "missing"
            elif status.state == "running" and status.health in (None, "healthy"):
                pending.discard(name)
            else:
                last[name] = status.health or status.state
        if not pending or clock() >= deadline:
            break
        sleep(0.5)
    return [
        f"{n}: not ready after {timeout:g}s ({last.get(n, 'unknown')})" for n in sorted(pending)
    ]
