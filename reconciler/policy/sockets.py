"""Unix sockets as bind sources, judged by file type rather than by name.

A container runtime's socket can sit under any name (a hard link to /run/docker.sock is the
same socket) and in any directory (/run/docker/containerd, the directory of DOCKER_HOST's
socket). Looking at a socket tells nothing of whose it is, so a bind source that is a socket,
or a directory that holds one, is refused unless the policy's ``sockets`` list names it (or a
directory above it). The names and places of the known runtime sockets are refused by path
before this (``paths.denial``), and no ``sockets`` entry re-allows those.
"""

from __future__ import annotations

import posixpath
import stat
from collections.abc import Sequence

from reconciler.policy.paths import RUNTIME_SOCKET_NAMES, HostFS, parts, within

# The walk below a directory source: every entry directly inside it is looked at; deeper
# directories breadth-first, down to this many levels and at most this many directories in
# all. Each directory costs one listing (entry types come from the directory itself), so a
# pass stays cheap on a large data directory; a socket beyond the bound goes unseen, which is
# why the known places are refused by path at any depth instead.
WALK_DEPTH = 4
WALK_DIRECTORIES = 1000

_WHY = (
    "reconcile cannot tell a container runtime's socket (root on the host, under any name or "
    "hard link) from another service's"
)


def socket_denial(real: str, host: HostFS, allowed: Sequence[str]) -> str | None:
    """Why the resolved bind source ``real`` is refused for a unix socket (a phrase to follow
    the path), or None. ``allowed`` are the policy's ``sockets`` entries."""
    info = host.stat(real)
    if info is None:
        return None
    entries = [host.realpath(p) for p in allowed]
    known = host.runtime_sockets()
    if info.is_socket:
        if _allowed(real, entries, known):
            return None
        return f"is a unix socket: {_WHY}; name it under sockets in the policy file if it is not"
    if not stat.S_ISDIR(info.mode):
        return None
    found = _first_socket(real, host, entries, known)
    if found is None:
        return None
    return (
        f"holds the unix socket {found}: {_WHY}; name the socket (or its directory) under "
        "sockets in the policy file if it is not"
    )


def _allowed(path: str, entries: Sequence[str], known: Sequence[str]) -> bool:
    if posixpath.basename(path) in RUNTIME_SOCKET_NAMES:
        return False
    if any(parts(path) == parts(k) for k in known):
        return False
    return any(within(path, e) for e in entries)


def _first_socket(
    top: str, host: HostFS, entries: Sequence[str], known: Sequence[str]
) -> str | None:
    """The first socket not allowed within the walk's bound below ``top``, or None."""
    level = [top]
    listed = 0
    for _ in range(WALK_DEPTH):
        below: list[str] = []
        for directory in level:
            if listed >= WALK_DIRECTORIES:
                return None
            listed += 1
            listing = host.listing(directory)
            if listing is None:
                continue  # unreadable to reconcile: see docs/policy.md, Limits
            for name in listing.sockets:
                path = posixpath.join(directory, name)
                if not _allowed(path, entries, known):
                    return path
            below += [posixpath.join(directory, d) for d in listing.directories]
        level = below
    return None
