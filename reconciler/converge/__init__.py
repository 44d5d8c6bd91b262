"""One reconcile pass: desired state in, observed snapshot, plan, execution, records."""
