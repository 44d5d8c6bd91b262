"""Which files make up a manifest set, and reading them within the size limit."""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path

from reconciler.errors import Location, Problem, SourceUnavailable
from reconciler.manifests.constants import MAX_FILE_BYTES, PLACEMENT_FILES

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


# One expression for all of them: a directory of 250 manifests is listed on every loop pass.
_IGNORED_RE = re.compile("|".join(fnmatch.translate(p) for p in _IGNORED))


def is_ignored(name: str) -> bool:
    """True for hidden files and editor temporary or backup files."""
    return name.startswith(".") or _IGNORED_RE.match(name) is not None


def discover(
    paths: Sequence[str | Path],
    *,
    recursive: bool = False,
    stats: dict[Path, os.stat_result] | None = None,
) -> list[Path]:
    """The manifest files under ``paths``, sorted, each once.

    A file named explicitly is always read (a named pipe or a device then becomes a problem
    of that file: ``read_limited`` says what it is). A directory is read at its top level
    only, like the kubelet's static-pod directory and ``kubectl apply -f DIR``; with
    ``recursive`` it is walked (``-R``), skipping hidden directories. Only regular
    ``.yaml``/``.yml`` files that are not hidden or editor leftovers count, and not a
    directory's ``placement.yaml`` (which places the manifests beside it in a fleet).
    A path that does not exist raises ``SourceUnavailable``: a missing source is never empty.

    "Each once" is by the file itself (device and inode, through symlinks): a link to a
    manifest of the set, or a second hard link, is not read twice. ``stats``, when given,
    gets each found file's ``os.stat`` (through symlinks), so that a caller asking again
    (the loop, on every pass) need not.
    """
    found: dict[tuple[object, ...], Path] = {}
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for file, info in _walk(path, recursive):
                found.setdefault(_identity(file, info), file)
                if stats is not None and info is not None:
                    stats[file] = info
        elif path.exists():
            found.setdefault(_identity(path, _stat(path)), path)
        else:
            raise SourceUnavailable(f"{path} does not exist")
    return sorted(found.values())


def _walk(root: Path, recursive: bool) -> list[tuple[Path, os.stat_result | None]]:
    files = []
    # Symlinked directories are not followed: a link loop or a link to / must not hang a load.
    for dirpath, dirnames, filenames in os.walk(root, onerror=_raise):
        dirnames[:] = sorted(d for d in dirnames if recursive and not d.startswith("."))
        for name in sorted(filenames):
            if not name.endswith(SUFFIXES) or is_ignored(name) or name in PLACEMENT_FILES:
                continue
            path = Path(dirpath) / name
            info = _stat(path)
            # A named pipe, socket or device (through symlinks) is skipped: opening a pipe
            # blocks until something writes to it, and none of them is a manifest. A path
            # that cannot be examined is kept, so that reading it reports why.
            if info is None or stat.S_ISREG(info.st_mode):
                files.append((path, info))
    return files


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _identity(path: Path, info: os.stat_result | None) -> tuple[object, ...]:
    if info is not None:
        return (info.st_dev, info.st_ino)
    return (os.path.realpath(path),)


def _raise(error: OSError) -> None:
    raise SourceUnavailable(f"cannot read directory {error.filename}: {error.strerror}")


def display_name(path: Path | str) -> str:
    """``path`` as text that can be printed and stored anywhere: bytes of a file name that
    are not UTF-8 are written as ``\\xff`` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def read_limited(path: Path) -> bytes | Problem:
    """The bytes of ``path``, or a problem if it is too large, unreadable, not a regular file
    or not named in UTF-8.

    The size is checked before reading and again while reading (the file may grow), so a huge
    file is never read whole.
    """
    name = display_name(path)
    where = Location(name)
    if name != str(path):
        # The name would reach labels, the journal and JSON, all UTF-8: refuse it here, once.
        return Problem(where, "", "the file name is not valid UTF-8; rename the file")
    try:
        kind = _not_regular(path.stat().st_mode)
        if kind:
            return _special_file(where, kind)
        # O_NONBLOCK: should the file have become a named pipe since, opening it must not
        # wait for a writer; fstat then tells what was opened.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(fd)
            kind = _not_regular(info.st_mode)
            if kind:
                return _special_file(where, kind)
            if info.st_size > MAX_FILE_BYTES:
                return _too_large(where, info.st_size)
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return Problem(where, "", f"cannot read the file: {exc.strerror or exc}")
    if len(data) > MAX_FILE_BYTES:
        return _too_large(where, None)
    return data


def _not_regular(mode: int) -> str:
    """What a file of ``mode`` is when it is not a regular file ("" when it is)."""
    for test, kind in (
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a directory"),
    ):
        if test(mode):
            return kind
    return ""


def _special_file(where: Location, kind: str) -> Problem:
    return Problem(where, "", f"is {kind}, not a regular file; only regular files are manifests")


def _too_large(where: Location, size: int | None) -> Problem:
    actual = f" ({size} bytes)" if size is not None else ""
    return Problem(
        where,
        "",
        f"file is larger than the limit of {MAX_FILE_BYTES} bytes{actual}; "
        "split it into several files",
    )
