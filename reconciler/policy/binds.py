"""Bind mounts: the always-denied paths, the allowlist, runtime sockets, propagation, and
SELinux relabelling.

Every judgement is made on the RESOLVED path (symlinks and ``..`` followed), because that is
what the Engine mounts; the resolved path is also what admission hands on to the Engine.
Named volumes whose driver options mount host paths are judged here too (``volumes``).
"""

from __future__ import annotations

from reconciler.policy import sockets
from reconciler.policy.model import Policy
from reconciler.policy.paths import HostFS, Parts, denial, matches, never_allowed, parts, within

BASELINE = "baseline/bind-mounts"
RESTRICTED = "restricted/bind-mounts"
RELABEL = "baseline/bind-relabel"

# Directories an SELinux relabel must never reach, matched exactly (a relabel is recursive, so
# what is below them is theirs to relabel; their ancestors are / and the always-denied roots).
# The Engine's own list (go-selinux) refuses a few of these exact paths, on newer Engines only.
_RELABEL_DENIED: tuple[tuple[Parts, str], ...] = (
    (("*",), "a top-level directory"),
    (("home", "*"), "a home directory"),
    (("var", "home", "*"), "a home directory"),
    (("var", "*"), "a directory of host data directly under /var"),
    (("run", "*"), "a host service's runtime directory"),
)

# Propagation that makes mounts done inside the container appear on the host.
_SHARED = frozenset({"shared", "rshared"})


def _shown(source: str, real: str) -> str:
    if source == real:
        return source
    return f"{source} (resolves to {real})"


def judge(
    source: str,
    real: str,
    read_only: bool,
    policy: Policy,
    host: HostFS,
    *,
    create: bool = False,
) -> list[str]:
    """Why a bind of ``source`` (resolved: ``real``) is not allowed by the baseline rule.

    With ``create`` (``createHostPath``) a missing source is judged as the directory reconcile
    would create there: by the path rules, as a read-write bind (creating it writes to the
    host); it holds no socket yet."""
    if not host.exists(real):
        if create:
            return _path_reasons(_shown(source, real), real, False, policy, host)
        return [
            f"bind source {_shown(source, real)} does not exist; reconcile never creates bind "
            "sources: create it (with the owner and mode the service needs) first"
        ]
    shown = _shown(source, real)
    reasons = _path_reasons(shown, real, read_only, policy, host)
    if reasons:
        return reasons
    # Last, as it may walk a directory: only for a source every path rule lets through.
    socket = sockets.socket_denial(real, host, policy.sockets)
    if socket is not None:
        return [f"bind source {shown} {socket}"]
    return []


def _path_reasons(
    shown: str, real: str, read_only: bool, policy: Policy, host: HostFS
) -> list[str]:
    """Why the path rules (denied paths, the allowlist) refuse a bind of ``real``."""
    found = denial(real, host.runtime_sockets())
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
    elif policy.binds is not None:
        match = [(p, rw) for p, rw in entries if within(real, p)]
        if not match:
            allowed = ", ".join(p for p, _ in policy.binds) or "none"
            return [f"bind source {shown} is not under an allowlisted path (allowed: {allowed})"]
        if not read_only and not any(rw for _, rw in match):
            return [
                f"bind source {shown} is allowed read-only only: set readOnly: true, or give "
                "its policy entry readWrite: true"
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


def relabel(
    flag: str, source: str, real: str, read_only: bool, policy: Policy, host: HostFS
) -> list[str]:
    """Why an SELinux relabel (``flag`` z or Z) of the bind source is not allowed.

    The Engine relabels every file under the source at create, whatever ``readOnly`` says:
    that writes to the host path, so the path must be one the policy allows read-write. A bind
    the path rules refuse as mounted is left to ``judge`` (one mistake, one message).
    """
    shown = _shown(source, real)
    if not host.exists(real) or _path_reasons(shown, real, read_only, policy, host):
        return []
    what = f"selinux {flag} relabels every file under {shown}"
    if read_only and _path_reasons(shown, real, False, policy, host):
        found = denial(real)
        if found is not None and found.root is not None:
            return [
                f"{what}, a write to the host path, and {found.root} subtrees are allowed "
                "read-only only: remove selinux"
            ]
        return [
            f"{what}, a write to the host path, and the policy allows it read-only only: give "
            "its policy entry readWrite: true, or remove selinux"
        ]
    have = parts(real)
    for pattern, kind in _RELABEL_DENIED:
        if matches(have, pattern):
            return [
                f"{what}, {kind}: the host's own services and users would lose access to "
                "them; bind a directory of the service's own below it"
            ]
    return []
