"""Where a desired set comes from (files, a watched directory, a git branch, a stored revision)."""
