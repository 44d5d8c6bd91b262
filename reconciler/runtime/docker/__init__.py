"""The Docker Engine backend: the only part of reconcile that talks to the Engine.

``client`` speaks the Engine API on the standard library (it alone imports the docker SDK,
for registry credentials, inside a pull) at the address ``addresses`` reads from the
environment; ``engine`` holds the client, error translation and retries; ``translate``
builds request bodies from config values; ``normalize`` reads inspect output back into
them; ``runtime`` is the ``Runtime`` implementation.
"""

from reconciler.runtime.docker.runtime import DockerRuntime

__all__ = ["DockerRuntime"]
