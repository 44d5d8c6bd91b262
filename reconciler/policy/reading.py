"""Finding and reading the policy file: ``--policy``, ``$RECONCILE_POLICY``, the default path.

A policy file is itself host access: whoever can write it can allow anything. So it must not
be writable by group or others, and must belong to root or to the user running reconcile.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from reconciler.errors import Location, ManifestError, Problem
from reconciler.policy.model import Policy, PolicyFile, from_file

DEFAULT_POLICY_PATH = Path("/etc/reconcile/policy.yaml")
POLICY_ENV = "RECONCILE_POLICY"


def policy_path(path: Path | None, environ: Mapping[str, str] | None = None) -> Path | None:
    """Which policy file applies: ``path``, else ``$RECONCILE_POLICY``, else the default path
    if it exists; None means the built-in baseline."""
    env = os.environ if environ is None else environ
    if path is not None:
        return path
    if env.get(POLICY_ENV):
        return Path(env[POLICY_ENV])
    return DEFAULT_POLICY_PATH if DEFAULT_POLICY_PATH.exists() else None


def load_policy(path: Path | None, environ: Mapping[str, str] | None = None) -> Policy:
    """The policy in force (see ``policy_path``).

    A file named by ``--policy`` or the environment must exist. Any mistake in it raises
    ``ManifestError`` with file:line:col problems, like a bad manifest.
    """
    chosen = policy_path(path, environ)
    if chosen is None:
        return Policy()
    where = Location(str(chosen))
    if not chosen.is_file():
        raise ManifestError(
            [Problem(where, "", "policy file does not exist (or is not a regular file)")]
        )
    unsafe = _unsafe(chosen)
    if unsafe:
        raise ManifestError([Problem(where, "", unsafe)])
    from reconciler.loading.yamldoc import read_yaml, validate_yaml

    model, problems = validate_yaml(PolicyFile, read_yaml(chosen))
    if problems or model is None:
        raise ManifestError(problems)
    return from_file(model, str(chosen))


def _unsafe(path: Path) -> str | None:
    info = path.stat()
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return (
            f"policy file is writable by group or others (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"anyone who can write it can allow anything: chmod go-w {path}"
        )
    if info.st_uid not in (0, os.geteuid()):
        return (
            f"policy file is owned by uid {info.st_uid}, neither root nor the user running "
            f"reconcile (uid {os.geteuid()}): chown it"
        )
    return None
