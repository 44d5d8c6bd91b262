"""The Docker Swarm backend: a set's containers as replicated services on a manager."""

from reconciler.runtime.swarm.runtime import SwarmRuntime

__all__ = ["SwarmRuntime"]
