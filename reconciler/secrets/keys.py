"""The host's age key: where it comes from, and whether a key file may be used.

Looked for in this order; the first one set or present is the key, and a bad one is refused,
never skipped for the next:

1. ``$RECONCILE_AGE_KEY_FILE``: a key file;
2. ``$SOPS_AGE_KEY_FILE``: a key file (sops's own variable, for hosts set up for sops);
3. ``$SOPS_AGE_KEY``: the key itself, in the environment;
4. the default paths the caller gives, in order (reconcile passes ``STATE_DIR/age.key`` then
   ``/etc/reconcile/age.key``); a missing default is skipped.

A key file holds age identities (``AGE-SECRET-KEY-1...``, one a line; ``#`` comments and empty
lines allowed: what ``age-keygen`` writes). It must be a regular file (a symbolic link to one is
followed), owned by root or by the user reconcile runs as, with no permission for group or
others (``chmod 600``), as ssh demands of a private key. Unlike the state directory
(``state/privatedir``), a loose key file is refused rather than tightened: it may already have
been read, and it is the operator's file, not reconcile's.

``AgeKey`` holds the identities; its ``repr`` and every message name only where the key came
from and its public recipients (``age1...``), never key material. It refuses to be pickled, so
it cannot end up in a cache file.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from reconciler.secrets.errors import KeyRefused, NoKey

KEY_FILE_ENV = "RECONCILE_AGE_KEY_FILE"
SOPS_KEY_FILE_ENV = "SOPS_AGE_KEY_FILE"
SOPS_KEY_ENV = "SOPS_AGE_KEY"
# An identity line is 74 characters; a key file of a few identities is well under 1 KiB.
MAX_KEY_BYTES = 64 * 1024
IDENTITY_PREFIX = "AGE-SECRET-KEY-1"
PLUGIN_PREFIX = "AGE-PLUGIN-"
_OTHERS = stat.S_IRWXG | stat.S_IRWXO


class AgeKey:
    """One or more age X25519 identities and where they came from (``source``: a path, or
    ``$SOPS_AGE_KEY``). ``recipients`` are the matching public keys, safe to print. Made by
    ``parse_identities`` (which checks the identities), not directly."""

    __slots__ = ("_identities", "recipients", "source")

    def __init__(self, identities: Sequence[str], recipients: Sequence[str], source: str) -> None:
        if not identities or len(identities) != len(recipients):
            raise ValueError("an AgeKey needs one recipient per identity")
        self._identities = tuple(identities)
        self.recipients = tuple(recipients)
        self.source = source

    @property
    def recipient(self) -> str:
        """The first (usually the only) public recipient: what a file must be encrypted for."""
        return self.recipients[0]

    def identity_text(self) -> str:
        """The identities, one a line: what ``SOPS_AGE_KEY`` takes. Key material: for a child's
        environment only, never for argv, a message or a log."""
        return "\n".join(self._identities) + "\n"

    def pyrage_identities(self) -> list[Any]:
        """The identities as pyrage objects, for ``pyrage.decrypt``."""
        x25519 = pyrage().x25519
        return [x25519.Identity.from_str(line) for line in self._identities]

    def __repr__(self) -> str:
        return f"AgeKey(source={self.source!r}, recipients={list(self.recipients)!r})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("an age key is not pickled (it would put key material in a file)")


def parse_identities(text: str, source: str, path: Path | None = None) -> AgeKey:
    """The age key in ``text``: the content of the key file at ``path``, or of the variable
    ``source`` names. Errors give line numbers, never a line."""
    what = f"the age key {path}" if path is not None else source
    identities = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(PLUGIN_PREFIX):
            raise KeyRefused(
                f"line {number} of {what} is an age plugin identity; reconcile uses X25519 "
                f"identities ({IDENTITY_PREFIX}...) only",
                path,
            )
        if not line.startswith(IDENTITY_PREFIX):
            raise KeyRefused(
                f"line {number} of {what} is not an age identity ({IDENTITY_PREFIX}...)", path
            )
        identities.append((number, line))
    if not identities:
        raise KeyRefused(f"{what} holds no age identity ({IDENTITY_PREFIX}...)", path)
    recipients = [_recipient(line, f"line {number} of {what}", path) for number, line in identities]
    return AgeKey([line for _, line in identities], recipients, source)


def check_key_file(info: os.stat_result, path: Path | str) -> None:
    """Refuse a key file (whose ``fstat`` is ``info``) that is not a regular file, that another
    user than root or this one owns, or that group or others may access."""
    if not stat.S_ISREG(info.st_mode):
        raise KeyRefused(f"the age key {path} is not a regular file", path)
    me = os.geteuid()
    if info.st_uid not in (0, me):
        raise KeyRefused(
            f"the age key {path} belongs to uid {info.st_uid}, not to root or this user "
            f"(uid {me}): chown it",
            path,
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & _OTHERS:
        raise KeyRefused(
            f"the age key {path} could be read by other users (mode {mode:04o}): chmod 600 {path}",
            path,
        )


def read_key_file(path: Path, what: str = "") -> AgeKey:
    """The age key in the file at ``path``, checked (``check_key_file``) on the open file, so
    what is checked is what is read. ``what`` says how the path was chosen (for example
    ``$RECONCILE_AGE_KEY_FILE``), for the error when it is missing."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        chosen = f" ({what})" if what else ""
        if exc.errno == errno.ENOENT:
            raise NoKey(f"the age key {path}{chosen} does not exist", path) from exc
        raise KeyRefused(f"cannot open the age key {path}{chosen}: {exc.strerror}", path) from exc
    try:
        check_key_file(os.fstat(fd), path)
        data = os.read(fd, MAX_KEY_BYTES + 1)
    except OSError as exc:
        raise KeyRefused(f"cannot read the age key {path}: {exc.strerror}", path) from exc
    finally:
        os.close(fd)
    if len(data) > MAX_KEY_BYTES:
        raise KeyRefused(f"the age key {path} is over {MAX_KEY_BYTES} bytes: not a key file", path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KeyRefused(f"the age key {path} is not text: not a key file", path) from exc
    return parse_identities(text, str(path), path)


def find_key(
    default_paths: Sequence[Path] = (), environ: Mapping[str, str] | None = None
) -> AgeKey:
    """The host's age key, looked for in the order of the module docstring; ``NoKey`` naming
    every place looked at when there is none."""
    env = os.environ if environ is None else environ
    for variable in (KEY_FILE_ENV, SOPS_KEY_FILE_ENV):
        if value := env.get(variable):
            return read_key_file(Path(value).expanduser(), f"${variable}")
    if text := env.get(SOPS_KEY_ENV):
        return parse_identities(text, f"${SOPS_KEY_ENV}")
    for path in default_paths:
        try:
            return read_key_file(path)
        except NoKey:
            continue
    raise NoKey(no_key_message(default_paths))


def no_key_message(default_paths: Sequence[Path]) -> str:
    """What to do when there is no key: ``no age key: set RECONCILE_AGE_KEY_FILE or put one
    at A or B``."""
    if not default_paths:
        return f"no age key: set {KEY_FILE_ENV} (or {SOPS_KEY_FILE_ENV}, {SOPS_KEY_ENV})"
    places = " or ".join(str(p) for p in default_paths)
    return f"no age key: set {KEY_FILE_ENV} or put one at {places} (mode 0600)"


def pyrage() -> Any:
    """The pyrage module (age in Python), imported when first needed: it is a compiled
    extension that start-up does not need. Untyped, hence ``Any``."""
    import pyrage as module  # type: ignore[import-untyped]

    return module


def _recipient(identity: str, where: str, path: Path | None) -> str:
    age = pyrage()
    try:
        return str(age.x25519.Identity.from_str(identity).to_public())
    except (age.IdentityError, ValueError) as exc:
        # pyrage's message is about the encoding, never the key; still left out.
        raise KeyRefused(f"{where} is not a valid age identity", path) from exc
