"""SOPS files (encrypted here by the real sops binary) and age files (by pyrage) decrypt back with
the host's key; another key, a damaged file, a plain file and a missing sops each give a clear
error naming the file, never its content."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from reconciler.secrets import decrypt as decrypting
from reconciler.secrets.decrypt import (
    Decryptor,
    Kind,
    decrypt,
    kind_of,
    sops_binary,
    sops_failure,
    sops_types,
)
from reconciler.secrets.errors import (
    CorruptSecret,
    NoKey,
    NotEncrypted,
    NotForThisKey,
    SecretError,
    SopsUnavailable,
)
from reconciler.secrets.keys import AgeKey, pyrage
from tests.secrets.conftest import PLAINTEXT, Identity, age_encrypt, sops_encrypt

DOTENV = f'PASSWORD={PLAINTEXT}\nexport USER="bob smith"\n# a comment\nEMPTY=\n'.encode()


@pytest.fixture
def sops_dotenv(tmp_path: Path, sops: Path, identity: Identity) -> Path:
    plain = tmp_path / "plain.env"
    plain.write_bytes(DOTENV)
    encrypted = sops_encrypt(
        sops,
        plain,
        identity.recipient,
        tmp_path / "db.enc.env",
        "--input-type",
        "dotenv",
        "--output-type",
        "dotenv",
    )
    plain.unlink()
    return encrypted


def test_a_sops_dotenv_file_decrypts(sops_dotenv: Path, identity: Identity) -> None:
    text = sops_dotenv.read_bytes()
    assert PLAINTEXT.encode() not in text
    assert kind_of(text) is Kind.SOPS
    assert decrypt(sops_dotenv, identity.key()) == DOTENV


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("db.yaml", f"db:\n  password: {PLAINTEXT}\n  port: 5432\n".encode()),
        ("db.json", json.dumps({"password": PLAINTEXT}).encode()),
        ("cert.pem", f"-----BEGIN KEY-----\n{PLAINTEXT}\n\x00\xff\n".encode("latin-1")),
    ],
)
def test_sops_files_of_every_format_decrypt(
    tmp_path: Path, sops: Path, identity: Identity, name: str, content: bytes
) -> None:
    plain = tmp_path / name
    plain.write_bytes(content)
    encrypted = sops_encrypt(sops, plain, identity.recipient, tmp_path / f"enc.{name}")
    assert PLAINTEXT.encode() not in encrypted.read_bytes()
    assert kind_of(encrypted.read_bytes()) is Kind.SOPS
    result = decrypt(encrypted, identity.key())
    if name.endswith(".yaml"):
        assert PLAINTEXT.encode() in result and b"port: 5432" in result
    elif name.endswith(".json"):
        assert json.loads(result) == {"password": PLAINTEXT}
    else:
        assert result == content  # binary: the bytes, exactly


def test_a_sops_file_whose_name_hides_its_format_decrypts(
    tmp_path: Path, sops: Path, identity: Identity
) -> None:
    plain = tmp_path / "db.yaml"
    plain.write_text(f"password: {PLAINTEXT}\n")
    encrypted = sops_encrypt(sops, plain, identity.recipient, tmp_path / "db.secret")
    assert sops_types(encrypted, encrypted.read_bytes()) == (
        "--input-type",
        "yaml",
        "--output-type",
        "yaml",
    )
    assert decrypt(encrypted, identity.key()) == f"password: {PLAINTEXT}\n".encode()


@pytest.mark.parametrize("armored", [False, True])
def test_an_age_file_decrypts(tmp_path: Path, identity: Identity, armored: bool) -> None:
    encrypted = age_encrypt(
        PLAINTEXT.encode(), identity.recipient, tmp_path / "pw.age", armored=armored
    )
    assert kind_of(encrypted.read_bytes()) is Kind.AGE
    assert decrypt(encrypted, identity.key()) == PLAINTEXT.encode()


def test_an_armored_age_file_with_blank_lines_around_decrypts(
    tmp_path: Path, identity: Identity
) -> None:
    encrypted = age_encrypt(b"x", identity.recipient, tmp_path / "pw.age", armored=True)
    encrypted.write_bytes(b"\n  \n" + encrypted.read_bytes() + b"\n\n")
    assert decrypt(encrypted, identity.key()) == b"x"


# Another host's key.


def test_a_sops_file_for_another_key_names_both_recipients(
    sops_dotenv: Path, identity: Identity, other_identity: Identity
) -> None:
    with pytest.raises(NotForThisKey) as refused:
        decrypt(sops_dotenv, other_identity.key())
    assert str(refused.value) == (
        f"{sops_dotenv} is not encrypted for this host's age key (recipient "
        f"{other_identity.recipient}); it is encrypted for {identity.recipient}"
    )
    assert refused.value.file_recipients == (identity.recipient,)
    assert refused.value.path == sops_dotenv


def test_an_age_file_for_another_key(
    tmp_path: Path, identity: Identity, other_identity: Identity
) -> None:
    encrypted = age_encrypt(PLAINTEXT.encode(), identity.recipient, tmp_path / "pw.age")
    with pytest.raises(NotForThisKey) as refused:
        decrypt(encrypted, other_identity.key())
    assert str(refused.value) == (
        f"{encrypted} is not encrypted for this host's age key (recipient "
        f"{other_identity.recipient})"
    )


def test_an_age_file_with_a_passphrase_says_so(tmp_path: Path, identity: Identity) -> None:
    encrypted = tmp_path / "pw.age"
    encrypted.write_bytes(pyrage().passphrase.encrypt(b"x", "correct horse"))
    with pytest.raises(NotForThisKey, match=r"is encrypted with a passphrase"):
        decrypt(encrypted, identity.key())


# Damaged files.


def _replace_once(path: Path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert data.count(old) >= 1
    path.write_bytes(data.replace(old, new, 1))


def test_a_sops_value_edited_by_hand_is_corrupt(sops_dotenv: Path, identity: Identity) -> None:
    _replace_once(sops_dotenv, b"PASSWORD=ENC[AES256_GCM,data:", b"PASSWORD=ENC[AES256_GCM,data:AA")
    with pytest.raises(CorruptSecret) as corrupt:
        decrypt(sops_dotenv, identity.key())
    assert str(corrupt.value) == (
        f"a value in {sops_dotenv} cannot be decrypted: it was changed after it was encrypted, "
        "or is damaged"
    )


def test_a_sops_file_with_a_value_removed_by_hand_fails_its_mac(
    sops_dotenv: Path, identity: Identity
) -> None:
    lines = sops_dotenv.read_bytes().splitlines(keepends=True)
    sops_dotenv.write_bytes(b"".join(line for line in lines if not line.startswith(b"export")))
    with pytest.raises(CorruptSecret) as corrupt:
        decrypt(sops_dotenv, identity.key())
    assert str(corrupt.value) == (
        f"{sops_dotenv} fails its integrity check (MAC mismatch): it was changed after it was "
        "encrypted, or is damaged; edit it with sops, not by hand"
    )


def test_a_plaintext_line_in_a_sops_dotenv_file_is_not_echoed(
    sops_dotenv: Path, identity: Identity
) -> None:
    # sops's own message quotes the line: "invalid dotenv input line: <it>".
    sops_dotenv.write_bytes(sops_dotenv.read_bytes() + PLAINTEXT.encode() + b"\n")
    with pytest.raises(CorruptSecret) as corrupt:
        decrypt(sops_dotenv, identity.key())
    assert str(corrupt.value) == (
        f"{sops_dotenv} has a line that is not KEY=VALUE (sops reads a dotenv file line by line)"
    )


def test_a_damaged_data_key_for_this_host_is_corrupt(sops_dotenv: Path, identity: Identity) -> None:
    # The age stanza holding the data key for this very recipient: its armor, damaged.
    _replace_once(sops_dotenv, b"FILE-----\\nYWdl", b"FILE-----\\nZWdl")
    with pytest.raises(CorruptSecret) as corrupt:
        decrypt(sops_dotenv, identity.key())
    assert str(corrupt.value) == (
        f"{sops_dotenv} is encrypted for this host's age key (recipient {identity.recipient}) "
        "but its data key cannot be decrypted: the file is damaged; encrypt it again"
    )


def test_invalid_yaml_in_a_sops_file_is_corrupt(tmp_path: Path, identity: Identity) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"a: 1\nb: {PLAINTEXT}\n  c: y\nsops:\n  mac: ENC[x]\n")
    with pytest.raises(CorruptSecret) as corrupt:
        decrypt(path, identity.key())
    assert str(corrupt.value) == f"{path} is not valid yaml at line 3"


@pytest.mark.parametrize("armored", [False, True])
def test_a_truncated_age_file_is_corrupt(tmp_path: Path, identity: Identity, armored: bool) -> None:
    encrypted = age_encrypt(
        PLAINTEXT.encode() * 10, identity.recipient, tmp_path / "pw.age", armored=armored
    )
    data = encrypted.read_bytes()
    encrypted.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(CorruptSecret) as corrupt:
        decrypt(encrypted, identity.key())
    assert str(corrupt.value).startswith(f"{encrypted} is not a valid age file (")
    assert str(corrupt.value).endswith("): damaged or truncated")


# Plain files, missing keys, missing sops.


def test_a_plain_file_is_refused_when_it_must_be_encrypted(tmp_path: Path) -> None:
    plain = tmp_path / "db.env"
    plain.write_bytes(DOTENV)

    def no_key() -> AgeKey:
        raise AssertionError("a plain file needs no key")

    with pytest.raises(NotEncrypted) as refused:
        decrypt(plain, no_key)
    assert str(refused.value) == (
        f"{plain} is not encrypted (neither a SOPS file nor an age file): encrypt it with sops "
        "or age for this host's age key"
    )
    assert decrypt(plain, no_key, must_be_encrypted=False) == DOTENV


def test_an_encrypted_file_without_a_key(tmp_path: Path, sops_dotenv: Path) -> None:
    decryptor = Decryptor((tmp_path / "state" / "age.key",), environ={})
    with pytest.raises(NoKey) as missing:
        decryptor.decrypt(sops_dotenv)
    assert str(missing.value) == (
        f"no age key: set RECONCILE_AGE_KEY_FILE or put one at {tmp_path}/state/age.key (mode 0600)"
    )


def test_the_decryptor_finds_the_key_once(
    sops_dotenv: Path, key_file: Path, identity: Identity
) -> None:
    decryptor = Decryptor(environ={"RECONCILE_AGE_KEY_FILE": str(key_file)})
    assert "not looked for yet" in repr(decryptor)
    assert decryptor.decrypt(sops_dotenv) == DOTENV
    key_file.unlink()
    assert decryptor.decrypt(sops_dotenv) == DOTENV
    assert repr(decryptor) == f"Decryptor(key={identity.recipient})"


def test_a_missing_file_is_named(tmp_path: Path, identity: Identity) -> None:
    with pytest.raises(SecretError) as missing:
        decrypt(tmp_path / "gone.env", identity.key())
    assert str(missing.value) == f"cannot read {tmp_path}/gone.env: No such file or directory"


def test_a_file_over_the_cap_is_refused(tmp_path: Path, identity: Identity) -> None:
    big = tmp_path / "big.age"
    with big.open("wb") as handle:
        handle.truncate(decrypting.MAX_ENCRYPTED_BYTES + 1)
    with pytest.raises(SecretError, match=r"big.age is over 4194304 bytes"):
        decrypt(big, identity.key())


def test_sops_missing(sops_dotenv: Path, identity: Identity, tmp_path: Path) -> None:
    with pytest.raises(SopsUnavailable, match=r"cannot run sops \(.*/nope\): No such file"):
        decrypt(sops_dotenv, identity.key(), sops=tmp_path / "nope")
    with pytest.raises(SopsUnavailable) as unavailable:
        sops_binary({"RECONCILE_SOPS_BINARY": str(tmp_path / "nope")})
    assert str(unavailable.value) == (
        f"$RECONCILE_SOPS_BINARY names {tmp_path}/nope, which is not an executable file"
    )


def test_sops_that_hangs_times_out(sops_dotenv: Path, identity: Identity, tmp_path: Path) -> None:
    slow = tmp_path / "slow-sops"
    slow.write_text("#!/bin/sh\nexec sleep 30\n")
    slow.chmod(0o700)
    with pytest.raises(SopsUnavailable) as late:
        decrypt(sops_dotenv, identity.key(), sops=slow, timeout=0.5)
    assert str(late.value) == f"sops took longer than 0.5s to decrypt {sops_dotenv}"


def test_sops_gets_the_key_in_its_environment_only(
    sops_dotenv: Path, identity: Identity, tmp_path: Path
) -> None:
    spy = tmp_path / "spy-sops"
    record = tmp_path / "record"
    spy.write_text(
        f'#!/bin/sh\n{{ echo "ARGS $*"; env; }} > {record}\nread -r line && echo "STDIN $line" '
        f">> {record}\nexit 0\n"
    )
    spy.chmod(0o700)
    decrypt(sops_dotenv, identity.key(), sops=spy)
    seen = record.read_text()
    args = next(line for line in seen.splitlines() if line.startswith("ARGS"))
    assert args.startswith("ARGS --decrypt /") and args.endswith("/input.env")
    assert identity.secret not in args
    assert f"SOPS_AGE_KEY={identity.secret}" in seen
    assert "SOPS_AGE_KEY_FILE" not in seen
    assert "STDIN" not in seen  # stdin is /dev/null
    home = next(line for line in seen.splitlines() if line.startswith("HOME="))
    assert not Path(home.removeprefix("HOME=")).exists()  # an empty home, gone afterwards


def test_the_packaged_sops_binary_is_found() -> None:
    found = sops_binary({"PATH": ""})
    assert found.parts[-3:] == ("sops_binary", "bin", "sops")
    assert os.access(found, os.X_OK)
    assert stat.S_ISREG(found.stat().st_mode)


def test_the_override_wins(tmp_path: Path) -> None:
    other = tmp_path / "sops"
    other.write_text("#!/bin/sh\n")
    other.chmod(0o755)
    assert sops_binary({"RECONCILE_SOPS_BINARY": str(other)}) == other


# Which kind a file is, from literal content.


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"age-encryption.org/v1\n-> X25519 abc\n", Kind.AGE),
        (b"-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n", Kind.AGE),
        (b"\n  -----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n", Kind.AGE),
        (b"A=ENC[AES256_GCM,data:x]\nsops_version=3.11.0\n", Kind.SOPS),
        (b"a: ENC[x]\nsops:\n    mac: ENC[y]\n    version: 3.11.0\n", Kind.SOPS),
        (b'{"data": "ENC[x]", "sops": {"mac": "ENC[y]"}}', Kind.SOPS),
        (b'{"a": 1, "sops": {"version": "3.11.0"}}', Kind.SOPS),
        (b"[section]\na = ENC[x]\n[sops]\nmac = ENC[y]\n", Kind.SOPS),
        (b"A=1\nB=2\n", Kind.PLAIN),
        (b"sops: just a key\n", Kind.PLAIN),
        (b"app:\n  sops:\n    mac: 1\n", Kind.PLAIN),
        (b'{"sops": "a string"}', Kind.PLAIN),
        (b"{not json", Kind.PLAIN),
        (b"", Kind.PLAIN),
        (b"\x00\xff binary", Kind.PLAIN),
    ],
)
def test_kind_of(content: bytes, kind: Kind) -> None:
    assert kind_of(content) is kind


@pytest.mark.parametrize(
    ("name", "content", "types"),
    [
        ("a.env", b"sops_version=1\n", ()),
        ("a.yaml", b"{}", ()),
        ("a.YML", b"{}", ()),
        ("a.json", b"sops:\n  mac: x\n", ()),
        ("a.secret", b"sops:\n  mac: x\n", ("--input-type", "yaml", "--output-type", "yaml")),
        ("a.secret", b"A=x\nsops_mac=y\n", ("--input-type", "dotenv", "--output-type", "dotenv")),
        ("a.bin", b'{"data": "x", "sops": {"mac": "y"}}', ()),
        (
            "a",
            b'{"a": "x", "sops": {"mac": "y"}}',
            ("--input-type", "json", "--output-type", "json"),
        ),
    ],
)
def test_sops_types(name: str, content: bytes, types: tuple[str, ...]) -> None:
    assert sops_types(Path(name), content) == types


# sops's error output, mapped without echoing it (literal outputs of sops 3.11).


RECIPIENT = "age1r5f6yl3crqzl8rkja4r05g4tn5lmax778x4s3fzjvrg764qnjffsj4lk6m"
OTHER = "age187e3nsz36nc7e6tyumue79ua2y2vfwurydena3eyy02e3d43udhqx2fyur"


def test_sops_failure_for_a_file_with_only_other_kinds_of_keys() -> None:
    stderr = (
        b"Failed to get the data key required to decrypt the SOPS file.\n\nGroup 0: FAILED\n"
        b"  arn:aws:kms:eu-west-1:1:key/x: FAILED\n    - | could not decrypt\n"
    )
    error = sops_failure(Path("s.env"), 128, stderr, OTHER)
    assert isinstance(error, NotForThisKey)
    assert str(error) == (
        f"s.env is not encrypted for this host's age key (recipient {OTHER}); it has no age "
        "recipient (reconcile decrypts with age keys only)"
    )


def test_an_unknown_sops_failure_is_cut_and_cleaned() -> None:
    stderr = (
        f"Some new failure: 'quoted {PLAINTEXT}' near {PLAINTEXT} and \x1b[31mred\nsecond line\n"
    ).encode()
    data = f"X={PLAINTEXT}\n".encode()
    error = sops_failure(Path("s.env"), 3, stderr, RECIPIENT, data)
    assert (
        str(error)
        == "sops could not decrypt s.env (exit 3): Some new failure: '…' near … and [31mred"
    )
    long = sops_failure(Path("s.env"), 3, b"x" * 1000, RECIPIENT, b"")
    assert len(str(long)) < 220


# Nothing of the plaintext in any message: every failure above, grepped.


def test_no_failure_message_holds_the_plaintext(
    tmp_path: Path, sops: Path, identity: Identity, other_identity: Identity
) -> None:
    def attempts() -> list[tuple[Path, AgeKey, bool]]:
        cases = []
        plain = tmp_path / "plain.env"
        plain.write_bytes(DOTENV)
        enc = sops_encrypt(sops, plain, identity.recipient, tmp_path / "s.env")
        cases += [(plain, identity.key(), True), (enc, other_identity.key(), True)]
        tampered = tmp_path / "t.env"
        tampered.write_bytes(enc.read_bytes() + PLAINTEXT.encode() + b"\n")
        cases.append((tampered, identity.key(), True))
        added = tmp_path / "m.env"
        added.write_bytes(enc.read_bytes() + f"NEW={PLAINTEXT}\n".encode())
        cases.append((added, identity.key(), True))
        yaml = tmp_path / "b.yaml"
        yaml.write_text(f'a: "{PLAINTEXT}\nsops:\n  mac: x\n')
        cases.append((yaml, identity.key(), True))
        json_file = tmp_path / "b.json"
        json_file.write_text(f'{{"a": {PLAINTEXT}, "sops": {{"mac": "x"}}}}')
        cases.append((json_file, identity.key(), True))
        age = age_encrypt(PLAINTEXT.encode(), identity.recipient, tmp_path / "p.age")
        cases.append((age, other_identity.key(), True))
        short = tmp_path / "short.age"
        short.write_bytes(age.read_bytes()[:-10])
        cases.append((short, identity.key(), True))
        return cases

    messages = []
    for path, key, must in attempts():
        with pytest.raises(SecretError) as failed:
            decrypt(path, key, must_be_encrypted=must)
        messages += [str(failed.value), repr(failed.value)]
    assert len(messages) == 16
    leaked = [m for m in messages if PLAINTEXT in m or "hunter2" in m or "AGE-SECRET-KEY" in m]
    assert leaked == []
