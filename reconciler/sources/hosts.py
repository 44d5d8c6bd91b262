"""Which host this is in a fleet: its host file (``--host-file``, ``$RECONCILE_HOST_FILE``,
``/etc/reconcile/host.yaml``), else the machine's hostname with no labels.

A host file named on purpose (the option or the variable) must exist: a missing one is an
error, never "no labels", since fewer labels select fewer resources and a prune would follow.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Callable, Mapping
from pathlib import Path

from reconciler.errors import Location, ManifestError, Problem
from reconciler.manifests.placement import Host, HostFile

DEFAULT_HOST_FILE = Path("/etc/reconcile/host.yaml")
HOST_FILE_ENV = "RECONCILE_HOST_FILE"


def host_file_path(path: Path | None, environ: Mapping[str, str] | None = None) -> Path | None:
    """Which host file applies: ``path``, else ``$RECONCILE_HOST_FILE``, else the default
    path if it exists; None: the machine's hostname, no labels."""
    env = os.environ if environ is None else environ
    if path is not None:
        return path
    if env.get(HOST_FILE_ENV):
        return Path(env[HOST_FILE_ENV])
    return DEFAULT_HOST_FILE if DEFAULT_HOST_FILE.exists() else None


def load_host(
    path: Path | None,
    environ: Mapping[str, str] | None = None,
    hostname: Callable[[], str] = socket.gethostname,
) -> Host:
    """This host's identity (see ``host_file_path``). Raises ``ManifestError`` with
    file:line:col problems when the host file is missing, unreadable or invalid."""
    chosen = host_file_path(path, environ)
    if chosen is None:
        return _named(None, {}, hostname, "hostname")
    where = Location(str(chosen))
    if not chosen.is_file():
        raise ManifestError(
            [Problem(where, "", "host file does not exist (or is not a regular file)")]
        )
    from reconciler.loading.yamldoc import read_yaml, validate_yaml

    document = read_yaml(chosen)
    if (document.data is None and not document.problems) or _blank(chosen):
        # A truncated write must not read as "no labels": say what the file should hold.
        raise ManifestError(
            [Problem(where, "", "host file is empty; give it name: and labels:, or remove it")]
        )
    model, problems = validate_yaml(HostFile, document)
    if problems or model is None:
        raise ManifestError(problems)
    return _named(model.name, dict(model.labels), hostname, str(chosen))


def loader(path: Path | None) -> Callable[[], Host]:
    """``load_host(path)`` on first call, the same host after it: a command or a loop reads
    its host file once (a loop picks up an edited host file when it is restarted)."""
    return functools.cache(lambda: load_host(path))


def _named(
    name: str | None, labels: dict[str, str], hostname: Callable[[], str], source: str
) -> Host:
    if name is None:
        name = hostname()
        try:
            HostFile.model_validate({"name": name})
        except ValueError:
            raise ManifestError(
                [
                    Problem(
                        Location(source),
                        "name",
                        f"the hostname {name!r} is not a valid host name; "
                        "set name: in the host file",
                    )
                ]
            ) from None
    return Host(name, labels, source)


def _blank(path: Path) -> bool:
    try:
        return not path.read_bytes().strip()
    except OSError:
        return False  # read_yaml has said why
