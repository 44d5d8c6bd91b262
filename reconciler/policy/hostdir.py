"""The manifests directory as host access: whoever can write it decides what runs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from reconciler.errors import Location
from reconciler.loading.discovery import SUFFIXES, is_ignored
from reconciler.policy.model import Policy
from reconciler.policy.rules import Violation, active_rules

RULE = "baseline/manifest-permissions"


def check_manifest_dir(
    directory: Path, policy: Policy, *, uid: int | None = None
) -> list[Violation]:
    """Group- or world-writable, or foreign-owned: the directory, its (non-hidden)
    subdirectories and its manifest files. Owned by root or ``uid`` (default: the effective
    uid of this process) is fine. Each finding is a violation of
    ``baseline/manifest-permissions``, which warns unless the policy sets its mode."""
    if RULE not in {r.id for r in active_rules(policy.profile)}:
        return []
    owner = os.geteuid() if uid is None else uid
    found: list[Violation] = []
    for path, kind in _entries(directory):
        message = _judge(path, owner)
        if message is not None:
            found.append(
                Violation(
                    RULE, policy.mode_for(RULE), f'{kind} "{path}"', message, Location(str(path))
                )
            )
    return found


def _entries(directory: Path) -> list[tuple[Path, str]]:
    entries: list[tuple[Path, str]] = [(directory, "directory")]
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        base = Path(dirpath)
        entries += [(base / d, "directory") for d in dirnames]
        entries += [
            (base / f, "file")
            for f in sorted(filenames)
            if f.endswith(SUFFIXES) and not is_ignored(f)
        ]
    return entries


def _judge(path: Path, owner: int) -> str | None:
    try:
        info = path.stat()
    except OSError:
        return None  # gone since the walk; the loader reports unreadable files
    mode = stat.S_IMODE(info.st_mode)
    writers = [w for bit, w in ((stat.S_IWGRP, "group"), (stat.S_IWOTH, "others")) if mode & bit]
    if writers:
        return (
            f"is writable by {' and '.join(writers)} (mode {mode:04o}): they can change what "
            f"runs on this host; chmod go-w {path}"
        )
    if info.st_uid not in (0, owner):
        return (
            f"is owned by uid {info.st_uid}, not by root or the reconciler's user (uid {owner}): "
            f"that user can change what runs on this host; chown it"
        )
    return None
