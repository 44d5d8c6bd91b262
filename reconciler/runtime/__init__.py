"""Runtime backends: the ``Runtime`` protocol (``base``) and the Docker Engine backend.

``connect`` is the one seat where the backend is chosen and its Engine client built; every
command and the loop get their runtime from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.runtime.base import Runtime


TIMEOUT_ENV = "RECONCILE_ENGINE_TIMEOUT"


BACKEND_ENV = "RECONCILE_BACKEND"
BACKENDS = ("docker", "swarm")


def backend_name(backend: str | None = None) -> str:
    """The backend asked for: ``backend`` (the ``--backend`` option), else
    ``RECONCILE_BACKEND``, else ``docker``. Never chosen from what the Engine is: a Swarm
    manager also runs plain containers (docs/decisions/swarm-backend.md)."""
    import os

    from reconciler.errors import EngineUnavailable

    name = (backend or os.environ.get(BACKEND_ENV, "") or "docker").strip()
    if name not in BACKENDS:
        raise EngineUnavailable(
            f"unknown backend {name!r} ({BACKEND_ENV} or --backend): one of {', '.join(BACKENDS)}"
        )
    return name


def connect(
    *, ping: bool = False, context: str | None = None, backend: str | None = None
) -> Runtime:
    """The runtime for the Engine the docker CLI would use: the docker context ``context``
    (the ``--context`` option), else the one the environment names (``DOCKER_HOST`` and the
    TLS variables, ``DOCKER_CONTEXT``, the docker config's current context), else the default
    socket. ``ping`` checks now that it answers (``EngineUnavailable``). ``backend``:
    ``docker`` (containers) or ``swarm`` (services on a manager), see ``backend_name``.

    ``RECONCILE_ENGINE_TIMEOUT`` (seconds, default 30) bounds how long one Engine call may
    take before the Engine counts as unavailable (long calls such as a stop add their own)."""
    import os

    from reconciler.errors import EngineUnavailable
    from reconciler.runtime.docker import DockerRuntime
    from reconciler.runtime.docker.engine import DEFAULT_TIMEOUT

    value = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        timeout = int(value) if value else DEFAULT_TIMEOUT
    except ValueError:
        timeout = 0
    if timeout <= 0:
        raise EngineUnavailable(f"{TIMEOUT_ENV}={value!r} is not a whole number of seconds")
    runtime: Runtime
    if backend_name(backend) == "swarm":
        from reconciler.runtime.docker.engine import Engine
        from reconciler.runtime.swarm import SwarmRuntime

        runtime = SwarmRuntime(Engine(timeout=timeout, context=context))
    else:
        runtime = DockerRuntime.from_env(timeout=timeout, context=context)
    if ping:
        runtime.ping()
    return runtime
