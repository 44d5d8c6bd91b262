"""Runtime backends: the ``Runtime`` protocol (``base``) and the Docker Engine backend.

``connect`` is the one seat where the backend is chosen and its Engine client built; every
command and the loop get their runtime from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.runtime.base import Runtime


def connect(*, ping: bool = False) -> Runtime:
    """The runtime for the Engine the environment names (``DOCKER_HOST`` and TLS variables,
    else the default socket). ``ping`` checks now that it answers (``EngineUnavailable``)."""
    from reconciler.runtime.docker import DockerRuntime

    runtime = DockerRuntime.from_env()
    if ping:
        runtime.ping()
    return runtime
