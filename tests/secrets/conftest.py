"""Fixtures for the secrets tests: age identities made by pyrage, key files, and files
encrypted by the real sops binary and by pyrage.

Every secret value used here contains ``PLAINTEXT``, so a test can grep any message for it.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.secrets.decrypt import sops_binary
from reconciler.secrets.keys import AgeKey, parse_identities, pyrage

PLAINTEXT = "s3cr3t-PLAINTEXT-hunter2"


@dataclass(frozen=True)
class Identity:
    """An age identity made for one test: its secret line and its public recipient."""

    secret: str
    recipient: str

    def key(self) -> AgeKey:
        return parse_identities(self.secret, "test")


def make_identity() -> Identity:
    identity = pyrage().x25519.Identity.generate()
    return Identity(str(identity), str(identity.to_public()))


@pytest.fixture
def identity() -> Identity:
    return make_identity()


@pytest.fixture
def other_identity() -> Identity:
    return make_identity()


def write_key_file(path: Path, identity: Identity, mode: int = 0o600) -> Path:
    path.write_text(
        f"# created: 2026-01-01T00:00:00Z\n# public key: {identity.recipient}\n{identity.secret}\n"
    )
    os.chmod(path, mode)
    return path


@pytest.fixture
def key_file(tmp_path: Path, identity: Identity) -> Path:
    return write_key_file(tmp_path / "age.key", identity)


@pytest.fixture(scope="session")
def sops() -> Path:
    return sops_binary()


def sops_encrypt(sops: Path, source: Path, recipient: str, target: Path, *types: str) -> Path:
    """``sops --encrypt --age RECIPIENT [types] SOURCE > TARGET``, in an empty environment."""
    done = subprocess.run(
        [str(sops), "--encrypt", "--age", recipient, *types, str(source)],
        capture_output=True,
        env={"PATH": os.defpath, "HOME": str(source.parent)},
        cwd=source.parent,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    target.write_bytes(done.stdout)
    return target


def age_encrypt(plaintext: bytes, recipient: str, target: Path, *, armored: bool = False) -> Path:
    age = pyrage()
    target.write_bytes(
        age.encrypt(plaintext, [age.x25519.Recipient.from_str(recipient)], armored=armored)
    )
    return target
