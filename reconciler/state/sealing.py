"""Env values in the revision history, sealed.

A revision keeps its manifests so that a rollback needs nothing else, and manifests hold
env values, passwords among them. The values are encrypted (Fernet: AES-128-CBC and
HMAC-SHA256, from the cryptography package) with a key kept beside the database in a file of
its own (``history.key``, 0600), so a copy of ``state.db`` (a backup, a support bundle) holds
no value in clear. Every env value is sealed, not only secret-looking names: a name says
little. Whoever can read the state directory itself can read the key, like the Engine's own
``docker inspect``; see docs/decisions/state-safety.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.errors import StateError
from reconciler.state import privatedir

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

KEY_NAME = "history.key"
SEALED = "$sealed"


class Sealer:
    """Seals and opens the env values of one state directory's revision documents."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / KEY_NAME
        self._fernet: Fernet | None = None

    def seal(self, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The documents with every env value replaced by ``{"$sealed": token}``."""
        fernet = self._key(create=True)
        return _map_env(documents, lambda v: {SEALED: fernet.encrypt(str(v).encode()).decode()})

    def open(self, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The documents with their sealed env values in clear again."""
        if not any(_sealed(documents)):
            return documents
        fernet = self._key(create=False)
        from cryptography.fernet import InvalidToken

        def opened(value: Any) -> Any:
            if not (isinstance(value, dict) and SEALED in value):
                return value
            try:
                return fernet.decrypt(str(value[SEALED]).encode()).decode()
            except InvalidToken as exc:
                raise StateError(
                    f"an env value in the revision history does not open with {self.path} "
                    "(the key was replaced?)"
                ) from exc

        return _map_env(documents, opened)

    def seal_bytes(self, data: bytes) -> bytes:
        """``data`` encrypted with the state directory's key (made when missing)."""
        return self._key(create=True).encrypt(data)

    def open_bytes(self, token: bytes) -> bytes:
        """What ``seal_bytes`` sealed; raises ``StateError`` when it does not open."""
        from cryptography.fernet import InvalidToken

        try:
            return self._key(create=False).decrypt(token)
        except InvalidToken as exc:
            raise StateError(f"a file sealed with {self.path} does not open") from exc

    def _key(self, *, create: bool) -> Fernet:
        if self._fernet is not None:
            return self._fernet
        from cryptography.fernet import Fernet

        if create:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            except FileExistsError:
                pass
            except OSError as exc:
                raise StateError(f"cannot create {self.path}: {exc.strerror}") from exc
            else:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(Fernet.generate_key())
        elif not self.path.exists():
            raise StateError(
                f"the revision history's env values are sealed with {self.path}, which is "
                "missing: they cannot be read back"
            )
        privatedir.private_file(self.path, create=False)
        try:
            self._fernet = Fernet(self.path.read_bytes().strip())
        except (OSError, ValueError) as exc:
            raise StateError(f"cannot use the key {self.path}: {exc}") from exc
        return self._fernet


def _sealed(documents: list[dict[str, Any]]) -> list[bool]:
    return [isinstance(v, dict) and SEALED in v for doc in documents for v in _env(doc).values()]


def _env(document: dict[str, Any]) -> dict[str, Any]:
    env = document.get("manifest", {}).get("spec", {}).get("env")
    return env if isinstance(env, dict) else {}


def _map_env(documents: list[dict[str, Any]], change: Any) -> list[dict[str, Any]]:
    """The documents with each env value changed; ``documents`` are left as they are. Only
    the dicts on the way to an env are copied (a deep copy of a revision of 250 containers
    took ~35 ms): the rest is shared, read-only, with the input."""
    out = []
    for doc in documents:
        env = _env(doc)
        if not env:
            out.append(doc)
            continue
        spec = {**doc["manifest"]["spec"], "env": {k: change(v) for k, v in env.items()}}
        out.append({**doc, "manifest": {**doc["manifest"], "spec": spec}})
    return out
