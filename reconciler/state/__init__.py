"""What reconcile keeps on the host: the SQLite state, locks, revision history, private files."""
