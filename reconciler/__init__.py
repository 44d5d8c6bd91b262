"""reconcile: a declarative reconciler for a single Docker host."""

__version__ = "0.1.0"
