"""A fingerprint of the code that produced a cached result: files cached by one version of
reconcile are never read back by another."""

from __future__ import annotations

import functools
import hashlib
import sys
from pathlib import Path


@functools.cache
def running_code_fingerprint() -> str:
    """The fingerprint of the code this process runs: taken once, when first asked (before
    any file changed, for a process that imported everything at start, like the server)."""
    return code_fingerprint()


def code_fingerprint() -> str:
    """A digest of this package's modules (name, size, mtime), pydantic's version and
    Python's, as they are on disk now."""
    import pydantic.version

    package = Path(__file__).resolve().parent.parent  # reconciler/, not reconciler/state/
    parts = [sys.version, pydantic.version.VERSION]
    for module in sorted(package.rglob("*.py")):
        info = module.stat()
        parts.append(f"{module.relative_to(package)}:{info.st_size}:{info.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
