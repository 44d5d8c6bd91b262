"""Bind mounts, and named volumes that are binds or block devices in disguise.

Every judgement is made on the RESOLVED path (symlinks and ``..`` followed), because that is
what the Engine mounts; the resolved path is also what admission hands on to the Engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.policy.model import Policy
from reconciler.policy.paths import HostFS, denial, never_allowed, within

BASELINE = "baseline/bind-mounts"
RESTRICTED = "restricted/bind-mounts"

# Propagation that makes mounts done inside the container appear on the host.
_SHARED = frozenset({"shared", "rshared"})
# Volume types whose device is on another machine, not a host path.
_REMOTE_TYPES = frozenset({"nfs", "nfs4", "cifs", "smb3", "ceph", "glusterfs", "sshfs"})


def _shown(source: str, real: str) -> str:
    if source == real:
        return source
    return f"{source} (resolves to {real})"


def judge(source: str, real: str, read_only: bool, policy: Policy, host: HostFS) -> list[str]:
    """Why a bind of ``source`` (resolved: ``real``) is not allowed by the baseline rule."""
    if not host.exists(real):
        return [
            f"bind source {_shown(source, real)} does not exist; reconcile never creates bind "
            "sources: create it (with the owner and mode the service needs) first"
        ]
    shown = _shown(source, real)
    found = denial(real)
    entries = _resolved_entries(policy, host)
    if found is not None:
        if not found.reallowable:
            return [f"bind source {shown} {found.reason}"]
        reallowed = [p for p, _ in entries if within(real, p) and never_allowed(p) is None]
        if not reallowed:
            return [
                f"bind source {shown} {found.reason} (a policy bind entry naming a "
                f"subdirectory of {found.root} can re-allow it, read-only)"
            ]
        if not read_only:
            return [
                f"bind source {shown} is under {found.root}: allowed read-only only; "
                "set readOnly: true"
            ]
        return []
    if policy.binds is None:
        return []
    match = [(p, rw) for p, rw in entries if within(real, p)]
    if not match:
        allowed = ", ".join(p for p, _ in policy.binds) or "none"
        return [f"bind source {shown} is not under an allowlisted path (allowed: {allowed})"]
    if not read_only and not any(rw for _, rw in match):
        return [
            f"bind source {shown} is allowed read-only only: set readOnly: true, or give its "
            "policy entry readWrite: true"
        ]
    return []


def _resolved_entries(policy: Policy, host: HostFS) -> list[tuple[str, bool]]:
    return [(host.realpath(p), rw) for p, rw in policy.binds or ()]


def propagation(value: str | None) -> list[str]:
    """Why a bind propagation is not allowed."""
    if value in _SHARED:
        return [
            f"propagation {value} lets mounts made in the container appear on the host; "
            "use rprivate (the default), private, slave or rslave"
        ]
    return []


@dataclass(frozen=True)
class HostBacked:
    """What a named volume really mounts from the host, read from its driver options."""

    kind: str  # "bind" or "device"
    path: str
    read_only: bool
    how: str  # the driver options that make it so, for messages


def host_backed(driver: str, opts: Mapping[str, str]) -> HostBacked | None:
    """The host path a local-driver volume mounts, or None for a plain or remote volume.

    ``o=bind`` (any ``type``, ``none`` included) makes ``device`` a bind source; a ``device``
    under /dev is a block device; any other absolute ``device`` is judged as a bind, to be safe.
    """
    device = opts.get("device")
    if driver != "local" or not device:
        return None
    options = {o.strip() for o in opts.get("o", "").split(",")}
    fstype = opts.get("type", "")
    read_only = "ro" in options
    how = ", ".join(f"{k}={v}" for k, v in sorted(opts.items()))
    if options & {"bind", "rbind"}:
        return HostBacked("bind", device, read_only, how)
    if fstype in _REMOTE_TYPES or device.startswith("//") or not device.startswith("/"):
        return None
    kind = "device" if device.startswith("/dev/") else "bind"
    return HostBacked(kind, device, read_only, how)
