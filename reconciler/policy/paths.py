"""Host paths: comparison by component, the always-denied paths, and the host filesystem.

Paths are compared component by component, never as strings: ``/srv/app`` contains
``/srv/app/x`` but not ``/srv/app-evil``. Callers resolve symlinks first (``HostFS.realpath``)
so that what is judged is what the Engine will really mount.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from reconciler import hostpaths

Parts = tuple[str, ...]


def parts(path: str) -> Parts:
    """The components of an absolute path, normalized lexically (``/`` has none)."""
    normal = posixpath.normpath("/" + path.lstrip("/"))
    return tuple(p for p in normal.split("/") if p)


def matches(have: Parts, pattern: Parts) -> bool:
    """Whether the components ``have`` are the ``pattern``'s, each matched as a glob."""
    return len(have) == len(pattern) and all(
        fnmatch.fnmatchcase(h, p) for h, p in zip(have, pattern, strict=True)
    )


def within(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` or below it, by component."""
    have, want = parts(path), parts(prefix)
    return have[: len(want)] == want


@dataclass(frozen=True)
class _Denied:
    pattern: Parts
    reallowable: bool  # a policy entry naming a strict subpath may re-allow it, read-only


# Host roots that no bind may reach (nor anything below them, nor any directory above them,
# which would contain them). /etc, /usr and /lib* hold configuration and libraries that some
# services legitimately read (/etc/myapp, /usr/share/zoneinfo): a policy entry naming a strict
# subpath re-allows that subtree read-only. The rest can never be re-allowed.
_DENIED_ROOTS: tuple[_Denied, ...] = (
    _Denied(("etc",), True),
    _Denied(("usr",), True),
    _Denied(("lib*",), True),
    _Denied(("proc",), False),
    _Denied(("sys",), False),
    _Denied(("boot",), False),
    _Denied(("dev",), False),
    _Denied(("root",), False),
    _Denied(("var", "lib", "docker"), False),
    _Denied(("var", "lib", "containerd"), False),
    _Denied(("var", "lib", "containers"), False),
)

RUNTIME_SOCKET_NAMES = frozenset({"docker.sock", "containerd.sock", "crio.sock", "podman.sock"})

# Where runtime sockets live: a bind of any directory above one of these exposes the socket.
# /run/docker/containerd is where dockerd starts its own containerd when none runs already.
_SOCKET_PLACES: tuple[Parts, ...] = (
    ("run", "docker.sock"),
    ("var", "run", "docker.sock"),
    ("run", "docker", "containerd", "containerd.sock"),
    ("var", "run", "docker", "containerd", "containerd.sock"),
    ("run", "containerd", "containerd.sock"),
    ("var", "run", "containerd", "containerd.sock"),
    ("run", "crio", "crio.sock"),
    ("var", "run", "crio", "crio.sock"),
    ("run", "podman", "podman.sock"),
    ("var", "run", "podman", "podman.sock"),
    ("run", "user", "*", "docker.sock"),
    ("run", "user", "*", "podman", "podman.sock"),
)

DENIED_PATHS_DOC = (
    "/, /etc, /proc, /sys, /boot, /dev, /usr, /lib*, /root, /var/lib/docker, "
    "/var/lib/containerd, /var/lib/containers and every runtime socket "
    "(docker.sock, containerd.sock, crio.sock, podman.sock)"
)


@dataclass(frozen=True)
class Denial:
    """Why a (resolved) host path may not be bound, as a phrase to follow the path ("is always
    denied"); ``root`` is the denied root it is under."""

    reason: str
    root: str | None = None
    reallowable: bool = False


_SOCKET_REASON = "is a container runtime socket: access to it is root on the host, even read-only"


def denial(path: str, sockets: Iterable[str] = ()) -> Denial | None:
    """Why ``path`` (already resolved) is always denied as a bind source, or None.

    ``sockets`` are runtime sockets known on this host besides the usual places (resolved:
    ``HostFS.runtime_sockets``); the path may be neither one of them nor above one.
    """
    have = parts(path)
    if not have:
        return Denial("is the whole host: always denied")
    places = [*_SOCKET_PLACES, *(parts(s) for s in sockets)]
    if have[-1] in RUNTIME_SOCKET_NAMES or any(matches(have, p) for p in places):
        return Denial(_SOCKET_REASON)
    for denied in _DENIED_ROOTS:
        size = len(denied.pattern)
        if len(have) >= size and matches(have[:size], denied.pattern):
            root = "/" + "/".join(have[:size])
            what = "is always denied" if len(have) == size else f"is under {root}, always denied"
            return Denial(what, root, denied.reallowable)
        if len(have) < size and matches(have, denied.pattern[: len(have)]):
            return Denial(f"contains /{'/'.join(denied.pattern)}, which is always denied")
    for place in places:
        if len(have) < len(place) and matches(have, place[: len(have)]):
            return Denial(
                f"contains the container runtime socket /{'/'.join(place)} "
                "(access to it is root on the host, even read-only)"
            )
    return None


def never_allowed(path: str) -> Denial | None:
    """The denial of ``path`` if no policy entry could ever re-allow it, else None."""
    found = denial(path)
    if found is None:
        return None
    if found.reallowable and found.root is not None and parts(path) != parts(found.root):
        return None
    return found


# Device nodes never given to a container: physical memory, I/O ports and raw disks.
_DENIED_DEVICES = (
    "mem",
    "kmem",
    "port",
    "sd*",
    "hd*",
    "nvme*",
    "vd*",
    "xvd*",
    "mmcblk*",
    "dm-*",
    "loop*",
    "md*",
    "nbd*",
)
_DEVICE_DIRS = (("disk",), ("mapper",), ("block",))


def device_denial(path: str) -> str | None:
    """Why the (resolved) device path is always denied (a phrase to follow it), or None."""
    have = parts(path)
    if have == ("dev",) or not have:
        return "is the whole device tree: always denied"
    if have[0] != "dev":
        return None
    rest = have[1:]
    if len(rest) == 1 and any(fnmatch.fnmatchcase(rest[0], p) for p in _DENIED_DEVICES):
        return "is physical memory, an I/O port or a raw disk: always denied"
    if any(rest[: len(d)] == d for d in _DEVICE_DIRS):
        return "holds raw disk devices: always denied"
    return None


@dataclass(frozen=True)
class FileInfo:
    """What the policy needs to know of a file: its mode bits and owner."""

    mode: int
    uid: int

    @property
    def is_socket(self) -> bool:
        """Whether the file is a unix socket."""
        return stat.S_ISSOCK(self.mode)


@dataclass(frozen=True)
class Listing:
    """What a directory holds, as far as the socket checks need: the names of the unix sockets
    directly inside it and of its subdirectories (symlinks are neither: inside a container
    they resolve in the container's filesystem, not the host's)."""

    sockets: tuple[str, ...] = ()
    directories: tuple[str, ...] = ()


# Variables that name a container runtime's socket as unix://PATH (Docker's, Podman's).
_SOCKET_VARIABLES = ("DOCKER_HOST", "CONTAINER_HOST")


def _env_sockets(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The unix socket paths the runtime variables of ``environ`` name (unresolved)."""
    found = []
    for name in _SOCKET_VARIABLES:
        value = environ.get(name, "")
        if value.startswith("unix://") and value.removeprefix("unix://").startswith("/"):
            found.append(value.removeprefix("unix://"))
    return tuple(found)


class HostFS(Protocol):
    """The host filesystem as the policy sees it (faked in unit tests)."""

    def realpath(self, path: str) -> str:
        """``path`` with every symlink and ``..`` resolved (missing tails kept as written)."""
        ...

    def exists(self, path: str) -> bool:
        """Whether ``path`` exists (following symlinks)."""
        ...

    def stat(self, path: str) -> FileInfo | None:
        """Mode and owner of ``path`` (following symlinks), None when it does not exist."""
        ...

    def listing(self, path: str) -> Listing | None:
        """The sockets and subdirectories directly inside ``path``; None when it is not a
        directory this process can read."""
        ...

    def read_text(self, path: str, limit: int) -> str | None:
        """The first ``limit`` characters of the file ``path``; None when it cannot be read."""
        ...

    def runtime_sockets(self) -> tuple[str, ...]:
        """Resolved paths of the runtime sockets this process's environment names
        (``DOCKER_HOST``, ``CONTAINER_HOST``), besides the usual places."""
        ...


class OsHostFS:
    """The real host filesystem, through ``reconciler.hostpaths`` (which can record every
    answer for the settled fast path)."""

    def realpath(self, path: str) -> str:
        """``os.path.realpath``."""
        return hostpaths.realpath(path)

    def exists(self, path: str) -> bool:
        """``os.path.exists``."""
        return hostpaths.exists(path)

    def stat(self, path: str) -> FileInfo | None:
        """``os.stat``, None on any error."""
        found = hostpaths.mode_and_owner(path)
        return FileInfo(found[0], found[1]) if found is not None else None

    def listing(self, path: str) -> Listing | None:
        """``os.scandir``: the entry types come from the directory itself (no stat per entry
        except for the few that are neither files, directories nor symlinks)."""
        found = hostpaths.listing(path)
        return Listing(tuple(found[0]), tuple(found[1])) if found is not None else None

    def read_text(self, path: str, limit: int) -> str | None:
        """The file's start, decoded as UTF-8; None on any error."""
        return hostpaths.read_text(path, limit)

    def runtime_sockets(self) -> tuple[str, ...]:
        """From ``os.environ``, resolved."""
        return tuple(os.path.realpath(p) for p in _env_sockets(os.environ))
