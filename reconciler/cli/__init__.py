"""The ``reconcile`` command line: the console script, the warm server, one module per
command group. Kept empty so that the console script's launcher starts cheaply."""
