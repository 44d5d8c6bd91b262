"""Which files make up a manifest set, and reading them within the size limit."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from pathlib import Path

from reconciler.errors import Location, Problem, SourceUnavailable
from reconciler.manifests.constants import MAX_FILE_BYTES

SUFFIXES = (".yaml", ".yml")
# Files editors and tools leave next to the real ones; reading them would load a half-written
# or stale copy of a manifest (and define every resource in it twice).
_IGNORED = (
    "*.swp",
    "*.swx",
    "*~",
    ".#*",
    "#*#",
    "4913",
    ".goutputstream-*",
    "*.bak",
    "*.orig",
    "*.tmp",
)


def is_ignored(name: str) -> bool:
    """True for hidden files and editor temporary or backup files."""
    return name.startswith(".") or any(fnmatch.fnmatchcase(name, p) for p in _IGNORED)


def discover(paths: Sequence[str | Path], *, recursive: bool = False) -> list[Path]:
    """The manifest files under ``paths``, sorted, each once.

    A file named explicitly is always read. A directory is read at its top level only, like
    the kubelet's static-pod directory and ``kubectl apply -f DIR``; with ``recursive`` it is
    walked (``-R``), skipping hidden directories. Only ``.yaml``/``.yml`` files that are not
    hidden or editor leftovers count.
    A path that does not exist raises ``SourceUnavailable``: a missing source is never empty.
    """
    found: dict[str, Path] = {}
    for given in paths:
        path = Path(given)
        if path.is_file():
            found.setdefault(os.path.realpath(path), path)
        elif path.is_dir():
            for file in _walk(path, recursive):
                found.setdefault(os.path.realpath(file), file)
        elif path.exists():
            raise SourceUnavailable(f"{path} is neither a file nor a directory")
        else:
            raise SourceUnavailable(f"{path} does not exist")
    return sorted(found.values())


def _walk(root: Path, recursive: bool) -> list[Path]:
    files = []
    # Symlinked directories are not followed: a link loop or a link to / must not hang a load.
    for dirpath, dirnames, filenames in os.walk(root, onerror=_raise):
        dirnames[:] = sorted(d for d in dirnames if recursive and not d.startswith("."))
        for name in filenames:
            if name.endswith(SUFFIXES) and not is_ignored(name):
                files.append(Path(dirpath) / name)
    return files


def _raise(error: OSError) -> None:
    raise SourceUnavailable(f"cannot read directory {error.filename}: {error.strerror}")


def read_limited(path: Path) -> bytes | Problem:
    """The bytes of ``path``, or a problem if it is too large or unreadable.

    The size is checked before reading and again while reading (the file may grow), so a huge
    file is never read whole.
    """
    where = Location(str(path))
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_FILE_BYTES:
                return _too_large(where, size)
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return Problem(where, "", f"cannot read the file: {exc.strerror or exc}")
    if len(data) > MAX_FILE_BYTES:
        return _too_large(where, None)
    return data


def _too_large(where: Location, size: int | None) -> Problem:
    actual = f" ({size} bytes)" if size is not None else ""
    return Problem(
        where,
        "",
        f"file is larger than the limit of {MAX_FILE_BYTES} bytes{actual}; "
        "split it into several files",
    )
