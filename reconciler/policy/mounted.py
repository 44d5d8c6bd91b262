"""What a running container really mounted, judged by the policy.

Admission judges paths, and the Engine resolves the same path again when it starts the
container: a path component swapped for a symlink in between (``renameat2`` exchange) and
swapped back afterwards leaves a container with the host's ``/etc`` mounted while every string
check passes. So the policy's last look is at the container's mount table: each bind target's
device and root in ``/proc/PID/mountinfo``, mapped to the host path it shows through the
host's own mount table, must be the source that was admitted, and allowed.

Only a container whose main process is visible here (``/proc/PID/cgroup`` names its id) is
judged: an Engine on another host has other pids.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from reconciler.errors import Location
from reconciler.policy import binds
from reconciler.policy.admission import check_created
from reconciler.policy.model import Policy
from reconciler.policy.rules import Violation


@dataclass(frozen=True)
class MountEntry:
    """One line of a mountinfo file: what (device, root within it) is mounted where."""

    device: str  # major:minor
    root: str
    mount_point: str


class Proc(Protocol):
    """The host's /proc as this module reads it (tests give literal files)."""

    def read(self, path: str) -> str | None:
        """The text of ``/proc/<path>``, or None when it cannot be read."""
        ...


class HostProc:
    """The real /proc. The host's own mount table (``1/mountinfo``) is read once per
    instance: one instance serves the containers of one pass."""

    def __init__(self) -> None:
        self._host: str | None = None

    def read(self, path: str) -> str | None:
        """The text of ``/proc/<path>``, or None when it cannot be read."""
        if path == "1/mountinfo":
            if self._host is None:
                self._host = self._read(path)
            return self._host
        return self._read(path)

    @staticmethod
    def _read(path: str) -> str | None:
        try:
            with open(f"/proc/{path}", encoding="utf-8", errors="surrogateescape") as handle:
                return handle.read()
        except OSError:
            return None


def parse_mountinfo(text: str) -> list[MountEntry]:
    """The entries of a ``mountinfo`` file, in order (later ones mount over earlier ones)."""
    entries = []
    for line in text.splitlines():
        fields = line.split(" ")
        if len(fields) < 5:
            continue
        entries.append(MountEntry(fields[2], _unescape(fields[3]), _unescape(fields[4])))
    return entries


def host_path(mounted: MountEntry, host: Sequence[MountEntry]) -> str | None:
    """The host path a container's mount shows: the host mount of the same device whose root
    holds the mounted root, plus the rest of the path (None when the host does not show it)."""
    best: MountEntry | None = None
    for entry in host:
        if entry.device != mounted.device or not _within(mounted.root, entry.root):
            continue
        if best is None or len(entry.root) >= len(best.root):
            best = entry
    if best is None:
        return None
    rest = mounted.root[len(best.root.rstrip("/")) :] if best.root != "/" else mounted.root
    return posixpath.normpath(best.mount_point.rstrip("/") + "/" + rest.lstrip("/"))


def check_mounted(
    name: str,
    container_id: str,
    pid: int,
    mounts: Sequence[tuple[str, str]],
    policy: Policy,
    *,
    proc: Proc | None = None,
    location: Location | None = None,
) -> list[Violation]:
    """Judge what container ``name`` (main process ``pid``) really mounted at the targets of
    its bind ``mounts`` ((admitted source, target) pairs). Enforce-mode violations mean:
    remove the container. Nothing is judged when the process is not visible on this host."""
    reader = proc or HostProc()
    if pid <= 0 or not mounts or container_id not in (reader.read(f"{pid}/cgroup") or ""):
        return []
    inside = reader.read(f"{pid}/mountinfo")
    outside = reader.read("1/mountinfo")
    if inside is None or outside is None:
        return []
    table = parse_mountinfo(inside)
    host = parse_mountinfo(outside)
    real: list[tuple[str, str]] = []
    found: list[Violation] = []
    where = location or Location("")
    for source, target in mounts:
        entry = next((e for e in reversed(table) if e.mount_point == target), None)
        shown = host_path(entry, host) if entry is not None else None
        if shown is not None and shown == posixpath.normpath(source):
            real.append((shown, target))
            continue
        what = f"{shown} on the host" if shown is not None else "not a path of this host"
        message = (
            f"the bind mount at {target} is {what}, not {source} as the policy admitted: a "
            "path component was swapped while the Engine started the container"
        )
        rule = binds.BASELINE
        if not policy.exempt(rule, name):
            found.append(
                Violation(
                    rule,
                    policy.mode_for(rule),
                    f'container "{name}"',
                    message,
                    where,
                    f"mount {target}",
                )
            )
        if shown is not None:
            real.append((shown, target))
    # What it does mount must also be allowed as such (denied paths, the allowlist).
    return found + check_created(name, real, policy, location=where)


def _within(path: str, root: str) -> bool:
    root = root.rstrip("/")
    return root in ("", path) or path.startswith(root + "/")


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (\\040...)."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)
