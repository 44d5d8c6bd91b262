"""What a compose project's load depends on, as one digest: equal digests load to equal
manifests, so the load cache may keep them (``load_group``).

compose reads the project's files, the files they name (``env_file``, ``label_file``,
``include``, ``extends``), ``.env`` and ``--env-file``, and the process environment. Not every
variable of the environment: only those the files name (``${VAR}``, ``$VAR``, and bare
``environment:`` or env-file entries that take their value from the environment), plus
compose's and the docker CLI's own settings (``COMPOSE_*``, ``DOCKER_*``) and ``HOME`` (``~`` in
paths). Keying on the whole environment made commands whose environments differ in any
variable (``RECONCILE_NO_SERVER``, a shell's ``OLDPWD``, a CI job's variables) evict each
other's entry and pay the whole load.

Which names a file uses is read conservatively: every identifier written anywhere in those
files counts (a superset of what compose can look up). When the files that are read cannot
all be known (a file that does not parse, a path with a variable in it, a remote
``include``), the digest covers the whole environment, as it always did.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from reconciler.loading.compose.binary import Options

# Variables of compose's and the docker CLI's own that change what compose makes of the files.
ALWAYS_PREFIXES = ("COMPOSE_", "DOCKER_")
ALWAYS = frozenset({"HOME"})
# Keys that make compose read another file; only then are the files parsed.
_NAMES_FILES = re.compile(rb"\b(env_file|label_file|include|extends)\b")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Files one project may pull in through include and extends before the digest gives up.
MAX_FILES = 200


class _Unknowable(Exception):
    """The files a project reads cannot all be known from its files."""


def digest(
    files: Sequence[Path], options: Options, environ: Mapping[str, str] | None = None
) -> str:
    """The digest of everything loading ``files`` with ``options`` depends on."""
    environ = os.environ if environ is None else environ
    extra = [files[0].parent / ".env", *options.env_files]
    try:
        read = files_read(files, extra)
        names = used_names(read.values())
        env = {k: v for k, v in environ.items() if k in names or _always(k)}
    except _Unknowable:
        read = {path: _read(path) for path in [*files, *extra]}
        env = dict(environ)
    h = hashlib.sha256()
    for key, value in sorted(env.items()):
        h.update(f"{key}={value}\0".encode())
    h.update(f"{options.project_name}\0{options.profiles!r}\0".encode())
    for path, body in read.items():
        h.update(f"{path}\0".encode())
        h.update(b"<none>" if body is None else hashlib.sha256(body).digest())
    return h.hexdigest()


def inputs(files: Sequence[Path], options: Options) -> list[Path] | None:
    """Every file loading ``files`` reads (missing ones too: creating one changes the load),
    as ``digest`` follows them; None when that cannot be told."""
    try:
        return list(files_read(files, [files[0].parent / ".env", *options.env_files]))
    except _Unknowable:
        return None


def used_names(bodies: Iterable[bytes | None]) -> frozenset[str]:
    """Every identifier written in ``bodies``: the environment variables they may use."""
    names: set[str] = set()
    for body in bodies:
        if body is not None:
            names.update(_WORD.findall(body.decode("utf-8", errors="replace")))
    return frozenset(names)


def files_read(files: Sequence[Path], extra: Sequence[Path]) -> dict[Path, bytes | None]:
    """Each file loading ``files`` reads (in a fixed order) with its bytes (None: missing):
    the files, ``extra`` (``.env``, the env files given), and what they name, followed
    through ``include`` and ``extends``. Raises ``_Unknowable`` when that cannot be told."""
    project_dir = files[0].parent
    found: dict[Path, bytes | None] = {}
    queue: list[tuple[Path, bool]] = [(path, True) for path in files]
    queue += [(path, False) for path in extra]
    while queue:
        path, is_compose = queue.pop(0)
        if path in found:
            continue
        if len(found) >= MAX_FILES:
            raise _Unknowable
        body = found[path] = _read(path)
        if body is None or not is_compose or not _NAMES_FILES.search(body):
            continue
        for named, named_is_compose in _named_files(body, path.parent, project_dir):
            queue.append((named, named_is_compose))
            if named_is_compose:  # an included project reads its own .env
                queue.append((named.parent / ".env", False))
    return found


def _named_files(body: bytes, here: Path, project_dir: Path) -> list[tuple[Path, bool]]:
    """The files a compose file names, each resolved both against its own directory and the
    project's (compose resolves some against one and some against the other: reading both
    covers either), and whether each is a compose file."""
    from ruamel.yaml import YAML

    try:
        data = YAML(typ="safe", pure=False).load(body)
    except Exception as exc:  # compose says what is wrong; the digest cannot tell what it reads
        raise _Unknowable from exc
    if not isinstance(data, dict):
        return []
    named: list[tuple[str, bool]] = []
    for item in _listed(data.get("include")):
        if isinstance(item, dict):
            named += [(p, True) for p in _paths(item.get("path"))]
            named += [(p, False) for p in _paths(item.get("env_file"))]
        else:
            named += [(p, True) for p in _paths(item)]
    services = data.get("services")
    for service in services.values() if isinstance(services, dict) else ():
        if not isinstance(service, dict):
            continue
        for key in ("env_file", "label_file"):
            named += [(p, False) for p in _paths(service.get(key))]
        extends = service.get("extends")
        if isinstance(extends, dict) and extends.get("file") is not None:
            named += [(p, True) for p in _paths(extends["file"])]
    resolved = []
    for text, is_compose in named:
        if "$" in text or "://" in text or text.startswith(("oci:", "git@")):
            raise _Unknowable  # which file is read depends on the environment, or is remote
        path = Path(os.path.expanduser(text))
        for base in dict.fromkeys((here, project_dir)):
            resolved.append((base / path, is_compose))
    return resolved


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _paths(value: Any) -> list[str]:
    """The paths of an ``env_file``-like value: a string, a ``{path: ...}``, or a list of them."""
    found = []
    for item in _listed(value):
        path = item.get("path") if isinstance(item, dict) else item
        for one in _listed(path):
            if not isinstance(one, str):
                raise _Unknowable
            found.append(one)
    return found


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _always(name: str) -> bool:
    return name in ALWAYS or name.startswith(ALWAYS_PREFIXES)
