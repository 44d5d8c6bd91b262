"""Where the host's age key comes from, and which key files are refused (with the path and the
mode named, never the key)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from reconciler.secrets.errors import KeyRefused, NoKey
from reconciler.secrets.keys import find_key, no_key_message, parse_identities, read_key_file
from tests.secrets.conftest import Identity, make_identity, write_key_file

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chowns a file: needs root")


def test_a_key_file_gives_its_identity_and_recipient(key_file: Path, identity: Identity) -> None:
    key = read_key_file(key_file)
    assert key.recipients == (identity.recipient,)
    assert key.recipient == identity.recipient
    assert key.source == str(key_file)
    assert key.identity_text() == identity.secret + "\n"


def test_a_key_file_may_hold_several_identities(tmp_path: Path) -> None:
    first, second = make_identity(), make_identity()
    path = tmp_path / "keys.txt"
    path.write_text(f"{first.secret}\n\n# another\n  {second.secret}  \n")
    path.chmod(0o600)
    assert read_key_file(path).recipients == (first.recipient, second.recipient)


def test_the_key_never_shows_in_repr_str_or_pickle(key_file: Path, identity: Identity) -> None:
    key = read_key_file(key_file)
    for shown in (repr(key), str(key), f"{key}"):
        assert identity.secret not in shown
        assert "AGE-SECRET-KEY" not in shown
        assert identity.recipient in shown
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(key)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o601])
def test_a_key_file_others_may_open_is_refused(key_file: Path, mode: int) -> None:
    key_file.chmod(mode)
    with pytest.raises(KeyRefused) as refused:
        read_key_file(key_file)
    assert str(refused.value) == (
        f"the age key {key_file} could be read by other users (mode {mode:04o}): "
        f"chmod 600 {key_file}"
    )
    assert refused.value.path == key_file


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_private_key_file_is_used(key_file: Path, mode: int) -> None:
    key_file.chmod(mode)
    read_key_file(key_file)


@needs_root
def test_a_key_file_of_another_user_is_refused(key_file: Path) -> None:
    os.chown(key_file, 65534, 65534)
    with pytest.raises(KeyRefused, match=r"belongs to uid 65534, not to root or this user"):
        read_key_file(key_file)


def test_a_key_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo", 0o600)
    with pytest.raises(KeyRefused, match=r"fifo is not a regular file"):
        read_key_file(tmp_path / "fifo")  # refused, not read (a FIFO would block)


def test_a_symbolic_link_to_a_private_key_file_is_followed(
    key_file: Path, identity: Identity
) -> None:
    link = key_file.parent / "link.key"
    link.symlink_to(key_file)
    assert read_key_file(link).recipient == identity.recipient


def test_content_that_is_not_an_identity_is_refused_without_showing_it(tmp_path: Path) -> None:
    path = tmp_path / "age.key"
    path.write_text("# comment\nhunter2-not-a-key\n")
    path.chmod(0o600)
    with pytest.raises(KeyRefused) as refused:
        read_key_file(path)
    assert str(refused.value) == (
        f"line 2 of the age key {path} is not an age identity (AGE-SECRET-KEY-1...)"
    )


def test_a_damaged_identity_is_refused_without_showing_it(identity: Identity) -> None:
    damaged = identity.secret[:-6] + "QQQQQQ"
    with pytest.raises(KeyRefused) as refused:
        parse_identities(damaged, "$SOPS_AGE_KEY")
    assert str(refused.value) == "line 1 of $SOPS_AGE_KEY is not a valid age identity"
    assert damaged[16:] not in repr(refused.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the age key K holds no age identity (AGE-SECRET-KEY-1...)"),
        ("# only a comment\n", "the age key K holds no age identity (AGE-SECRET-KEY-1...)"),
        (
            "AGE-PLUGIN-YUBIKEY-1ABC\n",
            "line 1 of the age key K is an age plugin identity; reconcile uses X25519 "
            "identities (AGE-SECRET-KEY-1...) only",
        ),
    ],
)
def test_key_content_refusals(text: str, message: str) -> None:
    with pytest.raises(KeyRefused) as refused:
        parse_identities(text, "K", Path("K"))
    assert str(refused.value) == message


# The order keys are looked for in.


def test_reconcile_key_file_comes_first(tmp_path: Path) -> None:
    first, second, third = make_identity(), make_identity(), make_identity()
    environ = {
        "RECONCILE_AGE_KEY_FILE": str(write_key_file(tmp_path / "a", first)),
        "SOPS_AGE_KEY_FILE": str(write_key_file(tmp_path / "b", second)),
        "SOPS_AGE_KEY": third.secret,
    }
    default = write_key_file(tmp_path / "d", make_identity())
    assert find_key([default], environ).recipient == first.recipient
    del environ["RECONCILE_AGE_KEY_FILE"]
    assert find_key([default], environ).recipient == second.recipient
    del environ["SOPS_AGE_KEY_FILE"]
    key = find_key([default], environ)
    assert (key.recipient, key.source) == (third.recipient, "$SOPS_AGE_KEY")
    del environ["SOPS_AGE_KEY"]
    assert find_key([default], environ).source == str(default)


def test_the_first_default_path_that_exists_is_used(tmp_path: Path, identity: Identity) -> None:
    second = write_key_file(tmp_path / "etc.key", identity)
    key = find_key([tmp_path / "state" / "age.key", second], {})
    assert key.source == str(second)


def test_an_empty_variable_counts_as_unset(key_file: Path) -> None:
    environ = {"RECONCILE_AGE_KEY_FILE": "", "SOPS_AGE_KEY": ""}
    assert find_key([key_file], environ).source == str(key_file)


def test_no_key_anywhere_says_where_to_put_one(tmp_path: Path) -> None:
    paths = [tmp_path / "state" / "age.key", Path("/nonexistent/etc/reconcile/age.key")]
    with pytest.raises(NoKey) as missing:
        find_key(paths, {})
    assert str(missing.value) == (
        f"no age key: set RECONCILE_AGE_KEY_FILE or put one at {paths[0]} or {paths[1]} (mode 0600)"
    )
    assert no_key_message([]) == (
        "no age key: set RECONCILE_AGE_KEY_FILE (or SOPS_AGE_KEY_FILE, SOPS_AGE_KEY)"
    )


def test_a_named_key_file_that_is_missing_is_an_error_not_a_fallback(
    tmp_path: Path, key_file: Path
) -> None:
    missing = tmp_path / "nope.key"
    with pytest.raises(NoKey) as error:
        find_key([key_file], {"RECONCILE_AGE_KEY_FILE": str(missing)})
    assert str(error.value) == f"the age key {missing} ($RECONCILE_AGE_KEY_FILE) does not exist"


def test_a_bad_default_key_is_refused_not_skipped(tmp_path: Path, identity: Identity) -> None:
    loose = write_key_file(tmp_path / "state.key", identity, mode=0o644)
    good = write_key_file(tmp_path / "etc.key", identity)
    with pytest.raises(KeyRefused, match=r"mode 0644"):
        find_key([loose, good], {})
