"""The Docker Engine backend: the only part of reconcile that imports the docker SDK.

``engine`` holds the connection, error translation and retries; ``translate`` builds request
bodies from config values; ``normalize`` reads inspect output back into them; ``runtime`` is
the ``Runtime`` implementation.
"""

from reconciler.runtime.docker.runtime import DockerRuntime

__all__ = ["DockerRuntime"]
