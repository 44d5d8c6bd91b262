"""What can go wrong with a secret, each naming the file (never its content).

Every class is a ``SecretError``: the input (a key, an encrypted file, an env file) cannot be
used as it is; nothing was changed. The integrator places it at the manifest line that named
the file.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.errors import Location, ReconcileError


class SecretError(ReconcileError):
    """A key, an encrypted file, an env file or the secret store cannot be used. ``path`` is
    the file concerned (None when there is none, as for a key in the environment)."""

    def __init__(self, message: str, path: Path | str | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else Path(path)


class NoKey(SecretError):
    """No age key was found where one is looked for."""


class KeyRefused(SecretError):
    """An age key exists but is not used: others may read it, another user owns it, it is not
    a regular file, or it holds no age identity."""


class NotForThisKey(SecretError):
    """The file is encrypted, but not for this host's age key. ``recipient`` is this host's
    public recipient (``age1...``); ``file_recipients`` those the file is encrypted for,
    when the file says (SOPS files do, age files do not)."""

    def __init__(
        self,
        message: str,
        path: Path | str | None,
        recipient: str,
        file_recipients: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, path)
        self.recipient = recipient
        self.file_recipients = file_recipients


class CorruptSecret(SecretError):
    """The file looks encrypted but cannot be read back: damaged, edited after encryption
    (the SOPS MAC), truncated, or not valid in its format."""


class NotEncrypted(SecretError):
    """The file must be encrypted (SOPS or age) and is not."""


class SopsUnavailable(SecretError):
    """The sops binary is missing, cannot run, or did not finish in time."""


class EnvFileError(SecretError):
    """An env file cannot be read or parsed; ``location`` is its file and line."""

    def __init__(self, message: str, location: Location) -> None:
        where = str(location)
        super().__init__(f"{where}: {message}" if where else message, location.file or None)
        self.location = location


class StoreError(SecretError):
    """The secret store's directory or one of its files cannot be used safely."""
