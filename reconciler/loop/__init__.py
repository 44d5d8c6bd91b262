"""The control loop behind ``reconcile run`` and ``reconcile sync``: triggers, timing, healing."""
