"""Seccomp profiles in ``securityOpt``: one that lets every system call through is unconfined.

The Engine reads the value of ``seccomp=`` as the profile's JSON (the docker CLI reads a file
for its user; reconcile hands the value on as written). It decodes it like Go's encoding/json:
keys match the profile's fields case-insensitively, the last duplicate wins, and a profile
with neither ``defaultAction`` nor ``syscalls`` turns seccomp off (runc). A value that is a path
is judged by the file's content too, in case something reads it.
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.policy.paths import HostFS

# Default actions that stop a call the profile does not list. ALLOW and LOG let it through;
# TRACE lets a tracer (which can be a process of the container itself) let it through;
# NOTIFY hands it to a listener outside the profile's control.
_CONFINING = frozenset(
    {
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_TRAP",
    }
)
# The values that name the Engine's own profile.
_DEFAULT = frozenset({"", "builtin"})
_FILE_LIMIT = 1 << 20


class _Object(list[tuple[str, Any]]):
    """A JSON object as its (key, value) pairs, in order, duplicates kept."""


def _field(profile: _Object, name: str) -> Any:
    """The value Go would decode into the field ``name``: the last key matching it
    case-insensitively (Go folds case the Unicode way, as ``casefold`` does)."""
    found = None
    for key, value in profile:
        if key.casefold() == name.casefold():
            found = value
    return found


def _parse(text: str) -> Any:
    return json.loads(text, object_pairs_hook=_Object)


def profile_reason(value: str, host: HostFS) -> str | None:
    """Why the profile ``value`` (JSON, or a path) does not confine, or None."""
    if value in _DEFAULT:
        return None
    try:
        profile = _parse(value)
    except ValueError:
        if not value.startswith("/"):
            return "is neither a JSON profile nor an absolute path, so it cannot be judged"
        text = host.read_text(value, _FILE_LIMIT)
        if text is None:
            return f"names {value}, which cannot be read, so it cannot be judged"
        try:
            profile = _parse(text)
        except ValueError:
            return f"names {value}, which is not JSON, so it cannot be judged"
    if profile is None:
        return "is null: seccomp is off, like seccomp=unconfined"
    if not isinstance(profile, _Object):
        return "is not a JSON object, so it cannot be judged"
    action = _field(profile, "defaultAction")
    if not action and not _field(profile, "syscalls"):
        return "has neither defaultAction nor syscalls: seccomp is off, like seccomp=unconfined"
    if not isinstance(action, str) or action not in _CONFINING:
        return (
            f"has defaultAction {action!r}: every call it does not list goes through, like "
            f"seccomp=unconfined (use one of {', '.join(sorted(_CONFINING))})"
        )
    return None
