"""Secret files on the host: what a container bind-mounts read-only at ``/run/secrets/NAME``.

Layout: ``ROOT/PROJECT/CONTAINER/NAME.DIGEST``. ``ROOT`` and the directories under it are
0700 and this user's; a file is 0400 (or the mode asked for), written whole or not at all (a
temporary file in the same directory, fsynced, renamed over, the directory fsynced), and never
rewritten: a changed value is a new file.

``DIGEST`` is an HMAC-SHA256 (128 bits shown) of the project, container, name, owner, mode and
value, keyed with 32 random bytes kept in ``ROOT/.name-key`` (0400, made on first use). A
changed secret (or owner or mode) thus gets a new path, so the container's bind source changes
and the planner recreates exactly the containers that use it, with nothing secret-specific in
the planner. The key makes the path say nothing about the value: the path is shown in plans,
``docker inspect`` and the state database, and a plain hash of a short password could be
brute-forced from it. Losing the key file only renames every secret file once (one recreate).

``prune`` removes the secret files (and stray temporary files) not in ``keep``, then empty
directories, all through directory descriptors opened without following symbolic links, so
it never leaves ``ROOT`` whatever is swapped in under it. Nothing here logs; no message holds
a value.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import os
import re
import secrets as random
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from reconciler.secrets.errors import StoreError

DIRECTORY_MODE = 0o700
FILE_MODE = 0o400
KEY_NAME = ".name-key"
KEY_BYTES = 32
DIGEST_HEX = 32
# Docker's own rule for container names, used for every part of a path.
PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_SECRET_FILE = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.-]{{0,127}}\.[0-9a-f]{{{DIGEST_HEX}}}")
_TEMPORARY = ".tmp-"
_OTHERS = stat.S_IRWXG | stat.S_IRWXO
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class SecretStore:
    """The secret files under ``root`` (see the module docstring). Creating the object touches
    nothing; the first ``path_for``, ``write`` or ``prune`` creates or checks ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.abspath(root))
        self._key: bytes | None = None

    def __repr__(self) -> str:
        return f"SecretStore({str(self.root)!r})"

    def path_for(
        self,
        project: str,
        container: str,
        name: str,
        value: bytes,
        *,
        owner: tuple[int, int] | None = None,
        mode: int = FILE_MODE,
    ) -> Path:
        """Where ``write`` puts ``value`` for this project, container and secret name (with this
        owner, ``(uid, gid)``, and mode): a new path whenever any of them changes."""
        for what, part in (("project", project), ("container", container), ("secret", name)):
            if not PART.fullmatch(part):
                raise StoreError(
                    f"the {what} name {part!r} cannot name a secret file (letters, digits, "
                    "'_', '.', '-'; up to 128, not starting with '.', '_' or '-')"
                )
        if mode & ~0o777 or mode & 0o222:
            raise StoreError(f"a secret file is read-only: mode {mode:04o} is not")
        uid, gid = owner if owner is not None else (-1, -1)
        message = b"\0".join(
            [project.encode(), container.encode(), name.encode(), b"%d:%d:%o" % (uid, gid, mode)]
        )
        mac = hmac.new(self._name_key(), message + b"\0" + value, hashlib.sha256)
        return self.root / project / container / f"{name}.{mac.hexdigest()[:DIGEST_HEX]}"

    def write(
        self,
        project: str,
        container: str,
        name: str,
        value: bytes,
        *,
        owner: tuple[int, int] | None = None,
        mode: int = FILE_MODE,
    ) -> Path:
        """The file holding ``value`` (``path_for``), written if it is not there yet: 0400 (or
        ``mode``), owned by ``owner`` when given (which needs root), atomically."""
        path = self.path_for(project, container, name, value, owner=owner, mode=mode)
        with self._directory(project, container, create=True) as fd:
            try:
                info = os.stat(path.name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                pass
            else:
                if _is_ours(info, owner, mode) and _holds(fd, path.name, value):
                    return path
                # Not what this store wrote there (a link, another mode, other bytes): replaced.
            _write_atomically(fd, path, value, owner, mode)
        return path

    def prune(self, keep: set[Path]) -> list[Path]:
        """Remove every secret file under ``root`` that is not in ``keep`` (paths from
        ``path_for``), stray temporary files, then directories left empty; the paths removed.
        Entries that are not the store's (other names, links to directories) are left alone."""
        kept = {Path(os.path.abspath(p)) for p in keep}
        removed: list[Path] = []
        with self._open_root() as root_fd:
            for name in _entries(root_fd, directories=False):
                if name.startswith(_TEMPORARY):  # a naming key being made when a crash came
                    _unlink(root_fd, name, self.root / name)
                    removed.append(self.root / name)
            for project in _entries(root_fd, directories=True):
                if not PART.fullmatch(project):
                    continue
                with _subdirectory(root_fd, project, create=False) as project_fd:
                    if project_fd is None:
                        continue
                    for container in _entries(project_fd, directories=True):
                        if not PART.fullmatch(container):
                            continue
                        where = self.root / project / container
                        with _subdirectory(project_fd, container, create=False) as fd:
                            if fd is None:
                                continue
                            for name in _entries(fd, directories=False):
                                stray = name.startswith(_TEMPORARY)
                                if not stray and (
                                    not _SECRET_FILE.fullmatch(name) or where / name in kept
                                ):
                                    continue
                                _unlink(fd, name, where / name)
                                removed.append(where / name)
                        _remove_if_empty(project_fd, container)
                _remove_if_empty(root_fd, project)
        return removed

    def _name_key(self) -> bytes:
        if self._key is None:
            with self._open_root() as fd:
                self._key = _read_or_make_key(fd, self.root / KEY_NAME)
        return self._key

    @contextmanager
    def _open_root(self) -> Iterator[int]:
        """A descriptor of ``root``, created 0700 if missing, refused when it is a symbolic
        link, not a directory, another user's, or open to group or others."""
        try:
            self.root.mkdir(parents=True, mode=DIRECTORY_MODE)
            os.chmod(self.root, DIRECTORY_MODE)  # whatever the umask took
        except FileExistsError:
            pass
        except OSError as exc:
            raise StoreError(
                f"cannot create the secret store {self.root}: {exc.strerror}", self.root
            ) from exc
        try:
            fd = os.open(self.root, _DIRECTORY_FLAGS)
        except OSError as exc:
            why = _why(exc, self.root)
            raise StoreError(f"cannot use the secret store {self.root}: {why}", self.root) from exc
        try:
            _check_directory(os.fstat(fd), self.root)
            yield fd
        finally:
            os.close(fd)

    @contextmanager
    def _directory(self, project: str, container: str, *, create: bool) -> Iterator[int]:
        with (
            self._open_root() as root_fd,
            _subdirectory(root_fd, project, create=create, where=self.root) as project_fd,
        ):
            assert project_fd is not None  # created
            with _subdirectory(
                project_fd, container, create=create, where=self.root / project
            ) as fd:
                assert fd is not None
                yield fd


def _check_directory(info: os.stat_result, path: Path) -> None:
    if not stat.S_ISDIR(info.st_mode):
        raise StoreError(f"cannot use the secret store {path}: it is not a directory", path)
    me = os.geteuid()
    if info.st_uid != me:
        raise StoreError(
            f"cannot use the secret store {path}: it belongs to uid {info.st_uid}, not to this "
            f"user (uid {me})",
            path,
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & _OTHERS:
        raise StoreError(
            f"cannot use the secret store {path}: other users may open it (mode {mode:04o}); "
            f"chmod 700 {path}",
            path,
        )


@contextmanager
def _subdirectory(
    parent: int, name: str, *, create: bool, where: Path | None = None
) -> Iterator[int | None]:
    """A descriptor of the directory ``name`` in ``parent`` (created 0700 when ``create``),
    never through a symbolic link; None when it is missing or not a directory and not
    ``create``."""
    path = (where or Path(".")) / name
    if create:
        try:
            os.mkdir(name, DIRECTORY_MODE, dir_fd=parent)
        except FileExistsError:
            pass
        except OSError as exc:
            raise StoreError(f"cannot create {path}: {exc.strerror}", path) from exc
    try:
        fd = os.open(name, _DIRECTORY_FLAGS, dir_fd=parent)
    except OSError as exc:
        if not create:
            yield None
            return
        raise StoreError(f"cannot use {path}: {_why(exc, name, parent)}", path) from exc
    try:
        if create:
            info = os.fstat(fd)
            if info.st_uid != os.geteuid():
                raise StoreError(f"cannot use {path}: it belongs to uid {info.st_uid}", path)
            if stat.S_IMODE(info.st_mode) != DIRECTORY_MODE:
                os.fchmod(fd, DIRECTORY_MODE)
        yield fd
    finally:
        os.close(fd)


def _entries(fd: int, *, directories: bool) -> list[str]:
    """The names in the directory ``fd`` of directories (not links to them) or of anything
    else, sorted."""
    with os.scandir(fd) as scan:
        return sorted(
            entry.name
            for entry in scan
            if entry.is_dir(follow_symlinks=False) == directories and entry.name != KEY_NAME
        )


def _is_ours(info: os.stat_result, owner: tuple[int, int] | None, mode: int) -> bool:
    uid, gid = owner if owner is not None else (os.geteuid(), None)
    return (
        stat.S_ISREG(info.st_mode)
        and stat.S_IMODE(info.st_mode) == mode
        and info.st_uid == uid
        and (gid is None or info.st_gid == gid)
    )


def _holds(directory: int, name: str, value: bytes) -> bool:
    """Whether the file ``name`` holds exactly ``value``."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, dir_fd=directory)
    except OSError:
        return False
    chunks = []
    size = 0
    try:
        while size <= len(value) and (chunk := os.read(fd, len(value) + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
    except OSError:
        return False
    finally:
        os.close(fd)
    return hmac.compare_digest(b"".join(chunks), value)


def _write_atomically(
    directory: int,
    path: Path,
    value: bytes,
    owner: tuple[int, int] | None,
    mode: int,
    *,
    replace: bool = True,
) -> bool:
    """Write ``value`` to ``path`` (whose directory is ``directory``) whole or not at all: a
    temporary file renamed over it (``replace``) or linked to it only when it does not exist
    (not ``replace``: False when it does)."""
    temporary = f"{_TEMPORARY}{random.token_hex(8)}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(temporary, flags, 0o600, dir_fd=directory)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror}", path) from exc
    try:
        try:
            view = memoryview(value)
            while view:
                view = view[os.write(fd, view) :]
            if owner is not None:
                os.fchown(fd, *owner)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.rename(temporary, path.name, src_dir_fd=directory, dst_dir_fd=directory)
        else:
            try:
                os.link(temporary, path.name, src_dir_fd=directory, dst_dir_fd=directory)
            except FileExistsError:
                return False
            finally:
                os.unlink(temporary, dir_fd=directory)
        os.fsync(directory)
    except OSError as exc:
        with suppress(OSError):
            os.unlink(temporary, dir_fd=directory)
        raise StoreError(f"cannot write {path}: {exc.strerror}", path) from exc
    return True


def _read_or_make_key(root: int, path: Path) -> bytes:
    """The store's naming key, made (0400) when missing; when two processes make it at once,
    both use the one that was linked first."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(2):
        try:
            fd = os.open(KEY_NAME, flags, dir_fd=root)
        except FileNotFoundError:
            key = random.token_bytes(KEY_BYTES)
            _write_atomically(root, path, key, None, FILE_MODE, replace=False)
            continue
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {_why(exc, KEY_NAME, root)}", path) from exc
        try:
            info = os.fstat(fd)
            key = os.read(fd, KEY_BYTES + 1)
        finally:
            os.close(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or len(key) != KEY_BYTES:
            raise StoreError(
                f"{path} is not the secret store's naming key ({KEY_BYTES} bytes of this user's):"
                " remove it (every secret file gets a new name once)",
                path,
            )
        return key
    raise StoreError(f"cannot make {path}", path)


def _unlink(directory: int, name: str, path: Path) -> None:
    try:
        os.unlink(name, dir_fd=directory)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise StoreError(f"cannot remove {path}: {exc.strerror}", path) from exc


def _remove_if_empty(parent: int, name: str) -> None:
    try:
        os.rmdir(name, dir_fd=parent)
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT, errno.ENOTDIR):
            raise StoreError(f"cannot remove the empty directory {name}: {exc.strerror}") from exc


def _why(exc: OSError, name: str | Path, parent: int | None = None) -> str:
    """Why opening the directory ``name`` failed: a symbolic link opened without following
    fails with ELOOP, or ENOTDIR as a directory."""
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        try:
            if stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
                return "it is a symbolic link"
        except OSError:
            pass
    return str(exc.strerror)
